// TokenDataset: every shard of one split ("train" or "val") of a prepared data directory, in shard
// order, as one logical token stream of num_tokens() tokens (docs/data_format.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/data/dataset_manifest.h"
#include "tessera/data/token_shard.h"

namespace tessera {

// Checks that <dir>/tokenizer.model is the tokenizer the shards of <dir> were made with: its XXH3-64
// equals "tokenizer_checksum" of <dir>/dataset.json. Errors (DataLoss) if dataset.json is missing
// (an interrupted prepare) or fails read_dataset_manifest, or if tokenizer.model is missing or
// differs. Call it before using <dir>/tokenizer.model with the dataset's tokens or a model trained on them.
Status check_dataset_tokenizer(const std::string& dir);

// After loading <dir>/tokenizer.model: its vocab size and eos id equal dataset.json's "vocab_size"
// and "eos_id" (DataLoss naming both otherwise).
Status check_tokenizer_fits_dataset(const std::string& dir, int64_t tokenizer_vocab_size, int32_t tokenizer_eos_id);

class TokenDataset {
 public:
  // Opens the shards <dir>/dataset.json lists for `split` and checks, in this order: dataset.json
  // (read_dataset_manifest: every field), the directory's files (check_dataset_files: every listed
  // shard present, no other *.bin), tokenizer.model (check_dataset_tokenizer), the split has a shard,
  // and each shard: its header (TokenShard::open kQuick), the header and file against its manifest
  // entry (check_shard_against_manifest: size, tokens, vocab, dtype, payload checksum, sample
  // checksum) and, with kFull, every payload byte against the checksum and every token < vocab size.
  // Then the vocab size must equal `expected_vocab` unless that is 0. Each failure is one line
  // naming the file and the field, the expected and the found value, with a hint.
  //
  // kQuick reads dataset.json, the tokenizer and at most 128 KiB per shard; it does not see a payload
  // byte changed between the sampled ends (docs/data_format.md), and its tokens are not range-checked:
  // only kFull makes every token read later safe to index a vocab-sized table with.
  static StatusOr<TokenDataset> open(const std::string& dir, const std::string& split, int64_t expected_vocab,
                                     ShardCheck check = ShardCheck::kFull);

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
