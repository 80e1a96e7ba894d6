#include "tessera/data/dataset_manifest.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tessera/core/check.h"
#include "tessera/core/file.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

using nlohmann::json;

constexpr int64_t kMaxVocab = int64_t{1} << 31;

// One line: "data 'DIR': dataset.json FIELD: WHAT; hint: run tessera data prepare --out DIR again".
Status manifest_error(const std::string& dir, const std::string& field, const std::string& what) {
  return data_loss_error("data '{}': dataset.json {}: {}; hint: run tessera data prepare --out {} again", dir, field,
                         what, dir);
}

// How a JSON value is described in "found ..." (short, one line).
std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

// Reads the fields of one JSON object, each once, and then refuses any field it did not read.
class FieldReader {
 public:
  FieldReader(const json& object, std::string path, const std::string& dir)
      : object_(object), path_(std::move(path)), dir_(dir) {}

  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  StatusOr<const json*> get(const std::string& key) {
    read_.insert(key);
    const auto it = object_.find(key);
    if (it == object_.end()) return manifest_error(dir_, field(key), "missing");
    return &*it;
  }
  bool has(const std::string& key) const { return object_.contains(key); }

  // An integer in [min, max].
  StatusOr<int64_t> integer(const std::string& key, int64_t min, int64_t max) {
    TESSERA_ASSIGN_OR_RETURN(const json* value, get(key));
    if (!value->is_number_integer() || (value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX)) {
      return manifest_error(dir_, field(key), fmt::format("expected an integer, found {}", describe(*value)));
    }
    const auto found = value->get<int64_t>();
    if (found < min || found > max) {
      return manifest_error(dir_, field(key), fmt::format("expected {}..{}, found {}", min, max, found));
    }
    return found;
  }
  StatusOr<std::string> string(const std::string& key) {
    TESSERA_ASSIGN_OR_RETURN(const json* value, get(key));
    if (!value->is_string()) {
      return manifest_error(dir_, field(key), fmt::format("expected a string, found {}", describe(*value)));
    }
    return value->get<std::string>();
  }
  // A string that must equal `expected`.
  Status exact(const std::string& key, std::string_view expected) {
    TESSERA_ASSIGN_OR_RETURN(const std::string found, string(key));
    if (found != expected) {
      return manifest_error(dir_, field(key), fmt::format("expected \"{}\", found \"{}\"", expected, found));
    }
    return Status();
  }
  // A checksum as hash_to_hex writes it: "0x" and 16 lowercase hex digits.
  StatusOr<uint64_t> checksum(const std::string& key) {
    TESSERA_ASSIGN_OR_RETURN(const std::string text, string(key));
    const bool well_formed = text.size() == 18 && text.compare(0, 2, "0x") == 0 &&
                             text.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
    if (!well_formed) {
      return manifest_error(dir_, field(key), fmt::format("expected a checksum \"0x\" + 16 hex digits, found \"{}\"", text));
    }
    return std::stoull(text.substr(2), nullptr, 16);
  }
  StatusOr<const json*> object(const std::string& key) {
    TESSERA_ASSIGN_OR_RETURN(const json* value, get(key));
    if (!value->is_object()) {
      return manifest_error(dir_, field(key), fmt::format("expected an object, found {}", describe(*value)));
    }
    return value;
  }
  StatusOr<const json*> array(const std::string& key) {
    TESSERA_ASSIGN_OR_RETURN(const json* value, get(key));
    if (!value->is_array()) {
      return manifest_error(dir_, field(key), fmt::format("expected an array, found {}", describe(*value)));
    }
    return value;
  }

  // Call last: a field nobody read is unknown to this version.
  Status no_other_fields() const {
    for (const auto& item : object_.items()) {
      if (read_.count(item.key()) == 0) {
        return manifest_error(dir_, field(item.key()),
                              fmt::format("unknown field (dataset.json version {} has no such field)",
                                          kDatasetManifestVersion));
      }
    }
    return Status();
  }

 private:
  const json& object_;
  std::string path_;
  const std::string& dir_;
  std::set<std::string> read_;
};

StatusOr<FieldReader> object_at(const json& value, const std::string& path, const std::string& dir) {
  if (!value.is_object()) return manifest_error(dir, path, fmt::format("expected an object, found {}", describe(value)));
  return FieldReader(value, path, dir);
}

