#include "tessera/plan/gemm_parts.h"

#include <gtest/gtest.h>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/framework.h"
#include "tessera/plan/layer_mix.h"
#include "tessera/plan/memory_model.h"
#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

using testing::catalog_model;

// Nemotron 3 Super's NVFP4 recipe (Megatron-Bridge nemotron_3_super_bf16_with_nvfp4_mixed + te_quant.cfg).
constexpr const char* kSuperNvfp4 = "last=14,attention=bf16,moe_latent=bf16,mtp=bf16,mamba_out_proj=fp8";

TEST(GemmParts, ParsesTheFlagAndWritesItBack) {
  auto parts = parse_gemm_parts(kSuperNvfp4);
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  EXPECT_EQ(parts->bf16_first_layers, 0);
  EXPECT_EQ(parts->bf16_last_layers, 14);
  EXPECT_EQ(parts->of(GemmPart::kAttention), GemmFormat::kBf16);
  EXPECT_EQ(parts->of(GemmPart::kMambaOutProj), GemmFormat::kFp8);
  EXPECT_FALSE(parts->of(GemmPart::kMambaInProj).has_value());
  EXPECT_FALSE(parts->of(GemmPart::kLmHead).has_value());
  EXPECT_FALSE(parts->empty());
  // Written back in a fixed order; parsing that gives the same parts.
  const std::string text = gemm_parts_string(*parts);
  EXPECT_EQ(text, "last=14,attention=bf16,mamba_out_proj=fp8,moe_latent=bf16,mtp=bf16");
  auto again = parse_gemm_parts(text);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(gemm_parts_string(*again), text);
  EXPECT_TRUE(parse_gemm_parts("")->empty());
  EXPECT_EQ(gemm_parts_string(GemmParts{}), "");
  EXPECT_EQ(gemm_parts_string(*parse_gemm_parts(" first = 1 , lm_head = bf16 ")), "first=1,lm_head=bf16");
}

TEST(GemmParts, RefusesBadItemsNamingThem) {
  auto message = [](const char* text) { return parse_gemm_parts(text).status().message(); };
  EXPECT_NE(message("last=x").find("expected last=N with N a layer count >= 0, found 'last=x'"), std::string::npos);
  EXPECT_NE(message("first=-1").find("found 'first=-1'"), std::string::npos);
  EXPECT_NE(message("attention=fp16").find("found 'attention=fp16'"), std::string::npos);
  EXPECT_NE(message("experts=bf16").find("PART: attention, mamba_in_proj"), std::string::npos);
  EXPECT_NE(message("mtp").find("found 'mtp'"), std::string::npos);
  EXPECT_NE(message("mtp=bf16,mtp=fp8").find("'mtp' given twice"), std::string::npos);
  EXPECT_NE(message("last=1,last=2").find("'last' given twice"), std::string::npos);
  // More bf16 layers than the model has.
  const ModelSpec super = catalog_model("nemotron-3-super");
  EXPECT_NE(validate_gemm_parts(*parse_gemm_parts("first=40,last=50"), super)
                .message()
                .find("within the model's 88 layers, found first=40 last=50"),
            std::string::npos);
  EXPECT_TRUE(validate_gemm_parts(*parse_gemm_parts("first=44,last=44"), super).ok());
}

// The layers of a range by kind: Super's last 14 from its hybrid_override_pattern; a transformer stack's dense MLPs
// first; a hybrid without a pattern by share.
TEST(GemmParts, LayerKindsOfARangeOfLayers) {
  const ModelSpec super = catalog_model("nemotron-3-super");
  const LayerMix last = layer_mix_of_layers(super, 88 - 14, 14);
  EXPECT_EQ(last.mamba, 6);
  EXPECT_EQ(last.moe_ffn, 7);
  EXPECT_EQ(last.attention, 1);
  EXPECT_EQ(last.dense_ffn, 0);
  EXPECT_EQ(last.mtp, 0);  // the MTP modules are not layers of the stack
  const LayerMix whole = layer_mix_of_layers(super, 0, 88);
  EXPECT_EQ(whole.mamba, 40);
  EXPECT_EQ(whole.moe_ffn, 40);
  EXPECT_EQ(whole.attention, 8);
  EXPECT_EQ(layer_mix_of_layers(super, 80, 20).attention + layer_mix_of_layers(super, 80, 20).mamba +
                layer_mix_of_layers(super, 80, 20).moe_ffn,
            8);  // clipped to the stack
  const ModelSpec dsv3 = catalog_model("deepseek-v3");  // 3 dense layers first, then MoE
  const LayerMix first = layer_mix_of_layers(dsv3, 0, 4);
  EXPECT_EQ(first.attention, 4);
  EXPECT_EQ(first.dense_ffn, 3);
  EXPECT_EQ(first.moe_ffn, 1);
  ModelSpec no_pattern = super;
  no_pattern.layer_pattern.clear();
  EXPECT_DOUBLE_EQ(layer_mix_of_layers(no_pattern, 0, 22).mamba, 10);  // a quarter of the 40
  // A pattern that does not match the model's counts is refused by name.
  ModelSpec bad = super;
  bad.layer_pattern[0] = 'E';
  EXPECT_NE(validate_layer_mix(bad).message().find("model.layer_pattern: expected n_layer (88) layers"),
            std::string::npos);
  bad.layer_pattern[0] = 'X';
  EXPECT_NE(validate_layer_mix(bad).message().find("expected only M, *, E and -, found 'X'"), std::string::npos);
}

