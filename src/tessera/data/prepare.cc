#include "tessera/data/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/data/corpus.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/token_shard.h"
#include "tessera/data/tokenizer.h"

namespace tessera {

namespace {

constexpr uint64_t kSplitSeed = 0x7e55e7a5;  // keys the document → split hash

Status check_options(const PrepareOptions& options) {
  if (options.out_dir.empty()) return invalid_argument_error("no output directory; hint: --out DIR");
  if (!(options.val_fraction >= 0.0 && options.val_fraction < 1.0)) {
    return invalid_argument_error("val fraction {} is outside [0, 1)", options.val_fraction);
  }
  if (options.shard_tokens < 1) return invalid_argument_error("shard tokens {} < 1", options.shard_tokens);
  return Status();
}

// Fails early (before minutes of tokenizer training) when out_dir cannot be created or written.
Status check_writable(const std::string& dir) {
  TESSERA_RETURN_IF_ERROR(make_directories(dir));
  const std::string probe = fmt::format("{}/.tessera_write_probe.{}", dir, ::getpid());
  const Status written = write_file_atomic(probe, "");
  std::error_code ignored;
  std::filesystem::remove(probe, ignored);
  if (!written.ok()) return written.with_context(fmt::format("output directory '{}' is not writable", dir));
  return Status();
}

// Removes <dir>/dataset.json (if any) durably, so that a crash after this leaves no manifest.
Status remove_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kDatasetManifestFile;
  std::error_code error;
  if (!std::filesystem::remove(path, error)) {
    if (error) return io_error("cannot remove the old manifest '{}': {}", path, error.message());
    return Status();  // there was none
  }
  return fsync_directory(dir);
}

// Appends tokens of one split and cuts them into shards of exactly shard_tokens (the last: the rest).
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t vocab_size, int64_t shard_tokens, SplitSummary& summary,
              nlohmann::json& shards_json)
      : dir_(std::move(dir)), split_(std::move(split)), vocab_size_(vocab_size), shard_tokens_(shard_tokens),
        summary_(summary), shards_json_(shards_json) {}

  Status append(const std::vector<int32_t>& tokens, int32_t eos_id) {
    buffer_.insert(buffer_.end(), tokens.begin(), tokens.end());
    buffer_.push_back(eos_id);
    summary_.tokens += static_cast<int64_t>(tokens.size()) + 1;
    ++summary_.documents;
    while (static_cast<int64_t>(buffer_.size()) >= shard_tokens_) {
      std::vector<int32_t> rest(buffer_.begin() + shard_tokens_, buffer_.end());
      buffer_.resize(static_cast<size_t>(shard_tokens_));
      TESSERA_RETURN_IF_ERROR(flush());
      buffer_ = std::move(rest);
    }
    return Status();
  }

  Status finish() { return buffer_.empty() ? Status() : flush(); }

 private:
  Status flush() {
    const std::string file = token_shard_file_name(split_, static_cast<int64_t>(summary_.shards.size()));
    auto bytes = encode_token_shard(buffer_, vocab_size_);
    if (!bytes.ok()) return bytes.status().with_context(fmt::format("shard '{}/{}'", dir_, file));
    TESSERA_RETURN_IF_ERROR(write_file_atomic(dir_ + "/" + file, *bytes));
    const uint64_t checksum =
        hash_bytes(bytes->data() + kTokenShardHeaderSize, bytes->size() - kTokenShardHeaderSize);
    shards_json_.push_back({{"file", file}, {"tokens", buffer_.size()}, {"checksum", hash_to_hex(checksum)}});
    summary_.shards.push_back(file);
    buffer_.clear();
    return Status();
  }

  std::string dir_;
  std::string split_;
  int64_t vocab_size_;
  int64_t shard_tokens_;
  SplitSummary& summary_;
  nlohmann::json& shards_json_;
  std::vector<int32_t> buffer_;
};

// Removes "<split>_NNN.bin" files of a former run with NNN >= keep, so that the directory holds
// exactly the shards of this run.
Status remove_stale_shards(const std::string& dir, const std::string& split, size_t keep) {
  for (size_t index = keep;; ++index) {
    const std::string path = dir + "/" + token_shard_file_name(split, static_cast<int64_t>(index));
    if (!path_exists(path)) return Status();
    std::error_code error;
    std::filesystem::remove(path, error);
    if (error) return io_error("cannot remove stale shard '{}': {}", path, error.message());
  }
}

// val membership of each document (see prepare.h for the rule).
std::vector<bool> assign_val(const std::vector<std::string>& documents, double val_fraction) {
  std::vector<bool> is_val(documents.size(), false);
  if (val_fraction <= 0.0 || documents.empty()) return is_val;
  std::vector<double> u(documents.size());
  size_t val_count = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    // The top 53 bits as a double in [0, 1).
    u[d] = static_cast<double>(hash_bytes(documents[d], kSplitSeed) >> 11) * 0x1.0p-53;
    is_val[d] = u[d] < val_fraction;
    val_count += is_val[d];
  }
  if (documents.size() >= 2 && val_count == 0) {
    is_val[static_cast<size_t>(std::min_element(u.begin(), u.end()) - u.begin())] = true;
  } else if (documents.size() >= 2 && val_count == documents.size()) {
    is_val[static_cast<size_t>(std::max_element(u.begin(), u.end()) - u.begin())] = false;
  }
  return is_val;
}

}  // namespace

