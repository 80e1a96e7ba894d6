#include "tessera/ckpt/checkpoint_inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(CheckpointInspect, ListsStepMetadataTensorsAndScalars) {
  const testing_util::TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> wte(6 * 4, 1.0f);
  SnapshotWriter writer;
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, wte.data()}, {6, 4}, {0, 0});
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, wte.data()}, {6, 4}, {3, 0});
  writer.write_tensor(TensorView{"optim.m", DType::kBF16, {8}, wte.data()});
  writer.write_int("train.step", 42);
  writer.write_double("lr", 0.5);
  writer.write_string("note", std::string("a\nb\x01", 4));
  writer.set_metadata("config", std::string(2048, 'x'));
  auto path = write_checkpoint(writer, 42, dir);
  ASSERT_TRUE(path.ok());
  auto reader = CheckpointReader::open(*path);
  ASSERT_TRUE(reader.ok());
  const std::string text = describe_checkpoint(*reader);
  EXPECT_THAT(text, HasSubstr("step        42\n"));
  EXPECT_THAT(text, HasSubstr("format      tessera-checkpoint v1\n"));
  EXPECT_THAT(text, HasSubstr("metadata    config (2.0 KiB)\n"));
  EXPECT_THAT(text, HasSubstr("data files  1\n  rank_00000.bin           144 bytes\n"));  // 48 + pad 16 + 48 + pad 16 + 16
  EXPECT_THAT(text, HasSubstr("tensors     2 (112 B)\n"));
  EXPECT_THAT(text, HasSubstr("  model.wte  f32   [6, 4]     2 chunks            96 bytes\n"));
  EXPECT_THAT(text, HasSubstr("  optim.m    bf16  [8]        1 chunk             16 bytes\n"));
  EXPECT_THAT(text, HasSubstr("scalars     3\n"));
  EXPECT_THAT(text, HasSubstr("  train.step  i64     42\n"));
  EXPECT_THAT(text, HasSubstr("  lr          f64     0.5\n"));
  EXPECT_THAT(text, HasSubstr("  note        string  \"a\\nb\\x01\"\n"));
}

TEST(CheckpointInspect, FormatsBytesForPeople) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
}

}  // namespace
}  // namespace tessera
