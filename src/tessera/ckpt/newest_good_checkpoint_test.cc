#include "tessera/ckpt/newest_good_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing_util::TempDir;

namespace fs = std::filesystem;

// A checkpoint of two tensors whose values encode the step (so a load shows which step it came from).
Status save_step(const std::string& dir, int64_t step) {
  std::vector<float> a(64, static_cast<float>(step));
  std::vector<float> b(32, -static_cast<float>(step));
  SnapshotWriter writer;
  writer.write_tensor(TensorView{"model.a", DType::kF32, {64}, a.data()});
  writer.write_tensor(TensorView{"model.b", DType::kF32, {32}, b.data()});
  writer.write_int("train.step", step);
  return write_checkpoint(writer, step, dir).status();
}

float load_a0(CheckpointReader& reader) {
  std::vector<float> a(64, -1.0f);
  EXPECT_TRUE(reader.read_tensor(TensorView{"model.a", DType::kF32, {64}, a.data()}).ok());
  return a[0];
}

struct Damage {
  const char* name;
  std::function<void(const std::string& step_dir)> apply;
  const char* reason;     // quarantine suffix
  const char* names;      // what the error must name
};

// Each kind of damage to the newest checkpoint: quarantined under its reason, the previous one used.
TEST(NewestGoodCheckpoint, QuarantinesEachKindOfDamageAndUsesThePreviousOne) {
  const std::vector<Damage> damages = {
      // model.b's chunk starts at byte 256 (64 floats, 64-byte aligned).
      {"corrupt chunk byte", [](const std::string& d) { testing_util::flip_byte(d + "/rank_00000.bin", 260); },
       "checksum", "tensor 'model.b': chunk 0"},
      {"truncated data file", [](const std::string& d) { fs::resize_file(d + "/rank_00000.bin", 100); },
       "unreadable", "data file 'rank_00000.bin' is truncated"},
      {"deleted COMMIT", [](const std::string& d) { fs::remove(d + "/COMMIT"); }, "uncommitted", "no COMMIT marker"},
      {"garbled manifest", [](const std::string& d) { testing_util::flip_byte(d + "/manifest.json", 5); },
       "unreadable", "manifest.json does not match its COMMIT"},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.name);
    const TempDir temp_dir;
    const std::string dir = temp_dir.path() + "/checkpoints";
    ASSERT_TRUE(save_step(dir, 10).ok());
    ASSERT_TRUE(save_step(dir, 20).ok());
    fs::create_directories(dir + "/step_00000030.tmp");  // a save in progress: not a checkpoint
    damage.apply(dir + "/step_00000020");

    std::vector<QuarantinedCheckpoint> quarantined;
    auto reader = open_newest_good_checkpoint(dir, {}, &quarantined);
    ASSERT_TRUE(reader.ok()) << reader.status().to_string();
    EXPECT_EQ(reader->step(), 10);
    EXPECT_EQ(load_a0(*reader), 10.0f);
    ASSERT_EQ(quarantined.size(), 1u);
    const std::string target = dir + "/quarantine/step_00000020." + damage.reason;
    EXPECT_EQ(quarantined[0].step, 20);
    EXPECT_EQ(quarantined[0].reason, damage.reason);
    EXPECT_EQ(quarantined[0].to, target);
    EXPECT_THAT(quarantined[0].error.message(), HasSubstr(damage.names));
    EXPECT_THAT(quarantined[0].error.message(), HasSubstr("step_00000020"));
    EXPECT_FALSE(fs::exists(dir + "/step_00000020"));
    EXPECT_TRUE(fs::is_directory(target));                       // moved, not deleted
    EXPECT_TRUE(fs::is_directory(dir + "/step_00000030.tmp"));   // left alone
    // Idempotent: the next lookup finds the same good checkpoint and quarantines nothing.
    quarantined.clear();
    auto again = open_newest_good_checkpoint(dir, {}, &quarantined);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->step(), 10);
    EXPECT_TRUE(quarantined.empty());
  }
}

