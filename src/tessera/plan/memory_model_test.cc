// The memory model's framework traits, recompute policies, offload and verdict bands (memory_model.h).
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/plan/framework.h"
#include "tessera/plan/memory_model.h"
#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

Job llama70b_job(const Catalog& c) {
  Job job;
  job.model = *c.model("llama3-70b");
  job.plan.precision = Precision::kBf16;
  job.plan.micro_batch = 1;
  job.plan.tp = 8, job.plan.pp = 1, job.plan.dp = 8, job.plan.global_batch = 64;
  return job;
}

TEST(MemoryModel, NemoKeepsBf16GradientsAndFp8WeightsOnlyWithFp8Gemms) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);
  const double P = params_per_rank(job);
  apply_framework(Framework::kMegatron, &job);
  MemoryBreakdown megatron = estimate_memory(job, 80);
  EXPECT_NEAR(megatron.weights_gib, P * 2 / kGiB, 1e-9);
  EXPECT_NEAR(megatron.gradients_gib, P * 4 / kGiB, 1e-9);
  job.gemm_format = GemmFormat::kFp8;
  apply_framework(Framework::kNemo, &job);
  MemoryBreakdown nemo = estimate_memory(job, 80);
  EXPECT_NEAR(nemo.weights_gib, P * 1 / kGiB, 1e-9);    // fp8_param_gather
  EXPECT_NEAR(nemo.gradients_gib, P * 2 / kGiB, 1e-9);  // grad_reduce_in_fp32 = false
  EXPECT_NEAR(nemo.optimizer_gib, megatron.optimizer_gib, 1e-9);
  job.gemm_format = GemmFormat::kFp4;  // NVFP4 recipes keep bf16 weights
  apply_framework(Framework::kNemo, &job);
  EXPECT_NEAR(estimate_memory(job, 80).weights_gib, P * 2 / kGiB, 1e-9);
}

// Transformer Engine saves fp8 GEMM inputs in 1 byte: for a gated dense block that is the QKV and MLP inputs (C
// each), the fc2 input (F) and the attention output's extra fp8 copy for the o projection (+Q, flash attention keeps
// its bf16 output): C + C + F − Q bytes per token less, over tp with sequence parallelism. Only Megatron/NeMo with fp8
// or fp4 GEMMs; torchtitan (torchao float8) and bf16 jobs keep bf16 inputs.
TEST(MemoryModel, TransformerEngineKeepsFp8GemmInputsInOneByte) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);
  job.gemm_format = GemmFormat::kFp8;
  apply_framework(Framework::kNemo, &job);
  EXPECT_TRUE(job.memory.fp8_saved_gemm_inputs);
  const double fp8 = activation_bytes_per_layer(job);
  job.memory.fp8_saved_gemm_inputs = false;
  const double bf16 = activation_bytes_per_layer(job);
  const double C = 8192, F = 28672, Q = 8192, tokens = 8192;  // llama3-70b, seq 8192, micro-batch 1
  EXPECT_NEAR(bf16 - fp8, tokens * (2 * C + F - Q) / 8, 1);
  apply_framework(Framework::kTorchtitan, &job);
  EXPECT_FALSE(job.memory.fp8_saved_gemm_inputs);
  job.gemm_format = GemmFormat::kBf16;
  apply_framework(Framework::kNemo, &job);
  EXPECT_FALSE(job.memory.fp8_saved_gemm_inputs);
}

TEST(MemoryModel, DropoutMasksOnlyForMegatronGptModels) {
  const Catalog c = testing::load_test_catalog();
  Job gpt;
  gpt.model = *c.model("gpt3-175b");
  apply_framework(Framework::kMegatron, &gpt);
  EXPECT_TRUE(gpt.memory.dropout);
  apply_framework(Framework::kTorchtitan, &gpt);
  EXPECT_FALSE(gpt.memory.dropout);
  Job llama = llama70b_job(c);
  apply_framework(Framework::kMegatron, &llama);
  EXPECT_FALSE(llama.memory.dropout);
  // Two 1-byte masks per element of the hidden state: 2·sbh/tp bytes per layer with sequence parallelism.
  gpt.plan = llama.plan;
  apply_framework(Framework::kMegatron, &gpt);
  const double with = activation_bytes_per_layer(gpt);
  gpt.memory.dropout = false;
  const double sbh = static_cast<double>(gpt.model.seq_len * gpt.model.n_embd);
  EXPECT_NEAR(with - activation_bytes_per_layer(gpt), 2 * sbh / 8, 1);
}

