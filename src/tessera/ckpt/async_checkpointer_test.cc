#include "tessera/ckpt/async_checkpointer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/ckpt_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing_util::TempDir;

// A stand-in for a training component: one tensor and a counter, saved through Stateful.
class FakeComponent : public Stateful {
 public:
  explicit FakeComponent(int64_t numel) : weights_(static_cast<size_t>(numel), 0.0f) {}
  void fill(float value, int64_t counter) {
    weights_.assign(weights_.size(), value);
    counter_ = counter;
  }
  void save_state(StateWriter& writer) const override {
    writer.write_tensor(TensorView{"model.w", DType::kF32, {static_cast<int64_t>(weights_.size())},
                                   const_cast<float*>(weights_.data())});
    writer.write_int("loader.counter", counter_);
  }
  Status load_state(StateReader& reader) override {
    TESSERA_RETURN_IF_ERROR(reader.read_tensor(
        TensorView{"model.w", DType::kF32, {static_cast<int64_t>(weights_.size())}, weights_.data()}));
    TESSERA_ASSIGN_OR_RETURN(counter_, reader.read_int("loader.counter"));
    return Status();
  }
  const std::vector<float>& weights() const { return weights_; }
  int64_t counter() const { return counter_; }

 private:
  std::vector<float> weights_;
  int64_t counter_ = 0;
};

std::vector<int64_t> steps_of(const std::vector<std::string>& paths) {
  std::vector<int64_t> steps;
  for (const std::string& path : paths) steps.push_back(*parse_step_dir_name(std::filesystem::path(path).filename().string()));
  return steps;
}

TEST(AsyncCheckpointer, StateMutatedRightAfterSaveDoesNotLeakIntoTheCheckpoint) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(1 << 20);  // 4 MiB: the write takes long enough to overlap the mutation
  component.fill(1.0f, 11);
  AsyncCheckpointer checkpointer(dir, 0);
  checkpointer.set_metadata("config", "n_layer = 2");
  ASSERT_TRUE(checkpointer.save(10, [&](StateWriter& w) { component.save_state(w); }).ok());
  EXPECT_TRUE(checkpointer.pending());
  component.fill(2.0f, 22);  // training goes on
  ASSERT_TRUE(checkpointer.wait().ok());
  EXPECT_FALSE(checkpointer.pending());
  EXPECT_EQ(checkpointer.last_stats().step, 10);
  EXPECT_EQ(checkpointer.last_stats().bytes, 4u << 20);

  auto reader = CheckpointReader::open(dir + "/step_00000010");
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  EXPECT_EQ(*reader->metadata("config"), "n_layer = 2");
  FakeComponent loaded(1 << 20);
  ASSERT_TRUE(loaded.load_state(*reader).ok());
  EXPECT_EQ(loaded.weights(), std::vector<float>(1 << 20, 1.0f));
  EXPECT_EQ(loaded.counter(), 11);
}

// Deferred snapshots: save() only records where the tensors are; the state may change once wait_snapshot()
// returns (the trainer's next update), and the checkpoint holds the state of save() time. Scalars are copied at
// once, so the counter may change right away.
TEST(AsyncCheckpointer, DeferredSnapshotCopiesBeforeWaitSnapshotReturns) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(1 << 20);
  component.fill(1.0f, 11);
  AsyncCheckpointer checkpointer(dir, 0);
  checkpointer.set_deferred_snapshot(true);
  ASSERT_TRUE(checkpointer.save(10, [&](StateWriter& w) { component.save_state(w); }).ok());
  EXPECT_GE(checkpointer.wait_snapshot(), 0.0);
  component.fill(2.0f, 22);  // the update, after the copy
  ASSERT_TRUE(checkpointer.wait().ok());
  EXPECT_EQ(checkpointer.last_stats().bytes, 4u << 20);
  EXPECT_GT(checkpointer.last_stats().deferred_copy_seconds, 0.0);
  auto reader = CheckpointReader::open(dir + "/step_00000010");
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  FakeComponent loaded(1 << 20);
  ASSERT_TRUE(loaded.load_state(*reader).ok());
  EXPECT_EQ(loaded.weights(), std::vector<float>(1 << 20, 1.0f));
  EXPECT_EQ(loaded.counter(), 11);
  EXPECT_EQ(checkpointer.wait_snapshot(), 0.0) << "nothing in flight: no wait";
}

