#include "tessera/ckpt/checkpoint_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "tessera/core/check.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

// Copies the intersection of two boxes of one tensor from `src` (a chunk: row-major over
// src_shape, first element at global src_offset) to `dst` (row-major over dst_shape, first element
// at dst_offset). Runs that are contiguous in both are copied with one memcpy: the trailing dims where
// the intersection spans both boxes whole are merged into the innermost run.
void copy_intersection(const uint8_t* src, const std::vector<int64_t>& src_offset,
                       const std::vector<int64_t>& src_shape, uint8_t* dst, const std::vector<int64_t>& dst_offset,
                       const std::vector<int64_t>& dst_shape, size_t element_size) {
  const size_t rank = src_shape.size();
  std::vector<int64_t> lo(rank), extent(rank);
  for (size_t d = 0; d < rank; ++d) {
    lo[d] = std::max(src_offset[d], dst_offset[d]);
    const int64_t hi = std::min(src_offset[d] + src_shape[d], dst_offset[d] + dst_shape[d]);
    if (hi <= lo[d]) return;  // empty intersection
    extent[d] = hi - lo[d];
  }
  // Row-major strides in elements.
  std::vector<int64_t> src_stride(rank, 1), dst_stride(rank, 1);
  for (size_t d = rank; d-- > 1;) {
    src_stride[d - 1] = src_stride[d] * src_shape[d];
    dst_stride[d - 1] = dst_stride[d] * dst_shape[d];
  }
  // inner = first dim of the contiguous run: dims after it are whole in src, dst and intersection.
  size_t inner = rank;
  int64_t run = 1;
  while (inner > 0) {
    const size_t d = inner - 1;
    run *= extent[d];
    inner = d;
    if (!(extent[d] == src_shape[d] && extent[d] == dst_shape[d])) break;
  }
  const size_t run_bytes = static_cast<size_t>(run) * element_size;
  // Odometer over the dims before `inner`.
  std::vector<int64_t> index(inner, 0);
  while (true) {
    int64_t src_element = 0, dst_element = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t global = lo[d] + (d < inner ? index[d] : 0);
      src_element += (global - src_offset[d]) * src_stride[d];
      dst_element += (global - dst_offset[d]) * dst_stride[d];
    }
    std::memcpy(dst + dst_element * element_size, src + src_element * element_size, run_bytes);
    size_t d = inner;
    while (d > 0 && ++index[d - 1] == extent[d - 1]) index[--d] = 0;
    if (d == 0) return;
  }
}

}  // namespace

StatusOr<CheckpointReader> CheckpointReader::open(const std::string& step_dir) {
  CheckpointReader reader;
  reader.path_ = step_dir;
  auto fail = [&](Status status) { return reader.error_context(std::move(status)); };
  std::error_code not_a_directory;
  if (!std::filesystem::is_directory(step_dir, not_a_directory)) {
    return fail(not_found_error("not a directory; hint: pass a step directory such as "
                                "runs/NAME/checkpoints/step_00000020, or a run directory"));
  }
  auto commit = read_file(step_dir + "/" + std::string(kCommitFileName));
  if (!commit.ok()) {
    if (commit.status().code() == StatusCode::kNotFound) {
      return fail(data_loss_error("not committed: no {} marker (the save was interrupted); hint: resume from an "
                                  "earlier checkpoint",
                                  kCommitFileName));
    }
    return fail(commit.status());
  }
  auto committed_hash = parse_commit_marker(*commit);
  if (!committed_hash.ok()) return fail(committed_hash.status());
  auto manifest_text = read_file(step_dir + "/" + std::string(kManifestFileName));
  if (!manifest_text.ok()) return fail(manifest_text.status());
  const uint64_t manifest_hash = hash_bytes(*manifest_text);
  if (manifest_hash != *committed_hash) {
    return fail(data_loss_error("{} does not match its {} marker (expected xxh3 {}, found {}); hint: the manifest "
                                "was modified or corrupted after the save",
                                kManifestFileName, kCommitFileName, hash_to_hex(*committed_hash),
                                hash_to_hex(manifest_hash)));
  }
  auto manifest = manifest_from_json(*manifest_text);
  if (!manifest.ok()) return fail(manifest.status());
  reader.manifest_ = std::move(manifest).value();
  const auto dir_step = parse_step_dir_name(std::filesystem::path(step_dir).filename().string());
  if (dir_step && *dir_step != reader.manifest_.step) {
    return fail(data_loss_error("directory name says step {} but the manifest says step {}", *dir_step,
                                reader.manifest_.step));
  }
  for (const DataFileEntry& entry : reader.manifest_.data_files) {
    auto file = MappedFile::open(step_dir + "/" + entry.name);
    if (!file.ok()) return fail(file.status());
    if (file->size() < entry.bytes) {
      return fail(data_loss_error("data file '{}' is truncated: {} bytes, the manifest expects {}", entry.name,
                                  file->size(), entry.bytes));
    }
    reader.files_.emplace(entry.name, std::move(file).value());
  }
  for (size_t i = 0; i < reader.manifest_.tensors.size(); ++i) {
    reader.tensor_index_.emplace(reader.manifest_.tensors[i].name, i);
    reader.verified_.emplace_back(reader.manifest_.tensors[i].chunks.size(), false);
  }
  return reader;
}

