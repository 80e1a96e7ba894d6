#include "tessera/ckpt/checkpoint_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing_util::TempDir;

namespace fs = std::filesystem;

Status save_step(const std::string& dir, int64_t step, const CheckpointWriteOptions& options = {}) {
  float value = static_cast<float>(step);
  SnapshotWriter writer;
  writer.write_tensor(TensorView{"model.w", DType::kF32, {1}, &value});
  return write_checkpoint(writer, step, dir, options).status();
}

TEST(CheckpointDir, ListsCommittedStepsInNumericOrder) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  for (int64_t step : {100000000, 9, 10}) ASSERT_TRUE(save_step(dir, step).ok());
  fs::create_directories(dir + "/step_00000011");  // uncommitted
  const auto paths = list_checkpoints(dir);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(fs::path(paths[0]).filename(), "step_00000009");
  EXPECT_EQ(fs::path(paths[1]).filename(), "step_00000010");
  EXPECT_EQ(fs::path(paths[2]).filename(), "step_100000000");
  EXPECT_TRUE(list_checkpoints(dir + "/missing").empty());
}

TEST(CheckpointDir, FindLatestIgnoresTmpUncommittedAndUnparsableButRefusesCorrupt) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  ASSERT_TRUE(save_step(dir, 10).ok());
  ASSERT_TRUE(save_step(dir, 20).ok());
  ASSERT_TRUE(save_step(dir, 30).ok());
  fs::rename(dir + "/step_00000030", dir + "/step_00000040.tmp");         // an unfinished save
  ASSERT_TRUE(save_step(dir, 50).ok());
  fs::remove(dir + "/step_00000050/COMMIT");                               // uncommitted
  fs::create_directories(dir + "/step_latest");                           // unparsable
  auto latest = find_latest_checkpoint(dir);
  ASSERT_TRUE(latest.ok()) << latest.status().to_string();
  EXPECT_EQ(*latest, dir + "/step_00000020");
  // A committed checkpoint whose COMMIT does not match its manifest: refused by name, not skipped.
  ASSERT_TRUE(save_step(dir, 60).ok());
  ASSERT_TRUE(write_file_atomic(dir + "/step_00000060/COMMIT", commit_marker_text(1)).ok());
  auto corrupt = find_latest_checkpoint(dir);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("step_00000060"));
  EXPECT_THAT(corrupt.status().message(), HasSubstr("hint: move"));
  // Moved aside (as the hint says), the previous committed checkpoint is used.
  fs::rename(dir + "/step_00000060", temp_dir.path() + "/step_00000060.bad");
  EXPECT_EQ(*find_latest_checkpoint(dir), dir + "/step_00000020");
}

TEST(CheckpointDir, FindLatestSaysNotFoundWithAHint) {
  const TempDir temp_dir;
  const std::string root = temp_dir.path();
  auto missing = find_latest_checkpoint(root + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("hint:"));
  fs::create_directories(root + "/empty/step_00000001.tmp");
  auto empty = find_latest_checkpoint(root + "/empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(empty.status().message(), HasSubstr("no committed checkpoint in '" + root + "/empty'"));
}

// A crash after each point of the commit protocol: the earlier checkpoint stays the newest valid one
// until the rename, and nothing half-written ever looks committed.
TEST(CheckpointDir, ACrashAtAnyPointLeavesThePreviousCheckpointIntact) {
  for (CommitPoint point : {CommitPoint::kDataWritten, CommitPoint::kManifestWritten, CommitPoint::kCommitWritten,
                            CommitPoint::kRenamed}) {
    const TempDir temp_dir;
    const std::string dir = temp_dir.path() + "/checkpoints" + std::to_string(static_cast<int>(point));
    ASSERT_TRUE(save_step(dir, 10).ok());
    CheckpointWriteOptions crash;
    crash.stop_after = [point](CommitPoint at) {
      return at == point ? internal_error("simulated crash") : Status();
    };
    ASSERT_FALSE(save_step(dir, 20, crash).ok());
    auto latest = find_latest_checkpoint(dir);
    ASSERT_TRUE(latest.ok());
    const bool committed = point == CommitPoint::kRenamed;
    EXPECT_EQ(*latest, dir + (committed ? "/step_00000020" : "/step_00000010")) << static_cast<int>(point);
    EXPECT_EQ(fs::exists(dir + "/step_00000020.tmp"), !committed);
    auto previous = CheckpointReader::open(dir + "/step_00000010");
    ASSERT_TRUE(previous.ok());
    EXPECT_TRUE(previous->verify_all().ok());
    // The next save of the same step clears the leftover and commits.
    ASSERT_TRUE(save_step(dir, 20).ok());
    EXPECT_FALSE(fs::exists(dir + "/step_00000020.tmp"));
    EXPECT_EQ(*find_latest_checkpoint(dir), dir + "/step_00000020");
  }
}

TEST(CheckpointDir, ResolvesStepRunAndCheckpointsDirectories) {
  const TempDir temp_dir;
  const std::string run = temp_dir.path() + "/run";
  ASSERT_TRUE(save_step(run + "/checkpoints", 3).ok());
  ASSERT_TRUE(save_step(run + "/checkpoints", 7).ok());
  const std::string newest = run + "/checkpoints/step_00000007";
  EXPECT_EQ(*resolve_checkpoint_path(run), newest);
  EXPECT_EQ(*resolve_checkpoint_path(run + "/checkpoints"), newest);
  EXPECT_EQ(*resolve_checkpoint_path(run + "/checkpoints/step_00000003"), run + "/checkpoints/step_00000003");
  EXPECT_EQ(resolve_checkpoint_path(run + "/none").status().code(), StatusCode::kNotFound);
}

TEST(CheckpointDir, RemoveOldKeepsTheNewestAndTheProtectedStep) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  for (int64_t step : {1, 2, 3, 4}) ASSERT_TRUE(save_step(dir, step).ok());
  ASSERT_TRUE(remove_old_checkpoints(dir, 2, /*keep_step=*/1).ok());
  std::vector<std::string> names;
  for (const std::string& path : list_checkpoints(dir)) names.push_back(fs::path(path).filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"step_00000001", "step_00000004"}));
  EXPECT_TRUE(remove_stale_tmp_dirs(dir).ok());
  EXPECT_FALSE(fs::exists(dir + "/step_00000002.deleting.tmp"));
}

}  // namespace
}  // namespace tessera
