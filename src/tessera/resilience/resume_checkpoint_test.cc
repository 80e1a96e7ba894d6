#include "tessera/resilience/resume_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/comm/local_communicator.h"
#include "tessera/core/file.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

std::string fresh_dir(const char* name) {
  const auto path = fs::temp_directory_path() / (std::string("tessera_resume_") + name + "_" + std::to_string(::getpid()));
  fs::remove_all(path);
  fs::create_directories(path);
  return path.string();
}

Status save_step(const std::string& dir, int64_t step) {
  std::vector<float> values(256, static_cast<float>(step));
  SnapshotWriter writer;
  writer.write_tensor(TensorView{"model.w", DType::kF32, {256}, values.data()});
  return write_checkpoint(writer, step, dir).status();
}

void flip_first_byte(const std::string& path) {
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[0] ^= 0x01;
  ASSERT_TRUE(write_file_atomic(path, *bytes).ok());
}

// Per rank: the step it resumes from (-1: none) or its error.
struct Outcome {
  int64_t step = -1;
  float first_value = 0;
  Status status;
};

std::vector<Outcome> resume_on_ranks(int n, const std::string& checkpoints, IncidentLog* log) {
  std::vector<Outcome> outcomes(static_cast<size_t>(n));
  std::mutex mutex;
  const Status ran = run_on_thread_ranks(n, [&](Communicator& comm) {
    auto reader = open_resume_checkpoint(comm, checkpoints, comm.rank() == 0 ? log : nullptr);
    Outcome outcome;
    if (!reader.ok()) {
      outcome.status = reader.status();
    } else if (reader->has_value()) {
      outcome.step = (*reader)->step();
      float value = 0;
      outcome.status = (*reader)->read_tensor_shard(TensorView{"model.w", DType::kF32, {1}, &value}, {256}, {0});
      outcome.first_value = value;
    }
    std::lock_guard lock(mutex);
    outcomes[static_cast<size_t>(comm.rank())] = std::move(outcome);
  });
  EXPECT_TRUE(ran.ok()) << ran.to_string();
  return outcomes;
}

TEST(ResumeCheckpoint, EveryRankOpensTheStepRankZeroChoseAfterQuarantine) {
  const std::string run = fresh_dir("quarantine");
  const std::string checkpoints = run + "/checkpoints";
  ASSERT_TRUE(save_step(checkpoints, 10).ok());
  ASSERT_TRUE(save_step(checkpoints, 20).ok());
  flip_first_byte(checkpoints + "/step_00000020/rank_00000.bin");
  IncidentLog log(run);
  for (const Outcome& o : resume_on_ranks(3, checkpoints, &log)) {
    ASSERT_TRUE(o.status.ok()) << o.status.to_string();
    EXPECT_EQ(o.step, 10);
    EXPECT_EQ(o.first_value, 10.0f);
  }
  EXPECT_TRUE(fs::is_directory(checkpoints + "/quarantine/step_00000020.checksum"));
  auto incidents = read_incidents(log.path());
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 1u);  // rank 0 alone quarantines and records
  EXPECT_EQ((*incidents)[0].kind, "checkpoint_quarantined");
  EXPECT_EQ((*incidents)[0].step, 20);
  EXPECT_THAT((*incidents)[0].detail, HasSubstr("quarantine/step_00000020.checksum: "));
  EXPECT_THAT((*incidents)[0].detail, HasSubstr("fails its checksum"));
  fs::remove_all(run);
}

TEST(ResumeCheckpoint, NoCheckpointStartsFreshButAllBadFailsEveryRank) {
  const std::string run = fresh_dir("none");
  const std::string checkpoints = run + "/checkpoints";
  for (const Outcome& o : resume_on_ranks(2, checkpoints, nullptr)) {
    EXPECT_TRUE(o.status.ok());
    EXPECT_EQ(o.step, -1);
  }
  ASSERT_TRUE(save_step(checkpoints, 10).ok());
  fs::remove(checkpoints + "/step_00000010/COMMIT");
  const auto outcomes = resume_on_ranks(2, checkpoints, nullptr);
  EXPECT_EQ(outcomes[0].status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(outcomes[0].status.message(), HasSubstr("no good checkpoint in '" + checkpoints + "'"));
  EXPECT_THAT(outcomes[0].status.message(), HasSubstr("will not start over from step 0 by itself"));
  EXPECT_EQ(outcomes[1].status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(outcomes[1].status.message(), HasSubstr("rank 0 found no good checkpoint"));
  fs::remove_all(run);
}

}  // namespace
}  // namespace tessera
