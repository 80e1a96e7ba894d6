// DatasetManifest: <dir>/dataset.json of a prepared data directory (docs/data_format.md), the record
// of what `tessera data prepare` wrote: the tokenizer's checksum, every input file, and for each split
// its documents, tokens and shards, each shard with its size, token count, payload checksum and
// sample checksum. Reading it checks every field; TokenDataset::open then checks the files against it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/data/token_shard.h"

namespace tessera {

inline constexpr const char* kDatasetManifestFile = "dataset.json";
inline constexpr const char* kDatasetTokenizerFile = "tokenizer.model";
inline constexpr std::string_view kDatasetManifestFormat = "tessera.token_dataset";
// 2: shards carry "bytes" and "sample_checksum"; every field is required and checked.
inline constexpr int64_t kDatasetManifestVersion = 2;

// "<split>_000.bin": the file name of shard `index` of a split.
std::string token_shard_file_name(const std::string& split, int64_t index);

// One shard file as prepare wrote it.
struct DatasetShardEntry {
  std::string file;              // "<split>_NNN.bin", NNN = its index in the split from 000
  int64_t bytes = 0;             // file size = 64 + tokens · dtype size
  int64_t tokens = 0;            // = the header's token count
  uint64_t checksum = 0;         // XXH3-64 of the payload = the header's payload checksum
  uint64_t sample_checksum = 0;  // token_shard_sample_checksum of the file
};

struct DatasetSplitEntry {
  int64_t documents = 0;
  int64_t tokens = 0;  // sum of the shards' tokens; each document is followed by one eos
  std::vector<DatasetShardEntry> shards;
};

struct DatasetInputEntry {
  std::string path;
  int64_t bytes = 0;
  uint64_t checksum = 0;  // XXH3-64 of the file's bytes
};

// What the tokenizer was trained on (absent when prepare reused a tokenizer).
struct TokenizerSampleEntry {
  int64_t documents = 0;
  int64_t bytes = 0;
  int64_t budget_bytes = 0;
};

struct DatasetManifest {
  int64_t vocab_size = 0;  // of the tokenizer = every shard's V; dtype follows (token_dtype_for_vocab)
  int32_t eos_id = -1;
  uint64_t tokenizer_checksum = 0;  // XXH3-64 of tokenizer.model
  double val_fraction = 0;
  int64_t shard_tokens = 0;
  std::vector<DatasetInputEntry> inputs;
  std::optional<TokenizerSampleEntry> tokenizer_sample;
  DatasetSplitEntry train;
  DatasetSplitEntry val;

  // "train" or "val" (CHECKed).
  const DatasetSplitEntry& split(std::string_view name) const;
};

// The entry that describes `shard` (an open shard file named `file`).
DatasetShardEntry dataset_shard_entry(const std::string& file, const TokenShard& shard);

// The manifest as dataset.json text: sorted keys, two-space indent, a trailing newline. Adds the
// fields that follow from the others ("format", "version", "dtype", "shard_format_version", "tokenizer").
std::string dataset_manifest_json(const DatasetManifest& manifest);

// Parses dataset.json text of the directory `dir` (named in errors) and checks every field: format,
// version (an older or newer one is refused with a hint), types and ranges, no unknown field, the
// dtype and shard format that follow from the vocab size, exactly the splits "train" and "val", each
// split's shards named <split>_000.bin, _001.bin, ... in order, each shard's bytes = 64 + tokens · dtype
// size, every shard but the last of a split exactly shard_tokens tokens, the split's tokens = the sum
// of its shards', and documents consistent with tokens and val_fraction. Each failure is one DataLoss
// line: "data 'DIR': dataset.json FIELD: expected ..., found ...; hint: run tessera data prepare ...".
StatusOr<DatasetManifest> parse_dataset_manifest(std::string_view text, const std::string& dir);

// Reads and parses <dir>/dataset.json. Missing beside shards or a tokenizer: the directory was not
// completely prepared (an interrupted prepare removes it first and writes it last), a DataLoss error
// with a hint; missing with neither: NotFound, not a data directory.
StatusOr<DatasetManifest> read_dataset_manifest(const std::string& dir);

// The directory holds every shard the manifest lists and no other *.bin file (a stray or left-over
// shard, e.g. one after a gap in the numbering).
Status check_dataset_files(const std::string& dir, const DatasetManifest& manifest);

// `shard` (opened from <dir>/<entry.file>, which is shard `index` of `split`) is the file the manifest
// describes: its size, token count, payload checksum, vocab size, dtype and sample checksum. Reads the
// header and at most 128 KiB; what this cannot see (a byte changed in the middle of the payload, the
// header and the sampled ends left intact) only the payload checksum finds (TokenShard::verify_payload).
Status check_shard_against_manifest(const std::string& dir, const DatasetManifest& manifest,
                                    const std::string& split, size_t index, const TokenShard& shard);

// For a shard looked at on its own (`tessera data inspect FILE`): `file` (a name inside `dir`) is
// listed in `manifest`, in either split, and `shard` matches its entry (check_shard_against_manifest).
Status check_shard_listed(const std::string& dir, const DatasetManifest& manifest, const std::string& file,
                          const TokenShard& shard);

}  // namespace tessera
