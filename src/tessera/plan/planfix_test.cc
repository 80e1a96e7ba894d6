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

TEST(PlanFix, GroupsThatDoNotFillWholeDomainsPayForTheScaleOutHop) {
  ClusterLinks links;
  links.scaleup = {900e9, 1e-6};
  links.scaleout = {50e9, 5e-6};
  links.scaleup_domain = 72;  // NVL72
  const double S = 1e9;
  // dp = 9 of tp = 8 fills one domain exactly: scale-up only.
  EXPECT_NEAR(group_all_reduce_seconds(links, 9, 8, S), 2 * 8 * 1e-6 + 2 * 8.0 / 9 * S / 900e9, 1e-12);
  // dp = 16 of tp = 8 spans 128 ranks = 2 domains: 9 members per domain, then a 2-domain scale-out ring.
  const double dp16 = group_all_reduce_seconds(links, 16, 8, S);
  const double expected = 2 * reduce_scatter_seconds(links.scaleup, 9, S) + all_reduce_seconds(links.scaleout, 2, S / 9);
  EXPECT_NEAR(dp16, expected, 1e-12);
  EXPECT_GT(dp16, group_all_reduce_seconds(links, 9, 8, S) * 2);
  EXPECT_GT(group_reduce_scatter_seconds(links, 16, 8, S), reduce_scatter_seconds(links.scaleup, 9, S));
  // A group that fits in size but not in an aligned domain (5 × stride 8 = 40 ranks; 72 % 40 != 0) crosses.
  EXPECT_FALSE(links.fits_scaleup(5, 8));
  EXPECT_TRUE(links.fits_scaleup(3, 8));
  EXPECT_GT(group_all_reduce_seconds(links, 5, 8, S), 2 * reduce_scatter_seconds(links.scaleup, 5, S));
  // Stride beyond the domain: every member in its own domain.
  EXPECT_NEAR(group_all_gather_seconds(links, 4, 72, S), reduce_scatter_seconds(links.scaleout, 4, S), 1e-12);
  EXPECT_EQ(group_all_reduce_seconds(links, 1, 8, S), 0);
}

}  // namespace
}  // namespace tessera::plan
