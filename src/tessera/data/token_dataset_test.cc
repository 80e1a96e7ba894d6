#include "tessera/data/token_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;
using testing_util::write_manifest;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Writes shards of the given sizes holding the stream 0, 1, 2, ... (mod vocab).
void write_split(const std::string& dir, const std::string& split, const std::vector<int64_t>& sizes,
                 int64_t vocab = 50000) {
  int64_t next = 0;
  for (size_t s = 0; s < sizes.size(); ++s) {
    std::vector<int32_t> tokens(static_cast<size_t>(sizes[s]));
    for (auto& t : tokens) t = static_cast<int32_t>(next++ % vocab);
    ASSERT_TRUE(write_token_shard(dir + "/" + token_shard_file_name(split, static_cast<int64_t>(s)), tokens, vocab).ok());
  }
}

TEST(TokenDataset, OneStreamAcrossShardBoundaries) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {100, 100, 100, 87});
  write_split(temp.path(), "val", {10});
  write_manifest(temp.path());
  auto dataset = TokenDataset::open(temp.path(), "train", 50000);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  EXPECT_EQ(dataset->num_tokens(), 387);
  EXPECT_EQ(dataset->vocab_size(), 50000);
  EXPECT_EQ(dataset->shards().size(), 4u);
  // Every range, including ones that span the empty shard and several shards, reads 0, 1, 2, ...
  for (const auto& [start, count] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 387}, {95, 10}, {99, 2}, {100, 1}, {130, 200}, {386, 1}, {387, 0}, {199, 2}, {50, 300}}) {
    std::vector<int32_t> out(static_cast<size_t>(count));
    dataset->copy_tokens(start, count, out.data());
    std::vector<int32_t> expected(static_cast<size_t>(count));
    std::iota(expected.begin(), expected.end(), static_cast<int32_t>(start));
    EXPECT_EQ(out, expected) << "start " << start << " count " << count;
  }
  auto val = TokenDataset::open(temp.path(), "val", 0);
  ASSERT_TRUE(val.ok());
  EXPECT_EQ(val->num_tokens(), 10);
}

TEST(TokenDataset, MissingSplitOrDirectory) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10});
  write_manifest(temp.path());
  auto val = TokenDataset::open(temp.path(), "val", 0);
  ASSERT_FALSE(val.ok());
  EXPECT_EQ(val.status().message(), "data '" + temp.path() + "': no val shard (expected val_000.bin; dataset.json lists "
                                    "none: prepared with --val-fraction 0); hint: run tessera data prepare --out " +
                                    temp.path() + " with --val-fraction > 0 and more than one document");
  auto nodir = TokenDataset::open(temp.path() + "/nope", "train", 0);
  ASSERT_FALSE(nodir.ok());
  EXPECT_TRUE(contains(nodir.status().message(), "nope"));
  EXPECT_FALSE(TokenDataset::open(temp.path(), "test", 0).ok());
}

TEST(TokenDataset, VocabMismatchAgainstModelAndBetweenShards) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10, 10}, 8192);
  write_manifest(temp.path());
  auto wrong = TokenDataset::open(temp.path(), "train", 50257);
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(contains(wrong.status().message(),
                       "data '" + temp.path() + "': vocab size 8192 in the shards != model.vocab_size 50257; hint:"))
      << wrong.status().message();

  // A shard of another tokenizer with the same size and token count: its header's vocab size gives it away.
  ASSERT_TRUE(write_token_shard(temp.path() + "/train_001.bin", std::vector<int32_t>(10, 1), 9000).ok());
  auto mixed = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(mixed.ok());
  EXPECT_TRUE(contains(mixed.status().message(), "train_001.bin: vocab size 9000 in the file, dataset.json vocab_size "
                                                 "expects 8192"))
      << mixed.status().message();
}

TEST(TokenDataset, CorruptShardFailsTheOpenWithItsName) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10, 10});
  write_manifest(temp.path());
  auto bytes = read_file(temp.path() + "/train_001.bin");
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(write_file_atomic(temp.path() + "/train_001.bin", bytes->substr(0, bytes->size() - 1)).ok());
  auto dataset = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(dataset.ok());
  EXPECT_TRUE(contains(dataset.status().message(), "train_001.bin")) << dataset.status().message();
}

