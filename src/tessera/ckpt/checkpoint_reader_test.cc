#include "tessera/ckpt/checkpoint_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/sharded_commit.h"
#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/snapshot_writer.h"
#include "tessera/core/hash.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing_util::extract_box;
using testing_util::flip_byte;
using testing_util::TempDir;
using testing_util::iota_values;

TensorView view(const std::string& name, DType dtype, std::vector<int64_t> shape, void* data) {
  return TensorView{name, dtype, std::move(shape), data};
}

StatusOr<std::string> save(SnapshotWriter& writer, const std::string& dir, int64_t step = 20) {
  return write_checkpoint(writer, step, dir + "/checkpoints");
}

CheckpointReader open_or_die(const std::string& path) {
  auto reader = CheckpointReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.status().to_string();
  return std::move(reader).value();
}

TEST(CheckpointReader, RoundTripsEveryDtypeAndScalarBitExactly) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> f32 = iota_values(12);
  f32[3] = std::numeric_limits<float>::quiet_NaN();
  f32[4] = -0.0f;
  f32[5] = std::numeric_limits<float>::denorm_min();
  std::vector<uint16_t> bf16 = {0x3f80, 0xbf80, 0x7fc0, 0x0001, 0xffff};
  std::vector<uint16_t> u16 = {1, 2, 65535};
  std::vector<uint32_t> u32 = {0, 0xdeadbeef};
  std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -1, std::numeric_limits<int64_t>::max()};
  std::vector<uint8_t> u8 = {0, 7, 255, 128};
  float scalar_tensor = 2.5f;
  const std::string bytes("\xff\x00zz", 4);
  SnapshotWriter writer;
  writer.write_tensor(view("model.w", DType::kF32, {3, 4}, f32.data()));
  writer.write_tensor(view("model.b", DType::kBF16, {5}, bf16.data()));
  writer.write_tensor(view("u16", DType::kU16, {3}, u16.data()));
  writer.write_tensor(view("u32", DType::kU32, {1, 2}, u32.data()));
  writer.write_tensor(view("i64", DType::kI64, {3}, i64.data()));
  writer.write_tensor(view("u8", DType::kU8, {2, 1, 2}, u8.data()));
  writer.write_tensor(view("scalar", DType::kF32, {}, &scalar_tensor));
  writer.write_tensor(view("empty", DType::kF32, {0, 3}, nullptr));
  writer.write_int("loader.next_sample", 1234567890123LL);
  writer.write_double("lr.value", 0.1);
  writer.write_double("nan", -std::numeric_limits<double>::quiet_NaN());
  writer.write_string("rng.note", bytes);
  writer.set_metadata("config", "[train]\nsteps = 20\n");
  auto path = save(writer, dir);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, dir + "/checkpoints/step_00000020");

  CheckpointReader reader = open_or_die(*path);
  EXPECT_EQ(reader.step(), 20);
  EXPECT_EQ(reader.format_version(), kCheckpointFormatVersion);
  EXPECT_GT(reader.created_unix_s(), 1.6e9);
  EXPECT_EQ(*reader.metadata("config"), "[train]\nsteps = 20\n");
  EXPECT_FALSE(reader.metadata("nope").ok());
  ASSERT_TRUE(reader.verify_all().ok());

  std::vector<float> f32_back(12);
  ASSERT_TRUE(reader.read_tensor(view("model.w", DType::kF32, {3, 4}, f32_back.data())).ok());
  EXPECT_EQ(std::memcmp(f32.data(), f32_back.data(), 12 * sizeof(float)), 0);
  std::vector<uint16_t> bf16_back(5), u16_back(3);
  ASSERT_TRUE(reader.read_tensor(view("model.b", DType::kBF16, {5}, bf16_back.data())).ok());
  EXPECT_EQ(bf16_back, bf16);
  ASSERT_TRUE(reader.read_tensor(view("u16", DType::kU16, {3}, u16_back.data())).ok());
  EXPECT_EQ(u16_back, u16);
  std::vector<uint32_t> u32_back(2);
  ASSERT_TRUE(reader.read_tensor(view("u32", DType::kU32, {1, 2}, u32_back.data())).ok());
  EXPECT_EQ(u32_back, u32);
  std::vector<int64_t> i64_back(3);
  ASSERT_TRUE(reader.read_tensor(view("i64", DType::kI64, {3}, i64_back.data())).ok());
  EXPECT_EQ(i64_back, i64);
  std::vector<uint8_t> u8_back(4);
  ASSERT_TRUE(reader.read_tensor(view("u8", DType::kU8, {2, 1, 2}, u8_back.data())).ok());
  EXPECT_EQ(u8_back, u8);
  float scalar_back = 0;
  ASSERT_TRUE(reader.read_tensor(view("scalar", DType::kF32, {}, &scalar_back)).ok());
  EXPECT_EQ(scalar_back, 2.5f);
  EXPECT_TRUE(reader.read_tensor(view("empty", DType::kF32, {0, 3}, nullptr)).ok());

  EXPECT_EQ(*reader.read_int("loader.next_sample"), 1234567890123LL);
  EXPECT_EQ(*reader.read_double("lr.value"), 0.1);
  EXPECT_EQ(std::bit_cast<uint64_t>(*reader.read_double("nan")),
            std::bit_cast<uint64_t>(-std::numeric_limits<double>::quiet_NaN()));
  EXPECT_EQ(*reader.read_string("rng.note"), bytes);

  const auto infos = reader.tensors();
  ASSERT_EQ(infos.size(), 8u);
  EXPECT_EQ(infos[0].name, "model.w");
  EXPECT_EQ(infos[0].shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(infos[0].chunk_count, 1u);
  EXPECT_EQ(infos[0].bytes, 48u);
  EXPECT_EQ(infos[1].dtype, DType::kBF16);
  EXPECT_EQ(reader.tensor_bytes(), 48u + 10 + 6 + 8 + 24 + 4 + 4 + 0);
  for (const TensorEntry& tensor : reader.manifest().tensors) {
    for (const ChunkEntry& chunk : tensor.chunks) EXPECT_EQ(chunk.byte_offset % kChunkAlignment, 0u) << tensor.name;
  }
}

