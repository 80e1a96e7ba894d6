// Regression tests for the planner review fixes (sharding over dp·cp, scale-out span, untied heads, ...).
#include <gtest/gtest.h>
#include <fmt/format.h>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/flops.h"
#include "tessera/plan/memory_model.h"
#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/report.h"
#include "tessera/plan/step_model.h"
#include "tessera/plan/layer_mix.h"
#include "tessera/plan/validate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdio>

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

TEST(PlanFix, GroupsFollowTheRuntimeRankOrder) {
  // spec/grid_order.h (tp, cp, dp, pp) on 8-GPU DGX nodes, tp 2 × dp 4 × pp 2: a stage's 8 ranks fill one
  // node, so the dp group (ranks 0, 2, 4, 6) stays on NVLink and the stages talk over the NIC (ranks 8 apart).
  // With the old runtime order (tp, pp, dp) it was the other way round: dp 4 ranks apart, spanning 2 nodes.
  const Catalog c = testing::load_test_catalog();
  const AcceleratorSpec acc = *c.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*c.cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job job = llama8b_job(c);
  job.plan.tp = 2, job.plan.pp = 2, job.plan.dp = 4, job.plan.global_batch = 16;
  EXPECT_EQ(grid_position(6, job.grid()), (GridPosition{.dp = 3, .pp = 0, .tp = 0, .cp = 0}));
  EXPECT_EQ(grid_position(8, job.grid()), (GridPosition{.dp = 0, .pp = 1, .tp = 0, .cp = 0}));
  const StepPrediction wide = predict_step(job, acc, links, dev);
  EXPECT_FALSE(wide.dp_crosses_scaleout);
  // The same 4 micro-batches per replica with dp 1: the stages are 2 ranks apart, inside one node.
  job.plan.dp = 1, job.plan.global_batch = 4;
  const StepPrediction narrow = predict_step(job, acc, links, dev);
  EXPECT_GT(wide.pp_comm_s, 5 * narrow.pp_comm_s);
}

TEST(PlanFix, GroupsThatDoNotFillWholeDomainsPayForTheScaleOutHop) {
  ClusterLinks links;
  links.scaleup = {900e9, 1e-6};
  links.scaleout = {50e9, 5e-6};
  links.scaleup_domain = 72;  // NVL72
  const double S = 1e9;
  // dp = 9 of tp = 8 fills one domain exactly: scale-up only.
  EXPECT_NEAR(group_all_reduce_seconds(links, 9, 8, S), 2 * 8 * 1e-6 + 2 * 8.0 / 9 * S / 900e9, 1e-12);
  // dp = 16 of tp = 8 spans 128 ranks, a power of two that 72 does not divide: the job places 64 ranks per
  // rack (16 of its 18 trays), so 8 members per domain, then a 2-domain scale-out ring.
  const double dp16 = group_all_reduce_seconds(links, 16, 8, S);
  const double expected = 2 * reduce_scatter_seconds(links.scaleup, 8, S) + all_reduce_seconds(links.scaleout, 2, S / 8);
  EXPECT_NEAR(dp16, expected, 1e-12);
  EXPECT_GT(dp16, group_all_reduce_seconds(links, 9, 8, S) * 2);
  EXPECT_GT(group_reduce_scatter_seconds(links, 16, 8, S), reduce_scatter_seconds(links.scaleup, 8, S));
  // A 64-rank group of a power-of-two job stays inside one rack.
  EXPECT_TRUE(links.fits_scaleup(8, 8));
  EXPECT_EQ(links.aligned_domain(64), 64);
  EXPECT_EQ(links.aligned_domain(24), 72);
  // A group that fits in size but not in an aligned domain (5 × stride 8 = 40 ranks; 72 % 40 != 0) crosses.
  EXPECT_FALSE(links.fits_scaleup(5, 8));
  EXPECT_TRUE(links.fits_scaleup(3, 8));
  EXPECT_GT(group_all_reduce_seconds(links, 5, 8, S), 2 * reduce_scatter_seconds(links.scaleup, 5, S));
  // Stride beyond the domain: every member in its own domain.
  EXPECT_NEAR(group_all_gather_seconds(links, 4, 72, S), reduce_scatter_seconds(links.scaleout, 4, S), 1e-12);
  EXPECT_EQ(group_all_reduce_seconds(links, 1, 8, S), 0);
}

