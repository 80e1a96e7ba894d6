#include "tessera/plan/validate.h"

#include <gtest/gtest.h>
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "tessera/plan/layer_mix.h"
#include "tessera/plan/plan_test_util.h"

namespace tessera::plan {
namespace {

// The shared reference CSV when present (../shared next to the repo), else the copy shipped in tests/data.
std::string published_runs_path() {
  const std::string shared = testing::source_dir() + "/../shared/planner/published_runs.csv";
  if (std::filesystem::exists(shared)) return shared;
  return testing::source_dir() + "/tests/data/published_runs.csv";
}

class PublishedRuns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(published_runs_path())) GTEST_SKIP() << "no published_runs.csv";
    catalog_ = std::make_unique<Catalog>(testing::load_test_catalog());
    auto table = read_csv_file(published_runs_path());
    ASSERT_TRUE(table.ok()) << table.status().to_string();
    auto runs = load_published_runs(*table, *catalog_);
    ASSERT_TRUE(runs.ok()) << runs.status().to_string();
    runs_ = std::move(runs).value();
  }
  std::unique_ptr<Catalog> catalog_;
  std::vector<PublishedRun> runs_;
};

// The coverage target on the extended CSV shipped in tests/data (363 rows: the shared 195 and the later
// Megatron-Bridge releases and Megatron-Core MoE model zoo rows): at least 95% predicted. 356 are; the 7 refused
// rows each name why — a blank global batch, a layout Megatron-Core cannot build, layer kinds the planner does not
// model (DeepSeek-V4, Qwen3-Next) and a shape not published in full (Nemotron 3 Ultra).
TEST(PublishedRunsCoverage, PredictsAtLeast95PercentOfTheExtendedCsv) {
  const Catalog catalog = testing::load_test_catalog();
  auto table = read_csv_file(testing::source_dir() + "/tests/data/published_runs.csv");
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  auto runs = load_published_runs(*table, catalog);
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  const ValidationSummary s = summarize(predict_runs(*runs, {}));
  EXPECT_EQ(s.rows, 363u);
  EXPECT_EQ(s.predicted, 356u);
  EXPECT_GE(static_cast<double>(s.predicted), 0.95 * static_cast<double>(s.rows));
  std::map<std::string, int> refused;
  for (const PublishedRun& run : *runs) {
    if (run.skip_reason.empty()) continue;
    const std::string& why = run.skip_reason;
    const char* kind = why.find("global_batch_seqs blank") != std::string::npos             ? "batch"
                       : why.find("must divide the GPUs (256) in Megatron-Core") != std::string::npos ? "layout"
                       : why.find("is not modelled:") != std::string::npos                   ? "unmodelled"
                                                                                              : "other";
    ++refused[kind];
    EXPECT_STRNE(kind, "other") << run.model_name << ": " << why;
  }
  EXPECT_EQ(refused["batch"], 1);
  EXPECT_EQ(refused["layout"], 1);
  EXPECT_EQ(refused["unmodelled"], 5);  // DeepSeek-V4 Flash ×2, Nemotron 3 Ultra ×2, Qwen3-Next
  // GEMM parts in another format (gemm_parts.h) only where a row's recipe sets them: the 15 Nemotron 3 Super NVFP4
  // rows; the Llama 3 NVFP4 perf recipes run bf16_with_nvfp4_mixed whole (scripts/performance/utils/precision.py).
  int with_parts = 0, llama_fp4 = 0;
  for (const PublishedRun& run : *runs) {
    if (run.job.model.n_layer == 80 || run.job.model.n_layer == 126) llama_fp4 += run.job.gemm_format == GemmFormat::kFp4;
    if (run.job.gemm_parts.empty()) continue;
    ++with_parts;
    EXPECT_EQ(run.job.model.layer_pattern.size(), 88u) << run.row;
    EXPECT_EQ(run.job.gemm_format, GemmFormat::kFp4) << run.row;
  }
  EXPECT_EQ(with_parts, 15);
  EXPECT_GT(llama_fp4, 0);
  // The memory verdicts of rows that ran: at most 2% called out of memory (the bound).
  EXPECT_LE(static_cast<double>(s.memory_oom), 0.02 * static_cast<double>(s.predicted));
}

// Dense rows (the MoE rows are their own group, below): the figures they met before MoE rows were predicted.
std::vector<RunPrediction> dense_only(std::vector<RunPrediction> predictions) {
  std::erase_if(predictions, [](const RunPrediction& p) { return is_moe(p.run.job.model); });
  return predictions;
}

TEST_F(PublishedRuns, CatalogConstantsMeetTheTargetsOnAllAndHeldOutRows) {
  const ValidationSummary s = summarize(dense_only(predict_runs(runs_, {})));
  EXPECT_GE(s.predicted, 100u);
  EXPECT_GE(s.time_all.count, 90u);
  EXPECT_LE(s.time_all.median, 0.10);
  EXPECT_LE(s.tflops_all.median, 0.10);
  EXPECT_LE(s.time_all.p90, 0.25);
  EXPECT_LE(s.tflops_all.p90, 0.25);
  // Rows whose sources never touched the constants, less those repeating a fit-half configuration.
  EXPECT_GE(s.time_held_out.count, 25u);
  EXPECT_LE(s.time_held_out.median, 0.10);
  EXPECT_LE(s.tflops_held_out.median, 0.10);
  EXPECT_LE(s.time_held_out.p90, 0.25);
  EXPECT_LE(s.tflops_held_out.p90, 0.25);
  // The summary of every row reports the same dense held-out group itself (validate's "dense held-out" lines).
  const ValidationSummary every = summarize(predict_runs(runs_, {}));
  EXPECT_EQ(every.time_dense_held_out.count, s.time_held_out.count);
  EXPECT_DOUBLE_EQ(every.time_dense_held_out.p90, s.time_held_out.p90);
  EXPECT_EQ(every.tflops_dense_held_out.count, s.tflops_held_out.count);
  EXPECT_DOUBLE_EQ(every.tflops_dense_held_out.median, s.tflops_held_out.median);
  EXPECT_LT(every.tflops_dense_held_out.count, every.tflops_held_out.count);  // the MoE rows are not in it
}

