#include "tessera/ckpt/checkpoint_format.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "tessera/core/check.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

using Json = nlohmann::ordered_json;

// Checked product of a shape; nullopt if a dim is negative or the product overflows int64.
std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
    if (error != std::errc() || end != hex.data() + 2 * i + 2) return std::nullopt;
    out[i] = static_cast<char>(value);
  }
  return out;
}

std::optional<uint64_t> parse_hash_hex(std::string_view text) {
  if (text.size() != 18 || text.substr(0, 2) != "0x") return std::nullopt;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data() + 2, text.data() + text.size(), value, 16);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// JSON strings must be UTF-8; anything else (a string scalar is arbitrary bytes) is stored as
// {"hex": "..."} so that it round-trips exactly.
Json text_to_json(const std::string& text) {
  Json value = text;
  try {
    (void)value.dump();
    return value;
  } catch (const Json::type_error&) {
    return Json{{"hex", to_hex(text)}};
  }
}

Status json_to_text(const Json& value, const std::string& where, std::string* out) {
  if (value.is_string()) {
    *out = value.get<std::string>();
    return Status();
  }
  if (value.is_object() && value.size() == 1 && value.contains("hex") && value["hex"].is_string()) {
    if (auto bytes = from_hex(value["hex"].get<std::string>())) {
      *out = std::move(*bytes);
      return Status();
    }
  }
  return data_loss_error("{}: expected a string or {{\"hex\": ...}}, found {}", where, value.dump());
}

// Typed field access with messages that name the field and what was found.
Status get_field(const Json& object, const char* key, const std::string& where, const Json** out) {
  if (!object.is_object()) return data_loss_error("{}: expected an object, found {}", where, object.type_name());
  auto it = object.find(key);
  if (it == object.end()) return data_loss_error("{}: field '{}' missing", where, key);
  *out = &*it;
  return Status();
}

Status get_int(const Json& object, const char* key, const std::string& where, int64_t* out) {
  const Json* value = nullptr;
  TESSERA_RETURN_IF_ERROR(get_field(object, key, where, &value));
  if (!value->is_number_integer()) {
    return data_loss_error("{}: field '{}' must be an integer, found {}", where, key, value->dump());
  }
  if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return data_loss_error("{}: field '{}' = {} does not fit int64", where, key, value->dump());
  }
  *out = value->get<int64_t>();
  return Status();
}

Status get_uint(const Json& object, const char* key, const std::string& where, uint64_t* out) {
  const Json* value = nullptr;
  TESSERA_RETURN_IF_ERROR(get_field(object, key, where, &value));
  if (!value->is_number_unsigned()) {
    return data_loss_error("{}: field '{}' must be a non-negative integer, found {}", where, key,
                           value->dump());
  }
  *out = value->get<uint64_t>();
  return Status();
}

Status get_string(const Json& object, const char* key, const std::string& where, std::string* out) {
  const Json* value = nullptr;
  TESSERA_RETURN_IF_ERROR(get_field(object, key, where, &value));
  if (!value->is_string()) {
    return data_loss_error("{}: field '{}' must be a string, found {}", where, key, value->dump());
  }
  *out = value->get<std::string>();
  return Status();
}

Status get_array(const Json& object, const char* key, const std::string& where, const Json** out) {
  TESSERA_RETURN_IF_ERROR(get_field(object, key, where, out));
  if (!(*out)->is_array()) {
    return data_loss_error("{}: field '{}' must be an array, found {}", where, key, (*out)->type_name());
  }
  return Status();
}

Status get_dims(const Json& object, const char* key, const std::string& where, std::vector<int64_t>* out) {
  const Json* array = nullptr;
  TESSERA_RETURN_IF_ERROR(get_array(object, key, where, &array));
  out->clear();
  for (const Json& d : *array) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 48)) {
      return data_loss_error("{}: field '{}' must hold integers in [0, 2^48], found {}", where, key,
                             array->dump());
    }
    out->push_back(d.get<int64_t>());
  }
  return Status();
}

Json chunk_to_json(const ChunkEntry& chunk) {
  return Json{{"offset", chunk.offset},           {"shape", chunk.shape},
              {"file", chunk.file},               {"byte_offset", chunk.byte_offset},
              {"byte_length", chunk.byte_length}, {"xxh3", hash_to_hex(chunk.xxh3)}};
}