TEST(PlanFix, UntiedHeadCountsTwiceInParamsAndMemoryNotFlops) {
  const Catalog c = testing::load_test_catalog();
  const ModelSpec llama = *c.model("llama3-8b");
  EXPECT_FALSE(llama.tied_embeddings);
  EXPECT_NEAR(static_cast<double>(llama.num_params()) / 1e9, 8.03, 0.02);
  ModelSpec tied = llama;
  tied.tied_embeddings = true;
  EXPECT_EQ(llama.num_params() - tied.num_params(), llama.vocab_size * llama.n_embd);
  EXPECT_EQ(llama.matmul_params(), tied.matmul_params());
  Job job = llama8b_job(c);
  const double untied_p = params_per_rank(job);
  job.model = tied;
  EXPECT_NEAR(untied_p - params_per_rank(job), static_cast<double>(llama.vocab_size * llama.n_embd), 1);
  // GPT-2 stays tied (the runtime's shape).
  EXPECT_TRUE(c.model("gpt2-124m")->tied_embeddings);
}

TEST(PlanFix, FsdpWithoutReshardingKeepsTheGatheredWeights) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama8b_job(c);
  job.plan.zero_stage = 3, job.plan.dp = 8, job.plan.global_batch = 8;
  const double sharded = estimate_memory(job, 80).weights_gib;
  job.reshard_per_micro_batch = false;
  const MemoryBreakdown kept = estimate_memory(job, 80);
  EXPECT_NEAR(kept.weights_gib, 8 * sharded, 1e-9);
  EXPECT_NEAR(kept.gradients_gib * 8, params_per_rank(job) * 4 / (1 << 30), 1e-6);
}

TEST(PlanFix, PipelineMemoryIsOneStageNotFirstPlusLast) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama8b_job(c);
  job.plan.pp = 4, job.plan.global_batch = 8;
  const MemoryBreakdown mem = estimate_memory(job, 80);
  ASSERT_FALSE(mem.stage.empty());
  if (mem.stage == "first") {
    EXPECT_EQ(mem.logits_gib, 0);
  } else {
    EXPECT_GT(mem.logits_gib, 0);
  }
  EXPECT_NE(mem.verdict().find("pipeline stage"), std::string::npos);
  job.plan.pp = 1;
  EXPECT_TRUE(estimate_memory(job, 80).stage.empty());
}