TEST(TokenDataset, ManifestMustListTheShardsPresent) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10, 10, 10});
  write_manifest(temp.path());
  ASSERT_TRUE(std::filesystem::remove(temp.path() + "/train_002.bin"));
  auto missing = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.status().message(), "train_002.bin is missing (dataset.json lists it as "
                                                   "splits.train.shards[2])"))
      << missing.status().message();
  ASSERT_TRUE(write_file_atomic(temp.path() + "/dataset.json", "{not json").ok());
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());
  // A shard left over beside a manifest that lists fewer (a re-prepare that made fewer shards), and
  // a stray one after a gap in the numbering, which the old open (up to the first missing number)
  // never saw.
  write_manifest(temp.path());
  ASSERT_TRUE(TokenDataset::open(temp.path(), "train", 0).ok());
  write_split(temp.path(), "train", {10, 10, 10});
  auto left_over = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(left_over.ok());
  EXPECT_TRUE(contains(left_over.status().message(), "train_002.bin is not a shard dataset.json lists"))
      << left_over.status().message();
  ASSERT_TRUE(std::filesystem::remove(temp.path() + "/train_002.bin"));
  ASSERT_TRUE(std::filesystem::copy_file(temp.path() + "/train_001.bin", temp.path() + "/train_004.bin"));
  for (const std::string split : {"train", "val"}) {
    auto gap = TokenDataset::open(temp.path(), split, 0);
    ASSERT_FALSE(gap.ok());
    EXPECT_TRUE(contains(gap.status().message(), "train_004.bin is not a shard dataset.json lists")) << gap.status().message();
  }
}

// The defect of issue 7: val_000.bin copied over train_000.bin opened as train data. The shard is
// valid on its own; only the manifest knows it is not the train shard.
TEST(TokenDataset, AShardCopiedOverAnotherIsRefused) {
  for (const int64_t val_tokens : {10, 7}) {  // same size (payload checksum differs) and another size
    const ScopedTempDir temp(std::to_string(val_tokens));
    write_split(temp.path(), "train", {10});
    std::vector<int32_t> val(static_cast<size_t>(val_tokens), 99);
    ASSERT_TRUE(write_token_shard(temp.path() + "/val_000.bin", val, 50000).ok());
    write_manifest(temp.path());
    ASSERT_TRUE(TokenDataset::open(temp.path(), "train", 0).ok());
    std::filesystem::copy_file(temp.path() + "/val_000.bin", temp.path() + "/train_000.bin",
                               std::filesystem::copy_options::overwrite_existing);
    for (const ShardCheck check : {ShardCheck::kQuick, ShardCheck::kFull}) {
      auto dataset = TokenDataset::open(temp.path(), "train", 0, check);
      ASSERT_FALSE(dataset.ok());
      EXPECT_EQ(dataset.status().code(), StatusCode::kDataLoss);
      const std::string message = dataset.status().message();
      EXPECT_TRUE(contains(message, val_tokens == 10 ? "train_000.bin: payload checksum 0x" : "train_000.bin: size 78 bytes in the file, dataset.json splits.train.shards[0].bytes expects 84"))
          << message;
      EXPECT_TRUE(contains(message, "hint: run tessera data prepare --out " + temp.path() + " again")) << message;
    }
  }
}

// An edited dataset.json (token counts, version, vocab size) that is well-formed on its own but does
// not describe the files is refused.
TEST(TokenDataset, ManifestThatDoesNotDescribeTheFilesIsRefused) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10, 6}, 2048);
  write_manifest(temp.path());
  const std::string manifest_path = temp.path() + "/dataset.json";
  const auto original = read_file(manifest_path);
  ASSERT_TRUE(original.ok());
  const auto expect_refused = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& what) {
    nlohmann::json manifest = nlohmann::json::parse(*original);
    edit(manifest);
    ASSERT_TRUE(write_file_atomic(manifest_path, manifest.dump(2)).ok());
    auto dataset = TokenDataset::open(temp.path(), "train", 0, ShardCheck::kQuick);
    ASSERT_FALSE(dataset.ok()) << what;
    EXPECT_TRUE(contains(dataset.status().message(), what)) << dataset.status().message();
  };
  expect_refused([](nlohmann::json& m) { m["vocab_size"] = 2047; },
                 "train_000.bin: vocab size 2048 in the file, dataset.json vocab_size expects 2047");
  expect_refused([](nlohmann::json& m) { m["version"] = 7; }, "dataset.json version: expected 2, found 7");
  // The last shard's tokens, bytes and the split's tokens edited consistently: the file disagrees.
  expect_refused(
      [](nlohmann::json& m) {
        m["splits"]["train"]["shards"][1]["tokens"] = 5;
        m["splits"]["train"]["shards"][1]["bytes"] = 74;
        m["splits"]["train"]["tokens"] = 15;
      },
      "train_001.bin: size 76 bytes in the file, dataset.json splits.train.shards[1].bytes expects 74");
  expect_refused([](nlohmann::json& m) { m["splits"]["train"]["tokens"] = 17; },
                 "dataset.json splits.train.tokens: expected 16 (the sum of the tokens of its 2 shard(s)), found 17");
}