TEST(CheckpointReader, ReportsMissingNamesAndMismatchesByName) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> wte(8 * 4, 1.0f);
  SnapshotWriter writer;
  writer.write_tensor(view("model.wte", DType::kF32, {8, 4}, wte.data()));
  writer.write_int("step", 20);
  auto path = save(writer, dir);
  ASSERT_TRUE(path.ok());
  CheckpointReader reader = open_or_die(*path);

  std::vector<float> big(16 * 4, 7.0f);
  Status shape = reader.read_tensor(view("model.wte", DType::kF32, {16, 4}, big.data()));
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(shape.message(),
            "checkpoint '" + *path + "': tensor 'model.wte': shape [8, 4] != expected [16, 4]");
  EXPECT_EQ(big[0], 7.0f);  // untouched

  Status dtype = reader.read_tensor(view("model.wte", DType::kBF16, {8, 4}, big.data()));
  ASSERT_FALSE(dtype.ok());
  EXPECT_THAT(dtype.message(), HasSubstr("tensor 'model.wte': dtype f32 != expected bf16"));

  Status missing = reader.read_tensor(view("model.wpe", DType::kF32, {8, 4}, big.data()));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("tensor 'model.wpe' not found"));

  Status outside = reader.read_tensor_shard(view("model.wte", DType::kF32, {4, 4}, big.data()), {8, 4}, {6, 0});
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.message(), HasSubstr("region at offset [6, 0] with shape [4, 4] lies outside [8, 4]"));

  auto wrong_type = reader.read_double("step");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_THAT(wrong_type.status().message(), HasSubstr("scalar 'step' is i64, expected f64"));
  EXPECT_EQ(reader.read_string("nothing").status().code(), StatusCode::kNotFound);
}

