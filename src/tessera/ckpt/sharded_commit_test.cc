// Sharded saves end to end: N ranks as threads, each with its own AsyncCheckpointer on one shared
// checkpoints directory, each writing only its boxes of the same global tensors (as ZeRO ranks do).
#include "tessera/ckpt/sharded_commit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "tessera/ckpt/async_checkpointer.h"
#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_inspect.h"
#include "tessera/ckpt/checkpoint_part.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/core/clock.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::extract_box;
using testing_util::iota_values;
using testing_util::TempDir;

// The global state every rank saves a piece of: W [10, 6] split by rows over the ranks, V [13] split
// flat (ZeRO's flat-range shards), B [7] split mid-way between ranks 1 and 2, and M [4] owned whole by
// the last rank. Values encode their global index, so a misplaced element shows.
struct GlobalState {
  std::vector<int64_t> w_shape{10, 6};
  std::vector<float> w = iota_values(60, 0.25f);
  std::vector<float> v = iota_values(13, 0.5f);
  std::vector<float> b = iota_values(7, 0.75f);
  std::vector<float> m = iota_values(4, 0.125f);
};

// [begin, end) of rank r's share of n items over `world` ranks.
std::pair<int64_t, int64_t> share(int64_t n, int rank, int world) { return {rank * n / world, (rank + 1) * n / world}; }

// What rank `rank` of `world` writes: its boxes of the global state, and scalars (train.step and the
// loader by rank 0 only, optim.step and lr by every rank: they must agree).
void save_shards(StateWriter& w, const GlobalState& state, int rank, int world, int64_t step) {
  auto [row0, row1] = share(10, rank, world);
  std::vector<float> rows(state.w.begin() + row0 * 6, state.w.begin() + row1 * 6);
  w.write_tensor_shard(TensorView{"model.w", DType::kF32, {row1 - row0, 6}, rows.data()}, state.w_shape, {row0, 0});
  auto [v0, v1] = share(13, rank, world);
  std::vector<float> flat(state.v.begin() + v0, state.v.begin() + v1);
  w.write_tensor_shard(TensorView{"optim.v", DType::kF32, {v1 - v0}, flat.data()}, {13}, {v0});
  if (world >= 3 && (rank == 1 || rank == 2)) {
    const int64_t b0 = rank == 1 ? 0 : 3, b1 = rank == 1 ? 3 : 7;
    std::vector<float> half(state.b.begin() + b0, state.b.begin() + b1);
    w.write_tensor_shard(TensorView{"model.b", DType::kF32, {b1 - b0}, half.data()}, {7}, {b0});
  }
  if (rank == world - 1) w.write_tensor(TensorView{"optim.m", DType::kF32, {4}, const_cast<float*>(state.m.data())});
  if (rank == 0) {
    w.write_int("train.step", step);
    w.write_string("loader.state", "epoch 1 offset 4096");
  }
  w.write_int("optim.step", step);
  w.write_double("lr", 3e-4);
}

ShardedCommit sharding(int rank, int world, uint64_t save_id = 0x5eed, double deadline = 30) {
  return ShardedCommit{rank, world, save_id, deadline};
}

// One checkpointer per rank, all constructed before any saves (rank 0's construction cleans up).
std::vector<std::unique_ptr<AsyncCheckpointer>> make_ranks(const std::string& dir, int world, int keep_last = 0,
                                                           uint64_t save_id = 0x5eed, double deadline = 30) {
  std::vector<std::unique_ptr<AsyncCheckpointer>> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(std::make_unique<AsyncCheckpointer>(dir, keep_last, CheckpointWriteOptions{},
                                                        sharding(r, world, save_id, deadline)));
  }
  return ranks;
}

// Each rank saves `step` and waits on its own thread; returns each rank's wait() status.
std::vector<Status> save_on_threads(std::vector<std::unique_ptr<AsyncCheckpointer>>& ranks, const GlobalState& state,
                                    int64_t step) {
  const int world = static_cast<int>(ranks.size());
  std::vector<Status> results(ranks.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      Status saved = ranks[r]->save(step, [&](StateWriter& w) { save_shards(w, state, r, world, step); });
      results[r] = saved.ok() ? ranks[r]->wait() : saved;
    });
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

