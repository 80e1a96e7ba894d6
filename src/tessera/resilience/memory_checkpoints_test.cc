// In-memory checkpoints with partner copies (memory_checkpoints.h), on thread-ranks of one host: every rank
// keeps its own state and a copy of its source's; a rank whose state is lost or corrupt gets its partner's
// copy back; a failed save keeps the previous step; a fresh run refuses to overwrite an earlier run's state.
#include "tessera/resilience/memory_checkpoints.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include <fmt/format.h>

#include "tessera/core/rank_local_state.h"
#include "tessera/comm/local_communicator.h"
#include "tessera/core/file.h"

namespace tessera {
namespace {

constexpr int kRanks = 3;
constexpr int64_t kShard = 4;  // each rank holds elements [4r, 4r + 4) of a global "w" of 12

float value_at(int64_t step, int rank, int64_t i) { return static_cast<float>(step * 100 + rank * 10 + i); }

// Every rank's shard of w: the state lives on, as a trainer's does (an in-memory save writes straight from it).
float g_shards[kRanks][kShard];

// Rank `rank`'s state at `step`: its shard of w, as save_held_state would give it, and the step.
void write_state(StateWriter& writer, int64_t step, int rank) {
  float* shard = g_shards[rank];
  for (int64_t i = 0; i < kShard; ++i) shard[i] = value_at(step, rank, i);
  writer.write_tensor_shard({.name = "w", .dtype = DType::kF32, .shape = {kShard}, .data = shard},
                            {kShard * kRanks}, {kShard * rank});
  writer.write_int("train.step", step);
}

class MemoryCheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fmt::format("/dev/shm/tessera-test-memory-ckpt-{}", ::getpid());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Runs `body` on kRanks thread-ranks, each with its own store over `root_`.
  Status on_ranks(bool fresh, const std::function<void(Communicator&, MemoryCheckpoints&)>& body,
                  const std::string& layout = "layout A") {
    return run_on_thread_ranks(kRanks, [&](Communicator& world) {
      auto store = MemoryCheckpoints::create(world, root_, layout, fresh);
      ASSERT_TRUE(store.ok()) << store.status().message();
      body(world, **store);
    });
  }
  void save_steps(std::initializer_list<int64_t> steps) {
    ASSERT_TRUE(on_ranks(true, [&](Communicator& world, MemoryCheckpoints& store) {
      for (const int64_t step : steps) {
        const Status saved = store.save(step, [&](StateWriter& w) { write_state(w, step, world.rank()); });
        EXPECT_TRUE(saved.ok()) << saved.message();
      }
    }).ok());
  }
  // Restores on every rank and checks each rank's own state is that of `step`; returns the restore record.
  MemoryRestore restore_expecting(int64_t step) {
    MemoryRestore seen;
    std::mutex mutex;
    EXPECT_TRUE(on_ranks(false, [&](Communicator& world, MemoryCheckpoints& store) {
      std::optional<CheckpointReader> reader;
      auto restored = store.restore(&reader);
      ASSERT_TRUE(restored.ok()) << restored.status().message();
      ASSERT_TRUE(restored->has_value()) << "rank " << world.rank() << ": nothing restored";
      ASSERT_TRUE(reader.has_value());
      EXPECT_EQ((*restored)->step, step);
      RankLocalStateReader local(*reader);
      std::vector<float> shard(kShard);
      const Status read = local.read_tensor_shard({.name = "w", .dtype = DType::kF32, .shape = {kShard}, .data = shard.data()},
                                                  {kShard * kRanks}, {kShard * world.rank()});
      ASSERT_TRUE(read.ok()) << read.message();
      for (int64_t i = 0; i < kShard; ++i) EXPECT_EQ(shard[i], value_at(step, world.rank(), i)) << "rank " << world.rank();
      EXPECT_EQ(*reader->read_int("train.step"), step);
      std::lock_guard<std::mutex> lock(mutex);
      if (world.rank() == 0) seen = **restored;
    }).ok());
    return seen;
  }
  std::string own_step(int rank, int64_t step) const {
    return fmt::format("{}/{}/rank_{}/step_{:08d}", root_, layout_dir(), rank, step);
  }
  std::string copy_step(int of_rank, int64_t step) const {
    return fmt::format("{}/{}/copy_of_rank_{}/step_{:08d}", root_, layout_dir(), of_rank, step);
  }
  std::string layout_dir() const {
    for (const auto& entry : std::filesystem::directory_iterator(root_)) return entry.path().filename().string();
    return "";
  }
  std::string root_;
};

TEST(MemoryCheckpointsRoot, OneRootPerRunDirectoryInHostMemory) {
  const std::string a = memory_checkpoints_root("/tmp/run_a"), b = memory_checkpoints_root("/tmp/run_b");
  EXPECT_EQ(a.rfind("/dev/shm/tessera-", 0), 0u) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(memory_checkpoints_root("/tmp/run_a/"), a);  // the same directory, spelled differently
  EXPECT_EQ(memory_checkpoints_root("/tmp/x/../run_a"), a);
}

TEST_F(MemoryCheckpointsTest, EveryRankKeepsItsNewestStateAndAByteIdenticalCopyOfItsSources) {
  save_steps({1, 2});
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_FALSE(std::filesystem::exists(own_step(rank, 1))) << "the previous step goes once the new one is everywhere";
    EXPECT_FALSE(std::filesystem::exists(copy_step(rank, 1)));
    for (const char* file : {"COMMIT", "manifest.json", "rank_00000.bin"}) {
      EXPECT_EQ(*read_file(own_step(rank, 2) + "/" + file), *read_file(copy_step(rank, 2) + "/" + file))
          << "rank " << rank << "'s copy of " << file;
    }
  }
  // On one host the partner is the next rank.
  ASSERT_TRUE(on_ranks(false, [&](Communicator& world, MemoryCheckpoints& store) {
    EXPECT_EQ(store.partner(), (world.rank() + 1) % kRanks);
    EXPECT_EQ(store.source(), (world.rank() + kRanks - 1) % kRanks);
    EXPECT_FALSE(store.partner_on_another_host());
  }).ok());
}