// Writes an [R, C] (or 3-D) f32 tensor as the given shards, then reads it back whole and as each of
// `regions`, comparing against the same boxes cut from the original.
void check_reshard(const std::vector<int64_t>& global, const std::vector<std::vector<int64_t>>& shard_offsets,
                   const std::vector<std::vector<int64_t>>& shard_shapes,
                   const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& regions) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  const std::vector<float> whole = iota_values(shape_numel(global));
  SnapshotWriter writer;
  for (size_t s = 0; s < shard_offsets.size(); ++s) {
    std::vector<float> shard = extract_box(whole, global, shard_offsets[s], shard_shapes[s]);
    writer.write_tensor_shard(view("model.h", DType::kF32, shard_shapes[s], shard.data()), global, shard_offsets[s]);
    shard.assign(shard.size(), -1.0f);  // the snapshot owns its copy
  }
  auto path = save(writer, dir);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  CheckpointReader reader = open_or_die(*path);
  ASSERT_EQ(reader.tensors()[0].chunk_count, shard_offsets.size());

  std::vector<float> back(whole.size(), -5.0f);
  ASSERT_TRUE(reader.read_tensor(view("model.h", DType::kF32, global, back.data())).ok());
  EXPECT_EQ(back, whole);
  for (const auto& [offset, shape] : regions) {
    std::vector<float> region(static_cast<size_t>(shape_numel(shape)), -5.0f);
    Status status = reader.read_tensor_shard(view("model.h", DType::kF32, shape, region.data()), global, offset);
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(region, extract_box(whole, global, offset, shape))
        << "region " << shape_to_string(offset) << " + " << shape_to_string(shape);
  }
}

TEST(CheckpointReader, TwoRowShardsReadBackWholeAndAsColumnShards) {
  check_reshard({6, 8}, {{0, 0}, {3, 0}}, {{3, 8}, {3, 8}},
                {{{0, 0}, {6, 4}}, {{0, 4}, {6, 4}}, {{2, 1}, {3, 5}}, {{5, 7}, {1, 1}}});
}

TEST(CheckpointReader, FourGridShardsReadBackAsRowsColumnsAndOddBoxes) {
  check_reshard({6, 8}, {{0, 0}, {0, 4}, {3, 0}, {3, 4}}, {{3, 4}, {3, 4}, {3, 4}, {3, 4}},
                {{{0, 0}, {2, 8}}, {{2, 0}, {2, 8}}, {{4, 0}, {2, 8}}, {{0, 2}, {6, 4}}, {{1, 3}, {4, 2}}});
}

TEST(CheckpointReader, ThreeDimShardsAlongTheMiddleDimReadAlongOthers) {
  check_reshard({2, 8, 3}, {{0, 0, 0}, {0, 2, 0}, {0, 4, 0}, {0, 6, 0}},
                {{2, 2, 3}, {2, 2, 3}, {2, 2, 3}, {2, 2, 3}},
                {{{1, 0, 0}, {1, 8, 3}}, {{0, 0, 1}, {2, 8, 1}}, {{0, 1, 0}, {2, 6, 3}}, {{1, 3, 2}, {1, 4, 1}}});
}

TEST(CheckpointReader, UnevenShardsOfAVector) {
  check_reshard({10}, {{0}, {3}, {4}}, {{3}, {1}, {6}}, {{{0}, {5}}, {{5}, {5}}, {{2}, {3}}});
}

// A checkpoint of one [6, 5] tensor whose column blocks [0, 2), [2, 3), [3, 5) were saved by ranks
// 0, 1, 2 into their own data files through the sharded commit (ranks > 0 publish first, so rank 0
// finds every part at once). Returns the step directory.
std::string save_by_three_ranks(const std::string& dir, const std::vector<float>& whole) {
  const std::vector<std::pair<int64_t, int64_t>> columns = {{0, 2}, {2, 3}, {3, 5}};
  for (int rank : {1, 2, 0}) {
    const auto [c0, c1] = columns[rank];
    std::vector<float> block = extract_box(whole, {6, 5}, {0, c0}, {6, c1 - c0});
    SnapshotWriter writer;
    writer.write_tensor_shard(view("model.h", DType::kF32, {6, c1 - c0}, block.data()), {6, 5}, {0, c0});
    if (rank == 0) writer.write_int("train.step", 20);
    Status status = write_sharded_checkpoint(writer, 20, dir + "/checkpoints", ShardedCommit{rank, 3, 42, 10});
    EXPECT_TRUE(status.ok()) << status.to_string();
  }
  return dir + "/checkpoints/step_00000020";
}