std::set<std::string> entries_of(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

std::vector<float> read_box(CheckpointReader& reader, const std::string& name, const std::vector<int64_t>& global,
                            const std::vector<int64_t>& offset, const std::vector<int64_t>& shape) {
  std::vector<float> out(static_cast<size_t>(shape_numel(shape)), -1.0f);
  Status status = reader.read_tensor_shard(TensorView{name, DType::kF32, shape, out.data()}, global, offset);
  EXPECT_TRUE(status.ok()) << status.to_string();
  return out;
}

TEST(ShardedCommit, FourRanksCommitOneCheckpointThatReadsBackWholeAndAsOtherBoxes) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  auto ranks = make_ranks(dir, 4, /*keep_last=*/1);
  ranks[0]->set_metadata("config", "dp = 4");
  for (const Status& status : save_on_threads(ranks, state, 20)) ASSERT_TRUE(status.ok()) << status.to_string();

  // Exactly the manifest's data files, the manifest and COMMIT: no part files, nothing of a tmp dir.
  const std::string step_dir = dir + "/step_00000020";
  EXPECT_EQ(entries_of(step_dir), (std::set<std::string>{"COMMIT", "manifest.json", "rank_00000.bin",
                                                         "rank_00001.bin", "rank_00002.bin", "rank_00003.bin"}));
  EXPECT_EQ(entries_of(dir), std::set<std::string>{"step_00000020"});
  auto opened = CheckpointReader::open(step_dir);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  CheckpointReader& reader = *opened;
  ASSERT_TRUE(reader.verify_all().ok());
  EXPECT_EQ(*reader.metadata("config"), "dp = 4");

  // Whole, bit-exactly; then as boxes no rank wrote: two column halves, rows across three ranks.
  EXPECT_EQ(read_box(reader, "model.w", {10, 6}, {0, 0}, {10, 6}), state.w);
  for (int64_t col : {0, 3}) {
    EXPECT_EQ(read_box(reader, "model.w", {10, 6}, {0, col}, {10, 3}), extract_box(state.w, {10, 6}, {0, col}, {10, 3}));
  }
  EXPECT_EQ(read_box(reader, "model.w", {10, 6}, {1, 2}, {7, 3}), extract_box(state.w, {10, 6}, {1, 2}, {7, 3}));
  EXPECT_EQ(read_box(reader, "optim.v", {13}, {0}, {13}), state.v);
  EXPECT_EQ(read_box(reader, "optim.v", {13}, {2}, {8}), extract_box(state.v, {13}, {2}, {8}));
  EXPECT_EQ(read_box(reader, "model.b", {7}, {0}, {7}), state.b);
  EXPECT_EQ(read_box(reader, "model.b", {7}, {2}, {3}), extract_box(state.b, {7}, {2}, {3}));
  EXPECT_EQ(read_box(reader, "optim.m", {4}, {0}, {4}), state.m);

  // Every rank's chunk lives in its own file; scalars once each.
  const Manifest& manifest = reader.manifest();
  ASSERT_EQ(manifest.data_files.size(), 4u);
  ASSERT_EQ(manifest.tensors[0].name, "model.w");
  ASSERT_EQ(manifest.tensors[0].chunks.size(), 4u);
  for (int r = 0; r < 4; ++r) EXPECT_EQ(manifest.tensors[0].chunks[r].file, data_file_name(r));
  EXPECT_EQ(*reader.read_int("train.step"), 20);
  EXPECT_EQ(*reader.read_int("optim.step"), 20);
  EXPECT_EQ(*reader.read_double("lr"), 3e-4);
  EXPECT_EQ(*reader.read_string("loader.state"), "epoch 1 offset 4096");
  EXPECT_EQ(manifest.scalars.size(), 4u);
  const std::string text = describe_checkpoint(reader);
  EXPECT_THAT(text, HasSubstr("data files  4\n"));
  EXPECT_THAT(text, HasSubstr("  rank_00003.bin"));
  EXPECT_THAT(text, HasSubstr("  model.w  f32   [10, 6]     4 chunks"));

  // A second save commits step 30 and retention (rank 0 only) keeps just it.
  for (const Status& status : save_on_threads(ranks, state, 30)) ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(entries_of(dir), std::set<std::string>{"step_00000030"});
  EXPECT_EQ(*find_latest_checkpoint(dir), dir + "/step_00000030");
}