StatusOr<DatasetShardEntry> parse_shard(const json& value, const std::string& path, const std::string& dir) {
  TESSERA_ASSIGN_OR_RETURN(FieldReader reader, object_at(value, path, dir));
  DatasetShardEntry shard;
  TESSERA_ASSIGN_OR_RETURN(shard.file, reader.string("file"));
  TESSERA_ASSIGN_OR_RETURN(shard.bytes, reader.integer("bytes", kTokenShardHeaderSize, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(shard.tokens, reader.integer("tokens", 0, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(shard.checksum, reader.checksum("checksum"));
  TESSERA_ASSIGN_OR_RETURN(shard.sample_checksum, reader.checksum("sample_checksum"));
  TESSERA_RETURN_IF_ERROR(reader.no_other_fields());
  return shard;
}

// One split, checked on its own: shard names and order, sizes, the shard_tokens cut, token sum.
StatusOr<DatasetSplitEntry> parse_split(const json& value, const std::string& name, const DatasetManifest& manifest,
                                        const std::string& dir) {
  const std::string path = "splits." + name;
  TESSERA_ASSIGN_OR_RETURN(FieldReader reader, object_at(value, path, dir));
  DatasetSplitEntry split;
  TESSERA_ASSIGN_OR_RETURN(split.documents, reader.integer("documents", 0, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(split.tokens, reader.integer("tokens", 0, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(const json* shards, reader.array("shards"));
  TESSERA_RETURN_IF_ERROR(reader.no_other_fields());
  const auto width = static_cast<int64_t>(dtype_size(token_dtype_for_vocab(manifest.vocab_size)));
  int64_t sum = 0;
  for (size_t i = 0; i < shards->size(); ++i) {
    const std::string shard_path = fmt::format("{}.shards[{}]", path, i);
    TESSERA_ASSIGN_OR_RETURN(DatasetShardEntry shard, parse_shard((*shards)[i], shard_path, dir));
    const std::string expected_file = token_shard_file_name(name, static_cast<int64_t>(i));
    if (shard.file != expected_file) {
      return manifest_error(dir, shard_path + ".file", fmt::format("expected \"{}\" (shards are numbered from 000 "
                                                                   "without gaps), found \"{}\"",
                                                                   expected_file, shard.file));
    }
    const bool last = i + 1 == shards->size();
    if (last ? (shard.tokens < 1 || shard.tokens > manifest.shard_tokens) : shard.tokens != manifest.shard_tokens) {
      return manifest_error(dir, shard_path + ".tokens",
                            fmt::format("expected {} (shard_tokens{}), found {}",
                                        last ? fmt::format("1..{}", manifest.shard_tokens)
                                             : std::to_string(manifest.shard_tokens),
                                        last ? ", the last shard may hold fewer" : "", shard.tokens));
    }
    const int64_t bytes = static_cast<int64_t>(kTokenShardHeaderSize) + shard.tokens * width;
    if (shard.bytes != bytes) {
      return manifest_error(dir, shard_path + ".bytes",
                            fmt::format("expected {} (64-byte header + {} tokens x {} bytes), found {}", bytes,
                                        shard.tokens, width, shard.bytes));
    }
    sum += shard.tokens;
    split.shards.push_back(std::move(shard));
  }
  if (split.tokens != sum) {
    return manifest_error(dir, path + ".tokens",
                          fmt::format("expected {} (the sum of the tokens of its {} shard(s)), found {}", sum,
                                      split.shards.size(), split.tokens));
  }
  // Every document is followed by one eos, so a split has at least as many tokens as documents, and
  // tokens only when it has documents.
  if (split.documents > split.tokens || (split.documents == 0) != (split.tokens == 0)) {
    return manifest_error(dir, path + ".documents",
                          fmt::format("expected 1..{} (each document ends with an eos token){}, found {}",
                                      split.tokens, split.tokens == 0 ? ", or 0 for an empty split" : "",
                                      split.documents));
  }
  return split;
}

Status parse_version(FieldReader& reader, const std::string& dir) {
  TESSERA_ASSIGN_OR_RETURN(const json* value, reader.get("version"));
  if (!value->is_number_integer()) {
    return manifest_error(dir, "version", fmt::format("expected {}, found {}", kDatasetManifestVersion, describe(*value)));
  }
  const auto version = value->get<int64_t>();
  if (version == kDatasetManifestVersion) return Status();
  if (version >= 1 && version < kDatasetManifestVersion) {
    return manifest_error(dir, "version",
                          fmt::format("expected {}, found {}: the directory was prepared by an older tessera, "
                                      "whose manifest does not record each shard's size and sample checksum",
                                      kDatasetManifestVersion, version));
  }
  if (version > kDatasetManifestVersion) {
    return data_loss_error("data '{}': dataset.json version: expected {}, found {}: the directory was prepared by a "
                           "newer tessera; hint: use that tessera, or run tessera data prepare --out {} again",
                           dir, kDatasetManifestVersion, version, dir);
  }
  return manifest_error(dir, "version", fmt::format("expected {}, found {}", kDatasetManifestVersion, version));
}

}  // namespace

std::string token_shard_file_name(const std::string& split, int64_t index) {
  return fmt::format("{}_{:03d}.bin", split, index);
}

const DatasetSplitEntry& DatasetManifest::split(std::string_view name) const {
  TESSERA_CHECK(name == "train" || name == "val", "unknown split '{}'", name);
  return name == "train" ? train : val;
}

DatasetShardEntry dataset_shard_entry(const std::string& file, const TokenShard& shard) {
  return {file, shard.file_size(), shard.size(), shard.checksum(), shard.sample_checksum()};
}

std::string dataset_manifest_json(const DatasetManifest& manifest) {
  json inputs = json::array();
  for (const DatasetInputEntry& input : manifest.inputs) {
    inputs.push_back({{"path", input.path}, {"bytes", input.bytes}, {"checksum", hash_to_hex(input.checksum)}});
  }
  json splits = json::object();
  for (const std::string name : {"train", "val"}) {
    const DatasetSplitEntry& split = manifest.split(name);
    json shards = json::array();
    for (const DatasetShardEntry& shard : split.shards) {
      shards.push_back({{"file", shard.file},
                        {"bytes", shard.bytes},
                        {"tokens", shard.tokens},
                        {"checksum", hash_to_hex(shard.checksum)},
                        {"sample_checksum", hash_to_hex(shard.sample_checksum)}});
    }
    splits[name] = {{"documents", split.documents}, {"tokens", split.tokens}, {"shards", shards}};
  }
  json out = {
      {"format", std::string(kDatasetManifestFormat)},
      {"version", kDatasetManifestVersion},
      {"vocab_size", manifest.vocab_size},
      {"eos_id", manifest.eos_id},
      {"dtype", std::string(dtype_name(token_dtype_for_vocab(manifest.vocab_size)))},
      {"shard_format_version", kTokenShardVersion},
      {"tokenizer", kDatasetTokenizerFile},
      {"tokenizer_checksum", hash_to_hex(manifest.tokenizer_checksum)},
      {"val_fraction", manifest.val_fraction},
      {"shard_tokens", manifest.shard_tokens},
      {"inputs", inputs},
      {"splits", splits},
  };
  if (manifest.tokenizer_sample) {
    out["tokenizer_sample"] = {{"documents", manifest.tokenizer_sample->documents},
                               {"bytes", manifest.tokenizer_sample->bytes},
                               {"budget_bytes", manifest.tokenizer_sample->budget_bytes}};
  }
  return out.dump(2) + "\n";
}

StatusOr<DatasetManifest> parse_dataset_manifest(std::string_view text, const std::string& dir) {
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return manifest_error(dir, "text", "not valid JSON");
  if (!root.is_object()) return manifest_error(dir, "text", fmt::format("expected an object, found {}", describe(root)));
  FieldReader reader(root, "", dir);
  // The format and version first: a file of another kind or version is named as such, not by the
  // first field it lacks.
  TESSERA_RETURN_IF_ERROR(reader.exact("format", kDatasetManifestFormat));
  TESSERA_RETURN_IF_ERROR(parse_version(reader, dir));
  DatasetManifest manifest;
  TESSERA_ASSIGN_OR_RETURN(manifest.vocab_size, reader.integer("vocab_size", 1, kMaxVocab - 1));
  TESSERA_ASSIGN_OR_RETURN(const int64_t eos, reader.integer("eos_id", 0, manifest.vocab_size - 1));
  manifest.eos_id = static_cast<int32_t>(eos);
  TESSERA_RETURN_IF_ERROR(reader.exact("dtype", dtype_name(token_dtype_for_vocab(manifest.vocab_size))));
  TESSERA_RETURN_IF_ERROR(reader.integer("shard_format_version", kTokenShardVersion, kTokenShardVersion).status());
  TESSERA_RETURN_IF_ERROR(reader.exact("tokenizer", kDatasetTokenizerFile));
  TESSERA_ASSIGN_OR_RETURN(manifest.tokenizer_checksum, reader.checksum("tokenizer_checksum"));
  {
    TESSERA_ASSIGN_OR_RETURN(const json* value, reader.get("val_fraction"));
    if (!value->is_number() || !(value->get<double>() >= 0.0 && value->get<double>() < 1.0)) {
      return manifest_error(dir, "val_fraction", fmt::format("expected a number in [0, 1), found {}", describe(*value)));
    }
    manifest.val_fraction = value->get<double>();
  }
  TESSERA_ASSIGN_OR_RETURN(manifest.shard_tokens, reader.integer("shard_tokens", 1, INT64_MAX));

  TESSERA_ASSIGN_OR_RETURN(const json* inputs, reader.array("inputs"));
  if (inputs->empty()) return manifest_error(dir, "inputs", "expected at least one input file, found none");
  for (size_t i = 0; i < inputs->size(); ++i) {
    TESSERA_ASSIGN_OR_RETURN(FieldReader input, object_at((*inputs)[i], fmt::format("inputs[{}]", i), dir));
    DatasetInputEntry entry;
    TESSERA_ASSIGN_OR_RETURN(entry.path, input.string("path"));
    TESSERA_ASSIGN_OR_RETURN(entry.bytes, input.integer("bytes", 0, INT64_MAX));
    TESSERA_ASSIGN_OR_RETURN(entry.checksum, input.checksum("checksum"));
    TESSERA_RETURN_IF_ERROR(input.no_other_fields());
    if (entry.path.empty()) return manifest_error(dir, input.field("path"), "expected a file path, found \"\"");
    manifest.inputs.push_back(std::move(entry));
  }

  TESSERA_ASSIGN_OR_RETURN(const json* splits, reader.object("splits"));
  for (const auto& item : splits->items()) {
    if (item.key() != "train" && item.key() != "val") {
      return manifest_error(dir, "splits." + item.key(), "unknown split (expected only \"train\" and \"val\")");
    }
  }
  for (const std::string name : {"train", "val"}) {
    const auto it = splits->find(name);
    if (it == splits->end()) return manifest_error(dir, "splits." + name, "missing");
    DatasetSplitEntry& split = name == "train" ? manifest.train : manifest.val;
    TESSERA_ASSIGN_OR_RETURN(split, parse_split(*it, name, manifest, dir));
  }
  const int64_t documents = manifest.train.documents + manifest.val.documents;
  if (manifest.train.documents == 0) {
    return manifest_error(dir, "splits.train.documents", "expected at least 1, found 0");
  }
  // prepare's split rule: no val without a val fraction; both splits non-empty when it can.
  if (manifest.val_fraction == 0.0 && manifest.val.documents != 0) {
    return manifest_error(dir, "splits.val.documents",
                          fmt::format("expected 0 (val_fraction is 0), found {}", manifest.val.documents));
  }
  if (manifest.val_fraction > 0.0 && documents >= 2 && manifest.val.documents == 0) {
    return manifest_error(dir, "splits.val.documents",
                          fmt::format("expected at least 1 (val_fraction {} and {} documents), found 0",
                                      manifest.val_fraction, documents));
  }

  if (reader.has("tokenizer_sample")) {
    TESSERA_ASSIGN_OR_RETURN(const json* value, reader.object("tokenizer_sample"));
    FieldReader sample(*value, "tokenizer_sample", dir);
    TokenizerSampleEntry entry;
    TESSERA_ASSIGN_OR_RETURN(entry.budget_bytes, sample.integer("budget_bytes", 1, INT64_MAX));
    TESSERA_ASSIGN_OR_RETURN(entry.documents, sample.integer("documents", 1, documents));
    TESSERA_ASSIGN_OR_RETURN(entry.bytes, sample.integer("bytes", 1, entry.budget_bytes));
    TESSERA_RETURN_IF_ERROR(sample.no_other_fields());
    manifest.tokenizer_sample = entry;
  }
  TESSERA_RETURN_IF_ERROR(reader.no_other_fields());
  return manifest;
}

StatusOr<DatasetManifest> read_dataset_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kDatasetManifestFile;
  if (!path_exists(path)) {
    // Shards or a tokenizer without a manifest: a prepare that did not finish. Neither: not a data directory.
    bool prepared_in_part = path_exists(dir + "/" + kDatasetTokenizerFile);
    std::error_code error;
    for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end && !prepared_in_part;
         it.increment(error)) {
      prepared_in_part = it->path().extension() == ".bin";
    }
    if (!prepared_in_part) {
      return not_found_error("data '{}': not a data directory (no dataset.json, no shards); hint: make one with "
                             "tessera data prepare --input TEXT --out {}",
                             dir, dir);
    }
    return data_loss_error("data '{}': dataset.json is missing, so the directory was not completely prepared (an "
                           "interrupted tessera data prepare?); hint: run tessera data prepare --out {} again",
                           dir, dir);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  return parse_dataset_manifest(text, dir);
}

Status check_dataset_files(const std::string& dir, const DatasetManifest& manifest) {
  std::set<std::string> listed;
  for (const std::string split : {"train", "val"}) {
    const auto& shards = manifest.split(split).shards;
    for (size_t i = 0; i < shards.size(); ++i) {
      if (!path_exists(dir + "/" + shards[i].file)) {
        return data_loss_error("data '{}': {} is missing (dataset.json lists it as splits.{}.shards[{}]); hint: run "
                               "tessera data prepare --out {} again",
                               dir, shards[i].file, split, i, dir);
      }
      listed.insert(shards[i].file);
    }
  }
  std::error_code error;
  std::vector<std::string> stray;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".bin") == 0 && listed.count(name) == 0) {
      stray.push_back(name);
    }
  }
  if (error) return io_error("data '{}': cannot list the directory: {}", dir, error.message());
  if (!stray.empty()) {
    std::sort(stray.begin(), stray.end());
    return data_loss_error("data '{}': {} is not a shard dataset.json lists ({} .bin file(s) not listed; the train "
                           "split has {} shard(s), val {}): a stray or left-over shard; hint: remove it, or run "
                           "tessera data prepare --out {} again",
                           dir, stray.front(), stray.size(), manifest.train.shards.size(), manifest.val.shards.size(),
                           dir);
  }
  return Status();
}

Status check_shard_against_manifest(const std::string& dir, const DatasetManifest& manifest,
                                    const std::string& split, size_t index, const TokenShard& shard) {
  const DatasetShardEntry& entry = manifest.split(split).shards.at(index);
  const std::string field = fmt::format("splits.{}.shards[{}]", split, index);
  // One line per mismatch: the file, what the file has, what dataset.json says.
  const auto mismatch = [&](const std::string& what, const std::string& found, const std::string& expected,
                            const std::string& key) {
    return data_loss_error("data '{}': {}: {} {} in the file, dataset.json {} expects {}; the file is not the "
                           "shard tessera data prepare wrote here (replaced, copied over or edited?); hint: run "
                           "tessera data prepare --out {} again",
                           dir, entry.file, what, found, key, expected, dir);
  };
  if (shard.file_size() != entry.bytes) {
    return mismatch("size", std::to_string(shard.file_size()) + " bytes", std::to_string(entry.bytes), field + ".bytes");
  }
  if (shard.size() != entry.tokens) {
    return mismatch("token count", std::to_string(shard.size()), std::to_string(entry.tokens), field + ".tokens");
  }
  if (shard.vocab_size() != manifest.vocab_size) {
    return mismatch("vocab size", std::to_string(shard.vocab_size()), std::to_string(manifest.vocab_size),
                    "vocab_size");
  }
  if (shard.dtype() != token_dtype_for_vocab(manifest.vocab_size)) {
    return mismatch("dtype", std::string(dtype_name(shard.dtype())),
                    std::string(dtype_name(token_dtype_for_vocab(manifest.vocab_size))), "dtype");
  }
  if (shard.checksum() != entry.checksum) {
    return mismatch("payload checksum", hash_to_hex(shard.checksum()), hash_to_hex(entry.checksum), field + ".checksum");
  }
  const uint64_t sample = shard.sample_checksum();
  if (sample != entry.sample_checksum) {
    return mismatch("sample checksum (header, first and last 64 KiB)", hash_to_hex(sample),
                    hash_to_hex(entry.sample_checksum), field + ".sample_checksum");
  }
  return Status();
}

Status check_shard_listed(const std::string& dir, const DatasetManifest& manifest, const std::string& file,
                          const TokenShard& shard) {
  for (const std::string split : {"train", "val"}) {
    const auto& shards = manifest.split(split).shards;
    for (size_t i = 0; i < shards.size(); ++i) {
      if (shards[i].file == file) return check_shard_against_manifest(dir, manifest, split, i, shard);
    }
  }
  return data_loss_error("data '{}': {} is not a shard dataset.json lists (the train split has {} shard(s), val {}): "
                         "a stray or left-over shard; hint: remove it, or run tessera data prepare --out {} again",
                         dir, file, manifest.train.shards.size(), manifest.val.shards.size(), dir);
}

}  // namespace tessera