TEST(CheckpointReader, ChunksOfOneTensorInSeveralDataFilesReadBackAsAnyBox) {
  const TempDir temp_dir;
  const std::vector<float> whole = iota_values(30);
  CheckpointReader reader = open_or_die(save_by_three_ranks(temp_dir.path(), whole));
  ASSERT_EQ(reader.manifest().data_files.size(), 3u);
  std::vector<float> back(30, -1.0f);
  ASSERT_TRUE(reader.read_tensor(view("model.h", DType::kF32, {6, 5}, back.data())).ok());
  EXPECT_EQ(back, whole);
  // Rows (each spans all three files), a box over files 0 and 1, one element of file 2.
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> regions = {
      {{0, 0}, {3, 5}}, {{3, 0}, {3, 5}}, {{1, 1}, {4, 2}}, {{5, 4}, {1, 1}}};
  for (const auto& [offset, shape] : regions) {
    std::vector<float> region(static_cast<size_t>(shape_numel(shape)), -5.0f);
    Status status = reader.read_tensor_shard(view("model.h", DType::kF32, shape, region.data()), {6, 5}, offset);
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(region, extract_box(whole, {6, 5}, offset, shape)) << "region " << shape_to_string(offset);
  }
  EXPECT_EQ(*reader.read_int("train.step"), 20);
}

TEST(CheckpointCorruption, ACorruptChunkInOneRanksFileFailsOnlyTheReadsThatTouchIt) {
  const TempDir temp_dir;
  const std::vector<float> whole = iota_values(30);
  const std::string path = save_by_three_ranks(temp_dir.path(), whole);
  flip_byte(path + "/rank_00001.bin", 5);
  CheckpointReader reader = open_or_die(path);
  std::vector<float> left(12, -1.0f);  // columns [0, 2): rank 0's file only
  ASSERT_TRUE(reader.read_tensor_shard(view("model.h", DType::kF32, {6, 2}, left.data()), {6, 5}, {0, 0}).ok());
  EXPECT_EQ(left, extract_box(whole, {6, 5}, {0, 0}, {6, 2}));
  std::vector<float> row(5, -1.0f);
  Status status = reader.read_tensor_shard(view("model.h", DType::kF32, {1, 5}, row.data()), {6, 5}, {2, 0});
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("in 'rank_00001.bin') fails its checksum"));
  EXPECT_EQ(row, std::vector<float>(5, -1.0f));

  std::filesystem::remove(path + "/rank_00002.bin");
  auto gone = CheckpointReader::open(path);
  ASSERT_FALSE(gone.ok());
  EXPECT_THAT(gone.status().message(), HasSubstr("rank_00002.bin"));
}

TEST(SnapshotWriter, RecordsMisuseInsteadOfWritingABadCheckpoint) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> data(16, 1.0f);
  {
    SnapshotWriter writer;  // overlapping shards
    writer.write_tensor_shard(view("t", DType::kF32, {2, 4}, data.data()), {4, 4}, {0, 0});
    writer.write_tensor_shard(view("t", DType::kF32, {3, 4}, data.data()), {4, 4}, {1, 0});
    auto path = save(writer, dir);
    ASSERT_FALSE(path.ok());
    EXPECT_THAT(path.status().message(), HasSubstr("overlap"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/checkpoints/step_00000020.tmp"));
  }
  {
    SnapshotWriter writer;  // a missing shard
    writer.write_tensor_shard(view("t", DType::kF32, {2, 4}, data.data()), {4, 4}, {0, 0});
    EXPECT_TRUE(writer.status().ok());
    Status status = writer.finish();
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(status.message(), HasSubstr("tensor 't': chunks cover 8 of 16 elements"));
  }
  {
    SnapshotWriter writer;
    writer.write_tensor(view("t", DType::kF32, {4}, data.data()));
    writer.write_tensor(view("t", DType::kF32, {4}, data.data()));
    EXPECT_THAT(writer.status().message(), HasSubstr("tensor 't': written twice"));
  }
  {
    SnapshotWriter writer;
    writer.write_tensor_shard(view("t", DType::kF32, {2, 4}, data.data()), {4, 4}, {3, 0});
    EXPECT_THAT(writer.status().message(), HasSubstr("lies outside global shape [4, 4]"));
  }
  {
    SnapshotWriter writer;
    writer.write_tensor_shard(view("t", DType::kF32, {2, 4}, data.data()), {4, 4}, {0, 0});
    writer.write_tensor_shard(view("t", DType::kBF16, {2, 4}, data.data()), {4, 4}, {2, 0});
    EXPECT_THAT(writer.status().message(), HasSubstr("earlier shard said f32"));
  }
  {
    SnapshotWriter writer;
    writer.write_int("x", 1);
    writer.write_double("x", 1);
    EXPECT_THAT(writer.status().message(), HasSubstr("scalar 'x' written twice"));
  }
}

// A checkpoint with two tensors to corrupt in the tests below.
std::string save_two_tensors(const std::string& dir, std::vector<float>* a, std::vector<float>* b) {
  *a = iota_values(64);
  *b = iota_values(32, 0.5f);
  SnapshotWriter writer;
  writer.write_tensor(view("a", DType::kF32, {8, 8}, a->data()));
  writer.write_tensor(view("b", DType::kF32, {32}, b->data()));
  auto path = save(writer, dir);
  EXPECT_TRUE(path.ok());
  return *path;
}

TEST(CheckpointCorruption, FlippedByteInAChunkFailsItsChecksumAndLeavesTheBufferUntouched) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> a, b;
  const std::string path = save_two_tensors(dir, &a, &b);
  const uint64_t b_offset = open_or_die(path).manifest().tensors[1].chunks[0].byte_offset;
  flip_byte(path + "/rank_00000.bin", b_offset + 5);

  CheckpointReader reader = open_or_die(path);  // open checks structure, not every byte
  std::vector<float> a_back(64);
  EXPECT_TRUE(reader.read_tensor(view("a", DType::kF32, {8, 8}, a_back.data())).ok());
  EXPECT_EQ(a_back, a);
  std::vector<float> b_back(32, -3.0f);
  Status status = reader.read_tensor(view("b", DType::kF32, {32}, b_back.data()));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("tensor 'b': chunk 0"));
  EXPECT_THAT(status.message(), HasSubstr("fails its checksum"));
  EXPECT_EQ(b_back, std::vector<float>(32, -3.0f));
  Status all = reader.verify_all();
  ASSERT_FALSE(all.ok());
  EXPECT_THAT(all.message(), HasSubstr("tensor 'b'"));
}