// All published rows ran: none may be clearly OOM unless its stated layout cannot hold its own training state,
// and the predicted memory tracks the measured peaks where the source states them (torchtitan).
TEST(PlanFix, PublishedRowsThatRanFitAndMemoryTracksMeasuredPeaks) {
  std::string path = testing::source_dir() + "/tests/data/published_runs.csv";
  ASSERT_TRUE(std::filesystem::exists(path));
  const Catalog catalog = testing::load_test_catalog();
  auto table = read_csv_file(path);
  ASSERT_TRUE(table.ok());
  auto runs = load_published_runs(*table, catalog);
  ASSERT_TRUE(runs.ok());
  const auto predictions = predict_runs(*runs, {});
  for (const auto& p : predictions) {
    if (!p.run.skip_reason.empty()) continue;
    if (p.step.memory.band() != MemoryBand::kFits || p.run.peak_memory_gib > 0) {
      std::printf("row %zu %s (%s%s): %s%s\n", p.run.row, p.run.model_name.c_str(), framework_name(p.run.job.framework),
                  p.assumed_offload_layers > 0 ? fmt::format(", offload {} assumed", p.assumed_offload_layers).c_str() : "",
                  p.step.memory.verdict().c_str(),
                  p.run.peak_memory_gib > 0 ? fmt::format("; measured {:.1f} GiB ({:+.0f}%)", p.run.peak_memory_gib,
                                                          100 * p.memory_error).c_str() : "");
    }
    if (p.step.memory.clearly_oom()) {
      // Row 66 cannot run as stated: Llama 3 70B on one GPU per replica with plain DDP (the table says FSDP = 0),
      // whose bf16 weights and gradients alone exceed a GB300. Offload cannot help it. Row 355 (the Megatron-Core
      // model zoo's Qwen3-235B MXFP8 on 256 GB200) ran with fine-grained activation offloading of expert_fc1 and
      // moe_act, which the memory model does not express (docs/planner.md).
      EXPECT_TRUE(p.run.row == 66u || p.run.row == 355u) << p.run.row << ": " << p.step.memory.verdict();
      if (p.run.row == 66u) {
        EXPECT_EQ(p.assumed_offload_layers, 0);
      }
    }
  }
  const ValidationSummary s = summarize(predictions);
  std::printf("%zu predicted: %zu fit, %zu tight, %zu OOM, %zu with assumed offload; memory vs %zu measured peaks: "
              "median %.1f%%, p90 %.1f%%, max %.1f%%\n",
              s.predicted, s.memory_fits, s.memory_tight, s.memory_oom, s.memory_offload_assumed, s.memory_error.count,
              100 * s.memory_error.median, 100 * s.memory_error.p90, 100 * s.memory_error_max);
  EXPECT_LE(s.memory_oom, 2u);  // rows 66 and 355 (above); the issue allows 2% of the predicted rows
  EXPECT_GE(s.memory_fits, 80u);
  // Offload is assumed only where the row leaves recompute unstated (Megatron-Bridge tables); the dense rows
  // needing it stay the few they were before MoE rows joined.
  size_t dense_offload = 0;
  for (const auto& p : predictions) dense_offload += p.assumed_offload_layers > 0 && !is_moe(p.run.job.model);
  EXPECT_LE(dense_offload, 2u);  // rows 68 and 170 (Llama 3 70B, tp 2 pp 4, whose recipes set no offload)
  // Transformer Engine's 1-byte fp8 GEMM inputs and the GPT-OSS, DeepSeek-V3 and Kimi K2 recipes' module recompute:
  // 48 -> 12 rows of tests/data; the Megatron-Bridge 26.04-26.08 rows add 4 (rows 263, 266, 314, 315: Llama 3 70B
  // with Megatron-FSDP on 64 GB300/GB200, the layouts of rows 70 and 106 that already assume it), the model zoo's
  // GB300 row 357 one more. Reading the Megatron-FSDP Llama recipes' own cpu_offloading_num_layers (validate.cc
  // recipe_offload_layers): 15 -> 3 (rows 68, 164, 170), the Megatron-FSDP rows now offload what their recipe says.
  EXPECT_LE(s.memory_offload_assumed, 3u);
  ASSERT_GE(s.memory_error.count, 14u);
  EXPECT_LE(s.memory_error.median, 0.20);
  EXPECT_LE(s.memory_error_max, 0.40);
}

TEST(PlanFix, FitUsesATrueMedianAndEnoughSupportAndHeldOutDropsFitDuplicates) {
  EXPECT_DOUBLE_EQ(median_of({1.0, 3.0}), 2.0);  // was values[size/2] = 3
  EXPECT_DOUBLE_EQ(median_of({5.0, 1.0, 3.0}), 3.0);
  EXPECT_DOUBLE_EQ(median_of({4.0, 1.0, 3.0, 2.0}), 2.5);
  const std::string path = testing::source_dir() + "/tests/data/published_runs.csv";
  const Catalog catalog = testing::load_test_catalog();
  auto table = read_csv_file(path);
  ASSERT_TRUE(table.ok());
  auto runs = load_published_runs(*table, catalog);
  ASSERT_TRUE(runs.ok());
  // Only keys with >= 3 fit-half rows from >= 2 publications are fitted: the 500 W torchtitan H100 (one
  // publication) keeps its catalog value.
  const EfficiencyTable fitted = fit_efficiencies(*runs);
  EXPECT_EQ(fitted.count("hopper-500w/bf16"), 0u);
  EXPECT_EQ(fitted.count("hopper/fp8"), 1u);
  // A held-out row with the configuration of a fit-half row is left out of the held-out statistics.
  std::vector<PublishedRun> two;
  for (const auto& r : *runs) {
    if (r.skip_reason.empty() && r.fit_half && r.step_time_s > 0) {
      two.push_back(r);
      break;
    }
  }
  ASSERT_EQ(two.size(), 1u);
  two.push_back(two[0]);
  two[1].fit_half = false;
  const ValidationSummary s = summarize(predict_runs(two, {}));
  EXPECT_EQ(s.held_out_duplicates, 1u);
  EXPECT_EQ(s.time_held_out.count, 0u);
  EXPECT_EQ(s.time_all.count, 2u);
}