TEST(ShardedCommit, ARankThatNeverWritesIsNamedByTheDeadlineAndNothingIsCommitted) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  auto ranks = make_ranks(dir, 3, 0, 0x5eed, /*deadline=*/0.3);
  const Stopwatch clock;
  for (int r : {0, 1}) ASSERT_TRUE(ranks[r]->save(5, [&](StateWriter& w) { save_shards(w, state, r, 3, 5); }).ok());
  EXPECT_TRUE(ranks[1]->wait().ok());  // rank 1's part is durable: its job is done
  const Status status = ranks[0]->wait();
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr("checkpoint step 5: rank 2 of world size 3 did not publish its part "
                                          "within 0.3 s"));
  EXPECT_GE(clock.elapsed_seconds(), 0.3);
  EXPECT_LT(clock.elapsed_seconds(), 10.0);
  EXPECT_FALSE(path_exists(dir + "/step_00000005"));
  EXPECT_FALSE(path_exists(dir + "/step_00000005.tmp/COMMIT"));
  EXPECT_FALSE(path_exists(dir + "/step_00000005.tmp/manifest.json"));
  EXPECT_TRUE(list_checkpoints(dir).empty());
  EXPECT_EQ(find_latest_checkpoint(dir).status().code(), StatusCode::kNotFound);
}

TEST(ShardedCommit, AFailingRankEndsRankZerosWaitAtOnceWithItsError) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  auto ranks = make_ranks(dir, 2, 0, 0x5eed, /*deadline=*/60);
  // Rank 1 cannot write its data file: a directory squats on its name.
  ASSERT_TRUE(make_directories(dir + "/step_00000007.tmp/rank_00001.bin/squatter").ok());
  const Stopwatch clock;
  const std::vector<Status> results = save_on_threads(ranks, state, 7);
  EXPECT_EQ(results[1].code(), StatusCode::kIoError) << results[1].to_string();
  EXPECT_THAT(results[1].message(), HasSubstr("rank_00001.bin"));
  EXPECT_EQ(results[0].code(), StatusCode::kIoError) << results[0].to_string();
  EXPECT_THAT(results[0].message(), HasSubstr("checkpoint step 7: rank 1 failed to write its part: cannot remove "
                                              "the stale"));
  EXPECT_THAT(results[0].message(), HasSubstr("rank_00001.bin"));
  EXPECT_LT(clock.elapsed_seconds(), 30.0);  // not the 60 s deadline
  EXPECT_TRUE(list_checkpoints(dir).empty());
}

TEST(ShardedCommit, ARankWhoseSnapshotIsMisusedPublishesItsErrorToRankZero) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  auto ranks = make_ranks(dir, 2, 0, 0x5eed, /*deadline=*/60);
  ASSERT_TRUE(ranks[0]->save(3, [&](StateWriter& w) { save_shards(w, state, 0, 2, 3); }).ok());
  const Status misuse = ranks[1]->save(3, [&](StateWriter& w) {
    save_shards(w, state, 1, 2, 3);
    w.write_int("optim.step", 4);  // twice
  });
  EXPECT_EQ(misuse.code(), StatusCode::kInvalidArgument);
  const Stopwatch clock;
  const Status status = ranks[0]->wait();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr("checkpoint step 3: rank 1 failed to write its part: snapshot: scalar "
                                          "'optim.step' written twice"));
  EXPECT_LT(clock.elapsed_seconds(), 30.0);
}

TEST(ShardedCommit, StalePartsOfAnotherSaveIdAreNeverMerged) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  GlobalState state;
  auto ranks = make_ranks(dir, 2, 0, /*save_id=*/2);
  // A crashed earlier run (save 1) left rank 1's part of step 9, with other values.
  GlobalState stale = state;
  for (float& x : stale.w) x = -7.0f;
  {
    AsyncCheckpointer crashed_rank1(dir, 0, {}, sharding(1, 2, /*save_id=*/1));
    ASSERT_TRUE(crashed_rank1.save(9, [&](StateWriter& w) { save_shards(w, stale, 1, 2, 9); }).ok());
    ASSERT_TRUE(crashed_rank1.wait().ok());
  }
  ASSERT_TRUE(path_exists(dir + "/step_00000009.tmp/" + part_file_name(1)));
  ASSERT_TRUE(ranks[0]->save(9, [&](StateWriter& w) { save_shards(w, state, 0, 2, 9); }).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(path_exists(dir + "/step_00000009"));  // rank 0 still waits for save 2's rank 1
  ASSERT_TRUE(ranks[1]->save(9, [&](StateWriter& w) { save_shards(w, state, 1, 2, 9); }).ok());
  ASSERT_TRUE(ranks[1]->wait().ok());
  const Status status = ranks[0]->wait();
  ASSERT_TRUE(status.ok()) << status.to_string();
  auto reader = CheckpointReader::open(dir + "/step_00000009");
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  EXPECT_EQ(read_box(*reader, "model.w", {10, 6}, {0, 0}, {10, 6}), state.w);
}