Json scalar_to_json(const ScalarEntry& scalar) {
  Json out{{"name", scalar.name}, {"type", scalar_type_name(scalar.value)}};
  if (const auto* i = std::get_if<int64_t>(&scalar.value)) {
    out["value"] = *i;
  } else if (const auto* d = std::get_if<double>(&scalar.value)) {
    // "value" is for people (JSON has no NaN/Inf: null then); "bits" is what the reader trusts.
    out["value"] = *d;
    out["bits"] = hash_to_hex(std::bit_cast<uint64_t>(*d));
  } else {
    out["value"] = text_to_json(std::get<std::string>(scalar.value));
  }
  return out;
}

Status parse_chunk(const Json& json, const TensorEntry& tensor, const std::map<std::string, uint64_t>& files,
                   const std::string& where, ChunkEntry* chunk) {
  TESSERA_RETURN_IF_ERROR(get_dims(json, "offset", where, &chunk->offset));
  TESSERA_RETURN_IF_ERROR(get_dims(json, "shape", where, &chunk->shape));
  TESSERA_RETURN_IF_ERROR(get_string(json, "file", where, &chunk->file));
  TESSERA_RETURN_IF_ERROR(get_uint(json, "byte_offset", where, &chunk->byte_offset));
  TESSERA_RETURN_IF_ERROR(get_uint(json, "byte_length", where, &chunk->byte_length));
  std::string hash_text;
  TESSERA_RETURN_IF_ERROR(get_string(json, "xxh3", where, &hash_text));
  const auto hash = parse_hash_hex(hash_text);
  if (!hash) return data_loss_error("{}: xxh3 '{}' is not 0x followed by 16 hex digits", where, hash_text);
  chunk->xxh3 = *hash;
  const auto numel = checked_numel(chunk->shape);
  if (!numel) return data_loss_error("{}: shape {} overflows", where, shape_to_string(chunk->shape));
  const uint64_t expected_length = static_cast<uint64_t>(*numel) * dtype_size(tensor.dtype);
  if (chunk->byte_length != expected_length) {
    return data_loss_error("{}: byte_length {} != {} ({} x {} {})", where, chunk->byte_length,
                           expected_length, shape_to_string(chunk->shape), dtype_size(tensor.dtype),
                           dtype_name(tensor.dtype));
  }
  auto file = files.find(chunk->file);
  if (file == files.end()) {
    return data_loss_error("{}: file '{}' is not listed in data_files", where, chunk->file);
  }
  if (chunk->byte_offset > file->second || chunk->byte_length > file->second - chunk->byte_offset) {
    return data_loss_error("{}: bytes [{}, +{}) lie past the end of '{}' ({} bytes)", where,
                           chunk->byte_offset, chunk->byte_length, chunk->file, file->second);
  }
  return Status();
}

Status parse_tensor(const Json& json, const std::map<std::string, uint64_t>& files, const std::string& where,
                    ManifestScope scope, TensorEntry* tensor) {
  TESSERA_RETURN_IF_ERROR(get_string(json, "name", where, &tensor->name));
  const std::string named = fmt::format("{} ('{}')", where, tensor->name);
  std::string dtype;
  TESSERA_RETURN_IF_ERROR(get_string(json, "dtype", named, &dtype));
  if (!dtype_from_name(dtype, &tensor->dtype)) return data_loss_error("{}: unknown dtype '{}'", named, dtype);
  TESSERA_RETURN_IF_ERROR(get_dims(json, "shape", named, &tensor->shape));
  if (!checked_numel(tensor->shape)) {
    return data_loss_error("{}: shape {} overflows", named, shape_to_string(tensor->shape));
  }
  const Json* chunks = nullptr;
  TESSERA_RETURN_IF_ERROR(get_array(json, "chunks", named, &chunks));
  std::vector<std::vector<int64_t>> offsets, shapes;
  for (size_t i = 0; i < chunks->size(); ++i) {
    ChunkEntry chunk;
    TESSERA_RETURN_IF_ERROR(parse_chunk((*chunks)[i], *tensor, files, fmt::format("{}.chunks[{}]", named, i), &chunk));
    offsets.push_back(chunk.offset);
    shapes.push_back(chunk.shape);
    tensor->chunks.push_back(std::move(chunk));
  }
  if (scope == ManifestScope::kPart) return Status();  // tiled when the parts are merged
  Status tiled = check_chunks_tile(fmt::format("tensor '{}'", tensor->name), tensor->shape, offsets, shapes);
  if (!tiled.ok()) return Status(StatusCode::kDataLoss, tiled.message());
  return Status();
}

