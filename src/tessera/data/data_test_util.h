// Helpers shared by the data module's tests: a fresh temporary directory per test, a small,
// deterministic pseudo-English corpus (a few KB) to train tiny tokenizers on quickly, and the
// manifest that makes a directory of hand-written shards openable.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <string>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/core/rng.h"
#include "tessera/data/dataset_manifest.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/token_shard.h"

namespace tessera::testing_util {

// An empty directory unique to the running test, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& tag = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("tessera_data_" + std::string(info->test_suite_name()) + "_" + info->name() + tag + "_" +
              std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `documents` fortune-style entries separated by "%" lines, words drawn from a fixed list by the
// counter-based RNG keyed by `seed`: the same arguments give the same bytes.
inline std::string make_corpus(int documents, uint64_t seed = 1) {
  static constexpr const char* kWords[] = {
      "the",   "a",      "of",     "and",    "to",      "in",     "is",    "it",     "that",  "was",
      "for",   "on",     "are",    "with",   "as",      "his",    "they",  "be",     "at",    "one",
      "have",  "this",   "from",   "by",     "hot",     "word",   "but",   "what",   "some",  "we",
      "can",   "out",    "other",  "were",   "all",     "there",  "when",  "up",     "use",   "your",
      "how",   "said",   "an",     "each",   "she",     "which",  "do",    "their",  "time",  "if",
      "will",  "way",    "about",  "many",   "then",    "them",   "write", "would",  "like",  "so",
      "these", "her",    "long",   "make",   "thing",   "see",    "him",   "two",    "has",   "look",
      "more",  "day",    "could",  "go",     "come",    "did",    "number", "sound", "no",    "most",
      "people", "my",    "over",   "know",   "water",   "than",   "call",  "first",  "who",   "may",
      "down",  "side",   "been",   "now",    "find",    "computer", "fortune", "cookie", "Linux", "42"};
  constexpr uint64_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
  std::string text;
  for (int d = 0; d < documents; ++d) {
    RngStream rng(seed, RngPurpose::kTest, static_cast<uint64_t>(d));
    const int lines = 1 + static_cast<int>(rng.below(3));
    for (int l = 0; l < lines; ++l) {
      const int words = 4 + static_cast<int>(rng.below(8));
      for (int w = 0; w < words; ++w) {
        if (w > 0) text += ' ';
        text += kWords[rng.below(kNumWords)];
      }
      text += rng.below(4) == 0 ? "!\n" : ".\n";
    }
    text += "%\n";
  }
  return text;
}

// Completes a directory of shards written by a test the way prepare does: writes
// <dir>/tokenizer.model with `tokenizer_bytes` (only its checksum matters to TokenDataset::open) and
// a version-2 dataset.json that lists the train_NNN.bin and val_NNN.bin files present, numbered from
// 000, as they are (sizes, tokens, checksums; one document per shard), with the vocab size of the
// first shard, eos id 2 and shard_tokens = the largest shard's token count.
inline void write_manifest(const std::string& dir, const std::string& tokenizer_bytes = "stand-in tokenizer") {
  ASSERT_TRUE(write_file_atomic(dir + "/" + kDatasetTokenizerFile, tokenizer_bytes).ok());
  DatasetManifest manifest;
  manifest.eos_id = 2;
  manifest.tokenizer_checksum = hash_bytes(tokenizer_bytes);
  manifest.inputs.push_back({"corpus.txt", 1, 0});
  for (const std::string split : {"train", "val"}) {
    DatasetSplitEntry& entry = split == "train" ? manifest.train : manifest.val;
    for (int64_t index = 0; path_exists(dir + "/" + token_shard_file_name(split, index)); ++index) {
      const std::string file = token_shard_file_name(split, index);
      auto shard = TokenShard::open(dir + "/" + file, ShardCheck::kQuick);
      ASSERT_TRUE(shard.ok()) << shard.status().message();
      if (manifest.vocab_size == 0) manifest.vocab_size = shard->vocab_size();
      manifest.shard_tokens = std::max(manifest.shard_tokens, shard->size());
      entry.shards.push_back(dataset_shard_entry(file, *shard));
      entry.tokens += shard->size();
      entry.documents += shard->size() > 0 ? 1 : 0;
    }
  }
  if (manifest.vocab_size == 0) manifest.vocab_size = 3;
  manifest.val_fraction = manifest.val.shards.empty() ? 0.0 : 0.5;
  ASSERT_TRUE(write_file_atomic(dir + "/" + kDatasetManifestFile, dataset_manifest_json(manifest)).ok());
}

}  // namespace tessera::testing_util
