#include "tessera/data/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/data/corpus.h"
#include "tessera/data/dataset_manifest.h"
#include "tessera/data/document_reader.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/token_shard.h"
#include "tessera/data/tokenizer.h"

namespace tessera {

namespace {

constexpr uint64_t kSplitSeed = 0x7e55e7a5;   // keys the document → split hash
constexpr uint64_t kSampleSeed = 0x5a3b1e0d;  // keys the document → tokenizer-sample hash

Status check_options(const PrepareOptions& options) {
  if (options.out_dir.empty()) return invalid_argument_error("no output directory; hint: --out DIR");
  if (!(options.val_fraction >= 0.0 && options.val_fraction < 1.0)) {
    return invalid_argument_error("val fraction {} is outside [0, 1)", options.val_fraction);
  }
  if (options.shard_tokens < 1) return invalid_argument_error("shard tokens {} < 1", options.shard_tokens);
  if (options.tokenizer_sample_bytes < 1) {
    return invalid_argument_error("tokenizer sample budget {} bytes < 1", options.tokenizer_sample_bytes);
  }
  if (options.read_chunk_bytes < 1) return invalid_argument_error("read chunk {} bytes < 1", options.read_chunk_bytes);
  return Status();
}

// `path` made absolute, with symlinks resolved as far as it exists, without a trailing separator.
StatusOr<std::filesystem::path> resolved(const std::string& path) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (!error) absolute = std::filesystem::weakly_canonical(absolute, error);
  if (error) return io_error("cannot resolve the path '{}': {}", path, error.message());
  absolute = absolute.lexically_normal();
  if (!absolute.has_filename() && absolute.has_parent_path() && absolute != absolute.root_path()) {
    absolute = absolute.parent_path();
  }
  return absolute;
}

// True when `inner` is `outer` or lies below it (both resolved).
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto in = inner.begin();
  for (auto out = outer.begin(); out != outer.end(); ++out, ++in) {
    if (in == inner.end() || *in != *out) return false;
  }
  return true;
}

// The output directory and the inputs must not overlap (symlinks resolved): prepare would read the
// files it writes (a former dataset.json is text) and, by removing the old manifest first, leave the
// former dataset unusable. Checked before anything is created or removed.
Status check_out_apart_from_inputs(const PrepareOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(const std::filesystem::path out, resolved(options.out_dir));
  for (const std::string& input : options.inputs) {
    TESSERA_ASSIGN_OR_RETURN(const std::filesystem::path in, resolved(input));
    if (in == out) {
      return invalid_argument_error("--out '{}' is the input '{}' ({}); hint: write the dataset to a directory "
                                    "outside every --input",
                                    options.out_dir, input, out.string());
    }
    if (is_within(out, in)) {
      return invalid_argument_error("--out '{}' ({}) is inside the input '{}': prepare would read its own output; "
                                    "hint: write the dataset to a directory outside every --input",
                                    options.out_dir, out.string(), input);
    }
    if (is_within(in, out)) {
      return invalid_argument_error("the input '{}' ({}) is inside --out '{}', whose files prepare replaces; hint: "
                                    "write the dataset to a directory that holds no input",
                                    input, in.string(), options.out_dir);
    }
  }
  return Status();
}

// Fails early (before minutes of tokenizer training) when out_dir cannot be created or written.
Status check_writable(const std::string& dir) {
  if (const Status made = make_directories(dir); !made.ok()) {
    return made.with_context("--out");
  }
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
              DatasetSplitEntry& entry)
      : dir_(std::move(dir)), split_(std::move(split)), vocab_size_(vocab_size), shard_tokens_(shard_tokens),
        summary_(summary), entry_(entry) {}

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

  // Writes the last, shorter shard and completes the split's manifest entry.
  Status finish() {
    if (!buffer_.empty()) TESSERA_RETURN_IF_ERROR(flush());
    entry_.documents = summary_.documents;
    entry_.tokens = summary_.tokens;
    return Status();
  }

 private:
  Status flush() {
    const std::string file = token_shard_file_name(split_, static_cast<int64_t>(summary_.shards.size()));
    auto bytes = encode_token_shard(buffer_, vocab_size_);
    if (!bytes.ok()) return bytes.status().with_context(fmt::format("shard '{}/{}'", dir_, file));
    TESSERA_RETURN_IF_ERROR(write_file_atomic(dir_ + "/" + file, *bytes));
    const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
    entry_.shards.push_back({file, static_cast<int64_t>(bytes->size()), static_cast<int64_t>(buffer_.size()),
                             hash_bytes(data + kTokenShardHeaderSize, bytes->size() - kTokenShardHeaderSize),
                             token_shard_sample_checksum(data, bytes->size())});
    summary_.shards.push_back(file);
    buffer_.clear();
    return Status();
  }

  std::string dir_;
  std::string split_;
  int64_t vocab_size_;
  int64_t shard_tokens_;
  SplitSummary& summary_;
  DatasetSplitEntry& entry_;
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

