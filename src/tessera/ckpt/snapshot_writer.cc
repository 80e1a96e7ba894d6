#include "tessera/ckpt/snapshot_writer.h"

#include <chrono>
#include <cstring>

#include "tessera/core/check.h"

namespace tessera {

SnapshotWriter::SnapshotWriter(SnapshotBufferPool* pool)
    : pool_(pool),
      created_unix_s_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

void SnapshotWriter::record_error(Status status) {
  if (status_.ok()) status_ = std::move(status);
}

void SnapshotWriter::write_tensor(const TensorView& tensor) {
  add_chunk(tensor, tensor.shape, std::vector<int64_t>(tensor.shape.size(), 0), /*whole=*/true);
}

void SnapshotWriter::write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                                        const std::vector<int64_t>& offset) {
  add_chunk(shard, global_shape, offset, /*whole=*/false);
}

void SnapshotWriter::add_chunk(const TensorView& view, const std::vector<int64_t>& global_shape,
                               const std::vector<int64_t>& offset, bool whole) {
  // A null buffer with bytes to copy is a bug in the calling component, not a bad checkpoint.
  TESSERA_CHECK(view.data != nullptr || view.nbytes() == 0, "tensor '{}' has no buffer", view.name);
  if (view.name.empty()) return record_error(invalid_argument_error("snapshot: a tensor has an empty name"));
  const std::string what = fmt::format("snapshot: tensor '{}'", view.name);
  if (offset.size() != global_shape.size() || view.shape.size() != global_shape.size()) {
    return record_error(invalid_argument_error("{}: shard shape {} / offset {} do not match the rank of global shape {}",
                                               what, shape_to_string(view.shape), shape_to_string(offset),
                                               shape_to_string(global_shape)));
  }
  for (size_t d = 0; d < global_shape.size(); ++d) {
    if (view.shape[d] < 0 || offset[d] < 0 || offset[d] + view.shape[d] > global_shape[d]) {
      return record_error(invalid_argument_error("{}: shard at offset {} with shape {} lies outside global shape {}",
                                                 what, shape_to_string(offset), shape_to_string(view.shape),
                                                 shape_to_string(global_shape)));
    }
  }
  auto [it, inserted] = tensor_index_.try_emplace(view.name, tensors_.size());
  if (inserted) {
    tensors_.push_back(Tensor{view.name, view.dtype, global_shape, {}});
    written_whole_[view.name] = whole;
  } else {
    const Tensor& existing = tensors_[it->second];
    if (whole || written_whole_[view.name]) {
      return record_error(invalid_argument_error("{}: written twice", what));
    }
    if (existing.dtype != view.dtype || existing.shape != global_shape) {
      return record_error(invalid_argument_error("{}: shard is {} of global {}, but an earlier shard said {} of {}",
                                                 what, dtype_name(view.dtype), shape_to_string(global_shape),
                                                 dtype_name(existing.dtype), shape_to_string(existing.shape)));
    }
  }
  Chunk chunk{offset, view.shape, nullptr, view.nbytes()};
  if (mode_ == CopyMode::kReference) {
    chunk.deferred_source = static_cast<const std::byte*>(view.data);
    tensor_bytes_ += chunk.nbytes;
    tensors_[it->second].chunks.push_back(std::move(chunk));
    return;
  }
  auto reusable = pool_ != nullptr ? pool_->find(chunk.nbytes) : SnapshotBufferPool::iterator();
  if (pool_ != nullptr && reusable != pool_->end()) {
    chunk.bytes = std::move(reusable->second);
    pool_->erase(reusable);
  } else {
    // make_unique_for_overwrite: no zero fill, the copy writes every byte.
    chunk.bytes = std::make_unique_for_overwrite<std::byte[]>(chunk.nbytes);
  }
  if (mode_ == CopyMode::kDeferred) {
    chunk.deferred_source = static_cast<const std::byte*>(view.data);
  } else if (chunk.nbytes > 0) {
    std::memcpy(chunk.bytes.get(), view.data, chunk.nbytes);
  }
  tensor_bytes_ += chunk.nbytes;
  tensors_[it->second].chunks.push_back(std::move(chunk));
}

size_t SnapshotWriter::copy_deferred() {
  size_t copied = 0;
  for (Tensor& tensor : tensors_) {
    for (Chunk& chunk : tensor.chunks) {
      if (chunk.deferred_source == nullptr || chunk.bytes == nullptr) continue;  // copied, or reference_only
      if (chunk.nbytes > 0) std::memcpy(chunk.bytes.get(), chunk.deferred_source, chunk.nbytes);
      chunk.deferred_source = nullptr;
      copied += chunk.nbytes;
    }
  }
  return copied;
}

void SnapshotWriter::add_scalar(const std::string& name, ScalarValue value) {
  if (name.empty()) return record_error(invalid_argument_error("snapshot: a scalar has an empty name"));
  for (const ScalarEntry& scalar : scalars_) {
    if (scalar.name == name) return record_error(invalid_argument_error("snapshot: scalar '{}' written twice", name));
  }
  scalars_.push_back(ScalarEntry{name, std::move(value)});
}

void SnapshotWriter::write_int(const std::string& name, int64_t value) { add_scalar(name, value); }
void SnapshotWriter::write_double(const std::string& name, double value) { add_scalar(name, value); }
void SnapshotWriter::write_string(const std::string& name, const std::string& value) { add_scalar(name, value); }

void SnapshotWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SnapshotWriter::release_buffers(SnapshotBufferPool& pool) {
  for (Tensor& tensor : tensors_) {
    for (Chunk& chunk : tensor.chunks) {
      if (chunk.nbytes > 0 && chunk.bytes != nullptr) pool.emplace(chunk.nbytes, std::move(chunk.bytes));
    }
  }
  tensors_.clear();
  tensor_index_.clear();
  written_whole_.clear();
  tensor_bytes_ = 0;
}

Status SnapshotWriter::finish() const {
  TESSERA_RETURN_IF_ERROR(status_);
  for (const Tensor& tensor : tensors_) {
    std::vector<std::vector<int64_t>> offsets, shapes;
    for (const Chunk& chunk : tensor.chunks) {
      offsets.push_back(chunk.offset);
      shapes.push_back(chunk.shape);
    }
    TESSERA_RETURN_IF_ERROR(
        check_chunks_tile(fmt::format("snapshot: tensor '{}'", tensor.name), tensor.shape, offsets, shapes));
  }
  return Status();
}

}  // namespace tessera