Status CheckpointReader::error_context(Status status) const {
  return status.with_context(fmt::format("checkpoint '{}'", path_));
}

const uint8_t* CheckpointReader::chunk_bytes(const ChunkEntry& chunk) const {
  // open() checked that the file exists and holds [byte_offset, byte_offset + byte_length).
  return files_.at(chunk.file).data() + chunk.byte_offset;
}

Status CheckpointReader::verify_chunk(size_t tensor_index, size_t chunk_index) {
  if (verified_[tensor_index][chunk_index]) return Status();
  const TensorEntry& tensor = manifest_.tensors[tensor_index];
  const ChunkEntry& chunk = tensor.chunks[chunk_index];
  const uint64_t found = hash_bytes(chunk_bytes(chunk), chunk.byte_length);
  if (found != chunk.xxh3) {
    return error_context(data_loss_error(
        "tensor '{}': chunk {} (offset {}, shape {}, {} bytes at {} in '{}') fails its checksum (expected xxh3 {}, "
        "found {}); hint: the data file is corrupt; resume from an earlier checkpoint",
        tensor.name, chunk_index, shape_to_string(chunk.offset), shape_to_string(chunk.shape), chunk.byte_length,
        chunk.byte_offset, chunk.file, hash_to_hex(chunk.xxh3), hash_to_hex(found)));
  }
  verified_[tensor_index][chunk_index] = true;
  return Status();
}

StatusOr<const TensorEntry*> CheckpointReader::find_tensor(const TensorView& into,
                                                           const std::vector<int64_t>& global_shape) {
  auto it = tensor_index_.find(into.name);
  if (it == tensor_index_.end()) {
    return error_context(not_found_error("tensor '{}' not found; hint: `tessera ckpt inspect {}` lists the {} "
                                         "tensors it holds",
                                         into.name, path_, manifest_.tensors.size()));
  }
  const TensorEntry& tensor = manifest_.tensors[it->second];
  if (tensor.dtype != into.dtype) {
    return error_context(invalid_argument_error("tensor '{}': dtype {} != expected {}", into.name,
                                                dtype_name(tensor.dtype), dtype_name(into.dtype)));
  }
  if (tensor.shape != global_shape) {
    return error_context(invalid_argument_error("tensor '{}': shape {} != expected {}", into.name,
                                                shape_to_string(tensor.shape), shape_to_string(global_shape)));
  }
  return &tensor;
}

Status CheckpointReader::read_tensor(const TensorView& into) {
  return read_tensor_shard(into, into.shape, std::vector<int64_t>(into.shape.size(), 0));
}

Status CheckpointReader::read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                                           const std::vector<int64_t>& offset) {
  TESSERA_CHECK(into.data != nullptr || into.nbytes() == 0, "tensor '{}' has no buffer", into.name);
  TESSERA_ASSIGN_OR_RETURN(const TensorEntry* tensor, find_tensor(into, global_shape));
  const size_t rank = tensor->shape.size();
  bool inside = offset.size() == rank && into.shape.size() == rank;
  for (size_t d = 0; inside && d < rank; ++d) {
    inside = offset[d] >= 0 && into.shape[d] >= 0 && offset[d] + into.shape[d] <= tensor->shape[d];
  }
  if (!inside) {
    return error_context(invalid_argument_error("tensor '{}': region at offset {} with shape {} lies outside {}",
                                                into.name, shape_to_string(offset), shape_to_string(into.shape),
                                                shape_to_string(tensor->shape)));
  }
  const size_t tensor_index = tensor_index_.at(into.name);
  // The chunks tile the tensor (checked at open), so the region is covered exactly once. Verify every
  // overlapping chunk before copying any byte, so a failed read leaves `into` untouched.
  std::vector<size_t> overlapping;
  for (size_t c = 0; c < tensor->chunks.size(); ++c) {
    const ChunkEntry& chunk = tensor->chunks[c];
    bool overlaps = shape_numel(chunk.shape) > 0 && into.numel() > 0;
    for (size_t d = 0; overlaps && d < rank; ++d) {
      overlaps = chunk.offset[d] < offset[d] + into.shape[d] && offset[d] < chunk.offset[d] + chunk.shape[d];
    }
    if (!overlaps) continue;
    TESSERA_RETURN_IF_ERROR(verify_chunk(tensor_index, c));
    overlapping.push_back(c);
  }
  for (size_t c : overlapping) {
    const ChunkEntry& chunk = tensor->chunks[c];
    copy_intersection(chunk_bytes(chunk), chunk.offset, chunk.shape, static_cast<uint8_t*>(into.data), offset,
                      into.shape, dtype_size(tensor->dtype));
  }
  return Status();
}

StatusOr<const ScalarEntry*> CheckpointReader::find_scalar(const std::string& name, std::string_view type) {
  for (const ScalarEntry& scalar : manifest_.scalars) {
    if (scalar.name != name) continue;
    if (scalar_type_name(scalar.value) != type) {
      return error_context(invalid_argument_error("scalar '{}' is {}, expected {}", name,
                                                  scalar_type_name(scalar.value), type));
    }
    return &scalar;
  }
  return error_context(not_found_error("scalar '{}' not found; hint: `tessera ckpt inspect {}` lists the {} "
                                       "scalars it holds",
                                       name, path_, manifest_.scalars.size()));
}

StatusOr<int64_t> CheckpointReader::read_int(const std::string& name) {
  TESSERA_ASSIGN_OR_RETURN(const ScalarEntry* scalar, find_scalar(name, "i64"));
  return std::get<int64_t>(scalar->value);
}

StatusOr<double> CheckpointReader::read_double(const std::string& name) {
  TESSERA_ASSIGN_OR_RETURN(const ScalarEntry* scalar, find_scalar(name, "f64"));
  return std::get<double>(scalar->value);
}

StatusOr<std::string> CheckpointReader::read_string(const std::string& name) {
  TESSERA_ASSIGN_OR_RETURN(const ScalarEntry* scalar, find_scalar(name, "string"));
  return std::get<std::string>(scalar->value);
}

Status CheckpointReader::verify_all() {
  for (size_t t = 0; t < manifest_.tensors.size(); ++t) {
    for (size_t c = 0; c < manifest_.tensors[t].chunks.size(); ++c) {
      TESSERA_RETURN_IF_ERROR(verify_chunk(t, c));
    }
  }
  return Status();
}

std::vector<TensorInfo> CheckpointReader::tensors() const {
  std::vector<TensorInfo> infos;
  for (const TensorEntry& tensor : manifest_.tensors) {
    infos.push_back(TensorInfo{tensor.name, tensor.dtype, tensor.shape, tensor.chunks.size(), tensor.nbytes()});
  }
  return infos;
}

StatusOr<std::string> CheckpointReader::metadata(const std::string& key) const {
  auto it = manifest_.metadata.find(key);
  if (it == manifest_.metadata.end()) {
    return error_context(not_found_error("metadata '{}' not found ({} keys)", key, manifest_.metadata.size()));
  }
  return it->second;
}

uint64_t CheckpointReader::tensor_bytes() const {
  uint64_t total = 0;
  for (const TensorEntry& tensor : manifest_.tensors) total += tensor.nbytes();
  return total;
}

}  // namespace tessera
