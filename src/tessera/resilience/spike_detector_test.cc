#include "tessera/resilience/spike_detector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace tessera {
namespace {

using ::testing::HasSubstr;

// A noisy, slowly falling loss (σ ≈ 0.02) and gradient norm (σ ≈ 0.05), reproducible.
struct Series {
  std::mt19937 rng{42};
  std::normal_distribution<double> noise{0.0, 1.0};
  double loss(int64_t step) { return 3.0 - 0.0005 * static_cast<double>(step) + 0.02 * noise(rng); }
  double grad_norm() { return 1.0 + 0.05 * noise(rng); }
};

TEST(SpikeDetector, QuietOnNoiseAndCatchesALossSpike) {
  SpikeDetector detector({.window = 50, .z_threshold = 6.0, .warmup_steps = 10, .min_samples = 20});
  Series series;
  int spikes = 0, judged = 0;
  for (int64_t step = 1; step <= 500; ++step) {
    const SpikeVerdict v = detector.observe(step, series.loss(step), series.grad_norm());
    spikes += v.spike() ? 1 : 0;
    judged += v.judged ? 1 : 0;
  }
  EXPECT_EQ(spikes, 0);           // 6σ on Gaussian noise: no false alarm in 470 judged steps
  EXPECT_EQ(judged, 500 - 10 - 20);  // warm-up ignored, then the window fills
  const SpikeVerdict spike = detector.observe(501, series.loss(501) + 0.5, series.grad_norm());  // +25σ
  EXPECT_TRUE(spike.loss_spike);
  EXPECT_FALSE(spike.grad_norm_spike);
  EXPECT_GT(spike.loss_z, 15.0);
  EXPECT_THAT(spike.detail, HasSubstr("step 501: loss"));
  EXPECT_THAT(spike.detail, HasSubstr("sigma above its window mean"));
  // The spike did not enter the window: an equal spike right after is caught again.
  EXPECT_TRUE(detector.observe(502, series.loss(502) + 0.5, series.grad_norm()).loss_spike);
  // A drop is not a fault (one-sided).
  EXPECT_FALSE(detector.observe(503, series.loss(503) - 0.5, series.grad_norm()).spike());
}

TEST(SpikeDetector, CatchesGradNormSpikesAndNonFiniteValues) {
  SpikeDetector detector({.window = 30, .z_threshold = 5.0, .warmup_steps = 0, .min_samples = 10});
  Series series;
  for (int64_t step = 1; step <= 40; ++step) ASSERT_FALSE(detector.observe(step, series.loss(step), series.grad_norm()).spike());
  const SpikeVerdict grad = detector.observe(41, series.loss(41), 3.0);  // +40σ
  EXPECT_TRUE(grad.grad_norm_spike);
  EXPECT_FALSE(grad.loss_spike);
  EXPECT_THAT(grad.detail, HasSubstr("gradient norm 3 is"));
  const SpikeVerdict nan = detector.observe(42, std::numeric_limits<double>::quiet_NaN(), 1.0);
  EXPECT_TRUE(nan.loss_spike);
  // Non-finite values are spikes even during the fill, and never enter the window.
  SpikeDetector fresh({.window = 30, .warmup_steps = 0, .min_samples = 10});
  EXPECT_TRUE(fresh.observe(1, 2.0, std::numeric_limits<double>::infinity()).grad_norm_spike);
}

// A perfectly flat window (std = 0): the relative floor keeps rounding-level changes from alarming.
TEST(SpikeDetector, FlatWindowUsesTheStdFloor) {
  SpikeDetector detector({.window = 20, .z_threshold = 6.0, .warmup_steps = 0, .min_samples = 5,
                          .min_relative_std = 1e-3});
  for (int64_t step = 1; step <= 20; ++step) detector.observe(step, 2.0, 1.0);
  EXPECT_FALSE(detector.observe(21, 2.0 + 1e-6, 1.0).spike());   // 0.0005 floored σ
  EXPECT_TRUE(detector.observe(22, 2.0 + 0.02, 1.0).loss_spike);  // 10 floored σ
}

TEST(SpikeDetector, OptionsAreChecked) {
  EXPECT_TRUE(check_spike_detector_options({}).ok());
  EXPECT_THAT(check_spike_detector_options({.window = 1}).message(), HasSubstr("window must be >= 2, found 1"));
  EXPECT_THAT(check_spike_detector_options({.window = 10, .min_samples = 11}).message(),
              HasSubstr("min_samples must be in [2, window = 10], found 11"));
  EXPECT_THAT(check_spike_detector_options({.z_threshold = 0}).message(), HasSubstr("z_threshold"));
  EXPECT_THAT(check_spike_detector_options({.warmup_steps = -1}).message(), HasSubstr("warmup_steps"));
}

}  // namespace
}  // namespace tessera