// Super's NVFP4 recipe, GEMM by GEMM: attention all bf16 (the part), the experts' 40 layers + 2 MTP passes split
// 7 (in the last 14 layers) + 2 (MTP) in bf16 and 33 in fp4, Mamba's out_proj 6 of 40 in bf16 and 34 in MXFP8.
TEST(GemmParts, SplitsEachKindOfGemmByFormat) {
  const ModelSpec super = catalog_model("nemotron-3-super");
  const GemmParts parts = *parse_gemm_parts(kSuperNvfp4);
  const GemmFormat fp4 = GemmFormat::kFp4;
  EXPECT_DOUBLE_EQ(quantized_fraction(gemm_split(super, parts, fp4, LayerGemm::kAttention)), 0);
  const GemmSplit experts = gemm_split(super, parts, fp4, LayerGemm::kExperts);
  EXPECT_DOUBLE_EQ(experts[0].fraction, 7.0 / 42);
  EXPECT_EQ(experts[0].format, GemmFormat::kBf16);
  EXPECT_DOUBLE_EQ(experts[1].fraction, 2.0 / 42);
  EXPECT_EQ(experts[1].format, GemmFormat::kBf16);
  EXPECT_DOUBLE_EQ(experts[2].fraction, 33.0 / 42);
  EXPECT_EQ(experts[2].format, fp4);
  EXPECT_DOUBLE_EQ(quantized_fraction(experts), 33.0 / 42);
  const GemmSplit out_proj = gemm_split(super, parts, fp4, LayerGemm::kMambaOutProj);
  EXPECT_DOUBLE_EQ(out_proj[0].fraction, 6.0 / 40);
  EXPECT_DOUBLE_EQ(out_proj[2].fraction, 34.0 / 40);
  EXPECT_EQ(out_proj[2].format, GemmFormat::kFp8);
  EXPECT_DOUBLE_EQ(quantized_fraction(gemm_split(super, parts, fp4, LayerGemm::kMambaInProj)), 34.0 / 40);
  EXPECT_DOUBLE_EQ(quantized_fraction(gemm_split(super, parts, fp4, LayerGemm::kMoeLatent)), 0);
  EXPECT_DOUBLE_EQ(quantized_fraction(gemm_split(super, parts, fp4, LayerGemm::kMtpProjection)), 0);
  EXPECT_EQ(lm_head_format(parts, fp4), fp4);
  // No parts: every kind whole in the job's format.
  const GemmSplit none = gemm_split(super, GemmParts{}, fp4, LayerGemm::kExperts);
  EXPECT_DOUBLE_EQ(none[2].fraction, 1);
  EXPECT_EQ(none[2].format, fp4);
  EXPECT_DOUBLE_EQ(none[0].fraction + none[1].fraction, 0);
}

Job super_nvfp4_job() {
  Job job;
  job.model = catalog_model("nemotron-3-super");
  job.plan.tp = 1, job.plan.pp = 1, job.plan.dp = 64, job.plan.micro_batch = 1, job.plan.global_batch = 512;
  job.plan.precision = Precision::kFp8;
  job.gemm_format = GemmFormat::kFp4;
  job.ep = 64;
  apply_framework(Framework::kNemo, &job);
  return job;
}