Status parse_scalar(const Json& json, const std::string& where, ScalarEntry* scalar) {
  TESSERA_RETURN_IF_ERROR(get_string(json, "name", where, &scalar->name));
  const std::string named = fmt::format("{} ('{}')", where, scalar->name);
  std::string type;
  TESSERA_RETURN_IF_ERROR(get_string(json, "type", named, &type));
  if (type == "i64") {
    int64_t value = 0;
    TESSERA_RETURN_IF_ERROR(get_int(json, "value", named, &value));
    scalar->value = value;
  } else if (type == "f64") {
    std::string bits_text;
    TESSERA_RETURN_IF_ERROR(get_string(json, "bits", named, &bits_text));
    const auto bits = parse_hash_hex(bits_text);
    if (!bits) return data_loss_error("{}: bits '{}' is not 0x followed by 16 hex digits", named, bits_text);
    scalar->value = std::bit_cast<double>(*bits);
  } else if (type == "string") {
    const Json* value = nullptr;
    TESSERA_RETURN_IF_ERROR(get_field(json, "value", named, &value));
    std::string text;
    TESSERA_RETURN_IF_ERROR(json_to_text(*value, named + ".value", &text));
    scalar->value = std::move(text);
  } else {
    return data_loss_error("{}: unknown scalar type '{}' (expected i64, f64 or string)", named, type);
  }
  return Status();
}

StatusOr<Manifest> parse_manifest(const Json& json, ManifestScope scope) {
  Manifest manifest;
  const std::string where = "manifest";
  std::string format;
  TESSERA_RETURN_IF_ERROR(get_string(json, "format", where, &format));
  if (format != kCheckpointFormatName) {
    return data_loss_error("manifest: format '{}' != '{}'", format, kCheckpointFormatName);
  }
  int64_t version = 0;
  TESSERA_RETURN_IF_ERROR(get_int(json, "format_version", where, &version));
  if (version != kCheckpointFormatVersion) {
    return data_loss_error("manifest: format_version {} != {} (the version this build reads); hint: "
                           "read it with the tessera build that wrote it",
                           version, kCheckpointFormatVersion);
  }
  manifest.format_version = static_cast<int>(version);
  TESSERA_RETURN_IF_ERROR(get_int(json, "step", where, &manifest.step));
  if (manifest.step < 0) return data_loss_error("manifest: step {} is negative", manifest.step);
  const Json* created = nullptr;
  TESSERA_RETURN_IF_ERROR(get_field(json, "created_unix_s", where, &created));
  if (!created->is_number()) return data_loss_error("manifest: created_unix_s must be a number");
  manifest.created_unix_s = created->get<double>();

  const Json* metadata = nullptr;
  TESSERA_RETURN_IF_ERROR(get_field(json, "metadata", where, &metadata));
  if (!metadata->is_object()) return data_loss_error("manifest: metadata must be an object");
  for (const auto& [key, value] : metadata->items()) {
    TESSERA_RETURN_IF_ERROR(json_to_text(value, fmt::format("manifest: metadata '{}'", key), &manifest.metadata[key]));
  }

  const Json* files = nullptr;
  TESSERA_RETURN_IF_ERROR(get_array(json, "data_files", where, &files));
  std::map<std::string, uint64_t> file_bytes;
  for (size_t i = 0; i < files->size(); ++i) {
    const std::string at = fmt::format("manifest: data_files[{}]", i);
    DataFileEntry file;
    TESSERA_RETURN_IF_ERROR(get_string((*files)[i], "name", at, &file.name));
    TESSERA_RETURN_IF_ERROR(get_uint((*files)[i], "bytes", at, &file.bytes));
    // Data files live inside the step directory: a name must not climb out of it.
    if (file.name.empty() || file.name.find('/') != std::string::npos || file.name[0] == '.') {
      return data_loss_error("{}: name '{}' is not a plain file name", at, file.name);
    }
    if (!file_bytes.emplace(file.name, file.bytes).second) {
      return data_loss_error("{}: '{}' listed twice", at, file.name);
    }
    manifest.data_files.push_back(std::move(file));
  }

  const Json* tensors = nullptr;
  TESSERA_RETURN_IF_ERROR(get_array(json, "tensors", where, &tensors));
  std::set<std::string> names;
  for (size_t i = 0; i < tensors->size(); ++i) {
    TensorEntry tensor;
    TESSERA_RETURN_IF_ERROR(parse_tensor((*tensors)[i], file_bytes, fmt::format("manifest: tensors[{}]", i), scope, &tensor));
    if (!names.insert(tensor.name).second) return data_loss_error("manifest: tensor '{}' listed twice", tensor.name);
    manifest.tensors.push_back(std::move(tensor));
  }

  const Json* scalars = nullptr;
  TESSERA_RETURN_IF_ERROR(get_array(json, "scalars", where, &scalars));
  names.clear();
  for (size_t i = 0; i < scalars->size(); ++i) {
    ScalarEntry scalar;
    TESSERA_RETURN_IF_ERROR(parse_scalar((*scalars)[i], fmt::format("manifest: scalars[{}]", i), &scalar));
    if (!names.insert(scalar.name).second) return data_loss_error("manifest: scalar '{}' listed twice", scalar.name);
    manifest.scalars.push_back(std::move(scalar));
  }
  return manifest;
}

}  // namespace

