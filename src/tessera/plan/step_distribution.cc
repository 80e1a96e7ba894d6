#include "tessera/plan/step_distribution.h"

#include <algorithm>
#include <cmath>

namespace tessera::plan {

namespace {
// Standard deviations above the mean of the q-quantile of the largest of n standard normal draws.
double max_of_normals_quantile(int64_t n, double q) {
  if (n <= 1) return q >= 0.9 ? 1.2815515655446004 : 0.0;  // z_0.9, z_0.5 of one draw
  const double two_log_n = 2 * std::log(static_cast<double>(n));
  const double root = std::sqrt(two_log_n);
  const double location = root - (std::log(std::log(static_cast<double>(n))) + std::log(4 * M_PI)) / (2 * root);
  const double scale = 1 / root;
  return location - scale * std::log(-std::log(q));
}
}  // namespace

StepDistribution step_distribution(double step_time_s, int64_t ranks, double cv) {
  StepDistribution d;
  cv = std::max(0.0, cv);
  // The Gumbel approximation undershoots for a handful of ranks; never report less than one rank's quantile.
  const double z50 = std::max(0.0, max_of_normals_quantile(ranks, 0.5));
  const double z90 = std::max(1.2815515655446004, max_of_normals_quantile(ranks, 0.9));
  d.p50_s = step_time_s * (1 + cv * z50);
  d.p90_s = step_time_s * (1 + cv * z90);
  return d;
}

}  // namespace tessera::plan
