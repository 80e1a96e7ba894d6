#include "tessera/spec/cluster_spec.h"
#include "tessera/spec/model_spec.h"

#include <gtest/gtest.h>

#include <toml++/toml.h>

namespace tessera {
namespace {

TEST(ClusterSpec, ParsesAnAcceleratorAndFallsBackAcrossFormats) {
  const toml::table t = toml::parse(R"(name = "x1"
peak_bf16_tflops = 100.0
peak_fp8_tflops = 200.0
hbm_gib = 80
hbm_tb_per_s = 2.0
efficiency_fp8 = 0.4)");
  auto a = parse_accelerator_spec(t, "<test>");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->peak_tflops(GemmFormat::kFp4), 200);  // no fp4: fp8
  EXPECT_EQ(a->efficiency(GemmFormat::kFp4), 0.4);
  EXPECT_EQ(a->peak_tflops(GemmFormat::kBf16), 100);
}

TEST(ClusterSpec, BadValuesNameTheKey) {
  auto wrong_type = parse_accelerator_spec(toml::parse("name = \"x\"\nhbm_gib = \"lots\""), "<test>");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("'hbm_gib': expected a number"), std::string::npos);
  auto no_hbm = parse_accelerator_spec(toml::parse("name = \"x\"\npeak_bf16_tflops = 1.0"), "<test>");
  ASSERT_FALSE(no_hbm.ok());
  EXPECT_NE(no_hbm.status().message().find("hbm_gib"), std::string::npos);
  auto pue = parse_cluster_spec(toml::parse("name = \"c\"\naccelerator = \"x\"\npue = 0.5"), "<test>");
  ASSERT_FALSE(pue.ok());
  EXPECT_NE(pue.status().message().find("pue"), std::string::npos);
}

TEST(ModelSpecExtensions, DefaultsKeepGpt2AndGqaIsValidated) {
  ModelSpec m;
  m.n_layer = 12, m.n_head = 12, m.n_embd = 768, m.seq_len = 1024, m.vocab_size = 50257;
  EXPECT_EQ(m.kv_heads(), 12);
  EXPECT_EQ(m.num_params(), 124439808);
  m.n_kv_head = 5;
  EXPECT_NE(m.validate().message().find("model.n_kv_head"), std::string::npos);
  m.n_kv_head = 4;
  EXPECT_TRUE(m.validate().ok());
  EXPECT_LT(m.matmul_params(), 12 * 12 * 768 * 768 + 50257 * 768);
}

}  // namespace
}  // namespace tessera