StatusOr<PrepareSummary> prepare_dataset(const PrepareOptions& options) {
  TESSERA_RETURN_IF_ERROR(check_options(options));
  PrepareSummary summary;
  TESSERA_ASSIGN_OR_RETURN(summary.input_files, list_corpus_files(options.inputs));
  TESSERA_RETURN_IF_ERROR(check_writable(options.out_dir));

  nlohmann::json inputs_json = nlohmann::json::array();
  std::vector<std::string> documents;
  for (const std::string& path : summary.input_files) {
    TESSERA_ASSIGN_OR_RETURN(std::string text, read_file(path));
    summary.input_bytes += static_cast<int64_t>(text.size());
    inputs_json.push_back({{"path", path}, {"bytes", text.size()}, {"checksum", hash_to_hex(hash_bytes(text))}});
    std::vector<std::string> docs = split_documents(text);
    documents.insert(documents.end(), std::make_move_iterator(docs.begin()), std::make_move_iterator(docs.end()));
  }
  if (documents.empty()) {
    return invalid_argument_error("empty corpus: {} input file(s), {} bytes, no document with text",
                                  summary.input_files.size(), summary.input_bytes);
  }

  // The manifest goes first, before anything else in the directory changes: at every instant of an
  // interrupted re-prepare the directory then has no manifest (which TokenDataset::open refuses)
  // rather than an old one beside a new tokenizer or new shards. It comes back last, after every
  // shard it names and the tokenizer are durable.
  if (!options.tokenizer.empty()) {
    TESSERA_RETURN_IF_ERROR(Tokenizer::load(options.tokenizer).status());  // errors name the user's path
  }
  TESSERA_RETURN_IF_ERROR(remove_manifest(options.out_dir));

  // The tokenizer: trained on every document, or an existing model copied beside the shards so that
  // the directory is self-contained.
  summary.tokenizer_path = options.out_dir + "/" + kDatasetTokenizerFile;
  if (options.tokenizer.empty()) {
    TESSERA_RETURN_IF_ERROR(
        Tokenizer::train_on_texts(documents, options.out_dir + "/tokenizer", options.vocab_size));
    summary.trained_tokenizer = true;
  } else {
    TESSERA_ASSIGN_OR_RETURN(std::string model, read_file(options.tokenizer));
    std::error_code error;
    if (!std::filesystem::equivalent(options.tokenizer, summary.tokenizer_path, error)) {
      TESSERA_RETURN_IF_ERROR(write_file_atomic(summary.tokenizer_path, model));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load(summary.tokenizer_path));
  summary.vocab_size = tokenizer.vocab_size();
  summary.eos_id = tokenizer.eos_id();

  nlohmann::json train_shards = nlohmann::json::array();
  nlohmann::json val_shards = nlohmann::json::array();
  ShardWriter train(options.out_dir, "train", summary.vocab_size, options.shard_tokens, summary.train, train_shards);
  ShardWriter val(options.out_dir, "val", summary.vocab_size, options.shard_tokens, summary.val, val_shards);
  const std::vector<bool> is_val = assign_val(documents, options.val_fraction);
  for (size_t d = 0; d < documents.size(); ++d) {
    TESSERA_RETURN_IF_ERROR((is_val[d] ? val : train).append(tokenizer.encode(documents[d]), summary.eos_id));
  }
  TESSERA_RETURN_IF_ERROR(train.finish());
  TESSERA_RETURN_IF_ERROR(val.finish());
  TESSERA_RETURN_IF_ERROR(remove_stale_shards(options.out_dir, "train", summary.train.shards.size()));
  TESSERA_RETURN_IF_ERROR(remove_stale_shards(options.out_dir, "val", summary.val.shards.size()));

  TESSERA_ASSIGN_OR_RETURN(std::string model_bytes, read_file(summary.tokenizer_path));
  const nlohmann::json manifest = {
      {"format", "tessera.token_dataset"},
      {"version", 1},
      {"vocab_size", summary.vocab_size},
      {"eos_id", summary.eos_id},
      {"dtype", std::string(dtype_name(token_dtype_for_vocab(summary.vocab_size)))},
      {"shard_format_version", kTokenShardVersion},
      {"tokenizer", kDatasetTokenizerFile},
      {"tokenizer_checksum", hash_to_hex(hash_bytes(model_bytes))},
      {"val_fraction", options.val_fraction},
      {"shard_tokens", options.shard_tokens},
      {"inputs", inputs_json},
      {"splits",
       {{"train", {{"documents", summary.train.documents}, {"tokens", summary.train.tokens}, {"shards", train_shards}}},
        {"val", {{"documents", summary.val.documents}, {"tokens", summary.val.tokens}, {"shards", val_shards}}}}},
  };
  TESSERA_RETURN_IF_ERROR(write_file_atomic(options.out_dir + "/" + kDatasetManifestFile, manifest.dump(2) + "\n"));
  return summary;
}

}  // namespace tessera
