#include "tessera/data/token_dataset.h"

#include <gtest/gtest.h>

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
  write_split(temp.path(), "train", {100, 0, 37, 250});
  write_split(temp.path(), "val", {10});
  write_manifest(temp.path());
  auto dataset = TokenDataset::open(temp.path(), "train", 50000);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  EXPECT_EQ(dataset->num_tokens(), 387);
  EXPECT_EQ(dataset->vocab_size(), 50000);
  EXPECT_EQ(dataset->shards().size(), 4u);
  // Every range, including ones that span the empty shard and several shards, reads 0, 1, 2, ...
  for (const auto& [start, count] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 387}, {95, 10}, {99, 2}, {100, 1}, {130, 200}, {386, 1}, {387, 0}, {136, 2}}) {
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
  EXPECT_TRUE(contains(val.status().message(), "no val shard (expected val_000.bin)")) << val.status().message();
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

  ASSERT_TRUE(write_token_shard(temp.path() + "/train_001.bin", {1, 2, 3}, 9000).ok());
  auto mixed = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(mixed.ok());
  EXPECT_TRUE(contains(mixed.status().message(), "train_001.bin has vocab size 9000")) << mixed.status().message();
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
  write_split(temp.path(), "train", {10, 10});
  const std::string manifest =
      R"({"splits": {"train": {"shards": [{"file": "train_000.bin"}, {"file": "train_001.bin"}, {"file": "train_002.bin"}]}}})";
  ASSERT_TRUE(write_file_atomic(temp.path() + "/dataset.json", manifest).ok());
  auto missing = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.status().message(), "dataset.json lists 3 train shard(s), the directory holds 2"))
      << missing.status().message();
  ASSERT_TRUE(write_file_atomic(temp.path() + "/dataset.json", "{not json").ok());
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());
  // A shard left over beside a manifest that lists fewer (a re-prepare that made fewer shards).
  write_manifest(temp.path());
  ASSERT_TRUE(TokenDataset::open(temp.path(), "train", 0).ok());
  write_split(temp.path(), "train", {10, 10, 10});
  auto left_over = TokenDataset::open(temp.path(), "train", 0);
  ASSERT_FALSE(left_over.ok());
  EXPECT_TRUE(contains(left_over.status().message(), "dataset.json lists 2 train shard(s), the directory holds 3"))
      << left_over.status().message();
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
  ASSERT_TRUE(
      write_file_atomic(temp.path() + "/dataset.json", R"({"splits": {"train": {"shards": [{"file": "train_000.bin"}]}}})")
          .ok());
  const Status no_checksum = check_dataset_tokenizer(temp.path());
  EXPECT_TRUE(contains(no_checksum.message(), "no \"tokenizer_checksum\"")) << no_checksum.message();
  EXPECT_FALSE(TokenDataset::open(temp.path(), "train", 0).ok());
}

}  // namespace
}  // namespace tessera
