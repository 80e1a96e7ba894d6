#include "tessera/data/token_dataset.h"

#include <algorithm>
#include <filesystem>

#include "tessera/core/check.h"
#include "tessera/core/file.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

Status check_is_directory(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return not_found_error("data '{}': no such directory; hint: create it with tessera data prepare --out {}", dir,
                           dir);
  }
  return Status();
}

Status check_tokenizer_against(const DatasetManifest& manifest, const std::string& dir) {
  const std::string listed = hash_to_hex(manifest.tokenizer_checksum);
  const std::string tokenizer_path = dir + "/" + kDatasetTokenizerFile;
  if (!path_exists(tokenizer_path)) {
    return data_loss_error("data '{}': tokenizer.model is missing (dataset.json expects checksum {}); hint: run "
                           "tessera data prepare --out {} again",
                           dir, listed, dir);
  }
  TESSERA_ASSIGN_OR_RETURN(std::string model, read_file(tokenizer_path));
  const std::string found = hash_to_hex(hash_bytes(model));
  if (found != listed) {
    return data_loss_error("data '{}': tokenizer.model does not match the tokenizer the shards were made with "
                           "(dataset.json tokenizer_checksum {} expected, {} found); hint: run tessera data prepare "
                           "--out {} again",
                           dir, listed, found, dir);
  }
  return Status();
}

}  // namespace

Status check_dataset_tokenizer(const std::string& dir) {
  TESSERA_RETURN_IF_ERROR(check_is_directory(dir));
  TESSERA_ASSIGN_OR_RETURN(const DatasetManifest manifest, read_dataset_manifest(dir));
  return check_tokenizer_against(manifest, dir);
}

Status check_tokenizer_fits_dataset(const std::string& dir, int64_t tokenizer_vocab_size, int32_t tokenizer_eos_id) {
  TESSERA_ASSIGN_OR_RETURN(const DatasetManifest manifest, read_dataset_manifest(dir));
  if (tokenizer_vocab_size != manifest.vocab_size || tokenizer_eos_id != manifest.eos_id) {
    return data_loss_error("data '{}': tokenizer.model has vocab size {} and eos id {}, dataset.json vocab_size and "
                           "eos_id expect {} and {}; hint: run tessera data prepare --out {} again",
                           dir, tokenizer_vocab_size, tokenizer_eos_id, manifest.vocab_size, manifest.eos_id, dir);
  }
  return Status();
}

StatusOr<TokenDataset> TokenDataset::open(const std::string& dir, const std::string& split, int64_t expected_vocab,
                                          ShardCheck check) {
  if (split != "train" && split != "val") {
    return invalid_argument_error("data '{}': unknown split '{}' (expected \"train\" or \"val\")", dir, split);
  }
  TESSERA_RETURN_IF_ERROR(check_is_directory(dir));
  TESSERA_ASSIGN_OR_RETURN(const DatasetManifest manifest, read_dataset_manifest(dir));
  TESSERA_RETURN_IF_ERROR(check_dataset_files(dir, manifest));
  TESSERA_RETURN_IF_ERROR(check_tokenizer_against(manifest, dir));
  const DatasetSplitEntry& entry = manifest.split(split);
  if (entry.shards.empty()) {
    // Only val can be empty (read_dataset_manifest requires train documents): no val fraction, or a
    // corpus of one document.
    return not_found_error("data '{}': no {} shard (expected {}; dataset.json lists none: {}); hint: run tessera "
                           "data prepare --out {} with --val-fraction > 0 and more than one document",
                           dir, split, token_shard_file_name(split, 0),
                           manifest.val_fraction == 0.0 ? "prepared with --val-fraction 0" : "the corpus had one document",
                           dir);
  }

  TokenDataset dataset;
  dataset.dir_ = dir;
  dataset.split_ = split;
  dataset.vocab_size_ = manifest.vocab_size;
  dataset.shard_starts_.push_back(0);
  for (size_t i = 0; i < entry.shards.size(); ++i) {
    TESSERA_ASSIGN_OR_RETURN(TokenShard shard, TokenShard::open(dir + "/" + entry.shards[i].file, ShardCheck::kQuick));
    TESSERA_RETURN_IF_ERROR(check_shard_against_manifest(dir, manifest, split, i, shard));
    if (check == ShardCheck::kFull) TESSERA_RETURN_IF_ERROR(shard.verify_payload());
    dataset.num_tokens_ += shard.size();
    dataset.shard_starts_.push_back(dataset.num_tokens_);
    dataset.shards_.push_back(std::move(shard));
  }
  if (expected_vocab != 0 && expected_vocab != dataset.vocab_size_) {
    return invalid_argument_error(
        "data '{}': vocab size {} in the shards != model.vocab_size {}; hint: set model.vocab_size = {} or "
        "prepare the data with --vocab-size {}",
        dir, dataset.vocab_size_, expected_vocab, dataset.vocab_size_, expected_vocab);
  }
  return dataset;
}

void TokenDataset::copy_tokens(int64_t start, int64_t count, int32_t* out) const {
  TESSERA_CHECK(start >= 0 && count >= 0 && start + count <= num_tokens_,
                "range [{}, {}) outside the {} tokens of data '{}' split {}", start, start + count, num_tokens_,
                dir_, split_);
  // The shard holding `start`: the last one whose first token is <= start (empty shards are skipped
  // by the loop below because they contribute zero tokens).
  auto it = std::upper_bound(shard_starts_.begin(), shard_starts_.end(), start);
  size_t shard = static_cast<size_t>(it - shard_starts_.begin()) - 1;
  while (count > 0) {
    TESSERA_CHECK(shard < shards_.size());
    const int64_t offset = start - shard_starts_[shard];
    const int64_t n = std::min(count, shards_[shard].size() - offset);
    if (n > 0) {
      shards_[shard].copy_tokens(offset, n, out);
      out += n;
      start += n;
      count -= n;
    }
    ++shard;
  }
}

}  // namespace tessera
