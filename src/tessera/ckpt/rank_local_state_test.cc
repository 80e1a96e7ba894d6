// Rank-local state: shards are stored as whole tensors named after their offset, read back by the same boxes.
#include "tessera/core/rank_local_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/snapshot_writer.h"

namespace tessera {
namespace {

TEST(RankLocalState, ShardsTakeTheirOffsetIntoTheirNameAndWholeTensorsKeepTheirs) {
  EXPECT_EQ(rank_local_tensor_name("optim.m.wte", {8, 64}, {512, 64}, {24, 0}), "optim.m.wte@24,0");
  EXPECT_EQ(rank_local_tensor_name("optim.m.wte", {8, 64}, {512, 64}, {0, 0}), "optim.m.wte@0,0");
  EXPECT_EQ(rank_local_tensor_name("model.wte", {512, 64}, {512, 64}, {0, 0}), "model.wte");
}

TEST(RankLocalState, AShardThatDoesNotTileItsTensorIsSavedAndReadBackByTheSameBox) {
  const std::string dir = (std::filesystem::temp_directory_path() / fmt::format("rank_local_{}", ::getpid())).string();
  std::filesystem::remove_all(dir);
  SnapshotWriter snapshot;
  RankLocalStateWriter writer(snapshot);
  std::vector<float> shard{1, 2, 3, 4};
  writer.write_tensor_shard({.name = "w", .dtype = DType::kF32, .shape = {2, 2}, .data = shard.data()}, {6, 2}, {2, 0});
  writer.write_int("step", 7);
  // A plain snapshot would refuse a shard covering 4 of 12 elements; under its own name it is whole.
  ASSERT_TRUE(snapshot.finish().ok()) << snapshot.finish().message();
  ASSERT_EQ(snapshot.tensors().size(), 1u);
  EXPECT_EQ(snapshot.tensors()[0].name, "w@2,0");
  auto path = write_checkpoint(snapshot, 7, dir);
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto stored = CheckpointReader::open(*path);
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  RankLocalStateReader reader(*stored);
  std::vector<float> back(4);
  ASSERT_TRUE(reader.read_tensor_shard({.name = "w", .dtype = DType::kF32, .shape = {2, 2}, .data = back.data()}, {6, 2}, {2, 0}).ok());
  EXPECT_EQ(back, shard);
  EXPECT_EQ(*reader.read_int("step"), 7);
  // A box that was not saved is named in the error.
  const Status other = reader.read_tensor_shard({.name = "w", .dtype = DType::kF32, .shape = {2, 2}, .data = back.data()}, {6, 2}, {4, 0});
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.message().find("w@4,0"), std::string::npos) << other.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