// The constants the catalog marks "fitted" are what `plan validate --fit` gives today: a change to the step
// model that moves them must refit the catalog (and say so), not leave stale values behind.
TEST_F(PublishedRuns, CatalogHoldsTheFittedConstants) {
  const EfficiencyTable fitted = fit_efficiencies(runs_);
  ASSERT_FALSE(fitted.empty());
  for (const auto& [key, value] : fitted) {
    if (key == kMoeHostOverheadKey) {
      EXPECT_NEAR(kMoeHostOverheadS, value, 0.0001);  // job.h's default is the fitted value
      continue;
    }
    if (key == kMoeHostPerExpertKey) {
      EXPECT_NEAR(kMoeHostPerExpertS, value, 0.00001);  // job.h's default is the fitted value
      continue;
    }
    int checked = 0;
    for (const CatalogAccelerator& a : catalog_->accelerators()) {
      for (GemmFormat f : {GemmFormat::kBf16, GemmFormat::kFp8, GemmFormat::kFp4}) {
        if (a.spec.generation + "/" + gemm_format_name(f) != key) continue;
        EXPECT_NEAR(a.spec.efficiency(f), value, 0.002) << a.spec.name << " " << key;
        ++checked;
      }
    }
    EXPECT_GT(checked, 0) << key;
  }
}

// MoE rows, their own group: the catalog's constants (fitted without any held-out row) keep their error on
// the held-out Megatron-Bridge releases within bounds. Measured: step time median 7.1%, p90 27.1%, TFLOP/s 7.9% /
// 24.1% — the p90s are worse than before fp8 GEMM inputs were counted at 1 byte (21.1% / 21.6%, when an offload no
// recipe sets stood in for missing time); all MoE rows 7.4% / 30.5% (10.6% / 30.9% before the dispatchers'
// permutation passes and recipe backends; docs/planner.md "Is the unstated offload honest?").
TEST_F(PublishedRuns, MixtureOfExpertsRowsAreAGroupWithBoundedError) {
  const ValidationSummary s = summarize(predict_runs(runs_, {}));
  EXPECT_GE(s.time_moe.count, 70u);
  EXPECT_GE(s.time_moe_held_out.count, 15u);
  EXPECT_LE(s.time_moe.median, 0.08);
  EXPECT_LE(s.tflops_moe.median, 0.085);
  EXPECT_LE(s.time_moe_held_out.median, 0.075);
  EXPECT_LE(s.tflops_moe_held_out.median, 0.08);
  EXPECT_LE(s.time_moe.p90, 0.31);
  EXPECT_LE(s.tflops_moe.p90, 0.27);
  EXPECT_LE(s.time_moe_held_out.p90, 0.275);
  EXPECT_LE(s.tflops_moe_held_out.p90, 0.245);
}

// The held-out rows together, dense and MoE (less the fit-half duplicates), beside the targets (median
// <= 8%, p90 <= 20%). Measured with the flash-attention kernel table and torchtitan's ring (docs/planner.md "Flash
// attention per generation"): step time 7.7% / 20.09%, TFLOP/s 8.2% / 23.1% (before: 8.01% / 20.2%, 8.7% / 23.1%);
// the step-time median now meets the target, its p90 misses by a hair and the TFLOP/s figures miss. The dense
// held-out rows meet both p90s on their own (step time 7.7% / 13.3%, TFLOP/s 8.6% / 14.9%; before 8.1% / 19.2%,
// 8.8% / 17.8%), and the fit half stays at or below where it was (step time 6.2% / 24.6%, TFLOP/s 6.1% / 22.3%;
// before 6.4% / 27.3%, 6.2% / 23.8%): a change aimed at some rows must not buy them with these.
TEST_F(PublishedRuns, HeldOutRowsTogetherStayWithinTheirMeasuredBounds) {
  const ValidationSummary s = summarize(predict_runs(runs_, {}));
  EXPECT_GE(s.time_held_out.count, 45u);
  EXPECT_LE(s.tflops_held_out.median, 0.0835);
  EXPECT_LE(s.tflops_held_out.p90, 0.235);
  EXPECT_LE(s.time_held_out.median, 0.078);
  EXPECT_LE(s.time_held_out.p90, 0.2025);
  EXPECT_LE(s.time_dense_held_out.p90, 0.14);
  EXPECT_LE(s.tflops_dense_held_out.p90, 0.155);
  EXPECT_LE(s.time_dense_held_out.median, 0.08);
  EXPECT_LE(s.tflops_dense_held_out.median, 0.0875);
  EXPECT_LE(s.time_fit.median, 0.0625);
  EXPECT_LE(s.tflops_fit.median, 0.0625);
  EXPECT_LE(s.time_fit.p90, 0.25);
  EXPECT_LE(s.tflops_fit.p90, 0.2275);
}

// The long-context rows (docs/planner.md "Flash attention per generation"): Llama 3 405B at 128k with cp 16 (row 21,
// TFLOP/s only) was 37% fast and torchtitan's ring rows 31, 32 (8B, 128k/256k, cp 4/8 inside a node) and 40 (405B,
// 256k, cp 8 across nodes) 59%, 78%, 55% (tokens/s). With the cuDNN/FlashAttention-2 curves and torchtitan's
// all-gather ring they are 12.8%, 45.6%, 59.1%, 32.3%; 31 and 32 still miss (unexplained, see the docs).
TEST_F(PublishedRuns, LongContextRowsUseTheKernelTableAndTorchtitansRing) {
  EXPECT_LT(predict_run(runs_[21], {}).tflops_error, 0.14);
  EXPECT_LT(predict_run(runs_[31], {}).time_error, 0.47);
  EXPECT_LT(predict_run(runs_[32], {}).time_error, 0.60);
  EXPECT_LT(predict_run(runs_[40], {}).time_error, 0.34);
  // The shorter rows of the same tables stay close: 32k without cp (29) and 64k with cp 2 (30, 38).
  for (size_t row : {29, 30, 38}) EXPECT_LT(predict_run(runs_[row], {}).time_error, 0.05) << row;
}