TEST(AsyncCheckpointer, KeepLastRetainsTheNewestAndRemovesTmpDirs) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(16);
  AsyncCheckpointer checkpointer(dir, 2);
  std::filesystem::create_directories(dir + "/step_00000099.tmp");  // a crashed earlier save
  for (int64_t step = 1; step <= 5; ++step) {
    component.fill(static_cast<float>(step), step);
    ASSERT_TRUE(checkpointer.save(step * 10, [&](StateWriter& w) { component.save_state(w); }).ok());
  }
  ASSERT_TRUE(checkpointer.wait().ok());
  EXPECT_EQ(steps_of(list_checkpoints(dir)), (std::vector<int64_t>{40, 50}));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST(AsyncCheckpointer, KeepLastNeverRemovesTheCheckpointJustWritten) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(4);
  AsyncCheckpointer checkpointer(dir, 1);
  ASSERT_TRUE(checkpointer.save(30, [&](StateWriter& w) { component.save_state(w); }).ok());
  // A run resumed from an older step saves a lower step than the newest one on disk.
  ASSERT_TRUE(checkpointer.save(20, [&](StateWriter& w) { component.save_state(w); }).ok());
  ASSERT_TRUE(checkpointer.wait().ok());
  EXPECT_EQ(steps_of(list_checkpoints(dir)), (std::vector<int64_t>{20}));
}

TEST(AsyncCheckpointer, ZeroKeepsEveryCheckpoint) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(4);
  AsyncCheckpointer checkpointer(dir, 0);
  for (int64_t step : {3, 1, 2}) {
    ASSERT_TRUE(checkpointer.save(step, [&](StateWriter& w) { component.save_state(w); }).ok());
  }
  ASSERT_TRUE(checkpointer.wait().ok());
  EXPECT_EQ(steps_of(list_checkpoints(dir)), (std::vector<int64_t>{1, 2, 3}));
}

TEST(AsyncCheckpointer, ReusedSnapshotBuffersHoldEachSavesOwnValues) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(1000);
  AsyncCheckpointer checkpointer(dir, 0);
  for (int64_t step = 1; step <= 3; ++step) {
    component.fill(static_cast<float>(step), step);
    ASSERT_TRUE(checkpointer.save(step, [&](StateWriter& w) { component.save_state(w); }).ok());
  }
  ASSERT_TRUE(checkpointer.wait().ok());
  for (int64_t step = 1; step <= 3; ++step) {
    auto reader = CheckpointReader::open(dir + "/" + step_dir_name(step));
    ASSERT_TRUE(reader.ok());
    FakeComponent loaded(1000);
    ASSERT_TRUE(loaded.load_state(*reader).ok());
    EXPECT_EQ(loaded.weights(), std::vector<float>(1000, static_cast<float>(step)));
    EXPECT_EQ(loaded.counter(), step);
  }
}