// The top 53 bits of XXH3-64(document, seed) as a double in [0, 1).
double unit_hash(std::string_view document, uint64_t seed) {
  return static_cast<double>(hash_bytes(document, seed) >> 11) * 0x1.0p-53;
}

struct InputRecord {
  int64_t bytes = 0;
  uint64_t checksum = 0;
};

// Calls visit(document, index) for every document of every file, in order (index counts across
// files), reading each file in chunks. Records each file's size and checksum in *records when it is
// empty (the first pass); otherwise checks the file still has the recorded ones.
template <typename Visit>
Status for_each_document(const std::vector<std::string>& files, size_t chunk_bytes,
                         std::vector<InputRecord>* records, Visit&& visit) {
  const bool record = records->empty();
  std::string document;
  int64_t index = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    TESSERA_ASSIGN_OR_RETURN(DocumentReader reader, DocumentReader::open(files[f], chunk_bytes));
    for (;;) {
      TESSERA_ASSIGN_OR_RETURN(const bool more, reader.next(&document));
      if (!more) break;
      TESSERA_RETURN_IF_ERROR(visit(document, index));
      ++index;
    }
    const InputRecord found{reader.bytes_read(), reader.checksum()};
    if (record) {
      records->push_back(found);
    } else if (found.bytes != (*records)[f].bytes || found.checksum != (*records)[f].checksum) {
      return failed_precondition_error(
          "input '{}' changed while tessera data prepare was reading it ({} bytes, checksum {} at the first read; "
          "{} bytes, checksum {} now); hint: prepare from files nothing writes to, e.g. a copy",
          files[f], (*records)[f].bytes, hash_to_hex((*records)[f].checksum), found.bytes,
          hash_to_hex(found.checksum));
    }
  }
  return Status();
}

// What the first pass keeps of the documents: counts, and which one the val edge rule moves.
struct CorpusScan {
  int64_t documents = 0;
  int64_t document_bytes = 0;
  int64_t val_documents = 0;  // with u < val_fraction
  int64_t min_index = -1;     // the first document with the smallest u
  int64_t max_index = -1;     // the first document with the largest u
  double min_u = 2.0;
  double max_u = -1.0;
};

// val membership (see prepare.h for the rule): u < val_fraction, except the one document the edge
// rule moves so that both splits exist.
class ValRule {
 public:
  ValRule(const CorpusScan& scan, double val_fraction) : val_fraction_(val_fraction) {
    if (val_fraction <= 0.0 || scan.documents < 2) return;
    if (scan.val_documents == 0) moved_ = scan.min_index;
    if (scan.val_documents == scan.documents) moved_ = scan.max_index;
  }
  bool is_val(std::string_view document, int64_t index) const {
    const bool val = val_fraction_ > 0.0 && unit_hash(document, kSplitSeed) < val_fraction_;
    return val != (index == moved_);
  }

 private:
  double val_fraction_;
  int64_t moved_ = -1;
};

}  // namespace