// The DeepSeek-V3 B200 layout (pp 16, ep 8 inside a node) without the offload no recipe sets: the 26.02 rows run
// HybridEP (82 fit, 119 held-out), the 25.11 row the all-to-all dispatcher (157, fit) and the 25.09 token-drop rows
// too (183, 184, held-out). With fp8 inputs at 1 byte and no dispatcher difference they came out 13-24% fast.
TEST_F(PublishedRuns, DeepSeekB200RowsNeedNoUnstatedOffload) {
  for (size_t row : {82, 119, 157, 183, 184}) {
    const RunPrediction p = predict_run(runs_[row], {});
    EXPECT_EQ(p.assumed_offload_layers, 0) << row;
    EXPECT_LT(p.time_error, row == 82 || row == 119 ? 0.05 : 0.10) << row;
  }
}

// TPU v4's constant is single-source: MaxText's published TPU v4 runs (testdata/maxtext_tpu_v4.csv, a fit-half
// source; `validate --fit` needs two publications, so the catalog holds it by hand) imply 0.805 of the bf16 peak.
// The catalog value reproduces them, and PaLM on 6144 TPU v4 — held out, never used for it — lands within 5% of its
// published 46.2% MFU (it was 31.5% off with the unsourced 0.5 before).
TEST_F(PublishedRuns, TpuV4ConstantFromMaxTextPredictsTheHeldOutPalmRow) {
  auto table = read_csv_file(testing::source_dir() + "/src/tessera/plan/testdata/maxtext_tpu_v4.csv");
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  auto maxtext = load_published_runs(*table, *catalog_);
  ASSERT_TRUE(maxtext.ok()) << maxtext.status().to_string();
  ASSERT_EQ(maxtext->size(), 6u);
  std::vector<double> ratios;  // published / predicted TFLOP/s per chip
  for (const PublishedRun& run : *maxtext) {
    ASSERT_TRUE(run.skip_reason.empty()) << run.skip_reason;
    EXPECT_TRUE(run.fit_half);
    EXPECT_EQ(run.efficiency_key(), "tpu-v4/bf16");
    ratios.push_back(run.tflops_per_gpu / predict_run(run, {}).tflops_per_gpu);
  }
  EXPECT_NEAR(median_of(ratios), 1.0, 0.01);  // the catalog holds what the rows imply
  const PublishedRun& palm = runs_[22];
  ASSERT_NE(palm.model_name.find("PaLM"), std::string::npos);
  EXPECT_FALSE(palm.fit_half);
  EXPECT_LT(predict_run(palm, {}).tflops_error, 0.05);
}

TEST_F(PublishedRuns, RefittingOnTheFitHalfReproducesTheHeldOutAccuracy) {
  const EfficiencyTable fitted = fit_efficiencies(runs_);
  EXPECT_LE(fitted.size(), 12u);  // a handful of constants, one per generation and format, and the MoE host wait's two
  const ValidationSummary s = summarize(dense_only(predict_runs(runs_, fitted)));
  EXPECT_LE(s.time_held_out.median, 0.10);
  EXPECT_LE(s.time_held_out.p90, 0.25);
}