TEST(MemoryModel, RecomputePoliciesKeepLessAndRebuildOneLayer) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);
  apply_framework(Framework::kTorchtitan, &job);
  const double none = activation_bytes_per_layer(job);
  job.plan.recompute = Recompute::kSelective;
  const double every_other = activation_bytes_per_layer(job);
  job.memory.selective = SelectivePolicy::kAttentionCore;
  const double attention_core = activation_bytes_per_layer(job);  // = none with flash attention
  job.plan.recompute = Recompute::kFull;
  const double full = activation_bytes_per_layer(job);
  EXPECT_EQ(attention_core, none);
  EXPECT_LT(every_other, 0.6 * none);
  EXPECT_GT(every_other, full);
  const double sbh = static_cast<double>(job.model.seq_len * job.model.n_embd);
  EXPECT_NEAR(full, 2 * sbh / 8, 1);  // the layer input, split by sequence parallelism
  // Full recompute keeps every layer's input plus one whole layer rebuilt in backward.
  const MemoryBreakdown mem = estimate_memory(job, 80);
  EXPECT_NEAR(mem.activations_gib, (80 * full + none) / kGiB, 1e-9);
}

TEST(MemoryModel, TorchtitanKeepsTheAllGatheredMatmulInputsUnderSequenceParallelism) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);  // tp = 8 with sequence parallelism, no recompute
  apply_framework(Framework::kMegatron, &job);
  const double megatron = activation_bytes_per_layer(job);
  apply_framework(Framework::kTorchtitan, &job);
  const double sbh = static_cast<double>(job.model.seq_len * job.model.n_embd);
  // QKV and MLP inputs, 2 + 2 bytes per element, whole instead of an eighth.
  EXPECT_NEAR(activation_bytes_per_layer(job) - megatron, 4 * sbh * (1 - 1.0 / 8), 1);
  job.plan.tp = 1, job.plan.dp = 64;  // nothing is sharded without tp
  const double titan_tp1 = activation_bytes_per_layer(job);
  apply_framework(Framework::kMegatron, &job);
  EXPECT_EQ(titan_tp1, activation_bytes_per_layer(job));
}

TEST(MemoryModel, SelectivePolicyCostsItsRecomputeTime) {
  const Catalog c = testing::load_test_catalog();
  const AcceleratorSpec acc = *c.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*c.cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job job = llama70b_job(c);
  job.plan.recompute = Recompute::kSelective;
  apply_framework(Framework::kMegatron, &job);
  const double attention_core = predict_step(job, acc, links, dev).backward_s;
  apply_framework(Framework::kTorchtitan, &job);
  const double every_other = predict_step(job, acc, links, dev).backward_s;
  job.plan.recompute = Recompute::kFull;
  const double full = predict_step(job, acc, links, dev).backward_s;
  // Re-running k, o and up projections costs more than the attention core and less than the whole forward.
  EXPECT_GT(every_other, attention_core);
  EXPECT_LT(every_other, full);
}

TEST(MemoryModel, LossLogitsUseTheFrameworksBytesPerLogit) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);
  const double logits = static_cast<double>(job.model.seq_len * job.model.vocab_size) / 8;  // one sequence, V/tp
  apply_framework(Framework::kMegatron, &job);
  EXPECT_NEAR(estimate_memory(job, 80).logits_gib, logits * 6 / kGiB, 1e-9);
  apply_framework(Framework::kTorchtitan, &job);
  EXPECT_NEAR(estimate_memory(job, 80).logits_gib, logits * 10 / kGiB, 1e-9);
}

