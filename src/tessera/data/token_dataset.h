// TokenDataset: every shard of one split ("train" or "val") of a prepared data directory, in shard
// order, as one logical token stream of num_tokens() tokens (docs/data_format.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/data/token_shard.h"

namespace tessera {

// The manifest and the tokenizer of a prepared data directory (docs/data_format.md).
inline constexpr const char* kDatasetManifestFile = "dataset.json";
inline constexpr const char* kDatasetTokenizerFile = "tokenizer.model";

// "<split>_000.bin": the file name of shard `index` of a split.
std::string token_shard_file_name(const std::string& split, int64_t index);

// Checks that <dir>/tokenizer.model is the tokenizer the shards of <dir> were made with: its XXH3-64
// equals "tokenizer_checksum" of <dir>/dataset.json. Errors (DataLoss) if dataset.json is missing
// (an interrupted prepare), unreadable or without a checksum, or if tokenizer.model is missing or
// differs. Call it before using <dir>/tokenizer.model with the dataset's tokens or a model trained on them.
Status check_dataset_tokenizer(const std::string& dir);

class TokenDataset {
 public:
  // Opens and validates <dir>/<split>_000.bin, _001.bin, ... (numbered without gaps). Errors if the
  // split has no shard, <dir>/dataset.json is missing (the directory was not completely prepared)
  // or lists other shards than the directory holds, <dir>/tokenizer.model fails
  // check_dataset_tokenizer, a shard fails validation, the shards disagree on the vocab size, or the
  // vocab size differs from `expected_vocab` (0 = no check).
  static StatusOr<TokenDataset> open(const std::string& dir, const std::string& split, int64_t expected_vocab);

  TokenDataset(TokenDataset&&) noexcept = default;
  TokenDataset& operator=(TokenDataset&&) noexcept = default;
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& split() const { return split_; }
  int64_t num_tokens() const { return num_tokens_; }
  int64_t vocab_size() const { return vocab_size_; }
  const std::vector<TokenShard>& shards() const { return shards_; }

  // out[0, count) = stream tokens [start, start + count), across shard boundaries. The range must
  // lie inside [0, num_tokens()) (CHECKed). Thread-safe: reads the read-only maps only.
  void copy_tokens(int64_t start, int64_t count, int32_t* out) const;

 private:
  TokenDataset() = default;

  std::string dir_;
  std::string split_;
  std::vector<TokenShard> shards_;
  std::vector<int64_t> shard_starts_;  // stream offset of each shard's first token; size shards_ + 1
  int64_t num_tokens_ = 0;
  int64_t vocab_size_ = 0;
};

}  // namespace tessera