TEST_F(PublishedRuns, RowsMapToTheRightConventionAndSkipsAreExplained) {
  ASSERT_GT(runs_.size(), 20u);
  EXPECT_EQ(runs_[0].convention, FlopConvention::kHardware);    // Megatron SC21 counts recompute
  EXPECT_EQ(runs_[0].job.plan.recompute, Recompute::kFull);
  EXPECT_EQ(runs_[10].convention, FlopConvention::kModelFull);  // Korthikanti MFU
  for (const auto& r : runs_) {
    if (r.source.find("Megatron-Bridge") != std::string::npos && r.skip_reason.empty()) {
      EXPECT_EQ(r.convention, FlopConvention::kModelCausal);
    }
  }
  // Mixture-of-experts rows are predicted: the catalog entry by name, with the tag in parentheses read (MTP
  // kept unless "w/o MTP"; "tokendrop" = capacity factor 1), ep from its column.
  const PublishedRun& dsv3 = runs_[79];
  ASSERT_TRUE(dsv3.skip_reason.empty()) << dsv3.skip_reason;
  EXPECT_EQ(dsv3.job.model.moe_experts, 256);
  EXPECT_EQ(dsv3.job.model.mtp_layers, 1);
  EXPECT_EQ(dsv3.job.ep, 32);
  EXPECT_EQ(runs_[139].model_name, "DeepSeekV3 (w/o MTP)");
  EXPECT_EQ(runs_[139].job.model.mtp_layers, 0);
  EXPECT_EQ(runs_[173].job.capacity_factor, 1.0);
  EXPECT_EQ(runs_[191].job.capacity_factor, 0.0);  // "(dropless)"
  // Bridge's token drop pads every expert to capacity and runs on the all-to-all dispatcher, also for DeepSeek-V3
  // (apply_moe_token_drop asserts it); dropless DeepSeek-V3 rows keep the flex dispatcher.
  EXPECT_TRUE(runs_[173].job.pad_to_capacity);
  EXPECT_EQ(runs_[173].job.ep_dispatch, ExpertDispatch::kAllToAll);
  EXPECT_FALSE(runs_[191].job.pad_to_capacity);
  // Bridge's H100 Qwen3 recipes overlap the all-to-all from the 25.11 container on (moe_a2a_overlap = True): 25.11
  // row 166 and 26.02.01 row 96 have it, the 25.09 row 194 and the GB200 row 94 do not. It is what brings the
  // Qwen3-235B H100 rows from +46-49% to within 11%.
  EXPECT_TRUE(runs_[96].job.ep_overlap);
  EXPECT_TRUE(runs_[166].job.ep_overlap);
  EXPECT_FALSE(runs_[194].job.ep_overlap);
  EXPECT_FALSE(runs_[94].job.ep_overlap);
  EXPECT_LT(predict_run(runs_[96], {}).time_error, 0.11);
  EXPECT_LT(predict_run(runs_[166], {}).time_error, 0.11);
  // Bridge's 25.09 perf matrices capture whole layers in CUDA graphs (cuda_graphs: true) for Qwen3-30B-A3B on GB200
  // and B200 and Qwen3-235B-A22B on GB200; with token drop padded to capacity that includes the MoE layers. Not on
  // H100, not for Qwen3-235B on B200 or DeepSeek-V3, and never for dropless rows (dynamic shapes). It is what brings
  // row 185 (8 B200, micro-batch 1, 16 local experts) from +49% to within 5%.
  for (size_t row : {175, 176, 177, 178, 185}) EXPECT_TRUE(runs_[row].job.moe_cuda_graph) << row;
  for (size_t row : {173, 183, 186, 187, 191, 193, 194, 128, 159, 151}) EXPECT_FALSE(runs_[row].job.moe_cuda_graph) << row;
  EXPECT_LT(predict_run(runs_[185], {}).time_error, 0.10);  // −7.1% with the refitted wait (+0.1% before fp8 inputs)
  // Megatron-Bridge runs DeepSeek-V3 (node-limited routing) with the deduplicating flex dispatcher and Qwen3-235B
  // with the all-to-all one; on 1024 H100 (ep 64 over 8 nodes) that halves the NIC traffic, which is what brings
  // the held-out row 191 from +50% to within 15%.
  EXPECT_EQ(runs_[191].job.ep_dispatch, ExpertDispatch::kDeduplicated);
  EXPECT_EQ(runs_[191].job.router_group_topk, 4);
  // Which flex backend, by the recipe of the row's container: 26.02 sets HybridEP everywhere (82, B200; 79, GB300),
  // 25.11 HybridEP on GB200/GB300 (148) and DeepEP on H100, and nothing on B200, where DeepSeekProvider's default
  // all-to-all dispatcher runs (157). Same layout, same GPUs: 157 (25.11) runs 107 ms per micro-batch slot, 82
  // (26.02.01) 87 ms.
  EXPECT_EQ(runs_[82].job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_EQ(runs_[79].job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_EQ(runs_[148].job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_EQ(runs_[157].job.ep_dispatch, ExpertDispatch::kAllToAll);
  EXPECT_EQ(runs_[183].job.ep_dispatch, ExpertDispatch::kAllToAll);  // token drop
  // The DeepSeek-V3 recipes' module recompute: mla_up_proj, except moe_act on GB300 in 25.11 (139, 140).
  for (size_t row : {79, 82, 101, 148, 157, 173, 183, 191}) EXPECT_TRUE(runs_[row].job.memory.recompute_mla_up_proj) << row;
  for (size_t row : {139, 140}) {
    EXPECT_FALSE(runs_[row].job.memory.recompute_mla_up_proj) << row;
    EXPECT_TRUE(runs_[row].job.memory.recompute_moe_act) << row;
  }
  EXPECT_EQ(runs_[96].job.ep_dispatch, ExpertDispatch::kAllToAll);
  EXPECT_LT(predict_run(runs_[191], {}).time_error, 0.15);
  // Row 174 states ep 64 over tp·cp·dp = 32 ranks of a stage (pp 8 of 256 GPUs), a layout Megatron-Core refuses:
  // refused, naming the numbers and the rule.
  EXPECT_NE(runs_[174].skip_reason.find("ep (64) does not divide tp*cp*dp (32) or the experts (256): etp*ep*pp (512) "
                                        "must divide the GPUs (256) in Megatron-Core"),
            std::string::npos)
      << runs_[174].skip_reason;
  // MFU follows the row's precision: an fp8 row against the fp8 peak, a bf16 row against the bf16 peak.
  const RunPrediction fp8 = predict_run(runs_[79], {});
  EXPECT_EQ(runs_[79].job.gemm_format, GemmFormat::kFp8);
  EXPECT_NEAR(fp8.mfu_percent, 100 * fp8.tflops_per_gpu / runs_[79].accelerator.peak_tflops(GemmFormat::kFp8), 1e-9);
  const RunPrediction bf16 = predict_run(runs_[19], {});
  EXPECT_NEAR(bf16.mfu_percent, 100 * bf16.tflops_per_gpu / 989, 1e-9);
  size_t predicted = 0;
  for (const auto& r : runs_) predicted += r.skip_reason.empty();
  EXPECT_GE(predicted * 100, runs_.size() * 95);  // the target: >= 95% of the rows predicted
  // Llama rows take GQA and SwiGLU from the catalog.
  EXPECT_EQ(runs_[19].job.model.kv_heads(), 8);
  EXPECT_TRUE(runs_[19].job.model.gated_mlp);
}

// The Megatron-FSDP Llama recipes state their activation offload (cpu_offloading_num_layers): 25.09's Llama 3.1 405B
// on 128 GB200 offloads 95 of 126 layers (llama31_405b_llm_pretrain.yaml at a28844195), 25.11-26.06.01's 92
// (v0.2.0 … v0.5.1), 70B on GB200 40 in every release, on GB300 20 from 25.11. Validation applies them where the
// row is silent and assumes nothing beyond them; a row stating its recompute, a pipelined MXFP8 row and a
// release not read (26.08) get none.
TEST(PublishedRunsMemory, MegatronFsdpRowsOffloadWhatTheirBridgeRecipeSets) {
  const std::string header =
      "source,model,layers,hidden,heads,ffn_hidden,seq_len,vocab,global_batch_seqs,micro_batch,gpu_type,num_gpus,"
      "tp,pp,dp,cp,zero_or_fsdp,recompute,precision,step_time_s,notes\n";
  const std::string b405 = "Megatron-Bridge ({} NeMo container),LLAMA3.1_405B,126,16384,128,53248,8192,128000,64,1,"
                           "DGX-GB200,128,2,1,64,1,Megatron-FSDP (64),{},FP8 per-tensor current scaling,5.6,\n";
  const std::string b70 = "Megatron-Bridge ({} NeMo container),LLAMA3_70B,80,8192,64,28672,8192,128000,256,2,"
                          "DGX-{},64,1,1,64,1,Megatron-FSDP (64),,{},7.5,\n";
  const std::string mx = "Megatron-Bridge (25.09 NeMo container),LLAMA3_70B,80,8192,64,28672,8192,128000,128,1,"
                         "DGX-GB200,64,2,4,8,1,FSDP=0,,MXFP8,4.6,\n";
  auto csv = parse_csv(header + fmt::format(fmt::runtime(b405), "25.09", "") + fmt::format(fmt::runtime(b405), "25.11", "") +
                           fmt::format(fmt::runtime(b405), "25.09", "none") + fmt::format(fmt::runtime(b70), "26.02.01", "GB200", "FP8") +
                           fmt::format(fmt::runtime(b70), "25.11", "GB300", "FP8-CS") +
                           fmt::format(fmt::runtime(b70), "26.08", "GB200", "FP8") + mx,
                       "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  ASSERT_EQ(runs->size(), 7u);
  const int64_t expected[7] = {95, 92, 0, 40, 20, 0, 0};
  for (size_t i = 0; i < 7; ++i) {
    ASSERT_TRUE((*runs)[i].skip_reason.empty()) << i << ": " << (*runs)[i].skip_reason;
    EXPECT_EQ((*runs)[i].recipe_offload_layers, expected[i]) << i;
    EXPECT_EQ((*runs)[i].job.memory.offload_layers, expected[i]) << i;
  }
  const auto p = predict_runs(*runs, {});
  // 405B with the recipe's 95 layers fits (was 51 layers assumed, tight); nothing is assumed on top.
  EXPECT_EQ(p[0].assumed_offload_layers, 0);
  EXPECT_TRUE(p[0].step.memory.fits()) << p[0].step.memory.verdict();
  EXPECT_EQ(p[1].assumed_offload_layers, 0);
  EXPECT_EQ(p[3].assumed_offload_layers, 0);
  EXPECT_EQ(p[4].assumed_offload_layers, 0);
  EXPECT_GT(p[5].assumed_offload_layers, 0);  // 26.08 not read: the old assumption stands
}

TEST(PublishedRunsMemory, OffloadIsAssumedOnlyWhereRecomputeIsUnstatedAndTheRowDoesNotFit) {
  // Llama 3 70B, Megatron-FSDP on 64 GB200, micro-batch 2, no recompute stated (a Megatron-Bridge table row):
  // it does not fit as stated, so validation assumes the fewest offloaded layers that fit. The same row
  // stating "none" keeps its verdict; a row that fits as stated assumes nothing; "local batch" gives the batch;
  // a silent torchtitan row gets torchtitan's defaults.
  const std::string header =
      "source,model,layers,hidden,heads,ffn_hidden,seq_len,vocab,global_batch_seqs,micro_batch,gpu_type,num_gpus,"
      "tp,pp,dp,cp,zero_or_fsdp,recompute,precision,tokens_per_sec,notes\n";
  // (No container in the source: a NeMo row whose recipe is not read, so no recipe offload applies.)
  const std::string row = "NeMo performance table,LLAMA3_70B,80,8192,64,28672,8192,128256,256,2,"
                          "DGX-GB200,64,1,1,64,1,Megatron-FSDP (64),{},FP8,300000,\n";
  const std::string fits = "Megatron-Bridge (25.11 NeMo container),LLAMA3_70B,80,8192,64,28672,8192,128256,256,1,"
                           "DGX-GB200,64,4,4,4,1,FSDP=0,,FP8,300000,\n";
  const std::string local = "pytorch/torchtitan,Llama 3.1 8B,32,4096,32,14336,8192,128256,,,H100 96GB,8,1,1,8,1,"
                            "FSDP2 (8),full AC,bf16,40000,local batch 2\n";
  // torchtitan's defaults where the row is silent: no accumulation (global = micro-batch × dp) and
  // selective per-op recompute.
  const std::string silent = "pytorch/torchtitan,Llama 3.1 8B,32,4096,32,14336,8192,128256,,2,H200,32,1,1,32,1,"
                             "FSDP2,,bf16,350000,\n";
  auto csv = parse_csv(header + fmt::format(fmt::runtime(row), "") + fmt::format(fmt::runtime(row), "none") + fits + local + silent,
                       "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  ASSERT_EQ(runs->size(), 5u);
  const auto p = predict_runs(*runs, {});
  EXPECT_EQ(p[0].run.job.framework, Framework::kNemo);
  EXPECT_GT(p[0].assumed_offload_layers, 0);
  EXPECT_TRUE(p[0].step.memory.fits()) << p[0].step.memory.verdict();
  EXPECT_EQ(p[1].assumed_offload_layers, 0);  // "none" is a statement: the verdict stays OOM
  EXPECT_TRUE(p[1].step.memory.clearly_oom()) << p[1].step.memory.verdict();
  EXPECT_EQ(p[2].assumed_offload_layers, 0);
  EXPECT_TRUE(p[2].step.memory.fits()) << p[2].step.memory.verdict();
  EXPECT_EQ(p[3].run.job.framework, Framework::kTorchtitan);
  EXPECT_EQ(p[3].run.job.plan.global_batch, 16);  // local batch 2 × dp 8
  EXPECT_EQ(p[3].run.job.plan.recompute, Recompute::kFull);
  EXPECT_TRUE(p[4].run.skip_reason.empty()) << p[4].run.skip_reason;
  EXPECT_EQ(p[4].run.job.plan.global_batch, 64);  // micro-batch 2 × dp 32
  EXPECT_EQ(p[4].run.job.plan.recompute, Recompute::kSelective);
  EXPECT_EQ(p[4].run.job.memory.selective, SelectivePolicy::kEveryOtherMatmul);
  const ValidationSummary s = summarize(p);
  EXPECT_EQ(s.memory_offload_assumed, 1u);
  EXPECT_EQ(s.memory_oom, 1u);
}

// Any CSV in published_runs.csv's format validates; a `framework` column overrides the framework inferred
// from the source, and a value that is not a framework is refused naming the column.
TEST(PublishedRunsFramework, ColumnOverridesTheInferredFramework) {
  const std::string header =
      "source,model,layers,hidden,heads,ffn_hidden,seq_len,vocab,global_batch_seqs,micro_batch,gpu_type,num_gpus,"
      "tp,pp,dp,cp,ep,zero_or_fsdp,recompute,precision,tokens_per_sec,framework,notes\n";
  const std::string rows =
      "MegaScale (ByteDance 2024),LLAMA3_8B,,,,,8192,,128,1,DGX-H100,8,1,1,8,1,,,none,bf16,100000,,\n"
      "Some lab,LLAMA3_8B,,,,,8192,,128,1,DGX-H100,8,1,1,8,1,,,none,bf16,100000,torchtitan,\n"
      "Some lab,LLAMA3_8B,,,,,8192,,128,1,DGX-H100,8,1,1,8,1,,,none,bf16,100000,jax,\n"
      "Some lab,Qwen3_30B_a3B (v2),,,,,4096,,64,1,DGX-H100,8,1,1,8,1,8,,,fp8,100000,nemo,\n";
  auto csv = parse_csv(header + rows, "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  EXPECT_EQ((*runs)[0].job.framework, Framework::kMegatron);
  EXPECT_EQ((*runs)[1].job.framework, Framework::kTorchtitan);
  EXPECT_NE((*runs)[2].skip_reason.find("column framework: expected generic"), std::string::npos);
  // An unknown tag in parentheses still finds the catalog model; the ep column is read.
  EXPECT_TRUE((*runs)[3].skip_reason.empty()) << (*runs)[3].skip_reason;
  EXPECT_EQ((*runs)[3].job.ep, 8);
  EXPECT_EQ((*runs)[3].job.framework, Framework::kNemo);
}

// Megatron-Bridge's MXFP8 MoE recipes from the 26.06 container on capture the whole iteration in one CUDA graph and
// overlap the all-to-all (set_full_iter_cg_configs at v0.5.0); 26.04's and the FP8 current-scaling ones do not, nor
// Kimi K2's or Nemotron 3 Nano's; B300/B200 join for DeepSeek-V3 and Qwen3-235B-A22B in 26.06.01.
TEST(PublishedRunsMoe, FullIterationGraphsOfTheBridgeRecipes) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,precision,tokens_per_sec,notes\n";
  const std::string b = "NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (";
  const std::string rows =
      b + "26.06 NeMo container),Qwen3_30B_a3B,,,,4096,512,4,DGX-GB200,8,1,1,8,1,8,,MXFP8,327680,\n" +
      b + "26.04.01 NeMo container),Qwen3_30B_a3B,,,,4096,512,4,DGX-GB200,8,1,1,8,1,8,,MXFP8,208896,\n" +
      b + "26.06 NeMo container),Qwen3_30B_a3B,,,,4096,1024,1,DGX-H100,16,1,1,16,1,16,,FP8,143360,\n" +
      b + "26.06 NeMo container),DeepSeekV3,,,,4096,4096,2,DGX-B300,256,1,8,32,1,8,,MXFP8,884736,\n" +
      b + "26.06.01 NeMo container),DeepSeekV3,,,,4096,4096,2,DGX-B300,256,1,8,32,1,8,,MXFP8,884736,\n" +
      b + "26.06 NeMo container),Kimi_K2,,,,4096,4096,2,DGX-GB300,256,1,4,64,1,64,4,MXFP8,1363968,\n" +
      b + "26.06 NeMo container),Qwen3_30B_a3B,,,,4096,512,4,DGX-GB200,8,1,1,8,1,8,,MXFP8,327680,cuda_graphs=0\n";
  auto csv = parse_csv(header + rows, "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  ASSERT_EQ(runs->size(), 7u);
  for (const PublishedRun& r : *runs) ASSERT_TRUE(r.skip_reason.empty()) << r.row << ": " << r.skip_reason;
  const std::vector<bool> graphed = {true, false, false, false, true, false, false};
  for (size_t i = 0; i < graphed.size(); ++i) EXPECT_EQ((*runs)[i].job.full_iteration_graph, graphed[i]) << i;
  EXPECT_TRUE((*runs)[0].job.ep_overlap);  // the same recipes set moe_a2a_overlap = True
  EXPECT_EQ((*runs)[0].job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_FALSE((*runs)[1].job.ep_overlap);
  // The graphed row pays no host wait; the same row without the graph does.
  EXPECT_EQ(predict_run((*runs)[0], {}).step.host_wait_s, 0.0);
  EXPECT_GT(predict_run((*runs)[6], {}).step.host_wait_s, 0.0);
}

// The recipes' all-to-all overlap by release: H100 Qwen3-30B-A3B until 26.02 (v0.3.0), not from 26.04 (v0.4.0);
// GPT-OSS 120B on GB200 from 26.04; DeepSeek-V3 MXFP8 on B200 from 26.04.01 (v0.4.2), with DeepEP.
TEST(PublishedRunsMoe, RecipeAllToAllOverlapByRelease) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,precision,tokens_per_sec\n";
  const std::string b = "NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (";
  const std::string rows =
      b + "26.02 NeMo container),Qwen3_30B_a3B,,,,4096,1024,1,DGX-H100,16,1,1,16,1,16,,FP8,143360\n" +
      b + "26.04 NeMo container),Qwen3_30B_a3B,,,,4096,1024,1,DGX-H100,16,1,1,16,1,16,,FP8,143360\n" +
      b + "26.04 NeMo container),GPT OSS 120B,,,,4096,1280,4,DGX-GB200,64,1,1,64,1,64,,BF16,1064960\n" +
      b + "26.04.01 NeMo container),DeepSeekV3,,,,4096,4096,1,DGX-B200,256,1,8,32,1,32,2,MXFP8,851968\n" +
      b + "26.04 NeMo container),DeepSeekV3,,,,4096,4096,1,DGX-B200,256,1,16,16,1,8,,MXFP8,851968\n";
  auto runs = load_published_runs(*parse_csv(header + rows, "<test>"), testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  for (const PublishedRun& r : *runs) ASSERT_TRUE(r.skip_reason.empty()) << r.row << ": " << r.skip_reason;
  const std::vector<bool> overlap = {true, false, true, true, false};
  for (size_t i = 0; i < overlap.size(); ++i) EXPECT_EQ((*runs)[i].job.ep_overlap, overlap[i]) << i;
  EXPECT_EQ((*runs)[3].job.ep_dispatch, ExpertDispatch::kDeduplicated);
  EXPECT_EQ((*runs)[4].job.ep_dispatch, ExpertDispatch::kHybridEp);
  for (const PublishedRun& r : *runs) EXPECT_FALSE(r.job.full_iteration_graph) << r.row;
}

// Nemotron 3 Super's Bridge recipes, the same in every release its rows cite (v0.4.0 to v0.6.0): the flex dispatcher
// with HybridEP on every GPU; layernorm and moe_act recomputed on B300 NVFP4 and B200 MXFP8 only; no all-to-all
// overlap and no full-iteration graph. A row that states its recompute keeps it.
TEST(PublishedRunsMoe, NemotronSuperRecipesOfEachRelease) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,recompute,precision,tokens_per_sec\n";
  const std::string b = "NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (";
  const std::string rows =
      b + "26.04 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-B300,64,1,1,64,1,8,,,NVFP4,451008\n" +
      b + "26.06 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-B300,64,1,1,64,1,8,,,MXFP8,503488\n" +
      b + "26.04.01 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-B200,64,1,1,64,1,64,,,MXFP8,409600\n" +
      b + "26.04.01 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-B200,64,2,1,32,1,64,,,NVFP4,360448\n" +
      b + "26.08 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-GB300,64,1,1,64,1,64,,,MXFP8,630784\n" +
      b + "26.04 NeMo container),Nemotron_3_Super,,,,8192,512,1,DGX-B300,64,1,1,64,1,8,,selective (recompute modules: "
          "norm),NVFP4,451008\n";
  auto csv = parse_csv(header + rows, "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  ASSERT_EQ(runs->size(), 6u);
  for (const PublishedRun& r : *runs) ASSERT_TRUE(r.skip_reason.empty()) << r.row << ": " << r.skip_reason;
  const std::vector<bool> recomputed = {true, false, true, false, false, false};
  for (size_t i = 0; i < recomputed.size(); ++i) {
    const PublishedRun& r = (*runs)[i];
    EXPECT_EQ(r.job.ep_dispatch, ExpertDispatch::kHybridEp) << i;
    EXPECT_EQ(r.job.memory.recompute_moe_act, recomputed[i]) << i;
    EXPECT_EQ(r.job.memory.recompute_norm, recomputed[i] || i == 5) << i;
    EXPECT_FALSE(r.job.ep_overlap) << i;
    EXPECT_FALSE(r.job.full_iteration_graph) << i;
    EXPECT_FALSE(r.job.moe_cuda_graph) << i;
  }
  // NVFP4 keeps the last 14 layers, attention, the latent projections and MTP in bf16 and Mamba's out_proj in MXFP8
  // (nemotron_3_super_bf16_with_nvfp4_mixed + te_quant.cfg) in every release; MXFP8 keeps nothing apart.
  const std::vector<std::string> parts = {"last=14,attention=bf16,mamba_out_proj=fp8,moe_latent=bf16,mtp=bf16", "", "",
                                          "last=14,attention=bf16,mamba_out_proj=fp8,moe_latent=bf16,mtp=bf16", "",
                                          "last=14,attention=bf16,mamba_out_proj=fp8,moe_latent=bf16,mtp=bf16"};
  for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(gemm_parts_string((*runs)[i].job.gemm_parts), parts[i]) << i;
  // Those parts at the bf16 rate make the B200 NVFP4 row slower than all of it in NVFP4.
  PublishedRun all_fp4 = (*runs)[3];
  all_fp4.job.gemm_parts = GemmParts{};
  EXPECT_GT(predict_run((*runs)[3], {}).step.step_time_s, 1.05 * predict_run(all_fp4, {}).step.step_time_s);
  // HybridEP sends a token once per remote node and fuses the permutation into the dispatch: the B200 MXFP8 row
  // (ep 64 over 8 nodes) is faster than the same row on the all-to-all dispatcher.
  PublishedRun a2a = (*runs)[2];
  a2a.job.ep_dispatch = ExpertDispatch::kAllToAll;
  EXPECT_LT(predict_run((*runs)[2], {}).step.step_time_s, predict_run(a2a, {}).step.step_time_s);
}

// Nemotron 3 Nano's Bridge configs set HybridEP on every GPU from 26.04 (BASE_NEMOTRON_3_NANO_CONFIG, v0.4.0 on; H100
// included); the 26.02.01 rows (fit half) are read on the all-to-all dispatcher.
TEST(PublishedRunsMoe, NemotronNanoRunsHybridEpFrom2604) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,recompute,precision,tokens_per_sec\n";
  const std::string b = "NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (";
  const std::string rows = b + "26.02.01 NeMo container),Nemotron_3_Nano,,,,8192,512,4,DGX-GB300,8,1,1,8,1,8,,,MXFP8,301312\n" +
                           b + "26.04 NeMo container),Nemotron_3_Nano,,,,8192,512,4,DGX-GB300,8,1,1,8,1,8,,,MXFP8,301312\n" +
                           b + "26.06 NeMo container),Nemotron_3_Nano,,,,8192,1024,1,DGX-H100,16,1,1,16,1,8,,,FP8,301312\n";
  auto runs = load_published_runs(*parse_csv(header + rows, "<test>"), testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  ASSERT_EQ(runs->size(), 3u);
  for (const PublishedRun& r : *runs) ASSERT_TRUE(r.skip_reason.empty()) << r.row << ": " << r.skip_reason;
  EXPECT_EQ((*runs)[0].job.ep_dispatch, ExpertDispatch::kAllToAll);
  EXPECT_EQ((*runs)[1].job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_EQ((*runs)[2].job.ep_dispatch, ExpertDispatch::kHybridEp);
  // HybridEP fuses the permutations into the dispatch: the 26.04 row is predicted faster than the 26.02.01 one.
  EXPECT_LT(predict_run((*runs)[1], {}).step.step_time_s, predict_run((*runs)[0], {}).step.step_time_s);
}

// A recompute module the models do not know (Megatron-Core's moe: the whole MoE layer rerun in the backward) is
// refused naming the column and the module, not predicted as if nothing were recomputed; known ones are read.
TEST(PublishedRunsMoe, UnknownRecomputeModulesAreRefusedByName) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,recompute,precision,achieved_tflops_per_gpu\n";
  const std::string rows =
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,16384,256,1,H100,256,4,8,8,1,8,4,"
      "\"selective (recompute modules: layernorm, moe)\",BF16,295\n"
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,4096,3072,3,GB200,256,1,4,64,1,64,6,"
      "\"selective (recompute modules: moe_act, layernorm)\",MXFP8,919\n"
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,4096,256,1,H100,256,1,4,64,1,32,6,"
      "\"selective (recompute modules: norm, act, shared_expert)\",BF16,89\n";
  auto runs = load_published_runs(*parse_csv(header + rows, "<test>"), testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  // "moe": the whole MoE layer re-run in the backward (Job's MemoryTraits::recompute_moe).
  ASSERT_TRUE((*runs)[0].skip_reason.empty()) << (*runs)[0].skip_reason;
  EXPECT_TRUE((*runs)[0].job.memory.recompute_moe);
  EXPECT_TRUE((*runs)[0].job.memory.recompute_norm);
  EXPECT_FALSE((*runs)[0].job.memory.recompute_moe_act);
  ASSERT_TRUE((*runs)[1].skip_reason.empty()) << (*runs)[1].skip_reason;
  EXPECT_TRUE((*runs)[1].job.memory.recompute_norm);
  EXPECT_TRUE((*runs)[1].job.memory.recompute_moe_act);
  EXPECT_FALSE((*runs)[1].job.memory.recompute_moe);  // moe_act is not moe
  EXPECT_EQ((*runs)[2].skip_reason,
            "column recompute: module(s) shared_expert not modelled (expected norm, layernorm, act, moe_act, "
            "core_attn, mla_up_proj, moe)");
}

// A row that names its dispatcher, the all-to-all overlap or Megatron-Core's recompute modules is read as stated
// (the Megatron-Core MoE model zoo rows of tests/data/published_runs.csv write them so).
TEST(PublishedRunsMoe, NotesNameTheDispatcherAndTheOverlap) {
  const std::string header =
      "source,model,layers,hidden,heads,seq_len,global_batch_seqs,micro_batch,gpu_type,num_gpus,tp,pp,dp,cp,ep,"
      "virtual_pp,recompute,precision,step_time_s,notes\n";
  const std::string rows =
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,4096,2048,1,H100,256,2,8,16,1,32,4,"
      "\"selective (recompute modules: norm, act)\",BF16,17.6,dispatcher=DeepEP; +1f1b overlap\n"
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,4096,2048,1,H100,256,2,32,4,1,8,3,,BF16,24.2,dispatcher=A2A; A2A_OVERLAP=0\n"
      "NVIDIA-NeMo/Megatron-Bridge (25.09 NeMo container),DeepSeekV3 (dropless),,,,4096,8192,1,DGX-H100,1024,2,8,64,1,64,"
      "4,,FP8,25.3,\n"
      "NVIDIA-NeMo/Megatron-Bridge (25.09 NeMo container),Qwen3_30B_a3B (tokendrop),,,,4096,512,1,DGX-B200,8,1,1,8,1,8,"
      "1,,FP8,14.5,cuda_graphs=0\n"
      "NVIDIA-NeMo/Megatron-Bridge (25.09 NeMo container),Qwen3_30B_a3B (tokendrop),,,,4096,512,2,DGX-H100,16,1,2,8,1,8,"
      "24,,FP8,12.5,cuda_graphs=1\n";
  auto csv = parse_csv(header + rows, "<test>");
  ASSERT_TRUE(csv.ok()) << csv.status().to_string();
  auto runs = load_published_runs(*csv, testing::load_test_catalog());
  ASSERT_TRUE(runs.ok()) << runs.status().to_string();
  const PublishedRun& deepep = (*runs)[0];
  ASSERT_TRUE(deepep.skip_reason.empty()) << deepep.skip_reason;
  EXPECT_EQ(deepep.job.ep_dispatch, ExpertDispatch::kDeduplicated);
  EXPECT_TRUE(deepep.job.ep_overlap);
  PublishedRun hybrid = load_published_runs(*parse_csv(header + std::string(
      "Megatron-Core MoE zoo,Qwen3_235B_a22B,,,,4096,2048,1,H100,256,2,8,16,1,32,4,,BF16,17.6,dispatcher=HybridEP\n"),
      "<test>"), testing::load_test_catalog())->front();
  EXPECT_EQ(hybrid.job.ep_dispatch, ExpertDispatch::kHybridEp);
  EXPECT_EQ(deepep.convention, FlopConvention::kModelCausal);  // Megatron-Core's own count
  EXPECT_EQ(deepep.job.plan.recompute, Recompute::kNone);      // no core_attn in the module list
  EXPECT_TRUE(deepep.job.memory.recompute_norm);
  EXPECT_TRUE(deepep.job.memory.recompute_moe_act);
  const PublishedRun& a2a = (*runs)[1];
  EXPECT_EQ(a2a.job.ep_dispatch, ExpertDispatch::kAllToAll);
  EXPECT_FALSE(a2a.job.ep_overlap);  // "A2A_OVERLAP=0" is the switch off
  EXPECT_FALSE(a2a.job.memory.recompute_norm);
  // Bridge's DeepSeek-V3 recipes: the flex dispatcher, from the catalog's group-limited routing (25.09: DeepEP).
  EXPECT_EQ((*runs)[2].job.ep_dispatch, ExpertDispatch::kDeduplicated);
  EXPECT_EQ((*runs)[2].job.router_groups, 8);
  // "cuda_graphs=0|1" in the notes overrides the recipe's CUDA graphs (B200 Qwen3-30B-A3B in 25.09: on; H100: off).
  EXPECT_FALSE((*runs)[3].job.moe_cuda_graph);
  EXPECT_TRUE((*runs)[4].job.moe_cuda_graph);
  // The overlap hides all-to-all time: the same row without it predicts a longer step.
  PublishedRun exposed = deepep;
  exposed.job.ep_overlap = false;
  EXPECT_GT(predict_run(exposed, {}).step.step_time_s, predict_run(deepep, {}).step.step_time_s);
}

TEST(Csv, QuotedFieldsAndBadInput) {
  auto t = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\",3\n", "<test>");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->field(0, "b"), "x, \"y\"");
  EXPECT_EQ(t->field(0, "missing"), "");
  auto ragged = parse_csv("a,b\n1,2,3\n", "<test>");
  ASSERT_FALSE(ragged.ok());
  EXPECT_NE(ragged.status().message().find("3 fields, expected 2"), std::string::npos);
  EXPECT_FALSE(parse_csv("a\n\"open\n", "<test>").ok());
  const Catalog catalog = testing::load_test_catalog();
  auto wrong_columns = load_published_runs(*parse_csv("x,y\n1,2\n", "<test>"), catalog);
  ASSERT_FALSE(wrong_columns.ok());
  EXPECT_NE(wrong_columns.status().message().find("'source'"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan
