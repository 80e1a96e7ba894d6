// Least absolute deviations with two coefficients: the (a, b) >= 0 minimising Σ_i |y_i − a·u_i − b·v_i|.
//
// The L1 analogue of the median (with one coefficient and u = 1 it is the median of y), which is how
// `plan validate --fit` sets every other constant (docs/planner.md "Constants per generation"): a few rows far
// off do not drag the fit. Exact, not iterated: the objective is convex and piecewise linear, so an optimum lies
// at a vertex of the feasible region — two rows fitted exactly, or one row with the other coefficient at 0, or
// both 0 — and all of them are tried (O(n³); n is tens of rows). Ties keep the first vertex found.
#pragma once

#include <vector>

namespace tessera::plan {

struct L1Point {
  double u = 0, v = 0, y = 0;
};

struct L1Fit {
  double a = 0, b = 0;
  double sum_abs = 0;  // Σ|y − a·u − b·v| at the optimum
};

L1Fit fit_l1_nonnegative(const std::vector<L1Point>& points);

}  // namespace tessera::plan
