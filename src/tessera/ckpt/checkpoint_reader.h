// CheckpointReader: the StateReader over one committed step directory. open() trusts nothing: the
// COMMIT marker must name the manifest's checksum, the manifest must parse and be consistent (chunks
// tile their tensors, lie inside their data files), and the data files must be as long as recorded.
// Chunk bytes are checksummed the first time a read touches them, before any of them is copied out.
//
// A read of any region assembles it from whichever chunks cover it, so a tensor saved as 4 shards
// loads whole, as 2 shards, or as any other box (resharding).
//
// Ownership: the reader owns read-only maps of its data files. Thread safety: not thread-safe (reads
// record which chunks were verified); use one reader per thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/core/file.h"
#include "tessera/core/stateful.h"

namespace tessera {

// One tensor as inspection shows it.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // global
  size_t chunk_count = 0;
  uint64_t bytes = 0;
};

class CheckpointReader : public StateReader {
 public:
  static StatusOr<CheckpointReader> open(const std::string& step_dir);

  CheckpointReader(CheckpointReader&&) noexcept = default;
  CheckpointReader& operator=(CheckpointReader&&) noexcept = default;
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  Status read_tensor(const TensorView& into) override;
  Status read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                           const std::vector<int64_t>& offset) override;
  StatusOr<int64_t> read_int(const std::string& name) override;
  StatusOr<double> read_double(const std::string& name) override;
  StatusOr<std::string> read_string(const std::string& name) override;

  // Checksums every chunk of every tensor; the first mismatch is returned.
  Status verify_all();

  const std::string& path() const { return path_; }
  int64_t step() const { return manifest_.step; }
  int format_version() const { return manifest_.format_version; }
  double created_unix_s() const { return manifest_.created_unix_s; }
  std::vector<TensorInfo> tensors() const;
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  const std::vector<ScalarEntry>& scalars() const { return manifest_.scalars; }
  const std::map<std::string, std::string>& metadata() const { return manifest_.metadata; }
  StatusOr<std::string> metadata(const std::string& key) const;
  uint64_t tensor_bytes() const;  // sum over tensors
  const Manifest& manifest() const { return manifest_; }

 private:
  CheckpointReader() = default;
  Status error_context(Status status) const;  // prefixes "checkpoint '<path>'"
  StatusOr<const TensorEntry*> find_tensor(const TensorView& into, const std::vector<int64_t>& global_shape);
  StatusOr<const ScalarEntry*> find_scalar(const std::string& name, std::string_view type);
  Status verify_chunk(size_t tensor_index, size_t chunk_index);
  const uint8_t* chunk_bytes(const ChunkEntry& chunk) const;

  std::string path_;
  Manifest manifest_;
  std::map<std::string, size_t> tensor_index_;  // name → index into manifest_.tensors
  std::map<std::string, MappedFile> files_;     // data file name → its map
  std::vector<std::vector<bool>> verified_;     // [tensor][chunk]: checksum already matched
};

}  // namespace tessera
