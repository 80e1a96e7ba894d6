#include "tessera/plan/attention_kernel.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tessera/plan/device_model.h"
#include "tessera/plan/plan_test_util.h"

namespace tessera::plan {
namespace {

// Forward + backward of the benchmarks' 3.5 units of work: forward 1, backward 2.5.
double fwd_bwd(double fwd, double bwd) { return 3.5 / (1 / fwd + 2.5 / bwd); }

// The benchmarked points come back exactly: H100 cuDNN, head dim 128, 16k, without and with the causal mask
// (FlashAttention-3 paper, Figures 5 and 6; the causal backward loses to the mask what the forward loses).
TEST(StepModelFlashAttention, HopperPointsAreThePublishedFigures) {
  EXPECT_NEAR(flash_attention_fraction("hopper", AttentionKernel::kFused, 16384, 128, false),
              fwd_bwd(595, 516) / 989.4, 1e-9);
  EXPECT_NEAR(flash_attention_fraction("hopper", AttentionKernel::kFused, 16384, 128, true),
              fwd_bwd(539, 516.0 * 539 / 595) / 989.4, 1e-9);
  EXPECT_NEAR(flash_attention_fraction("hopper", AttentionKernel::kFlash2, 2048, 128, false),
              fwd_bwd(362, 291) / 989.4, 1e-9);
  // Held flat beyond the longest and below the shortest benchmarked length.
  EXPECT_DOUBLE_EQ(flash_attention_fraction("hopper", AttentionKernel::kFlash2, 262144, 128, true),
                   flash_attention_fraction("hopper", AttentionKernel::kFlash2, 16384, 128, true));
  EXPECT_DOUBLE_EQ(flash_attention_fraction("hopper", AttentionKernel::kFlash2, 64, 128, true),
                   flash_attention_fraction("hopper", AttentionKernel::kFlash2, 512, 128, true));
}

// Between benchmarked lengths the curves are interpolated in log2(t), before forward and backward are combined:
// at t = 724 (= √(512·1024)) the FlashAttention-2 curves are the means of their 512 and 1k values. Linear in t
// would weight 1k by 0.41, combining first would give another figure.
TEST(StepModelFlashAttention, InterpolatesTheCurvesInLogSequenceLength) {
  const double t = std::sqrt(512.0 * 1024.0);
  const double expected = fwd_bwd((309 + 350) / 2.0, (214 + 260) / 2.0) / 989.4;
  EXPECT_NEAR(flash_attention_fraction("hopper", AttentionKernel::kFlash2, t, 128, false), expected, 1e-9);
  const double linear_in_t = fwd_bwd(309 + (350 - 309) * (t - 512) / 512, 214 + (260 - 214) * (t - 512) / 512) / 989.4;
  EXPECT_GT(std::abs(expected - linear_in_t), 1e-3);
  // Longer calls run faster up to the plateau, and the causal mask costs more at short lengths than long ones.
  double last = 0;
  for (double s : {512.0, 1024.0, 4096.0, 16384.0}) {
    const double f = flash_attention_fraction("hopper", AttentionKernel::kFused, s, 128, true);
    EXPECT_GT(f, last) << s;
    last = f;
  }
  const auto mask_cost = [](double s) {
    return flash_attention_fraction("hopper", AttentionKernel::kFlash2, s, 128, true) /
           flash_attention_fraction("hopper", AttentionKernel::kFlash2, s, 128, false);
  };
  EXPECT_LT(mask_cost(512), mask_cost(16384));
}

// The generation key picks the table: the 500 W H100 shares Hopper's kernels, A100 runs FlashAttention-2 at the
// FlashAttention-2 paper's plateaus (73% forward, 63% backward), and Blackwell and TPU v4 have no table.
TEST(StepModelFlashAttention, TheGenerationKeyPicksTheTable) {
  EXPECT_DOUBLE_EQ(flash_attention_fraction("hopper-500w", AttentionKernel::kFlash2, 8192, 128, true),
                   flash_attention_fraction("hopper", AttentionKernel::kFlash2, 8192, 128, true));
  EXPECT_NEAR(flash_attention_fraction("ampere", AttentionKernel::kFlash2, 16384, 128, false), fwd_bwd(0.73, 0.63), 1e-9);
  EXPECT_DOUBLE_EQ(flash_attention_fraction("ampere", AttentionKernel::kFused, 16384, 128, false),
                   flash_attention_fraction("ampere", AttentionKernel::kFlash2, 16384, 128, false));
  EXPECT_EQ(flash_attention_fraction("blackwell-gb200", AttentionKernel::kFused, 8192, 128, true), 0);
  EXPECT_GT(flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 128, true),
            1.5 * flash_attention_fraction("hopper", AttentionKernel::kFlash2, 8192, 128, true));
  EXPECT_EQ(flash_attention_fraction("tpu-v4", AttentionKernel::kFused, 8192, 128, true), 0);
  // Heads smaller than 128 scale by s(d) = d/(d+32); larger ones keep 128's figure.
  EXPECT_NEAR(flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 64, true),
              flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 128, true) * (64.0 / 96) / 0.8, 1e-12);
  EXPECT_DOUBLE_EQ(flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 192, true),
                   flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 128, true));
}

// The catalog accelerator times flash attention from the table (× its own dense bf16 peak) and keeps the old law
// where there is no table.
TEST(StepModelFlashAttention, AcceleratorDeviceUsesTheTable) {
  const Catalog catalog = testing::load_test_catalog();
  const auto h100 = catalog.accelerator("h100-sxm-80gb");
  const auto tpu = catalog.accelerator("tpu-v4");
  ASSERT_TRUE(h100.ok() && tpu.ok());
  const AcceleratorDevice h100_dev(*h100, GemmFormat::kFp8);
  const double flops = 1e15;
  EXPECT_NEAR(h100_dev.flash_attention_seconds(flops, 8192, 128, true, AttentionKernel::kFused),
              flops / (h100->peak_tflops(GemmFormat::kBf16) * 1e12 *
                       flash_attention_fraction("hopper", AttentionKernel::kFused, 8192, 128, true)),
              1e-12);
  const AcceleratorDevice tpu_dev(*tpu, GemmFormat::kBf16);
  EXPECT_DOUBLE_EQ(tpu_dev.flash_attention_seconds(flops, 8192, 128, true, AttentionKernel::kFused),
                   tpu_dev.attention_seconds(flops, 8192, 128));
}

}  // namespace
}  // namespace tessera::plan
