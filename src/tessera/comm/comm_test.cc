#include <gtest/gtest.h>

#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/comm/process_grid.h"

namespace tessera {
namespace {

TEST(ProcessGrid, RankOrderIsTpFastestThenDpThenPp) {
  // dp=2, pp=2, tp=2: rank 5 = (pp 1·2 + dp 0)·2 + tp 1.
  const GridCoord c = ProcessGrid::coord_of(5, 2, 2, 2);
  EXPECT_EQ(c.dp, 0);
  EXPECT_EQ(c.pp, 1);
  EXPECT_EQ(c.tp, 1);
  for (int rank = 0; rank < 24; ++rank) {
    EXPECT_EQ(ProcessGrid::rank_of(ProcessGrid::coord_of(rank, 2, 3, 4), 2, 3, 4), rank);
  }
}

TEST(SelfCommunicator, CollectivesAreIdentities) {
  ProcessGrid grid = ProcessGrid::single_process();
  EXPECT_EQ(grid.world_size(), 1);
  EXPECT_EQ(grid.axis_size(GridAxis::kDp), 1);
  EXPECT_EQ(grid.group(GridAxis::kDp).axis(), "dp");
  std::vector<float> data{1, 2, 3}, out(3);
  ASSERT_TRUE(grid.world().all_reduce(data.data(), 3, ReduceOp::kSum).ok());
  EXPECT_EQ(data, (std::vector<float>{1, 2, 3}));
  ASSERT_TRUE(grid.group(GridAxis::kDp).all_gather(data.data(), out.data(), 3).ok());
  EXPECT_EQ(out, data);
  const Status bad_root = grid.world().broadcast(data.data(), 12, 1);
  EXPECT_NE(bad_root.message().find("root 1 outside [0, 1)"), std::string::npos) << bad_root.message();
  EXPECT_NE(grid.world().all_reduce_async(data.data(), 12, DataType::kBytes, ReduceOp::kSum).wait().message().find(
                "bytes cannot be reduced"),
            std::string::npos);
  EXPECT_FALSE(grid.world().send(data.data(), 12, 1).ok());
  EXPECT_EQ(grid.world().flight_recorder().snapshot().size(), 3u);  // all_reduce, broadcast, send on the world
}

}  // namespace
}  // namespace tessera
