#include "tessera/ckpt/export_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/safetensors_export.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(ExportFile, RefusesNodesThatAreNotRegularFilesWithoutTouchingThem) {
  const testing_util::TempDir temp_dir;
  const std::string fifo = temp_dir.path() + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Status status = check_export_file_target(fifo, /*force=*/true);
  EXPECT_THAT(status.message(), HasSubstr("'" + fifo + "' is a FIFO; expected a regular file or a new path"));
  // /dev/null is only lstat()ed here, never opened.
  status = check_export_file_target("/dev/null", true);
  EXPECT_THAT(status.message(), HasSubstr("'/dev/null' is a character device"));
  status = check_export_file_target(temp_dir.path(), true);
  EXPECT_THAT(status.message(), HasSubstr("is a directory"));
  const std::string link = temp_dir.path() + "/link";
  fs::create_symlink("/dev/null", link);
  status = check_export_file_target(link, true);
  EXPECT_THAT(status.message(), HasSubstr("is a symbolic link"));
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(ExportFile, ExistingFileNeedsForceAndMissingDirectoryIsNamed) {
  const testing_util::TempDir temp_dir;
  const std::string file = temp_dir.path() + "/model.safetensors";
  ASSERT_TRUE(write_file_atomic(file, "old").ok());
  Status status = check_export_file_target(file, false);
  EXPECT_THAT(status.message(), HasSubstr("already exists (a regular file of 3 bytes); hint: pass --force"));
  EXPECT_TRUE(check_export_file_target(file, true).ok());
  EXPECT_TRUE(check_export_file_target(temp_dir.path() + "/new.safetensors", false).ok());
  status = check_export_file_target(temp_dir.path() + "/no/such/x.gguf", false);
  EXPECT_THAT(status.message(), HasSubstr("does not exist"));
}

TEST(ExportFile, RefusesAnyPathInsideACheckpointEvenWithForce) {
  const testing_util::TempDir temp_dir;
  std::vector<float> w(8, 1.0f);
  SnapshotWriter writer;
  writer.write_tensor(TensorView{"model.w", DType::kF32, {8}, w.data()});
  const std::string checkpoints = temp_dir.path() + "/run/checkpoints";
  auto step_dir = write_checkpoint(writer, 3, checkpoints);
  ASSERT_TRUE(step_dir.ok());
  for (const std::string& target : {*step_dir + "/rank_00000.bin", *step_dir + "/new.safetensors",
                                    checkpoints + "/x.safetensors", *step_dir + "/../step_00000003/COMMIT"}) {
    const Status status = check_export_file_target(target, /*force=*/true);
    EXPECT_THAT(status.message(), HasSubstr("is inside the checkpoint directory")) << target;
  }
  EXPECT_THAT(check_export_dir_target(*step_dir + "/hf", true).message(), HasSubstr("inside the checkpoint"));
  // Next to the checkpoints is fine.
  EXPECT_TRUE(check_export_file_target(temp_dir.path() + "/run/model.safetensors", false).ok());
  // And the refused export left the checkpoint whole.
  auto reader = CheckpointReader::open(*step_dir);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(reader->verify_all().ok());
  auto refused = export_safetensors(*reader, *step_dir + "/rank_00000.bin", "model.", true);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(reader->verify_all().ok());
}

TEST(ExportFile, DirectoryTargets) {
  const testing_util::TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/hf";
  EXPECT_TRUE(check_export_dir_target(dir, false).ok());
  fs::create_directories(dir);
  EXPECT_TRUE(check_export_dir_target(dir, false).ok());  // empty
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", "{}").ok());
  EXPECT_THAT(check_export_dir_target(dir, false).message(), HasSubstr("is not empty; hint: pass --force"));
  EXPECT_TRUE(check_export_dir_target(dir, true).ok());
  EXPECT_THAT(check_export_dir_target(dir + "/config.json", true).message(), HasSubstr("is a regular file"));
}

TEST(ExportFile, AtomicOutputFileLeavesNothingUntilCommit) {
  const testing_util::TempDir temp_dir;
  const std::string path = temp_dir.path() + "/out.bin";
  ASSERT_TRUE(write_file_atomic(path, "previous").ok());
  {
    auto file = AtomicOutputFile::create(path);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(file->write("partial").ok());
    EXPECT_EQ(*read_file(path), "previous");
  }  // dropped without commit: as a failed export
  EXPECT_EQ(*read_file(path), "previous");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(temp_dir.path())) ++entries;
  EXPECT_EQ(entries, 1u) << "the temporary file was not removed";
  auto file = AtomicOutputFile::create(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->write("new bytes").ok());
  ASSERT_TRUE(file->commit().ok());
  EXPECT_EQ(*read_file(path), "new bytes");
}

TEST(ExportFile, AFailingTensorLeavesNoFile) {
  const testing_util::TempDir temp_dir;
  const std::string path = temp_dir.path() + "/x.safetensors";
  const std::vector<SafetensorsEntry> entries = {{"a", DType::kF32, {2}, 8}, {"b", DType::kF32, {2}, 8}};
  auto result = write_safetensors(path, entries, {}, [](size_t i, char* buffer) {
    if (i == 1) return data_loss_error("tensor b is corrupt");
    std::fill(buffer, buffer + 8, 0);
    return Status();
  });
  EXPECT_THAT(result.status().message(), HasSubstr("tensor b is corrupt"));
  EXPECT_TRUE(fs::is_empty(temp_dir.path()));
}

}  // namespace
}  // namespace tessera
