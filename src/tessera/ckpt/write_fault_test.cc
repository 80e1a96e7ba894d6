#include "tessera/ckpt/write_fault.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "tessera/ckpt/async_checkpointer.h"
#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/newest_good_checkpoint.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing_util::TempDir;

namespace fs = std::filesystem;

void write_state(StateWriter& writer, int64_t step) {
  std::vector<float> a(4096, static_cast<float>(step));  // 16 KiB: the fault lands mid-file
  writer.write_tensor(TensorView{"model.a", DType::kF32, {4096}, a.data()});
  writer.write_int("train.step", step);
}

StatusOr<std::string> save_step(const std::string& dir, int64_t step, const CheckpointWriteOptions& options = {}) {
  SnapshotWriter writer;
  write_state(writer, step);
  return write_checkpoint(writer, step, dir, options);
}

// After a failed save of step 20: step 10 is still the newest checkpoint and verifies in full, and no
// trace of step 20 is left for a reader (nothing half-written is ever loaded).
void expect_previous_intact(const std::string& dir) {
  std::vector<QuarantinedCheckpoint> quarantined;
  auto reader = open_newest_good_checkpoint(dir, {}, &quarantined);
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  EXPECT_EQ(reader->step(), 10);
  EXPECT_TRUE(quarantined.empty());
  EXPECT_FALSE(fs::exists(dir + "/step_00000020"));
  EXPECT_FALSE(fs::exists(dir + "/step_00000020.tmp"));
}

TEST(WriteFault, ParsesTheEnvironmentSyntax) {
  auto fault = parse_write_fault("kill:rank=1,step=3; ckpt_write:file=rank_00001.bin,after=4096,errno=EIO,step=20");
  ASSERT_TRUE(fault.ok()) << fault.status().to_string();
  ASSERT_TRUE(fault->has_value());
  EXPECT_EQ((*fault)->file, "rank_00001.bin");
  EXPECT_EQ((*fault)->after_bytes, 4096u);
  EXPECT_EQ((*fault)->error_number(), EIO);
  EXPECT_EQ((*fault)->op, WriteFault::Op::kWrite);
  EXPECT_EQ((*fault)->step, 20);
  EXPECT_TRUE((*fault)->matches("/r/checkpoints/step_00000020.tmp/rank_00001.bin"));
  EXPECT_FALSE((*fault)->matches("/r/checkpoints/step_00000030.tmp/rank_00001.bin"));
  EXPECT_FALSE((*fault)->matches("/r/checkpoints/step_00000020.tmp/rank_00000.bin"));
  auto defaults = parse_write_fault("ckpt_write:file=COMMIT,op=fsync");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ((*defaults)->error_number(), ENOSPC);
  EXPECT_EQ((*defaults)->op, WriteFault::Op::kFsync);
  EXPECT_TRUE((*defaults)->matches("/x/step_00000001/COMMIT"));
  auto none = parse_write_fault("kill:rank=1");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto bad_errno = parse_write_fault("ckpt_write:file=COMMIT,errno=EPERM");
  ASSERT_FALSE(bad_errno.ok());
  EXPECT_THAT(bad_errno.status().message(), HasSubstr("TESSERA_FAULT: entry 'ckpt_write:file=COMMIT,errno=EPERM': "
                                                      "errno: expected ENOSPC or EIO, found 'EPERM'"));
  EXPECT_THAT(parse_write_fault("ckpt_write:after=3").status().message(), HasSubstr("file=NAME is required"));
  EXPECT_THAT(parse_write_fault("ckpt_write:file=a,size=3").status().message(), HasSubstr("expected a key among"));
  EXPECT_THAT(parse_write_fault("ckpt_write:file=a,after=x").status().message(),
              HasSubstr("after: expected a byte count, found 'x'"));
}

