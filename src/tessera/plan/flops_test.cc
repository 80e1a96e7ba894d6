#include "tessera/plan/flops.h"

#include <gtest/gtest.h>

#include "tessera/plan/memory_model.h"
#include "tessera/plan/plan_test_util.h"

namespace tessera::plan {
namespace {

ModelSpec gpt3() {
  ModelSpec m;
  m.n_layer = 96, m.n_head = 96, m.n_embd = 12288, m.seq_len = 2048, m.vocab_size = 51200;
  return m;
}

TEST(Flops, Gpt3MatmulParamsAndModelFlopsPerToken) {
  const ModelSpec m = gpt3();
  // 12·L·C² + V·C = 173.95B + 0.63B.
  EXPECT_EQ(m.matmul_params(), 12LL * 96 * 12288 * 12288 + 51200LL * 12288);
  EXPECT_NEAR(static_cast<double>(m.num_params()) / 1e9, 174.6, 0.1);
  // PaLM convention per token: 6N + 12·L·T·C = 1.0465e12 + 2.9e10.
  const double per_token = step_flops(m, 2048, 1, FlopConvention::kModelFull, Recompute::kNone) / 2048;
  EXPECT_NEAR(per_token, m.train_flops_per_token(2048), 1e-6 * per_token);
  EXPECT_NEAR(per_token / 1e12, 1.0765, 0.001);
}

TEST(Flops, MegatronEquation3WithFullRecompute) {
  // Narayanan et al. eq. 3: 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)).
  const ModelSpec m = gpt3();
  const double B = 8, s = 2048, l = 96, h = 12288, V = 51200;
  const double eq3 = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
  EXPECT_NEAR(step_flops(m, 2048, 8, FlopConvention::kHardware, Recompute::kFull), eq3, 1e-9 * eq3);
}

TEST(Flops, CausalHalvesAttentionAndSelectiveRecomputeAddsIt) {
  const ModelSpec m = gpt3();
  const ForwardFlops full = forward_flops(m, 2048, false), causal = forward_flops(m, 2048, true);
  EXPECT_DOUBLE_EQ(causal.layer_attention * 2, full.layer_attention);
  EXPECT_DOUBLE_EQ(causal.layer_gemm, full.layer_gemm);
  const double none = executed_flops_per_sequence(m, 2048, Recompute::kNone, true);
  const double sel = executed_flops_per_sequence(m, 2048, Recompute::kSelective, true);
  const double all = executed_flops_per_sequence(m, 2048, Recompute::kFull, true);
  EXPECT_DOUBLE_EQ(sel - none, 96 * causal.layer_attention);
  EXPECT_DOUBLE_EQ(all - none, 96 * (causal.layer_gemm + causal.layer_attention));
}

TEST(Flops, GqaAndGatedMlpChangeMatmulParams) {
  ModelSpec llama;  // Llama 3 8B
  llama.n_layer = 32, llama.n_head = 32, llama.n_kv_head = 8, llama.n_embd = 4096, llama.ffn_hidden = 14336;
  llama.seq_len = 8192, llama.vocab_size = 128000, llama.gated_mlp = true;
  EXPECT_EQ(llama.matmul_params(), 32LL * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 128000LL * 4096);
  // Megatron-Bridge's published Llama 3 8B: 744 TFLOP/s/GPU at 14451 tokens/s/GPU → 5.148e10 FLOP/token,
  // which is the causal model-FLOP count.
  const double per_token = step_flops(llama, 8192, 1, FlopConvention::kModelCausal, Recompute::kNone) / 8192;
  EXPECT_NEAR(per_token / 744e12 * 14451, 1.0, 0.01);
}

TEST(Memory, KorthikantiActivationFormula) {
  // Korthikanti et al. 2022 eq. for one layer: s·b·h·(34 + 5·a·s/h) bytes without parallelism;
  // with tp + sequence parallelism s·b·h/t·(34 + 5·a·s/h).
  Job job;
  job.model = gpt3();
  job.flash_attention = false;
  job.memory.dropout = true;  // the paper's GPT trains with dropout: two 1-byte masks per layer
  job.plan.micro_batch = 1;
  const double s = 2048, b = 1, h = 12288, a = 96;
  EXPECT_NEAR(activation_bytes_per_layer(job), s * b * h * (34 + 5 * a * s / h), 1);
  job.plan.tp = 8;
  job.sequence_parallel = true;
  EXPECT_NEAR(activation_bytes_per_layer(job), s * b * h / 8 * (34 + 5 * a * s / h), 1);
  job.plan.recompute = Recompute::kSelective;
  EXPECT_NEAR(activation_bytes_per_layer(job), s * b * h / 8 * 34, 1);
  job.plan.recompute = Recompute::kFull;
  EXPECT_NEAR(activation_bytes_per_layer(job), 2 * s * b * h / 8, 1);
  job.plan.recompute = Recompute::kNone;
  job.memory.dropout = false;  // Llama-style training: 32 instead of 34
  EXPECT_NEAR(activation_bytes_per_layer(job), s * b * h / 8 * (32 + 5 * a * s / h), 1);
}

TEST(Memory, OomVerdictNamesTheBreakdown) {
  Job job;
  job.model = gpt3();
  job.plan.precision = Precision::kBf16;
  const MemoryBreakdown one_gpu = estimate_memory(job, 80);
  EXPECT_FALSE(one_gpu.fits());
  // 175B params · (2 + 4 + 12) bytes = 2.9 TiB.
  EXPECT_NEAR(one_gpu.weights_gib + one_gpu.gradients_gib + one_gpu.optimizer_gib, 174.6e9 * 18 / (1 << 30), 30);
  EXPECT_NE(one_gpu.verdict().find("OOM"), std::string::npos);
  EXPECT_NE(one_gpu.verdict().find("optimizer"), std::string::npos);
  job.plan.tp = 8, job.plan.pp = 16, job.plan.dp = 8, job.plan.zero_stage = 1, job.plan.recompute = Recompute::kFull;
  job.plan.global_batch = 64;
  const MemoryBreakdown sharded = estimate_memory(job, 80);
  EXPECT_TRUE(sharded.fits()) << sharded.verdict();
  job.plan.zero_stage = 3;
  EXPECT_LT(estimate_memory(job, 80).weights_gib, sharded.weights_gib);
}

}  // namespace
}  // namespace tessera::plan
