#include "tessera/core/file_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace tessera {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(::getpid()))).string();
}

TEST(FileLockTest, SecondHolderIsRefusedWithTheFirstsPid) {
  const std::string path = temp_path("tessera_lock_a");
  auto first = FileLock::acquire(path);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  // flock locks belong to the open file description: a second open in the same process conflicts too,
  // which is what a second trainer (another process) sees.
  auto second = FileLock::acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("held by pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find(path), std::string::npos);
  std::filesystem::remove(path);
}

TEST(FileLockTest, ReleasedOnDestructionAndOnMove) {
  const std::string path = temp_path("tessera_lock_b");
  {
    auto lock = FileLock::acquire(path);
    ASSERT_TRUE(lock.ok());
    FileLock moved = std::move(*lock);
    EXPECT_FALSE(FileLock::acquire(path).ok());
  }
  EXPECT_TRUE(FileLock::acquire(path).ok());
  std::filesystem::remove(path);
}

// A holder killed without any cleanup (kill -9) leaves the file but not the lock.
TEST(FileLockTest, DeadHolderDoesNotBlock) {
  const std::string path = temp_path("tessera_lock_c");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = FileLock::acquire(path);
    ::_exit(lock.ok() ? 0 : 1);  // exits holding it; the kernel drops it
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(FileLock::acquire(path).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tessera