// What the quick check sees and what only the full one sees (docs/data_format.md).
TEST(TokenDataset, QuickCheckSeesTheEndsFullCheckSeesEveryByte) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {200000});  // 400 KiB of payload: a middle beyond the sampled 64 KiB ends
  write_manifest(temp.path());
  const std::string path = temp.path() + "/train_000.bin";
  const auto original = read_file(path);
  ASSERT_TRUE(original.ok());
  const auto flip = [&](size_t position) {
    std::string bytes = *original;
    bytes[position] ^= 0x01;
    ASSERT_TRUE(write_file_atomic(path, bytes).ok());
  };
  flip(64 + 1000);  // in the first 64 KiB: the sample checksum differs
  auto head = TokenDataset::open(temp.path(), "train", 0, ShardCheck::kQuick);
  ASSERT_FALSE(head.ok());
  EXPECT_TRUE(contains(head.status().message(), "train_000.bin: sample checksum (header, first and last 64 KiB) 0x"))
      << head.status().message();
  flip(original->size() - 3);  // in the last 64 KiB
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0, ShardCheck::kQuick).ok());
  flip(original->size() / 2);  // in the middle: only the full check reads it
  EXPECT_TRUE(TokenDataset::open(temp.path(), "train", 0, ShardCheck::kQuick).ok());
  auto full = TokenDataset::open(temp.path(), "train", 0, ShardCheck::kFull);
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(contains(full.status().message(), "train_000.bin': payload checksum mismatch")) << full.status().message();
  // The default is the full check.
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());
}

// Shards without a dataset.json are what an interrupted prepare leaves (the manifest is removed
// first and written last): possibly old and new shards mixed, so they are refused.
TEST(TokenDataset, ShardsWithoutManifestAreRefused) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10, 10});
  write_split(temp.path(), "val", {10});
  for (const std::string split : {"train", "val"}) {
    auto dataset = TokenDataset::open(temp.path(), split, 0);
    ASSERT_FALSE(dataset.ok()) << split;
    EXPECT_EQ(dataset.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(dataset.status().message(),
              "data '" + temp.path() + "': dataset.json is missing, so the directory was not completely prepared "
              "(an interrupted tessera data prepare?); hint: run tessera data prepare --out " + temp.path() +
              " again");
  }
  const Status tokenizer = check_dataset_tokenizer(temp.path());
  EXPECT_TRUE(contains(tokenizer.message(), "dataset.json is missing")) << tokenizer.message();
  write_manifest(temp.path());
  EXPECT_TRUE(TokenDataset::open(temp.path(), "train", 0).ok());
  EXPECT_TRUE(check_dataset_tokenizer(temp.path()).ok());
}

// A tokenizer.model other than the one the shards were made with (a re-prepare interrupted after
// the new tokenizer was written) is refused by the dataset and by check_dataset_tokenizer.
TEST(TokenDataset, TokenizerMustMatchTheManifestChecksum) {
  const ScopedTempDir temp;
  write_split(temp.path(), "train", {10});
  write_manifest(temp.path(), "the tokenizer the shards were made with");
  ASSERT_TRUE(TokenDataset::open(temp.path(), "train", 0).ok());
  ASSERT_TRUE(check_dataset_tokenizer(temp.path()).ok());

  ASSERT_TRUE(write_file_atomic(temp.path() + "/tokenizer.model", "a newer tokenizer").ok());
  const std::string expected =
      "data '" + temp.path() + "': tokenizer.model does not match the tokenizer the shards were made with "
      "(dataset.json tokenizer_checksum " + hash_to_hex(hash_bytes("the tokenizer the shards were made with")) +
      " expected, " + hash_to_hex(hash_bytes("a newer tokenizer")) + " found); hint: run tessera data prepare --out " +
      temp.path() + " again";
  auto dataset = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(dataset.ok());
  EXPECT_EQ(dataset.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(dataset.status().message(), expected);
  const Status checked = check_dataset_tokenizer(temp.path());
  EXPECT_EQ(checked.code(), StatusCode::kDataLoss);
  EXPECT_EQ(checked.message(), expected);

  ASSERT_TRUE(std::filesystem::remove(temp.path() + "/tokenizer.model"));
  const Status missing = check_dataset_tokenizer(temp.path());
  EXPECT_TRUE(contains(missing.message(), "tokenizer.model is missing")) << missing.message();
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());

  // A manifest without a checksum cannot vouch for the tokenizer.
  ASSERT_TRUE(write_file_atomic(temp.path() + "/tokenizer.model", "x").ok());
  auto manifest = read_file(temp.path() + "/dataset.json");
  ASSERT_TRUE(manifest.ok());
  const size_t at = manifest->find("  \"tokenizer_checksum\"");
  ASSERT_NE(at, std::string::npos);
  manifest->erase(at, manifest->find('\n', at) + 1 - at);
  ASSERT_TRUE(write_file_atomic(temp.path() + "/dataset.json", *manifest).ok());
  const Status no_checksum = check_dataset_tokenizer(temp.path());
  EXPECT_TRUE(contains(no_checksum.message(), "dataset.json tokenizer_checksum: missing")) << no_checksum.message();
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());
}

}  // namespace
}  // namespace tessera