std::string step_dir_name(int64_t step) { return fmt::format("{}{:08d}", kStepDirPrefix, step); }

std::optional<int64_t> parse_step_dir_name(std::string_view name) {
  if (name.substr(0, kStepDirPrefix.size()) != kStepDirPrefix) return std::nullopt;
  const std::string_view digits = name.substr(kStepDirPrefix.size());
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t step = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (error != std::errc() || end != digits.data() + digits.size() || step < 0) return std::nullopt;
  return step;
}

std::string data_file_name(int rank) { return fmt::format("rank_{:05d}.bin", rank); }

uint64_t TensorEntry::nbytes() const {
  uint64_t total = 0;
  for (const ChunkEntry& chunk : chunks) total += chunk.byte_length;
  return total;
}

std::string_view scalar_type_name(const ScalarValue& value) {
  switch (value.index()) {
    case 0: return "i64";
    case 1: return "f64";
    default: return "string";
  }
}

std::string manifest_to_json(const Manifest& manifest) {
  // Written by hand around compact per-item dumps so that the file reads (and greps) one tensor header
  // or chunk per line even for thousands of chunks; any JSON parser reads it.
  auto compact = [](const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); };
  Json metadata = Json::object();
  for (const auto& [key, value] : manifest.metadata) metadata[key] = text_to_json(value);
  std::string out = "{\n";
  out += fmt::format(" \"format\": {},\n", compact(kCheckpointFormatName));
  out += fmt::format(" \"format_version\": {},\n", manifest.format_version);
  out += fmt::format(" \"step\": {},\n", manifest.step);
  out += fmt::format(" \"created_unix_s\": {},\n", compact(manifest.created_unix_s));
  out += fmt::format(" \"metadata\": {},\n", compact(metadata));
  out += " \"data_files\": [";
  for (size_t i = 0; i < manifest.data_files.size(); ++i) {
    const DataFileEntry& file = manifest.data_files[i];
    out += fmt::format("{}\n  {}", i == 0 ? "" : ",", compact({{"name", file.name}, {"bytes", file.bytes}}));
  }
  out += "\n ],\n \"tensors\": [";
  for (size_t t = 0; t < manifest.tensors.size(); ++t) {
    const TensorEntry& tensor = manifest.tensors[t];
    const Json head{{"name", tensor.name}, {"dtype", dtype_name(tensor.dtype)}, {"shape", tensor.shape}};
    const std::string head_text = compact(head);  // {"name":...,"shape":[...]}: reopen it for "chunks"
    out += fmt::format("{}\n  {},\"chunks\":[", t == 0 ? "" : ",", head_text.substr(0, head_text.size() - 1));
    for (size_t c = 0; c < tensor.chunks.size(); ++c) {
      out += fmt::format("{}\n   {}", c == 0 ? "" : ",", compact(chunk_to_json(tensor.chunks[c])));
    }
    out += "]}";
  }
  out += "\n ],\n \"scalars\": [";
  for (size_t i = 0; i < manifest.scalars.size(); ++i) {
    out += fmt::format("{}\n  {}", i == 0 ? "" : ",", compact(scalar_to_json(manifest.scalars[i])));
  }
  out += "\n ]\n}\n";
  return out;
}

