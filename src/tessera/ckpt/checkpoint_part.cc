#include "tessera/ckpt/checkpoint_part.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <variant>

#include "tessera/core/check.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

using Json = nlohmann::ordered_json;

// The status code whose status_code_name is `name`; kInternal for a name this build does not know.
StatusCode status_code_from_name(std::string_view name) {
  for (int code = static_cast<int>(StatusCode::kInvalidArgument); code <= static_cast<int>(StatusCode::kInternal);
       ++code) {
    if (name == status_code_name(static_cast<StatusCode>(code))) return static_cast<StatusCode>(code);
  }
  return StatusCode::kInternal;
}

std::string scalar_text(const ScalarValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return fmt::format("i64 {}", *i);
  if (const auto* d = std::get_if<double>(&value)) {
    return fmt::format("f64 {} (bits {})", *d, hash_to_hex(std::bit_cast<uint64_t>(*d)));
  }
  return fmt::format("string of {} bytes", std::get<std::string>(value).size());
}

// Doubles compare by their bits, so that -0.0 vs 0.0 or two NaN payloads count as different.
bool same_scalar(const ScalarValue& a, const ScalarValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* d = std::get_if<double>(&a)) {
    return std::bit_cast<uint64_t>(*d) == std::bit_cast<uint64_t>(std::get<double>(b));
  }
  return a == b;
}

// One tensor as merged: its entry (chunks of all ranks) and which rank wrote each chunk.
struct MergedTensor {
  TensorEntry entry;
  int first_rank = 0;             // the rank whose part listed it first
  std::vector<int> chunk_ranks;   // [chunk]: the rank that wrote it
};

// The tiling rule of checkpoint_format.md for chunks that come from several ranks, with messages
// that name the ranks: each chunk inside the tensor, no two overlapping, together every element.
Status check_merged_tiling(const MergedTensor& tensor) {
  const TensorEntry& entry = tensor.entry;
  const size_t rank = entry.shape.size();
  const std::string what = fmt::format("tensor '{}' {} {}", entry.name, dtype_name(entry.dtype),
                                       shape_to_string(entry.shape));
  int64_t covered = 0;
  for (size_t i = 0; i < entry.chunks.size(); ++i) {
    const ChunkEntry& chunk = entry.chunks[i];
    bool inside = chunk.offset.size() == rank && chunk.shape.size() == rank;
    for (size_t d = 0; inside && d < rank; ++d) inside = chunk.offset[d] <= entry.shape[d] - chunk.shape[d];
    if (!inside) {
      return invalid_argument_error("{}: rank {}'s chunk (offset {}, shape {}) lies outside the tensor", what,
                                    tensor.chunk_ranks[i], shape_to_string(chunk.offset),
                                    shape_to_string(chunk.shape));
    }
    covered += shape_numel(chunk.shape);
  }
  // Two boxes overlap iff their intervals overlap in every dim.
  for (size_t i = 0; i < entry.chunks.size(); ++i) {
    const ChunkEntry& a = entry.chunks[i];
    if (shape_numel(a.shape) == 0) continue;
    for (size_t j = i + 1; j < entry.chunks.size(); ++j) {
      const ChunkEntry& b = entry.chunks[j];
      if (shape_numel(b.shape) == 0) continue;
      bool overlap = true;
      for (size_t d = 0; d < rank && overlap; ++d) {
        overlap = a.offset[d] < b.offset[d] + b.shape[d] && b.offset[d] < a.offset[d] + a.shape[d];
      }
      if (overlap) {
        return invalid_argument_error(
            "{}: rank {}'s chunk (offset {}, shape {}) overlaps rank {}'s chunk (offset {}, shape {}); hint: "
            "every element must be saved by exactly one rank",
            what, tensor.chunk_ranks[i], shape_to_string(a.offset), shape_to_string(a.shape),
            tensor.chunk_ranks[j], shape_to_string(b.offset), shape_to_string(b.shape));
      }
    }
  }
  if (covered != shape_numel(entry.shape)) {
    std::vector<int> writers;
    for (int r : tensor.chunk_ranks) {
      if (writers.empty() || writers.back() != r) writers.push_back(r);
    }
    return invalid_argument_error("{}: the chunks of rank{} {} cover {} of its {} elements; hint: every element "
                                  "must be saved by exactly one rank",
                                  what, writers.size() == 1 ? "" : "s", fmt::join(writers, ", "), covered,
                                  shape_numel(entry.shape));
  }
  return Status();
}

}  // namespace

std::string part_file_name(int rank) { return fmt::format("rank_{:05d}.part.json", rank); }

std::string part_to_json(const CheckpointPart& part) {
  Json head{{"save_id", hash_to_hex(part.save_id)}, {"rank", part.rank}, {"world_size", part.world_size}};
  if (part.failure) {
    head["error"] = part.failure->message();
    head["code"] = status_code_name(part.failure->code());
  }
  // The manifest's text starts with "{\n"; the part's own field goes first, on one line.
  const std::string manifest = manifest_to_json(part.manifest);
  TESSERA_CHECK(manifest.rfind("{\n", 0) == 0);
  return fmt::format("{{\n \"part\": {},\n{}", head.dump(-1, ' ', false, Json::error_handler_t::replace),
                     manifest.substr(2));
}

StatusOr<CheckpointPart> part_from_json(std::string_view text) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return data_loss_error("checkpoint part: not valid JSON ({} bytes)", text.size());
  if (!json.is_object() || !json.contains("part") || !json["part"].is_object()) {
    return data_loss_error("checkpoint part: field 'part' missing or not an object");
  }
  const Json& head = json["part"];
  CheckpointPart part;
  const Json* save_id = head.contains("save_id") ? &head["save_id"] : nullptr;
  const std::string save_id_text = save_id != nullptr && save_id->is_string() ? save_id->get<std::string>() : "";
  auto [end, error] = std::from_chars(save_id_text.data() + std::min<size_t>(2, save_id_text.size()),
                                      save_id_text.data() + save_id_text.size(), part.save_id, 16);
  if (save_id_text.size() != 18 || save_id_text.rfind("0x", 0) != 0 || error != std::errc() ||
      end != save_id_text.data() + save_id_text.size()) {
    return data_loss_error("checkpoint part: part.save_id must be \"0x\" + 16 hex digits, found {}",
                           save_id != nullptr ? save_id->dump() : "nothing");
  }
  for (const char* key : {"rank", "world_size"}) {
    if (!head.contains(key) || !head[key].is_number_unsigned() || head[key].get<uint64_t>() > (1u << 24)) {
      return data_loss_error("checkpoint part: part.{} must be an integer in [0, 2^24], found {}", key,
                             head.contains(key) ? head[key].dump() : "nothing");
    }
  }
  part.rank = head["rank"].get<int>();
  part.world_size = head["world_size"].get<int>();
  if (part.world_size < 1 || part.rank >= part.world_size) {
    return data_loss_error("checkpoint part: rank {} is outside world size {}", part.rank, part.world_size);
  }
  if (head.contains("error")) {
    const bool typed = head["error"].is_string() && head.contains("code") && head["code"].is_string();
    if (!typed) return data_loss_error("checkpoint part: part.error and part.code must be strings");
    StatusCode code = status_code_from_name(head["code"].get<std::string>());
    part.failure = Status(code == StatusCode::kOk ? StatusCode::kInternal : code, head["error"].get<std::string>());
  }
  auto manifest = manifest_from_json(text, ManifestScope::kPart);
  if (!manifest.ok()) return manifest.status().with_context(fmt::format("checkpoint part of rank {}", part.rank));
  part.manifest = std::move(manifest).value();
  if (!part.failure) {
    const std::string own = data_file_name(part.rank);
    if (part.manifest.data_files.size() != 1 || part.manifest.data_files[0].name != own) {
      return data_loss_error("checkpoint part of rank {}: data_files must be exactly ['{}'], found {} entries",
                             part.rank, own, part.manifest.data_files.size());
    }
  }
  return part;
}

StatusOr<Manifest> merge_parts(const std::vector<CheckpointPart>& parts) {
  TESSERA_CHECK(!parts.empty());
  const CheckpointPart& first = parts[0];
  Manifest merged;
  merged.step = first.manifest.step;
  merged.created_unix_s = first.manifest.created_unix_s;
  std::vector<MergedTensor> tensors;
  std::map<std::string, size_t> tensor_index;                 // name → index into tensors
  std::map<std::string, std::pair<size_t, int>> scalar_index;  // name → (index into merged.scalars, rank)
  std::map<std::string, int> metadata_rank;                    // key → the rank that set it first

  for (size_t r = 0; r < parts.size(); ++r) {
    const CheckpointPart& part = parts[r];
    const int rank = static_cast<int>(r);
    if (part.rank != rank || part.world_size != static_cast<int>(parts.size()) || part.save_id != first.save_id ||
        part.manifest.step != first.manifest.step) {
      return invalid_argument_error(
          "checkpoint part {}: expected rank {} of {}, save {}, step {}; found rank {} of {}, save {}, step {}", r,
          r, parts.size(), hash_to_hex(first.save_id), first.manifest.step, part.rank, part.world_size,
          hash_to_hex(part.save_id), part.manifest.step);
    }
    TESSERA_CHECK(!part.failure, "merge_parts: rank {} failed", rank);
    merged.data_files.insert(merged.data_files.end(), part.manifest.data_files.begin(),
                             part.manifest.data_files.end());

    for (const TensorEntry& tensor : part.manifest.tensors) {
      auto [it, inserted] = tensor_index.try_emplace(tensor.name, tensors.size());
      if (inserted) {
        tensors.push_back(MergedTensor{TensorEntry{tensor.name, tensor.dtype, tensor.shape, {}}, rank, {}});
      }
      MergedTensor& into = tensors[it->second];
      if (into.entry.dtype != tensor.dtype || into.entry.shape != tensor.shape) {
        return invalid_argument_error("tensor '{}': rank {} saved it as {} {}, but rank {} as {} {}", tensor.name,
                                      into.first_rank, dtype_name(into.entry.dtype),
                                      shape_to_string(into.entry.shape), rank, dtype_name(tensor.dtype),
                                      shape_to_string(tensor.shape));
      }
      for (const ChunkEntry& chunk : tensor.chunks) {
        into.entry.chunks.push_back(chunk);
        into.chunk_ranks.push_back(rank);
      }
    }

    for (const ScalarEntry& scalar : part.manifest.scalars) {
      auto [it, inserted] = scalar_index.try_emplace(scalar.name, merged.scalars.size(), rank);
      if (inserted) {
        merged.scalars.push_back(scalar);
      } else if (!same_scalar(merged.scalars[it->second.first].value, scalar.value)) {
        return invalid_argument_error("scalar '{}' differs between ranks: rank {} wrote {}, rank {} wrote {}",
                                      scalar.name, it->second.second,
                                      scalar_text(merged.scalars[it->second.first].value), rank,
                                      scalar_text(scalar.value));
      }
    }

    for (const auto& [key, value] : part.manifest.metadata) {
      auto [it, inserted] = metadata_rank.try_emplace(key, rank);
      if (inserted) {
        merged.metadata[key] = value;
      } else if (merged.metadata[key] != value) {
        return invalid_argument_error("metadata '{}' differs between ranks: rank {} set {} bytes, rank {} {} bytes",
                                      key, it->second, merged.metadata[key].size(), rank, value.size());
      }
    }
  }

  for (MergedTensor& tensor : tensors) {
    TESSERA_RETURN_IF_ERROR(check_merged_tiling(tensor));
    merged.tensors.push_back(std::move(tensor.entry));
  }
  return merged;
}

}  // namespace tessera