TEST(NewestGoodCheckpoint, NeverOverwritesAnEarlierQuarantine) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  ASSERT_TRUE(save_step(dir, 10).ok());
  for (int round = 1; round <= 2; ++round) {
    ASSERT_TRUE(save_step(dir, 20).ok());
    testing_util::flip_byte(dir + "/step_00000020/rank_00000.bin", 4);
    std::vector<QuarantinedCheckpoint> quarantined;
    auto reader = open_newest_good_checkpoint(dir, {}, &quarantined);
    ASSERT_TRUE(reader.ok());
    ASSERT_EQ(quarantined.size(), 1u);
    EXPECT_EQ(quarantined[0].to, dir + "/quarantine/step_00000020.checksum" + (round == 1 ? "" : ".2"));
  }
  EXPECT_TRUE(fs::exists(dir + "/quarantine/step_00000020.checksum/COMMIT"));
  EXPECT_TRUE(fs::exists(dir + "/quarantine/step_00000020.checksum.2/COMMIT"));
}

TEST(NewestGoodCheckpoint, SkipsSeveralBadOnesAndLeavesOlderOnesUnread) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  for (int64_t step : {10, 20, 30, 40}) ASSERT_TRUE(save_step(dir, step).ok());
  fs::remove(dir + "/step_00000040/COMMIT");
  fs::resize_file(dir + "/step_00000030/rank_00000.bin", 10);
  fs::remove(dir + "/step_00000010/COMMIT");  // older than the good one: not looked at
  std::vector<QuarantinedCheckpoint> quarantined;
  auto reader = open_newest_good_checkpoint(dir, {}, &quarantined);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->step(), 20);
  ASSERT_EQ(quarantined.size(), 2u);
  EXPECT_EQ(quarantined[0].step, 40);
  EXPECT_EQ(quarantined[1].step, 30);
  EXPECT_TRUE(fs::is_directory(dir + "/step_00000010"));
}

TEST(NewestGoodCheckpoint, WithoutQuarantineSkipsButMovesNothing) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  ASSERT_TRUE(save_step(dir, 10).ok());
  ASSERT_TRUE(save_step(dir, 20).ok());
  testing_util::flip_byte(dir + "/step_00000020/rank_00000.bin", 4);
  std::vector<QuarantinedCheckpoint> skipped;
  auto reader = open_newest_good_checkpoint(dir, {.quarantine = false}, &skipped);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->step(), 10);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_TRUE(skipped[0].to.empty());
  EXPECT_TRUE(fs::is_directory(dir + "/step_00000020"));
  EXPECT_FALSE(fs::exists(dir + "/quarantine"));
}

TEST(NewestGoodCheckpoint, AllBadOrNoneIsNotFoundWithAClearMessage) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  auto missing = open_newest_good_checkpoint(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no checkpoint directory '" + dir + "'"));
  fs::create_directories(dir + "/step_00000005.tmp");
  auto empty = open_newest_good_checkpoint(dir);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(empty.status().message(), HasSubstr("no committed checkpoint in '" + dir + "'"));

  ASSERT_TRUE(save_step(dir, 10).ok());
  ASSERT_TRUE(save_step(dir, 20).ok());
  testing_util::flip_byte(dir + "/step_00000010/rank_00000.bin", 4);
  fs::remove(dir + "/step_00000020/COMMIT");
  auto none = open_newest_good_checkpoint(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("no good checkpoint in '" + dir + "': all 2 step directories"));
  EXPECT_THAT(none.status().message(), HasSubstr(dir + "/quarantine"));
  EXPECT_TRUE(fs::is_directory(dir + "/quarantine/step_00000010.checksum"));
  EXPECT_TRUE(fs::is_directory(dir + "/quarantine/step_00000020.uncommitted"));
}

}  // namespace
}  // namespace tessera