namespace {

// prepare_dataset once the options, the inputs, their distance from out_dir and a reused tokenizer
// have been checked.
StatusOr<PrepareSummary> prepare_into(const PrepareOptions& options, PrepareSummary summary) {
  TESSERA_RETURN_IF_ERROR(check_writable(options.out_dir));

  // Pass 1: each file's size and checksum, the document count and bytes, what the val edge rule
  // needs, and -- while the documents seen so far fit the tokenizer sample budget -- the documents
  // themselves, so that a small corpus is read only twice.
  const bool train_tokenizer = options.tokenizer.empty();
  const size_t chunk_bytes = static_cast<size_t>(options.read_chunk_bytes);
  std::vector<InputRecord> records;
  CorpusScan scan;
  std::vector<std::string> sample;
  bool sample_is_everything = train_tokenizer;
  TESSERA_RETURN_IF_ERROR(for_each_document(
      summary.input_files, chunk_bytes, &records, [&](const std::string& document, int64_t index) {
        const double u = unit_hash(document, kSplitSeed);
        scan.documents += 1;
        scan.document_bytes += static_cast<int64_t>(document.size());
        scan.val_documents += u < options.val_fraction;
        if (u < scan.min_u) scan.min_u = u, scan.min_index = index;
        if (u > scan.max_u) scan.max_u = u, scan.max_index = index;
        if (sample_is_everything) {
          if (scan.document_bytes <= options.tokenizer_sample_bytes) {
            sample.push_back(document);
          } else {
            sample_is_everything = false;
            std::vector<std::string>().swap(sample);
          }
        }
        return Status();
      }));
  DatasetManifest manifest;
  manifest.val_fraction = options.val_fraction;
  manifest.shard_tokens = options.shard_tokens;
  for (size_t f = 0; f < records.size(); ++f) {
    summary.input_bytes += records[f].bytes;
    manifest.inputs.push_back({summary.input_files[f], records[f].bytes, records[f].checksum});
  }
  summary.documents = scan.documents;
  summary.document_bytes = scan.document_bytes;
  if (scan.documents == 0) {
    return invalid_argument_error("empty corpus: {} input file(s), {} bytes, no document with text; hint: pass text "
                                  "files with at least one line that is not blank",
                                  summary.input_files.size(), summary.input_bytes);
  }
  if (options.after_first_pass) options.after_first_pass();

  // The manifest goes first, before anything else in the directory changes: at every instant of an
  // interrupted re-prepare the directory then has no manifest (which TokenDataset::open refuses)
  // rather than an old one beside a new tokenizer or new shards. It comes back last, after every
  // shard it names and the tokenizer are durable.
  TESSERA_RETURN_IF_ERROR(remove_manifest(options.out_dir));

  // The tokenizer: trained on a sample of at most tokenizer_sample_bytes of documents, or an existing
  // model copied beside the shards so that the directory is self-contained. The sample is every
  // document when they all fit; otherwise a document is in it when XXH3-64(document, kSampleSeed) / 2^64
  // < budget / document bytes and it still fits the budget (a function of the inputs alone).
  summary.tokenizer_path = options.out_dir + "/" + kDatasetTokenizerFile;
  if (train_tokenizer) {
    if (!sample_is_everything) {
      const double keep = static_cast<double>(options.tokenizer_sample_bytes) / static_cast<double>(scan.document_bytes);
      int64_t sample_bytes = 0;
      TESSERA_RETURN_IF_ERROR(for_each_document(
          summary.input_files, chunk_bytes, &records, [&](const std::string& document, int64_t) {
            const auto size = static_cast<int64_t>(document.size());
            if (unit_hash(document, kSampleSeed) < keep && sample_bytes + size <= options.tokenizer_sample_bytes) {
              sample.push_back(document);
              sample_bytes += size;
            }
            return Status();
          }));
    }
    summary.tokenizer_sample_documents = static_cast<int64_t>(sample.size());
    for (const std::string& document : sample) summary.tokenizer_sample_bytes += static_cast<int64_t>(document.size());
    TESSERA_RETURN_IF_ERROR(Tokenizer::train_on_texts(sample, options.out_dir + "/tokenizer", options.vocab_size));
    std::vector<std::string>().swap(sample);
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

  ShardWriter train(options.out_dir, "train", summary.vocab_size, options.shard_tokens, summary.train, manifest.train);
  ShardWriter val(options.out_dir, "val", summary.vocab_size, options.shard_tokens, summary.val, manifest.val);
  // The last pass: every document encoded into its split's stream, in corpus order.
  const ValRule rule(scan, options.val_fraction);
  TESSERA_RETURN_IF_ERROR(for_each_document(
      summary.input_files, chunk_bytes, &records, [&](const std::string& document, int64_t index) {
        return (rule.is_val(document, index) ? val : train).append(tokenizer.encode(document), summary.eos_id);
      }));
  TESSERA_RETURN_IF_ERROR(train.finish());
  TESSERA_RETURN_IF_ERROR(val.finish());
  TESSERA_RETURN_IF_ERROR(remove_stale_shards(options.out_dir, "train", summary.train.shards.size()));
  TESSERA_RETURN_IF_ERROR(remove_stale_shards(options.out_dir, "val", summary.val.shards.size()));

  TESSERA_ASSIGN_OR_RETURN(std::string model_bytes, read_file(summary.tokenizer_path));
  manifest.vocab_size = summary.vocab_size;
  manifest.eos_id = summary.eos_id;
  manifest.tokenizer_checksum = hash_bytes(model_bytes);
  if (summary.trained_tokenizer) {
    manifest.tokenizer_sample = TokenizerSampleEntry{summary.tokenizer_sample_documents, summary.tokenizer_sample_bytes,
                                                     options.tokenizer_sample_bytes};
  }
  TESSERA_RETURN_IF_ERROR(
      write_file_atomic(options.out_dir + "/" + kDatasetManifestFile, dataset_manifest_json(manifest)));
  return summary;
}

}  // namespace

StatusOr<PrepareSummary> prepare_dataset(const PrepareOptions& options) {
  TESSERA_RETURN_IF_ERROR(check_options(options));
  PrepareSummary summary;
  TESSERA_ASSIGN_OR_RETURN(summary.input_files, list_corpus_files(options.inputs));
  TESSERA_RETURN_IF_ERROR(check_out_apart_from_inputs(options));
  if (!options.tokenizer.empty()) {
    if (const Status loaded = Tokenizer::load(options.tokenizer).status(); !loaded.ok()) {
      return loaded.with_context("--tokenizer");
    }
  }
  // A failed prepare leaves no empty directory of its own making behind.
  std::error_code error;
  const bool out_existed = std::filesystem::exists(options.out_dir, error);
  auto prepared = prepare_into(options, std::move(summary));
  if (!prepared.ok() && !out_existed && std::filesystem::is_empty(options.out_dir, error) && !error) {
    std::filesystem::remove(options.out_dir, error);
  }
  return prepared;
}

}  // namespace tessera