// ENOSPC/EIO in the data file, the manifest, the COMMIT marker or at fsync: the save returns the error
// naming the file, and the previous checkpoint stays committed and valid.
TEST(WriteFault, AFailedSaveNamesTheFileAndLeavesThePreviousCheckpointValid) {
  struct Case {
    WriteFault fault;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{.file = "rank_00000.bin", .after_bytes = 8192, .error = ENOSPC},
       "cannot write '%/step_00000020.tmp/rank_00000.bin': No space left on device"},
      {{.file = "rank_00000.bin", .error = EIO, .op = WriteFault::Op::kFsync},
       "cannot fsync '%/step_00000020.tmp/rank_00000.bin': Input/output error"},
      {{.file = "manifest.json", .after_bytes = 10, .error = ENOSPC},
       "cannot write '%/step_00000020.tmp/manifest.json': No space left on device"},
      {{.file = "COMMIT", .error = EIO}, "cannot write '%/step_00000020.tmp/COMMIT': Input/output error"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fault.file);
    const TempDir temp_dir;
    const std::string dir = temp_dir.path() + "/checkpoints";
    ASSERT_TRUE(save_step(dir, 10).ok());
    const auto failed = save_step(dir, 20, {.write_fault = c.fault});
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
    std::string expected = c.message;
    expected.replace(expected.find('%'), 1, dir);
    EXPECT_THAT(failed.status().message(), HasSubstr(expected));
    EXPECT_THAT(failed.status().message(), HasSubstr("injected fault"));
    expect_previous_intact(dir);
    // A fault only for step 30 leaves the save of step 20 alone.
    WriteFault later = c.fault;
    later.step = 30;
    ASSERT_TRUE(save_step(dir, 20, {.write_fault = later}).ok());
  }
}

// The fault hits mid-file: the bytes before the fault point really reach the file (a partial file, as a
// full disk leaves); write_checkpoint then removes the partial directory (previous test).
TEST(WriteFault, WritesUpToTheFaultPoint) {
  const TempDir temp_dir;
  SnapshotWriter writer;
  write_state(writer, 1);
  ASSERT_TRUE(writer.finish().ok());
  Manifest manifest;
  const Status failed = write_data_file(writer, temp_dir.path(), "rank_00000.bin", &manifest,
                                        {.write_fault = WriteFault{.file = "rank_00000.bin", .after_bytes = 5000}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(fs::file_size(temp_dir.path() + "/rank_00000.bin"), 5000u);
  EXPECT_TRUE(manifest.data_files.empty());  // a failed file is never listed
}

// The asynchronous checkpointer reports the failed background write at wait() (or the next save), and
// the previous checkpoint stays the one a resume uses; the environment variable arms the same fault.
TEST(WriteFault, AsyncSaveAndEnvironmentVariable) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  {
    AsyncCheckpointer checkpointer(dir, /*keep_last=*/0,
                                   {.write_fault = WriteFault{.file = "rank_00000.bin", .after_bytes = 100, .step = 20}});
    ASSERT_TRUE(checkpointer.save(10, [](StateWriter& w) { write_state(w, 10); }).ok());
    ASSERT_TRUE(checkpointer.save(20, [](StateWriter& w) { write_state(w, 20); }).ok());  // collects step 10
    const Status failed = checkpointer.wait();
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.message(), HasSubstr("step_00000020.tmp/rank_00000.bin': No space left on device"));
    expect_previous_intact(dir);
  }
  ASSERT_EQ(::setenv(kFaultEnvVar, "ckpt_write:file=manifest.json,errno=EIO,step=20", 1), 0);
  const auto failed = save_step(dir, 20);
  const auto bad_spec = [&] {
    ::setenv(kFaultEnvVar, "ckpt_write:file=COMMIT,op=sync", 1);
    return save_step(dir, 30);
  }();
  ::unsetenv(kFaultEnvVar);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("manifest.json': Input/output error"));
  expect_previous_intact(dir);
  ASSERT_FALSE(bad_spec.ok());
  EXPECT_THAT(bad_spec.status().message(), HasSubstr("op: expected write or fsync, found 'sync'"));
  EXPECT_TRUE(save_step(dir, 20).ok());  // unset: no fault
}

}  // namespace
}  // namespace tessera