TEST(PlanFix, InterleavedNeedsMicroBatchesInGroupsOfPp) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama8b_job(c);
  job.plan.pp = 4, job.plan.vpp = 2, job.plan.schedule = PipelineSchedule::kInterleaved;
  job.plan.global_batch = 6;  // 6 micro-batches, not a multiple of 4
  const Status bad = validate_job(job, 4);
  ASSERT_FALSE(bad.ok());
  // The one check of spec/pipeline_schedule.h, with the planner's flags as the way out.
  EXPECT_EQ(bad.message(), "parallel: pipeline interleaved: needs micro-batches (6) to be a multiple of pp (4); hint: "
                           "micro-batches 8 (change --global-batch or --micro-batch)");
  job.plan.global_batch = 8;
  EXPECT_TRUE(validate_job(job, 4).ok());
  job.plan.schedule = PipelineSchedule::kOneFOneB, job.plan.vpp = 1, job.plan.global_batch = 6;
  EXPECT_TRUE(validate_job(job, 4).ok());
}

TEST(PlanFix, HfuUsesMfusAttentionConventionAndIsNeverBelowIt) {
  const Catalog c = testing::load_test_catalog();
  const AcceleratorSpec acc = *c.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*c.cluster("dgx-h100-superpod"), acc);
  Job job = llama8b_job(c);
  job.plan.dp = 8, job.plan.global_batch = 8;
  for (GemmFormat f : {GemmFormat::kBf16, GemmFormat::kFp8}) {
    for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
      job.gemm_format = f;
      job.plan.recompute = r;
      const StepPrediction s = predict_step(job, acc, links, AcceleratorDevice(acc, f));
      EXPECT_GE(s.hfu, s.mfu * (1 - 1e-12));
      if (r == Recompute::kNone) {
        EXPECT_NEAR(s.hfu, s.mfu, 1e-12);
      }
    }
  }
}

TEST(PlanFix, EmptyStatisticsPrintDashAndNull) {
  ValidationSummary s;
  s.rows = 1, s.skipped = 1;
  const nlohmann::json j = validation_summary_json(s);
  EXPECT_TRUE(j["step_time_held_out"]["median_percent"].is_null());
  EXPECT_EQ(j["step_time_held_out"]["count"], 0);
  const std::string text = format_validation({}, s);
  EXPECT_EQ(text.find("0.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("median      -"), std::string::npos) << text;
}

TEST(PlanFix, PalmHeadDimOverrideGives540BParameters) {
  const Catalog c = testing::load_test_catalog();
  const ModelSpec palm = *c.model("palm-540b");
  EXPECT_EQ(palm.head_size(), 256);
  EXPECT_EQ(palm.q_dim(), 12288);  // 48 × 256, not C = 18432
  EXPECT_NEAR(static_cast<double>(palm.num_params()) / 1e9, 540.35, 2.0);
  // Attention FLOPs scale with NH·HS, not C.
  const ForwardFlops f = forward_flops(palm, 2048, false);
  EXPECT_NEAR(f.layer_attention, 4.0 * 2048 * 2048 * 12288, 1);
}

TEST(PlanFix, CatalogLlama3VocabAndGb200Nic) {
  const Catalog c = testing::load_test_catalog();
  for (const char* name : {"llama3-8b", "llama3-70b", "llama3-405b"}) EXPECT_EQ(c.model(name)->vocab_size, 128256) << name;
  EXPECT_EQ(c.accelerator("gb200")->scaleout_gbit_per_s, 400);  // one ConnectX-7 per GPU (comment agrees)
}

}  // namespace
}  // namespace tessera::plan
