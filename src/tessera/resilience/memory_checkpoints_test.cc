// The in-memory checkpoint directory (memory_checkpoints.h): one per run directory in /dev/shm, seen by
// every rank, cleared for a fresh run, kept for a resumed one, removed at the end.
#include "tessera/resilience/memory_checkpoints.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "tessera/comm/local_communicator.h"

namespace tessera {
namespace {

TEST(MemoryCheckpoints, OneDirectoryPerRunDirectoryInHostMemory) {
  const std::string a = memory_checkpoints_dir("/tmp/run_a"), b = memory_checkpoints_dir("/tmp/run_b");
  EXPECT_EQ(a.rfind("/dev/shm/tessera-", 0), 0u) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(memory_checkpoints_dir("/tmp/run_a/"), a);       // the same directory, spelled differently
  EXPECT_EQ(memory_checkpoints_dir("/tmp/x/../run_a"), a);
}

TEST(MemoryCheckpoints, FreshRunsClearResumedRunsKeepAndRemoveGivesTheMemoryBack) {
  const std::string run = (std::filesystem::temp_directory_path() / fmt::format("memory_ckpt_test_{}", ::getpid())).string();
  const std::string dir = memory_checkpoints_dir(run);
  remove_memory_checkpoints(run);
  const auto prepare = [&](bool fresh) {
    return run_on_thread_ranks(3, [&](Communicator& world) {
      const Status status = prepare_memory_checkpoints(world, run, fresh);
      EXPECT_TRUE(status.ok()) << status.message();
    });
  };
  ASSERT_TRUE(prepare(true).ok());
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  std::filesystem::create_directories(dir + "/step_00000007");
  ASSERT_TRUE(prepare(false).ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/step_00000007")) << "a resumed run keeps what it resumes from";
  ASSERT_TRUE(prepare(true).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/step_00000007")) << "a fresh run starts from nothing";
  remove_memory_checkpoints(run);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir).parent_path()));
}

}  // namespace
}  // namespace tessera
