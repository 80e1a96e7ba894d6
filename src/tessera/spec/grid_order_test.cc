#include "tessera/spec/grid_order.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(GridOrder, TpFastestThenCpThenDpThenPp) {
  const GridDims d{.dp = 2, .pp = 3, .tp = 4, .cp = 2};
  EXPECT_EQ(grid_rank({.dp = 0, .pp = 0, .tp = 1, .cp = 0}, d), 1);
  EXPECT_EQ(grid_rank({.dp = 0, .pp = 0, .tp = 0, .cp = 1}, d), 4);
  EXPECT_EQ(grid_rank({.dp = 1, .pp = 0, .tp = 0, .cp = 0}, d), 8);
  EXPECT_EQ(grid_rank({.dp = 0, .pp = 1, .tp = 0, .cp = 0}, d), 16);
  EXPECT_EQ(grid_stride(GridOrderAxis::kTp, d), 1);
  EXPECT_EQ(grid_stride(GridOrderAxis::kCp, d), 4);
  EXPECT_EQ(grid_stride(GridOrderAxis::kDp, d), 8);
  EXPECT_EQ(grid_stride(GridOrderAxis::kPp, d), 16);
  // The runtime's grid (no cp): rank = (pp_index·dp + dp_index)·tp + tp_index; rank 5 of 2×2×2 is tp 1,
  // dp 0, pp 1 — a stage's dp·tp ranks are contiguous.
  const GridDims runtime{.dp = 2, .pp = 2, .tp = 2};
  EXPECT_EQ(grid_position(5, runtime), (GridPosition{.dp = 0, .pp = 1, .tp = 1, .cp = 0}));
}

TEST(GridOrder, RankAndPositionAreInverse) {
  const GridDims d{.dp = 3, .pp = 2, .tp = 2, .cp = 3};
  for (int64_t r = 0; r < d.world_size(); ++r) {
    const GridPosition p = grid_position(r, d);
    EXPECT_LT(p.dp, d.dp);
    EXPECT_LT(p.cp, d.cp);
    EXPECT_EQ(grid_rank(p, d), r);
  }
}

}  // namespace
}  // namespace tessera