// Every GEMM kept in bf16 by the parts (all layers, the MTP modules, the LM head) costs what a bf16 job costs: the
// parts are charged at the bf16 peak × the bf16 efficiency, not the job's fp4 rate. Super's recipe lies between.
TEST(GemmParts, PartsInBf16AreChargedAtTheBf16Rate) {
  const Catalog catalog = testing::load_test_catalog();
  const AcceleratorSpec acc = *catalog.accelerator("gb300");
  const ClusterLinks links = cluster_links(*catalog.cluster("gb300-nvl72"), acc);
  const AcceleratorDevice fp4_dev(acc, GemmFormat::kFp4), bf16_dev(acc, GemmFormat::kBf16);
  EXPECT_DOUBLE_EQ(fp4_dev.gemm_seconds_in(GemmFormat::kBf16, 8192, 4096, 1024), bf16_dev.gemm_seconds(8192, 4096, 1024));
  EXPECT_DOUBLE_EQ(fp4_dev.gemm_seconds_in(GemmFormat::kFp4, 8192, 4096, 1024), fp4_dev.gemm_seconds(8192, 4096, 1024));

  Job fp4 = super_nvfp4_job();
  Job all_bf16 = fp4;
  all_bf16.gemm_parts = *parse_gemm_parts("last=88,mtp=bf16,lm_head=bf16");
  ASSERT_TRUE(validate_job(all_bf16, 64).ok()) << validate_job(all_bf16, 64).to_string();
  Job bf16 = fp4;
  bf16.gemm_format = GemmFormat::kBf16;
  const double bf16_compute = predict_step(bf16, acc, links, bf16_dev).compute_s;
  EXPECT_NEAR(predict_step(all_bf16, acc, links, fp4_dev).compute_s, bf16_compute, 1e-9 * bf16_compute);
  Job recipe = fp4;
  recipe.gemm_parts = *parse_gemm_parts(kSuperNvfp4);
  const double fp4_compute = predict_step(fp4, acc, links, fp4_dev).compute_s;
  const double recipe_compute = predict_step(recipe, acc, links, fp4_dev).compute_s;
  EXPECT_GT(recipe_compute, fp4_compute * 1.05);
  EXPECT_LT(recipe_compute, bf16_compute);
  // The last 14 layers alone: in between too.
  Job last = fp4;
  last.gemm_parts.bf16_last_layers = 14;
  const double last_compute = predict_step(last, acc, links, fp4_dev).compute_s;
  EXPECT_GT(last_compute, fp4_compute);
  EXPECT_LT(last_compute, recipe_compute);
}

// The saved inputs of GEMMs kept in bf16 are bf16 (2 bytes), not the 1-byte quantized copy: with every GEMM in bf16
// the activations are those of a run without quantized inputs; Super's recipe lies between.
TEST(GemmParts, SavedInputsOfBf16PartsAreTwoBytes) {
  Job fp4 = super_nvfp4_job();
  ASSERT_TRUE(fp4.memory.fp8_saved_gemm_inputs);
  Job all_bf16 = fp4;
  all_bf16.gemm_parts = *parse_gemm_parts("last=88,mtp=bf16");
  Job unquantized = fp4;
  unquantized.memory.fp8_saved_gemm_inputs = false;
  EXPECT_NEAR(activation_bytes_per_layer(all_bf16), activation_bytes_per_layer(unquantized), 1e-6);
  Job recipe = fp4;
  recipe.gemm_parts = *parse_gemm_parts(kSuperNvfp4);
  EXPECT_GT(activation_bytes_per_layer(recipe), activation_bytes_per_layer(fp4));
  EXPECT_LT(activation_bytes_per_layer(recipe), activation_bytes_per_layer(unquantized));
  // Attention alone in bf16, at tp 2 without sequence parallelism: the QKV input (the norm output, whole on every tp
  // rank) is kept in bf16, one byte more per element, and the o projection keeps no 1-byte copy of its input (the
  // bf16 attention output it shares with flash attention's backward; split over tp): C − NH·dv/tp = 4096 − 2048 bytes
  // per token for each of the 8 + 2 MTP attention layers of 88, b·t = 8192 tokens.
  Job fp4_tp = fp4;
  fp4_tp.plan.tp = 2, fp4_tp.plan.dp = 32, fp4_tp.sequence_parallel = false;
  Job attention = fp4_tp;
  attention.gemm_parts = *parse_gemm_parts("attention=bf16");
  EXPECT_NEAR(activation_bytes_per_layer(attention) - activation_bytes_per_layer(fp4_tp), 8192.0 * 10 * 2048 / 88, 1);
}

}  // namespace
}  // namespace tessera::plan
