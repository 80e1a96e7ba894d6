// Regression tests for the planner review fixes (sharding over dp·cp, scale-out span, untied heads, ...).
#include <gtest/gtest.h>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/memory_model.h"
#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

Job llama8b_job(const Catalog& c) {
  Job job;
  job.model = *c.model("llama3-8b");
  job.plan.precision = Precision::kBf16;
  job.plan.micro_batch = 1;
  return job;
}

TEST(PlanFix, ZeroShardsAndReducesOverDpTimesCp) {
  const Catalog c = testing::load_test_catalog();
  const AcceleratorSpec acc = *c.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*c.cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job job = llama8b_job(c);
  job.plan.zero_stage = 3;
  job.plan.recompute = Recompute::kFull;
  job.plan.dp = 8, job.plan.cp = 1, job.plan.global_batch = 8;
  const MemoryBreakdown dp8 = estimate_memory(job, 80);
  // The same 8 GPUs as cp = 8 (one sequence split 8 ways): the weights are still sharded 8 ways.
  job.plan.dp = 1, job.plan.cp = 8, job.plan.global_batch = 1;
  const MemoryBreakdown cp8 = estimate_memory(job, 80);
  EXPECT_NEAR(cp8.weights_gib, dp8.weights_gib, 1e-9);
  EXPECT_NEAR(cp8.gradients_gib, dp8.gradients_gib, 1e-9);
  EXPECT_NEAR(cp8.optimizer_gib, dp8.optimizer_gib, 1e-9);
  // ... and the gradients are reduced over the 8 cp ranks although dp = 1.
  const StepPrediction step = predict_step(job, acc, links, dev);
  EXPECT_GT(step.dp_comm_total_s, 0);
}

}  // namespace
}  // namespace tessera::plan
