#include "tessera/plan/l1_fit.h"

#include <gtest/gtest.h>

namespace tessera::plan {
namespace {

// With v = 0 and u = 1 the fit is the median of y (any point between the middle two for even n).
TEST(L1Fit, OneCoefficientIsTheMedian) {
  const L1Fit f = fit_l1_nonnegative({{1, 0, 3}, {1, 0, 1}, {1, 0, 100}, {1, 0, 2}, {1, 0, 5}});
  EXPECT_DOUBLE_EQ(f.a, 3);
  EXPECT_DOUBLE_EQ(f.b, 0);
  EXPECT_DOUBLE_EQ(f.sum_abs, 0 + 2 + 97 + 1 + 2);
}

// Rows on a plane y = 2u + 0.5v are recovered exactly, and one far-off row does not move the fit (least squares
// would be dragged by it).
TEST(L1Fit, RecoversAPlaneDespiteAnOutlier) {
  std::vector<L1Point> points;
  for (double u : {1.0, 2.0, 3.0}) {
    for (double v : {1.0, 4.0, 16.0}) points.push_back({u, v, 2 * u + 0.5 * v});
  }
  points.push_back({1, 1, 50});
  const L1Fit f = fit_l1_nonnegative(points);
  EXPECT_NEAR(f.a, 2, 1e-12);
  EXPECT_NEAR(f.b, 0.5, 1e-12);
  EXPECT_NEAR(f.sum_abs, 50 - 2.5, 1e-9);
}

// Coefficients stay non-negative: data that would want b < 0 get b = 0 and the best a.
TEST(L1Fit, CoefficientsAreNonNegative) {
  const L1Fit f = fit_l1_nonnegative({{1, 1, 1}, {1, 2, 0.5}, {1, 3, 0}});
  EXPECT_GE(f.b, 0);
  EXPECT_DOUBLE_EQ(f.b, 0);
  EXPECT_DOUBLE_EQ(f.a, 0.5);
  EXPECT_TRUE(fit_l1_nonnegative({}).sum_abs == 0);
}

}  // namespace
}  // namespace tessera::plan
