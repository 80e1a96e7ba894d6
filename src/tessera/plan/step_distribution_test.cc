#include "tessera/plan/step_distribution.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace tessera::plan {
namespace {

TEST(StepDistribution, OneRankIsTheNormalQuantile) {
  const StepDistribution d = step_distribution(10, 1, 0.02);
  EXPECT_DOUBLE_EQ(d.p50_s, 10);
  EXPECT_NEAR(d.p90_s, 10 * (1 + 0.02 * 1.28155), 1e-4);
  const StepDistribution none = step_distribution(10, 16384, 0);
  EXPECT_DOUBLE_EQ(none.p50_s, 10);
  EXPECT_DOUBLE_EQ(none.p90_s, 10);
}

TEST(StepDistribution, StragglersGrowWithTheRanks) {
  const StepDistribution small = step_distribution(1, 64, 0.01), large = step_distribution(1, 16384, 0.01);
  EXPECT_GT(large.p50_s, small.p50_s);
  EXPECT_GT(large.p90_s, large.p50_s);
  EXPECT_NEAR(large.p50_s, 1.039, 0.002);
  EXPECT_NEAR(large.p90_s, 1.044, 0.002);
}

// The closed form against a simulation: the maximum of 4096 normal draws, 4000 steps.
TEST(StepDistribution, MatchesASimulatedMaximumOfNormals) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0, 1);
  std::vector<double> maxima;
  for (int step = 0; step < 4000; ++step) {
    double m = -1e9;
    for (int r = 0; r < 4096; ++r) m = std::max(m, normal(rng));
    maxima.push_back(m);
  }
  std::sort(maxima.begin(), maxima.end());
  const StepDistribution d = step_distribution(1, 4096, 1);  // cv 1: the quantiles in standard deviations
  EXPECT_NEAR(d.p50_s - 1, maxima[2000], 0.08);
  EXPECT_NEAR(d.p90_s - 1, maxima[3600], 0.12);
}

}  // namespace
}  // namespace tessera::plan