TEST(MemoryModel, TorchtitanPipelineKeepsWeightsAndGradientsWhole) {
  const Catalog c = testing::load_test_catalog();
  Job job = llama70b_job(c);
  job.plan.pp = 4, job.plan.dp = 2, job.plan.zero_stage = 3, job.plan.global_batch = 16;
  apply_framework(Framework::kTorchtitan, &job);
  EXPECT_FALSE(job.reshard_per_micro_batch);
  const double P = params_per_rank(job);
  const MemoryBreakdown mem = estimate_memory(job, 80);
  EXPECT_NEAR(mem.weights_gib, P * 2 / kGiB, 1e-9);
  EXPECT_NEAR(mem.gradients_gib, P * 4 / kGiB, 1e-9);     // unsharded fp32 accumulation
  EXPECT_NEAR(mem.optimizer_gib, P * 12 / 2 / kGiB, 1e-9);  // still sharded over dp
  job.plan.pp = 1, job.plan.dp = 8;  // no pipeline: FSDP reshards as usual
  apply_framework(Framework::kTorchtitan, &job);
  EXPECT_TRUE(job.reshard_per_micro_batch);
  EXPECT_FALSE(job.memory.unsharded_gradient_accumulation);
}

TEST(MemoryModel, OffloadFindsTheFewestLayersThatFitAndCostsOnlyWhatTheHostLinkCannotHide) {
  const Catalog c = testing::load_test_catalog();
  AcceleratorSpec acc = *c.accelerator("gb200");
  const ClusterLinks links = cluster_links(Catalog::cluster_for(acc), acc);
  Job job;
  job.model = *c.model("llama3-70b");
  job.plan.precision = Precision::kBf16;
  job.plan.tp = 1, job.plan.dp = 64, job.plan.zero_stage = 3, job.plan.micro_batch = 2, job.plan.global_batch = 256;
  job.gemm_format = GemmFormat::kFp8;
  apply_framework(Framework::kNemo, &job);
  ASSERT_TRUE(estimate_memory(job, acc.hbm_gib).clearly_oom());
  const int64_t n = min_offload_layers_to_fit(job, acc.hbm_gib);
  ASSERT_GT(n, 0);
  Job offloaded = job;
  offloaded.memory.offload_layers = n;
  EXPECT_TRUE(estimate_memory(offloaded, acc.hbm_gib).fits());
  offloaded.memory.offload_layers = n - 1;
  EXPECT_FALSE(estimate_memory(offloaded, acc.hbm_gib).fits());
  offloaded.memory.offload_layers = n;
  // NVLink-C2C moves a layer's activations faster than the layer computes: nothing exposed.
  const AcceleratorDevice dev(acc, GemmFormat::kFp8);
  EXPECT_EQ(predict_step(offloaded, acc, links, dev).offload_s, 0);
  // Over a link 100× slower the transfer is longer than the compute and shows up in the step.
  acc.host_link_gb_per_s /= 100;
  const StepPrediction slow = predict_step(offloaded, acc, links, dev);
  EXPECT_GT(slow.offload_s, 0);
  EXPECT_GT(slow.step_time_s, predict_step(job, acc, links, dev).step_time_s);
  // Offloading more layers than a stage has is refused; state that cannot fit at all gives -1.
  offloaded.memory.offload_layers = 81;
  EXPECT_FALSE(validate_job(offloaded, 64).ok());
  job.plan.zero_stage = 0;  // 70B of weights, gradients and optimizer on every GPU
  EXPECT_EQ(min_offload_layers_to_fit(job, acc.hbm_gib), -1);
}

TEST(MemoryModel, VerdictBandsLeaveHeadroomForWhatTheModelMisses) {
  MemoryBreakdown m;
  m.capacity_gib = 100;
  m.weights_gib = 89;
  EXPECT_EQ(m.band(), MemoryBand::kFits);
  m.weights_gib = 95;
  EXPECT_EQ(m.band(), MemoryBand::kTight);
  EXPECT_TRUE(m.fits());
  m.weights_gib = 105;
  EXPECT_EQ(m.band(), MemoryBand::kTight);
  EXPECT_FALSE(m.fits());
  EXPECT_FALSE(m.clearly_oom());
  m.weights_gib = 111;
  EXPECT_EQ(m.band(), MemoryBand::kOom);
  EXPECT_STREQ(memory_band_name(m.band()), "OOM");
  EXPECT_EQ(m.verdict().rfind("OOM: needs 111.0 GiB of 100 GiB (111%", 0), 0u) << m.verdict();
}

