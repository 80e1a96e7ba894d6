// SnapshotWriter: the StateWriter that copies every tensor (or shard) and scalar into host memory it
// owns, so that training may go on mutating its buffers while a background thread writes the copy
// (AsyncCheckpointer). It holds no files; write_checkpoint (checkpoint_writer.h) turns it into one.
//
// StateWriter's methods return nothing, so a misuse by a component (a name written twice, a shard
// outside its global shape, shards of one name that disagree on dtype or global shape) is recorded and
// reported by status() / finish() instead of aborting a training run over a checkpoint.
//
// Thread safety: not thread-safe; filled by one thread, then only read (by the writer thread).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/core/stateful.h"

namespace tessera {

// Chunk buffers kept from a finished snapshot for the next one, by size in bytes. Reusing them
// avoids the first-touch page faults of fresh allocations (measured: a 256 MiB snapshot copies at
// ~1 GB/s into fresh memory and ~5 GB/s into reused memory), which is the part of a save that
// stalls training.
using SnapshotBufferPool = std::multimap<size_t, std::unique_ptr<std::byte[]>>;

class SnapshotWriter : public StateWriter {
 public:
  // One box [offset, offset + shape) of a tensor, bytes row-major over `shape`, owned.
  struct Chunk {
    std::vector<int64_t> offset;
    std::vector<int64_t> shape;
    std::unique_ptr<std::byte[]> bytes;
    size_t nbytes = 0;
    // Where the bytes are while they are not (yet) in `bytes`: deferred copies until copy_deferred(), and
    // always for reference_only() snapshots (then `bytes` is null).
    const std::byte* deferred_source = nullptr;
    const std::byte* data() const { return deferred_source != nullptr ? deferred_source : bytes.get(); }
  };
  struct Tensor {
    std::string name;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;  // global
    std::vector<Chunk> chunks;   // in the order written
  };

  // Records the creation time (the checkpoint's created_unix_s). If `pool` is given, buffers of the
  // right size are taken from it instead of allocated; the pool must outlive the writes.
  explicit SnapshotWriter(SnapshotBufferPool* pool = nullptr);
  SnapshotWriter(SnapshotWriter&&) noexcept = default;
  SnapshotWriter& operator=(SnapshotWriter&&) noexcept = default;
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  void write_tensor(const TensorView& tensor) override;
  void write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                          const std::vector<int64_t>& offset) override;
  void write_int(const std::string& name, int64_t value) override;
  void write_double(const std::string& name, double value) override;
  void write_string(const std::string& name, const std::string& value) override;
  // Free-form text stored in the manifest (e.g. "config" → the resolved TOML). Last value wins.
  void set_metadata(const std::string& key, const std::string& value);

  // The first misuse recorded by a write, or OK.
  const Status& status() const { return status_; }
  // Call after the last write: status(), then checks that the shards of every tensor tile it.
  Status finish() const;
  // The same for one rank's part of a sharded save (sharded_commit.h): status() only. The rank holds
  // only its own boxes of each tensor; rank 0 checks the tiling when it merges every rank's part.
  Status finish_part() const { return status_; }

  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<ScalarEntry>& scalars() const { return scalars_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  double created_unix_s() const { return created_unix_s_; }
  size_t tensor_bytes() const { return tensor_bytes_; }  // sum of all chunk bytes

  // Deferred copies (call before the first write): a tensor write records where its bytes are instead of
  // copying them, and copy_deferred() copies them all later — on the checkpointer's thread, while training
  // computes the next forward and backward. The caller guarantees that every written buffer stays alive and
  // unchanged until copy_deferred() has returned (AsyncCheckpointer::wait_snapshot before the next update).
  void defer_copies() { mode_ = CopyMode::kDeferred; }
  // Never copied (call before the first write): the snapshot refers to the written buffers, which must stay
  // alive and unchanged until it has been written — a synchronous write, as in-memory checkpoints do
  // (resilience/memory_checkpoints.h): it saves a copy of the whole state and its page faults.
  void reference_only() { mode_ = CopyMode::kReference; }
  // Copies every deferred chunk into a buffer of its own (no-op when none is pending). Returns the bytes
  // copied. A writer under a staging budget copies chunk by chunk instead (ckpt/chunk_staging.h).
  size_t copy_deferred();

  // Moves every chunk buffer into `pool` for a later snapshot; this writer is empty afterwards.
  void release_buffers(SnapshotBufferPool& pool);

 private:
  void add_chunk(const TensorView& view, const std::vector<int64_t>& global_shape,
                 const std::vector<int64_t>& offset, bool whole);
  void add_scalar(const std::string& name, ScalarValue value);
  std::unique_ptr<std::byte[]> take_buffer(size_t nbytes);  // from the pool if one fits, else new
  void record_error(Status status);

  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> tensor_index_;  // name → index into tensors_
  std::map<std::string, bool> written_whole_;   // name → written by write_tensor (not as shards)
  std::vector<ScalarEntry> scalars_;
  std::map<std::string, std::string> metadata_;
  SnapshotBufferPool* pool_ = nullptr;  // not owned
  double created_unix_s_ = 0;
  size_t tensor_bytes_ = 0;
  enum class CopyMode { kNow, kDeferred, kReference };
  CopyMode mode_ = CopyMode::kNow;
  Status status_;
};

}  // namespace tessera