TEST(SnapshotWriter, TakesBuffersOfTheRightSizeFromThePool) {
  SnapshotBufferPool pool;
  std::vector<float> a(64, 1.0f), b(32, 2.0f);
  SnapshotWriter first(&pool);
  first.write_tensor(TensorView{"a", DType::kF32, {64}, a.data()});
  first.write_tensor(TensorView{"b", DType::kF32, {32}, b.data()});
  const std::byte* a_buffer = first.tensors()[0].chunks[0].bytes.get();
  first.release_buffers(pool);
  EXPECT_TRUE(first.tensors().empty());
  ASSERT_EQ(pool.size(), 2u);
  a.assign(64, 3.0f);
  SnapshotWriter second(&pool);
  second.write_tensor(TensorView{"a", DType::kF32, {64}, a.data()});
  EXPECT_EQ(second.tensors()[0].chunks[0].bytes.get(), a_buffer);  // reused, not allocated
  EXPECT_EQ(pool.size(), 1u);
  float first_value = 0;
  std::memcpy(&first_value, second.tensors()[0].chunks[0].bytes.get(), sizeof(float));
  EXPECT_EQ(first_value, 3.0f);
}

TEST(AsyncCheckpointer, SavingAnExistingStepReplacesIt) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(8);
  AsyncCheckpointer checkpointer(dir, 0);
  component.fill(1.0f, 1);
  ASSERT_TRUE(checkpointer.save(5, [&](StateWriter& w) { component.save_state(w); }).ok());
  component.fill(2.0f, 2);
  ASSERT_TRUE(checkpointer.save(5, [&](StateWriter& w) { component.save_state(w); }).ok());
  ASSERT_TRUE(checkpointer.wait().ok());
  auto reader = CheckpointReader::open(dir + "/step_00000005");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*reader->read_int("loader.counter"), 2);
  EXPECT_FALSE(std::filesystem::exists(dir + "/step_00000005.tmp"));
}

TEST(AsyncCheckpointer, UnwritableDirectoryErrorSurfacesFromWaitAndTheNextSave) {
  const TempDir temp_dir;
  const std::string root = temp_dir.path();
  ASSERT_TRUE(write_file_atomic(root + "/not_a_dir", "x").ok());
  const std::string dir = root + "/not_a_dir/checkpoints";  // a file in the way: even root cannot write
  FakeComponent component(4);
  AsyncCheckpointer checkpointer(dir, 0);
  ASSERT_TRUE(checkpointer.save(1, [&](StateWriter& w) { component.save_state(w); }).ok());
  Status waited = checkpointer.wait();
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.code(), StatusCode::kIoError);
  EXPECT_THAT(waited.message(), HasSubstr("checkpoint step 1"));
  EXPECT_THAT(waited.message(), HasSubstr(dir));

  ASSERT_TRUE(checkpointer.save(2, [&](StateWriter& w) { component.save_state(w); }).ok());
  Status next = checkpointer.save(3, [&](StateWriter& w) { component.save_state(w); });
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.message(), HasSubstr("checkpoint step 2"));
  EXPECT_FALSE(checkpointer.pending());  // step 3 was not started; the error was consumed
  EXPECT_TRUE(checkpointer.wait().ok());
}

TEST(AsyncCheckpointer, SnapshotMisuseIsReturnedBySaveItself) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  AsyncCheckpointer checkpointer(dir, 0);
  std::vector<float> data(8, 1.0f);
  Status status = checkpointer.save(7, [&](StateWriter& w) {
    w.write_tensor_shard(TensorView{"model.w", DType::kF32, {4}, data.data()}, {8}, {0});
  });
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("checkpoint step 7: snapshot: tensor 'model.w': chunks cover 4 of 8"));
  EXPECT_FALSE(checkpointer.pending());
  EXPECT_TRUE(list_checkpoints(dir).empty());
}

TEST(AsyncCheckpointer, MovingWhileAWriteIsInFlightKeepsIt) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path() + "/checkpoints";
  FakeComponent component(1 << 18);
  AsyncCheckpointer first(dir, 0);
  ASSERT_TRUE(first.save(1, [&](StateWriter& w) { component.save_state(w); }).ok());
  AsyncCheckpointer second(std::move(first));
  AsyncCheckpointer third(dir, 0);
  third = std::move(second);
  ASSERT_TRUE(third.wait().ok());
  EXPECT_EQ(list_checkpoints(dir).size(), 1u);
}

}  // namespace
}  // namespace tessera
