// A deferred snapshot's chunks copied under a staging budget (train.ckpt_staging_mb): the checkpoint writer's
// thread copies the state into host buffers of at most `budget` bytes in all (or one chunk, if a chunk is
// larger), writes them, frees them, and copies the next ones. Training waits before its next update until the
// last chunk has been copied (AsyncCheckpointer::wait_snapshot), so a budget below the state's size trades host
// memory for stall: the update then waits for about (state − budget) bytes to reach the disk.
//
//   copy chunks 0..k while Σ size ≤ budget → write 0, free 0, copy k+1 if it fits → write 1, ...
//
// Ownership: refers to the snapshot (which must outlive it) and owns the staged buffers. Used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/snapshot_writer.h"

namespace tessera {

class BudgetedChunkStaging final : public ChunkSource {
 public:
  // snapshot: deferred (SnapshotWriter::defer_copies), not yet copied. budget > 0 bytes. all_staged: called once,
  // on the writing thread, right after the last chunk is copied (from then on the state may change).
  BudgetedChunkStaging(const SnapshotWriter& snapshot, uint64_t budget, std::function<void()> all_staged);

  const std::byte* stage(size_t chunk) override;
  void written(size_t chunk) override;

  uint64_t peak_bytes() const { return peak_; }  // the most bytes staged at once

 private:
  // Copies the next chunks in file order while they fit the budget; the next one always, when nothing is staged.
  void copy_ahead();

  std::vector<const SnapshotWriter::Chunk*> chunks_;  // in file order
  std::vector<std::unique_ptr<std::byte[]>> buffers_;  // staged copy of chunk i, null before and after
  SnapshotBufferPool free_;                            // freed buffers, reused by chunks of the same size
  size_t next_ = 0;                                    // the first chunk not copied yet
  uint64_t budget_ = 0, staged_ = 0, peak_ = 0;
  std::function<void()> all_staged_;
};

}  // namespace tessera