TEST_F(MemoryCheckpointsTest, ALostRankGetsItsStateBackFromItsPartner) {
  save_steps({1, 2});
  std::filesystem::remove_all(own_step(1, 2));  // rank 1's memory is gone (its host restarted)
  const MemoryRestore restored = restore_expecting(2);
  EXPECT_EQ(restored.restored_from_copy, std::vector<int>{1});
  EXPECT_TRUE(std::filesystem::exists(own_step(1, 2) + "/COMMIT")) << "rank 1 holds its own state again";
}

TEST_F(MemoryCheckpointsTest, ACorruptOwnStateIsQuarantinedAndThePartnersCopyUsed) {
  save_steps({1, 2});
  const std::string data = own_step(2, 2) + "/rank_00000.bin";
  std::string bytes = *read_file(data);
  bytes[bytes.size() - 5] ^= 0x10;  // inside the last chunk's payload
  ASSERT_TRUE(write_file_atomic(data, bytes).ok());
  const MemoryRestore restored = restore_expecting(2);
  EXPECT_EQ(restored.restored_from_copy, std::vector<int>{2});
  EXPECT_TRUE(std::filesystem::exists(fmt::format("{}/{}/rank_2/quarantine/step_00000002.corrupt", root_, layout_dir())));
}

TEST_F(MemoryCheckpointsTest, AStateLostWithItsCopyMeansNothingInMemory) {
  save_steps({1, 2});
  std::filesystem::remove_all(own_step(1, 2));
  std::filesystem::remove_all(copy_step(1, 2));  // rank 1 and its partner lost together
  ASSERT_TRUE(on_ranks(false, [&](Communicator&, MemoryCheckpoints& store) {
    std::optional<CheckpointReader> reader;
    auto restored = store.restore(&reader);
    ASSERT_TRUE(restored.ok()) << restored.status().message();
    EXPECT_FALSE(restored->has_value()) << "no step is complete in memory: storage must be used";
    EXPECT_FALSE(reader.has_value());
  }).ok());
}

TEST_F(MemoryCheckpointsTest, AFailedSaveOnOneRankFailsOnEveryRankAndKeepsThePreviousStep) {
  save_steps({1, 2});
  ASSERT_TRUE(on_ranks(false, [&](Communicator& world, MemoryCheckpoints& store) {
    const Status saved = store.save(3, [&](StateWriter& w) {
      write_state(w, 3, world.rank());
      if (world.rank() == 1) write_state(w, 3, world.rank());  // the same shard twice: a snapshot misuse
    });
    ASSERT_FALSE(saved.ok()) << "rank " << world.rank();
    EXPECT_NE(saved.message().find("failed on rank(s) 1"), std::string::npos) << saved.message();
  }).ok());
  restore_expecting(2);
}

TEST_F(MemoryCheckpointsTest, AFreshRunRefusesAnEarlierRunsStateAndAnotherLayoutFindsNone) {
  save_steps({1});
  ASSERT_TRUE(run_on_thread_ranks(kRanks, [&](Communicator& world) {
    auto store = MemoryCheckpoints::create(world, root_, "layout A", /*fresh_run=*/true);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(store.status().message().find("--resume"), std::string::npos) << store.status().message();
  }).ok());
  ASSERT_TRUE(on_ranks(false, [&](Communicator&, MemoryCheckpoints& store) {
    std::optional<CheckpointReader> reader;
    auto restored = store.restore(&reader);
    ASSERT_TRUE(restored.ok()) << restored.status().message();
    EXPECT_FALSE(restored->has_value()) << "a state of another layout is never loaded from memory";
  }, "layout B").ok());
  ASSERT_TRUE(on_ranks(false, [&](Communicator&, MemoryCheckpoints& store) { EXPECT_TRUE(store.remove_all().ok()); }).ok());
  EXPECT_FALSE(std::filesystem::exists(root_));
}

}  // namespace
}  // namespace tessera