StatusOr<Manifest> manifest_from_json(std::string_view text, ManifestScope scope) {
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return data_loss_error("manifest: not valid JSON ({} bytes)", text.size());
  return parse_manifest(json, scope);
}

Status check_chunks_tile(const std::string& what, const std::vector<int64_t>& shape,
                         const std::vector<std::vector<int64_t>>& offsets,
                         const std::vector<std::vector<int64_t>>& shapes) {
  TESSERA_CHECK(offsets.size() == shapes.size());
  const size_t rank = shape.size();
  int64_t covered = 0;
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (offsets[i].size() != rank || shapes[i].size() != rank) {
      return invalid_argument_error("{}: chunk {} has rank {} (offset {}, shape {}) != tensor rank {}", what, i,
                                    shapes[i].size(), shape_to_string(offsets[i]), shape_to_string(shapes[i]),
                                    rank);
    }
    for (size_t d = 0; d < rank; ++d) {
      if (offsets[i][d] < 0 || shapes[i][d] < 0 || offsets[i][d] > shape[d] - shapes[i][d]) {
        return invalid_argument_error("{}: chunk {} (offset {}, shape {}) lies outside the tensor {}", what, i,
                                      shape_to_string(offsets[i]), shape_to_string(shapes[i]),
                                      shape_to_string(shape));
      }
    }
    covered += shape_numel(shapes[i]);
  }
  // Pairwise disjointness: two boxes overlap iff their intervals overlap in every dim.
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (shape_numel(shapes[i]) == 0) continue;
    for (size_t j = i + 1; j < offsets.size(); ++j) {
      if (shape_numel(shapes[j]) == 0) continue;
      bool overlap = true;
      for (size_t d = 0; d < rank && overlap; ++d) {
        overlap = offsets[i][d] < offsets[j][d] + shapes[j][d] && offsets[j][d] < offsets[i][d] + shapes[i][d];
      }
      if (overlap) {
        return invalid_argument_error("{}: chunks {} (offset {}) and {} (offset {}) overlap", what, i,
                                      shape_to_string(offsets[i]), j, shape_to_string(offsets[j]));
      }
    }
  }
  if (covered != shape_numel(shape)) {
    return invalid_argument_error("{}: chunks cover {} of {} elements of {}; hint: every shard of the tensor "
                                  "must be written",
                                  what, covered, shape_numel(shape), shape_to_string(shape));
  }
  return Status();
}

std::string commit_marker_text(uint64_t manifest_xxh3) {
  return fmt::format("{}\n{} xxh3 {}\n", kCommitMagic, kManifestFileName, hash_to_hex(manifest_xxh3));
}

StatusOr<uint64_t> parse_commit_marker(std::string_view text) {
  const std::string prefix = fmt::format("{}\n{} xxh3 ", kCommitMagic, kManifestFileName);
  if (text.size() != prefix.size() + 19 || text.substr(0, prefix.size()) != prefix || text.back() != '\n') {
    return data_loss_error("COMMIT marker is malformed ({} bytes; expected the line '{}' then '{} xxh3 "
                           "0x<16 hex digits>')",
                           text.size(), kCommitMagic, kManifestFileName);
  }
  const auto hash = parse_hash_hex(text.substr(prefix.size(), 18));
  if (!hash) return data_loss_error("COMMIT marker: checksum '{}' is not hex", text.substr(prefix.size(), 18));
  return *hash;
}

}  // namespace tessera
