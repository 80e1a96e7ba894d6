#include "tessera/plan/l1_fit.h"

#include <cmath>
#include <limits>

namespace tessera::plan {

namespace {

double sum_abs(const std::vector<L1Point>& points, double a, double b) {
  double s = 0;
  for (const L1Point& p : points) s += std::abs(p.y - a * p.u - b * p.v);
  return s;
}

}  // namespace

L1Fit fit_l1_nonnegative(const std::vector<L1Point>& points) {
  L1Fit best{.a = 0, .b = 0, .sum_abs = sum_abs(points, 0, 0)};
  auto consider = [&](double a, double b) {
    if (!(a >= 0) || !(b >= 0) || !std::isfinite(a) || !std::isfinite(b)) return;
    const double s = sum_abs(points, a, b);
    if (s < best.sum_abs) best = {.a = a, .b = b, .sum_abs = s};
  };
  for (size_t i = 0; i < points.size(); ++i) {
    const L1Point& p = points[i];
    // One row fitted exactly with the other coefficient at its bound 0.
    if (p.u != 0) consider(p.y / p.u, 0);
    if (p.v != 0) consider(0, p.y / p.v);
    // Two rows fitted exactly: a·u + b·v = y for both (Cramer's rule).
    for (size_t j = i + 1; j < points.size(); ++j) {
      const L1Point& q = points[j];
      const double det = p.u * q.v - p.v * q.u;
      if (std::abs(det) < std::numeric_limits<double>::epsilon() * (std::abs(p.u * q.v) + std::abs(p.v * q.u))) {
        continue;
      }
      consider((p.y * q.v - p.v * q.y) / det, (p.u * q.y - p.y * q.u) / det);
    }
  }
  return best;
}

}  // namespace tessera::plan