TEST(CheckpointCorruption, TruncatedDataFileIsRejectedAtOpen) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> a, b;
  const std::string path = save_two_tensors(dir, &a, &b);
  const std::string data = path + "/rank_00000.bin";
  std::filesystem::resize_file(data, std::filesystem::file_size(data) - 4);
  auto reader = CheckpointReader::open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("data file 'rank_00000.bin' is truncated"));

  std::filesystem::remove(data);
  auto gone = CheckpointReader::open(path);
  ASSERT_FALSE(gone.ok());
  EXPECT_THAT(gone.status().message(), HasSubstr("rank_00000.bin"));
}

TEST(CheckpointCorruption, FlippedByteInTheManifestBreaksTheCommitMatch) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> a, b;
  const std::string path = save_two_tensors(dir, &a, &b);
  flip_byte(path + "/manifest.json", 40);
  auto reader = CheckpointReader::open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("manifest.json does not match its COMMIT marker"));
}

TEST(CheckpointCorruption, MissingOrMismatchedCommitIsRejected) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> a, b;
  const std::string path = save_two_tensors(dir, &a, &b);
  ASSERT_TRUE(write_file_atomic(path + "/COMMIT", commit_marker_text(0x1234)).ok());
  auto mismatched = CheckpointReader::open(path);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(mismatched.status().message(), HasSubstr("expected xxh3 0x0000000000001234"));

  ASSERT_TRUE(write_file_atomic(path + "/COMMIT", "garbage").ok());
  auto garbage = CheckpointReader::open(path);
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.status().message(), HasSubstr("COMMIT marker is malformed"));

  std::filesystem::remove(path + "/COMMIT");
  auto missing = CheckpointReader::open(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(missing.status().message(), HasSubstr("not committed: no COMMIT marker"));
}

TEST(CheckpointCorruption, ARecommittedButInvalidManifestIsRejectedByTheSchema) {
  const TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> a, b;
  const std::string path = save_two_tensors(dir, &a, &b);
  auto text = read_file(path + "/manifest.json");
  ASSERT_TRUE(text.ok());
  const size_t at = text->find("\"shape\":[");
  ASSERT_NE(at, std::string::npos);
  const std::string edited = std::string(*text).replace(at, 9, "\"shapes\":[");
  ASSERT_TRUE(write_file_atomic(path + "/manifest.json", edited).ok());
  ASSERT_TRUE(write_file_atomic(path + "/COMMIT", commit_marker_text(hash_bytes(edited))).ok());
  auto reader = CheckpointReader::open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(reader.status().message(), HasSubstr("tensors[0] ('a'): field 'shape' missing"));
}

TEST(CheckpointCorruption, NotADirectoryIsNotFound) {
  auto reader = CheckpointReader::open("/nonexistent/tessera/step_00000001");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera
