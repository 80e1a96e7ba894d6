// write_checkpoint: the commit protocol that turns a SnapshotWriter into a committed step directory.
//
//   1. checkpoints_dir/step_N.tmp/ (removed first if a crashed attempt left one)
//   2. rank_00000.bin: every chunk, 64-byte aligned, checksummed while written; fsync
//   3. manifest.json; fsync
//   4. COMMIT (names the manifest's XXH3); fsync; fsync step_N.tmp/
//   5. rename step_N.tmp → step_N (an atomic exchange if step_N exists); fsync checkpoints_dir
// A crash before 5 leaves only a *.tmp directory, which readers ignore and the next save removes; a
// crash after 5 leaves a complete checkpoint. docs/checkpoint_format.md has the full table.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/ckpt/snapshot_writer.h"
#include "tessera/ckpt/write_fault.h"
#include "tessera/core/status.h"

namespace tessera {

// The points of the protocol after which a crash is simulated in tests (fault injection).
enum class CommitPoint { kDataWritten, kManifestWritten, kCommitWritten, kRenamed };

// Where the bytes of each chunk come from while the data file is written, when not from the snapshot's own
// buffers: a deferred snapshot under a staging budget (async_checkpointer.h, chunk_staging.h) copies each chunk
// just before it is written and frees it after. Chunks are numbered in file order (tensors, then their chunks).
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual const std::byte* stage(size_t chunk) = 0;  // the chunk's bytes, valid until written(chunk)
  virtual void written(size_t chunk) = 0;
};

struct CheckpointWriteOptions {
  int rank = 0;  // names the data file (rank_<5 digits>.bin); a sharded save uses ShardedCommit::rank

  // Called after each CommitPoint; a non-OK status stops the protocol right there without any
  // cleanup, as a crash would, and is returned. Tests only; empty in production.
  std::function<Status(CommitPoint)> stop_after;

  // Makes one file of the save fail with ENOSPC/EIO part-way (write_fault.h), as a full or failing
  // disk would; the save then fails and cleans up like any failed write. Unset: the environment's
  // TESSERA_FAULT decides (normally unset, so no fault). Tests and demos only.
  std::optional<WriteFault> write_fault;

  // Set: write_data_file takes each chunk's bytes from here (not owned; outlives the write).
  ChunkSource* chunk_source = nullptr;
};

// Writes `snapshot` (whose finish() must be OK) as checkpoints_dir/step_<8 digits>, creating
// checkpoints_dir if needed. Returns the committed directory's path. Blocking; safe to call from a
// background thread while no other thread mutates `snapshot`.
StatusOr<std::string> write_checkpoint(const SnapshotWriter& snapshot, int64_t step,
                                       const std::string& checkpoints_dir,
                                       const CheckpointWriteOptions& options = {});

// The protocol's two halves, shared with the sharded commit (sharded_commit.h).

// Step 2: writes every chunk of `snapshot` into the new file dir/file_name (each chunk 64-byte
// aligned and hashed while written), fsyncs it, and appends its tensors and the file's entry to
// `manifest`. Fails if the file exists. options: write_fault and chunk_source are used.
Status write_data_file(const SnapshotWriter& snapshot, const std::string& dir, const std::string& file_name,
                       Manifest* manifest, const CheckpointWriteOptions& options = {});

// Steps 3-5 for a tmp directory that holds every data file `manifest` lists: manifest.json (fsync),
// COMMIT (fsync), fsync tmp_dir, rename tmp_dir → final_dir (fsync checkpoints_dir). Calls
// options.stop_after after kManifestWritten, kCommitWritten and kRenamed; sets *crashed when a hook
// stopped it there.
Status commit_step_dir(const Manifest& manifest, const std::string& tmp_dir, const std::string& final_dir,
                       const std::string& checkpoints_dir, const CheckpointWriteOptions& options, bool* crashed);

}  // namespace tessera
