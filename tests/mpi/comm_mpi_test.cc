// The MPI Communicator and ProcessGrid under a real launcher: run as `mpirun -n 4 tessera_comm_mpi_test`
// (ctest does). Every rank runs every test; a failure on any rank fails the job.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "tessera/comm/mpi_communicator.h"
#include "tessera/comm/process_grid.h"

namespace tessera {
namespace {

MpiRuntime* g_runtime = nullptr;  // owned by main(); tests only borrow it

TEST(MpiCommunicator, AllReduceSumsAcrossRanksAcrossChunkBoundaries) {
  auto world = g_runtime->world();
  const int R = world->size(), r = world->rank();
  // 5M floats = 20 MiB: five 4 MiB pieces, the last one partial.
  const int64_t n = 5'000'000 + 3;
  std::vector<float> data(n);
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>((i % 97) * (r + 1));
  ASSERT_TRUE(world->all_reduce(data.data(), n, ReduceOp::kSum).ok());
  const float factor = static_cast<float>(R * (R + 1) / 2);
  for (int64_t i = 0; i < n; i += 4999) ASSERT_EQ(data[i], static_cast<float>(i % 97) * factor) << i;
  ASSERT_EQ(data[n - 1], static_cast<float>((n - 1) % 97) * factor);
  double extreme = r;
  ASSERT_TRUE(world->all_reduce(&extreme, 1, ReduceOp::kMax).ok());
  EXPECT_EQ(extreme, R - 1);
}

TEST(MpiCommunicator, BroadcastAllGatherReduceScatter) {
  auto world = g_runtime->world();
  const int R = world->size(), r = world->rank();
  std::vector<char> bytes(10, static_cast<char>(r));
  ASSERT_TRUE(world->broadcast(bytes.data(), 10, R - 1).ok());
  EXPECT_EQ(bytes, std::vector<char>(10, static_cast<char>(R - 1)));
  EXPECT_FALSE(world->broadcast(bytes.data(), 10, R).ok());  // no such root

  std::vector<float> mine{static_cast<float>(r), static_cast<float>(10 * r)}, all(2 * R);
  ASSERT_TRUE(world->all_gather(mine.data(), all.data(), 2).ok());
  for (int k = 0; k < R; ++k) {
    EXPECT_EQ(all[2 * k], k);
    EXPECT_EQ(all[2 * k + 1], 10 * k);
  }
  // in[3R] = rank-dependent; out[3] = this rank's block of the sum over ranks.
  std::vector<float> in(3 * R), out(3);
  for (int i = 0; i < 3 * R; ++i) in[i] = static_cast<float>(i + r);
  ASSERT_TRUE(world->reduce_scatter(in.data(), out.data(), 3, ReduceOp::kSum).ok());
  for (int j = 0; j < 3; ++j) EXPECT_EQ(out[j], static_cast<float>(R * (3 * r + j) + R * (R - 1) / 2));
  EXPECT_TRUE(world->barrier().ok());
}

// dp=2 × tp=2 on 4 ranks: tp groups are adjacent ranks {0,1}, {2,3}; dp groups {0,2}, {1,3}.
TEST(ProcessGrid, AxisGroupsHoldTheRightRanks) {
  auto world = g_runtime->world();
  if (world->size() != 4) GTEST_SKIP() << "needs 4 ranks";
  auto grid = ProcessGrid::create(g_runtime->world(), /*dp=*/2, /*pp=*/1, /*tp=*/2);
  ASSERT_TRUE(grid.ok()) << grid.status().message();
  const GridCoord c = grid->coord();
  EXPECT_EQ(grid->group(GridAxis::kTp).size(), 2);
  EXPECT_EQ(grid->group(GridAxis::kDp).size(), 2);
  EXPECT_EQ(grid->group(GridAxis::kPp).size(), 1);
  EXPECT_EQ(grid->group(GridAxis::kTp).rank(), c.tp);
  EXPECT_EQ(grid->group(GridAxis::kDp).rank(), c.dp);
  // Sum of world ranks inside each group identifies its members.
  double tp_sum = grid->rank(), dp_sum = grid->rank();
  ASSERT_TRUE(grid->group(GridAxis::kTp).all_reduce(&tp_sum, 1, ReduceOp::kSum).ok());
  ASSERT_TRUE(grid->group(GridAxis::kDp).all_reduce(&dp_sum, 1, ReduceOp::kSum).ok());
  EXPECT_EQ(tp_sum, c.dp == 0 ? 0 + 1 : 2 + 3);
  EXPECT_EQ(dp_sum, c.tp == 0 ? 0 + 2 : 1 + 3);
  EXPECT_FALSE(ProcessGrid::create(g_runtime->world(), 3, 1, 1).ok());  // 3 != 4 ranks
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto runtime = tessera::MpiRuntime::init(&argc, &argv);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", runtime.status().message().c_str());
    return 1;
  }
  tessera::g_runtime = &*runtime;
  // Only rank 0 prints gtest's output; every rank's result counts through the exit code.
  auto world = runtime->world();
  if (world->rank() != 0) {
    delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  double any = failed != 0;
  (void)world->all_reduce(&any, 1, tessera::ReduceOp::kMax);
  world.reset();
  return any != 0 ? 1 : 0;
}