// Qwen3-235B-A22B on Megatron, bf16, tp 1, pp 8, dp 32, ep 32, micro-batch 1 (4096 tokens): the job the module
// recompute tests below take apart.
Job qwen3_235b_on_megatron() {
  Job job;
  job.model = *testing::load_test_catalog().model("qwen3-235b-a22b");
  job.plan.tp = 1, job.plan.pp = 8, job.plan.dp = 32, job.plan.micro_batch = 1, job.plan.global_batch = 256;
  job.plan.precision = Precision::kBf16;
  job.ep = 32;
  apply_framework(Framework::kMegatron, &job);
  return job;
}

// Megatron-Core's --recompute-modules layernorm / moe_act: each drops exactly what it rebuilds. Qwen3-235B, tp 1:
// two norms per layer (before attention and before the MoE), each output 2·C bytes per token; the expert
// activation's output 2·F_e bytes for each of the k routed copies.
TEST(MemoryModel, RecomputedNormsAndExpertActivationsAreNotKept) {
  const Job job = qwen3_235b_on_megatron();
  const double tokens = 4096, C = 4096, Fe = 1536, k = 8;
  const double kept = activation_bytes_per_layer(job);
  Job norm = job;
  norm.memory.recompute_norm = true;
  EXPECT_NEAR(kept - activation_bytes_per_layer(norm), tokens * 2 * 2 * C, 1e-3);
  Job act = job;
  act.memory.recompute_moe_act = true;
  EXPECT_NEAR(kept - activation_bytes_per_layer(act), tokens * k * 2 * Fe, 1e-3);
  EXPECT_LT(estimate_memory(act, 80).activations_gib, estimate_memory(job, 80).activations_gib);
}

// Megatron-Core's "moe" recompute module checkpoints the whole MoE layer: of its activations only the input (the
// pre-MLP norm output) and the norm's input stay, 2·C + 2·C bytes per token, however many copies are routed; the
// backward rebuilds one MoE layer's full set on top. Qwen3-235B (every layer MoE), tp 1, 4096 tokens.
TEST(MemoryModel, RecomputedMoeLayerKeepsOnlyItsInput) {
  const Job job = qwen3_235b_on_megatron();
  const double tokens = 4096, C = 4096, Fe = 1536, k = 8;
  Job moe = job;
  moe.memory.recompute_moe = true;
  // What goes: the MLP's norm output as a GEMM input is replaced by the checkpoint's copy of it (no change); k copies
  // of the permuted input and expert output (2·C + 2·C) and the expert's fc1 output (2·2·F_e gated) and activation
  // output (2·F_e).
  const double dropped = tokens * k * (2 * C + 2 * C + 4 * Fe + 2 * Fe);
  EXPECT_NEAR(activation_bytes_per_layer(job) - activation_bytes_per_layer(moe), dropped, 1e-3);
  const MemoryBreakdown kept = estimate_memory(job, 80), recomputed = estimate_memory(moe, 80);
  const double layers = 94.0 / 8;
  // 1F1B: pp micro-batches in flight on the first stage; the layer being recomputed holds its whole set again.
  EXPECT_NEAR(kept.activations_gib - recomputed.activations_gib,
              (layers * 8 * dropped - activation_bytes_per_layer(job)) / (1024.0 * 1024 * 1024), 1e-6);
  EXPECT_EQ(recomputed.stage, "first");
  // With the norm recomputed too, its output is not kept beside the checkpoint.
  Job both = moe;
  both.memory.recompute_norm = true;
  EXPECT_NEAR(activation_bytes_per_layer(moe) - activation_bytes_per_layer(both), tokens * 2 * 2 * C, 1e-3);
}

TEST(MemoryModel, FrameworkNamesRoundTripAndUnknownIsAnError) {
  for (Framework f : {Framework::kGeneric, Framework::kMegatron, Framework::kNemo, Framework::kTorchtitan}) {
    auto parsed = parse_framework(framework_name(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  auto bad = parse_framework("jax");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("found 'jax'"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan
