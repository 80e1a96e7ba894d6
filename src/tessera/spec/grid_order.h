// The one rank order of a dp × pp × cp × tp grid, used by the runtime (comm/process_grid.cc) and the planner
// (plan/step_model.cc), so both put the same ranks in the same groups.
//
// tp fastest, then cp, then dp, then pp — Megatron-Core's default order (tp-cp-ep-dp-pp) and torchtitan's
// device mesh (pp, dp, cp, tp; last = fastest): tensor-parallel peers are adjacent ranks, so they share a
// host / scale-up domain and its fastest links; a stage's tp·cp·dp ranks are one contiguous block, so the
// data-parallel (and expert-parallel) groups stay as close as the layout allows; pipeline neighbours, which
// exchange only one activation per micro-batch, are farthest apart.
//   rank = ((pp_index · dp + dp_index) · cp + cp_index) · tp + tp_index
// An axis's members are `grid_stride(axis)` ranks apart: tp 1, cp tp, dp tp·cp, pp tp·cp·dp.
// Header-only: comm/ uses it without depending on the spec library.
#pragma once

#include <cstdint>

namespace tessera {

struct GridDims {
  int64_t dp = 1, pp = 1, tp = 1, cp = 1;
  constexpr int64_t world_size() const { return dp * pp * tp * cp; }
};

struct GridPosition {
  int64_t dp = 0, pp = 0, tp = 0, cp = 0;
  constexpr bool operator==(const GridPosition&) const = default;
};

enum class GridOrderAxis { kTp, kCp, kDp, kPp };  // fastest first

// Distance in ranks between consecutive members of an axis group.
constexpr int64_t grid_stride(GridOrderAxis axis, const GridDims& d) {
  switch (axis) {
    case GridOrderAxis::kTp: return 1;
    case GridOrderAxis::kCp: return d.tp;
    case GridOrderAxis::kDp: return d.tp * d.cp;
    case GridOrderAxis::kPp: return d.tp * d.cp * d.dp;
  }
  return 1;
}

constexpr int64_t grid_rank(const GridPosition& p, const GridDims& d) {
  return ((p.pp * d.dp + p.dp) * d.cp + p.cp) * d.tp + p.tp;
}

constexpr GridPosition grid_position(int64_t rank, const GridDims& d) {
  return GridPosition{.dp = rank / (d.tp * d.cp) % d.dp,
                      .pp = rank / (d.tp * d.cp * d.dp),
                      .tp = rank % d.tp,
                      .cp = rank / d.tp % d.cp};
}

}  // namespace tessera