TEST(ShardedCommit, OverlappingChunksOfTwoRanksAreAnErrorNamingTheTensor) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  auto ranks = make_ranks(dir, 2);
  std::vector<float> rows(3 * 4, 1.0f);
  // Rank 0 writes rows [0, 3), rank 1 rows [2, 5) of a [5, 4] tensor: row 2 twice.
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(ranks[r]
                    ->save(4, [&](StateWriter& w) {
                      w.write_tensor_shard(TensorView{"model.w", DType::kF32, {3, 4}, rows.data()}, {5, 4},
                                           {2 * r, 0});
                    })
                    .ok());
  }
  EXPECT_TRUE(ranks[1]->wait().ok());
  const Status status = ranks[0]->wait();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr("checkpoint step 4: tensor 'model.w' f32 [5, 4]: rank 0's chunk (offset "
                                          "[0, 0], shape [3, 4]) overlaps rank 1's chunk (offset [2, 0], shape [3, 4])"));
  EXPECT_TRUE(list_checkpoints(dir).empty());
  EXPECT_FALSE(path_exists(dir + "/step_00000004.tmp/COMMIT"));
}

TEST(ShardedCommit, ACrashOfRankZeroAtAnyPointBeforeTheRenameLeavesThePreviousCheckpoint) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  {
    auto ranks = make_ranks(dir, 2);
    for (const Status& status : save_on_threads(ranks, state, 10)) ASSERT_TRUE(status.ok()) << status.to_string();
  }
  uint64_t save_id = 100;
  for (CommitPoint point : {CommitPoint::kDataWritten, CommitPoint::kManifestWritten, CommitPoint::kCommitWritten}) {
    ++save_id;  // each attempt is a new run
    CheckpointWriteOptions crash;
    crash.stop_after = [point](CommitPoint at) { return at == point ? internal_error("crash") : Status(); };
    AsyncCheckpointer rank0(dir, 0, crash, sharding(0, 2, save_id));
    AsyncCheckpointer rank1(dir, 0, {}, sharding(1, 2, save_id));
    EXPECT_FALSE(path_exists(dir + "/step_00000020.tmp"));  // the previous attempt's, cleaned by rank 0
    ASSERT_TRUE(rank0.save(20, [&](StateWriter& w) { save_shards(w, state, 0, 2, 20); }).ok());
    ASSERT_TRUE(rank1.save(20, [&](StateWriter& w) { save_shards(w, state, 1, 2, 20); }).ok());
    EXPECT_TRUE(rank1.wait().ok());
    EXPECT_EQ(rank0.wait().message(), "checkpoint step 20: crash");
    EXPECT_TRUE(path_exists(dir + "/step_00000020.tmp"));  // what the crash left, uncommitted by its name
    EXPECT_EQ(*find_latest_checkpoint(dir), dir + "/step_00000010");
  }
}

TEST(ShardedCommit, RankZerosConstructionAloneRemovesACrashedRunsTmpDirs) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  ASSERT_TRUE(make_directories(dir + "/step_00000003.tmp").ok());
  AsyncCheckpointer rank1(dir, 0, {}, sharding(1, 2));
  EXPECT_TRUE(path_exists(dir + "/step_00000003.tmp"));
  AsyncCheckpointer rank0(dir, 0, {}, sharding(0, 2));
  EXPECT_FALSE(path_exists(dir + "/step_00000003.tmp"));
}

TEST(ShardedCommit, ACommitRemovesOlderTmpDirsButNotNewerOnesOtherRanksMayBeWriting) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  const GlobalState state;
  auto ranks = make_ranks(dir, 2);
  ASSERT_TRUE(make_directories(dir + "/step_00000010.tmp").ok());  // a failed save of this run
  ASSERT_TRUE(make_directories(dir + "/step_00000025.tmp").ok());  // a rank already writing step 25
  for (const Status& status : save_on_threads(ranks, state, 20)) ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(entries_of(dir), (std::set<std::string>{"step_00000020", "step_00000025.tmp"}));
}

TEST(ShardedCommit, AnInvalidShardingIsReturnedBySave) {
  const TempDir temp_dir;
  AsyncCheckpointer checkpointer(temp_dir.path(), 0, {}, sharding(2, 2));
  const Status status = checkpointer.save(1, [](StateWriter&) {});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("rank 2 is outside world size 2"));
  EXPECT_FALSE(checkpointer.pending());
}

}  // namespace
}  // namespace tessera
