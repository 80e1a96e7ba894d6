#include "tessera/ckpt/safetensors_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(SafetensorsExport, WritesModelTensorsWithAHeaderThatParsesBack) {
  const testing_util::TempDir temp_dir;
  const std::string dir = temp_dir.path();
  const std::vector<float> wte = testing_util::iota_values(6 * 4);
  std::vector<uint16_t> ln = {0x3f80, 0x4000, 0x4040};
  std::vector<float> moment(5, 9.0f);
  SnapshotWriter writer;
  // Saved as two shards: the export must reassemble them.
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, const_cast<float*>(wte.data())}, {6, 4},
                            {0, 0});
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, const_cast<float*>(wte.data() + 12)},
                            {6, 4}, {3, 0});
  writer.write_tensor(TensorView{"optim.m.wte", DType::kF32, {5}, moment.data()});
  writer.write_tensor(TensorView{"model.ln.w", DType::kBF16, {3}, ln.data()});
  writer.set_metadata("config", "n_layer = 1");
  auto path = write_checkpoint(writer, 7, dir + "/checkpoints");
  ASSERT_TRUE(path.ok());
  auto reader = CheckpointReader::open(*path);
  ASSERT_TRUE(reader.ok());

  const std::string out = dir + "/model.safetensors";
  auto summary = export_safetensors(*reader, out);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->tensors, 2u);
  EXPECT_EQ(summary->bytes, 96u + 6u);

  auto bytes = read_file(out);
  ASSERT_TRUE(bytes.ok());
  ASSERT_GE(bytes->size(), 8u);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>((*bytes)[i]);
  EXPECT_EQ(header_size % 8, 0u);
  ASSERT_EQ(bytes->size(), 8 + header_size + 102);
  const auto header = nlohmann::json::parse(bytes->substr(8, header_size));
  EXPECT_FALSE(header.contains("optim.m.wte"));
  EXPECT_EQ(header["__metadata__"]["config"], "n_layer = 1");
  EXPECT_EQ(header["__metadata__"]["tessera.step"], "7");
  EXPECT_EQ(header["model.wte"]["dtype"], "F32");
  EXPECT_EQ(header["model.wte"]["shape"], nlohmann::json::array({6, 4}));
  EXPECT_EQ(header["model.ln.w"]["dtype"], "BF16");
  const auto wte_offsets = header["model.wte"]["data_offsets"].get<std::vector<uint64_t>>();
  const auto ln_offsets = header["model.ln.w"]["data_offsets"].get<std::vector<uint64_t>>();
  ASSERT_EQ(wte_offsets, (std::vector<uint64_t>{0, 96}));
  ASSERT_EQ(ln_offsets, (std::vector<uint64_t>{96, 102}));
  const char* data = bytes->data() + 8 + header_size;
  EXPECT_EQ(std::memcmp(data, wte.data(), 96), 0);
  EXPECT_EQ(std::memcmp(data + 96, ln.data(), 6), 0);
}

TEST(SafetensorsExport, NoMatchingTensorIsAnErrorAndCorruptDataWritesNothing) {
  const testing_util::TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> w(16, 1.0f);
  SnapshotWriter writer;
  writer.write_tensor(TensorView{"model.w", DType::kF32, {16}, w.data()});
  auto path = write_checkpoint(writer, 1, dir + "/checkpoints");
  ASSERT_TRUE(path.ok());
  auto reader = CheckpointReader::open(*path);
  ASSERT_TRUE(reader.ok());
  const std::string out_dir = dir + "/exports";
  std::filesystem::create_directories(out_dir);
  auto none = export_safetensors(*reader, out_dir + "/x.safetensors", "decoder.");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no tensor whose name starts with 'decoder.'"));

  testing_util::flip_byte(*path + "/rank_00000.bin", 3);
  auto corrupt_reader = CheckpointReader::open(*path);
  ASSERT_TRUE(corrupt_reader.ok());
  auto corrupt = export_safetensors(*corrupt_reader, out_dir + "/y.safetensors");
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(corrupt.status().message(), HasSubstr("fails its checksum"));
  EXPECT_FALSE(path_exists(out_dir + "/y.safetensors"));
  EXPECT_TRUE(std::filesystem::is_empty(out_dir)) << "a failed export left a temporary file";
}

}  // namespace
}  // namespace tessera
