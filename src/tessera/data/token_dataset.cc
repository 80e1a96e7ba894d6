#include "tessera/data/token_dataset.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

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

// <dir>/dataset.json, parsed. Required: prepare writes it last, after every shard and the tokenizer,
// and removes it first, so a directory without one was not completely prepared.
StatusOr<nlohmann::json> read_manifest(const std::string& dir) {
  const std::string manifest_path = dir + "/" + kDatasetManifestFile;
  if (!path_exists(manifest_path)) {
    return data_loss_error("data '{}': dataset.json is missing, so the directory was not completely prepared (an "
                           "interrupted tessera data prepare?); hint: run tessera data prepare --out {} again",
                           dir, dir);
  }
  TESSERA_ASSIGN_OR_RETURN(std::string text, read_file(manifest_path));
  nlohmann::json manifest = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return data_loss_error("data '{}': dataset.json is not a valid JSON object", dir);
  }
  return manifest;
}

// The shard files named in the manifest for `split` (none when the split is absent).
StatusOr<std::vector<std::string>> listed_shards(const nlohmann::json& manifest, const std::string& dir,
                                                 const std::string& split) {
  std::vector<std::string> files;
  const auto splits = manifest.find("splits");
  if (splits == manifest.end() || !splits->is_object()) {
    return data_loss_error("data '{}': dataset.json has no \"splits\" object", dir);
  }
  const auto entry = splits->find(split);
  if (entry == splits->end()) return files;
  const auto shards = entry->find("shards");
  if (shards == entry->end() || !shards->is_array()) {
    return data_loss_error("data '{}': dataset.json split '{}' has no \"shards\" array", dir, split);
  }
  for (const auto& shard : *shards) {
    if (!shard.is_object() || !shard.contains("file") || !shard["file"].is_string()) {
      return data_loss_error("data '{}': dataset.json split '{}' has a shard without a \"file\" name", dir, split);
    }
    files.push_back(shard["file"].get<std::string>());
  }
  return files;
}

Status check_tokenizer_against(const nlohmann::json& manifest, const std::string& dir) {
  const auto listed = manifest.find("tokenizer_checksum");
  if (listed == manifest.end() || !listed->is_string()) {
    return data_loss_error("data '{}': dataset.json has no \"tokenizer_checksum\" string; hint: run tessera data "
                           "prepare --out {} again",
                           dir, dir);
  }
  const std::string tokenizer_path = dir + "/" + kDatasetTokenizerFile;
  if (!path_exists(tokenizer_path)) {
    return data_loss_error("data '{}': tokenizer.model is missing (dataset.json expects checksum {}); hint: run "
                           "tessera data prepare --out {} again",
                           dir, listed->get<std::string>(), dir);
  }
  TESSERA_ASSIGN_OR_RETURN(std::string model, read_file(tokenizer_path));
  const std::string found = hash_to_hex(hash_bytes(model));
  if (found != listed->get<std::string>()) {
    return data_loss_error("data '{}': tokenizer.model does not match the tokenizer the shards were made with "
                           "(dataset.json tokenizer_checksum {} expected, {} found); hint: run tessera data prepare "
                           "--out {} again",
                           dir, listed->get<std::string>(), found, dir);
  }
  return Status();
}

}  // namespace

Status check_dataset_tokenizer(const std::string& dir) {
  TESSERA_RETURN_IF_ERROR(check_is_directory(dir));
  TESSERA_ASSIGN_OR_RETURN(nlohmann::json manifest, read_manifest(dir));
  return check_tokenizer_against(manifest, dir);
}

std::string token_shard_file_name(const std::string& split, int64_t index) {
  return fmt::format("{}_{:03d}.bin", split, index);
}

StatusOr<TokenDataset> TokenDataset::open(const std::string& dir, const std::string& split,
                                          int64_t expected_vocab) {
  if (split != "train" && split != "val") {
    return invalid_argument_error("data '{}': unknown split '{}' (expected \"train\" or \"val\")", dir, split);
  }
  TESSERA_RETURN_IF_ERROR(check_is_directory(dir));
  // Shards are numbered from 000 without gaps; the first missing number ends the split.
  std::vector<std::string> files;
  while (path_exists(dir + "/" + token_shard_file_name(split, static_cast<int64_t>(files.size())))) {
    files.push_back(token_shard_file_name(split, static_cast<int64_t>(files.size())));
  }
  if (files.empty()) {
    return not_found_error("data '{}': no {} shard (expected {}); hint: run tessera data prepare --out {}", dir,
                           split, token_shard_file_name(split, 0), dir);
  }
  TESSERA_ASSIGN_OR_RETURN(const nlohmann::json manifest, read_manifest(dir));
  TESSERA_ASSIGN_OR_RETURN(const std::vector<std::string> listed, listed_shards(manifest, dir, split));
  if (listed != files) {
    return data_loss_error("data '{}': dataset.json lists {} {} shard(s), the directory holds {} ({}..{}); hint: "
                           "a shard is missing or left over, run tessera data prepare again",
                           dir, listed.size(), split, files.size(), files.front(), files.back());
  }
  TESSERA_RETURN_IF_ERROR(check_tokenizer_against(manifest, dir));

  TokenDataset dataset;
  dataset.dir_ = dir;
  dataset.split_ = split;
  dataset.shard_starts_.push_back(0);
  for (const std::string& file : files) {
    TESSERA_ASSIGN_OR_RETURN(TokenShard shard, TokenShard::open(dir + "/" + file));
    if (dataset.shards_.empty()) {
      dataset.vocab_size_ = shard.vocab_size();
    } else if (shard.vocab_size() != dataset.vocab_size_) {
      return data_loss_error("data '{}': shard {} has vocab size {} but {} has {}; hint: the shards come from "
                             "different tokenizers, run tessera data prepare again",
                             dir, file, shard.vocab_size(), files.front(), dataset.vocab_size_);
    }
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
