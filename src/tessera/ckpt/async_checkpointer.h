// AsyncCheckpointer: saves training state without stalling training for the disk. save() copies the
// state into host memory (SnapshotWriter) synchronously, then a background std::thread runs the
// commit protocol (write_checkpoint, checkpoint_writer.h) and retention, while training goes on.
// At most one write is in flight: the next save() first waits for the previous one.
//
//   AsyncCheckpointer checkpointer(run_dir + "/checkpoints", /*keep_last=*/3);
//   checkpointer.set_metadata("config", resolved_toml);
//   TESSERA_RETURN_IF_ERROR(checkpointer.save(step, [&](StateWriter& w) { model.save_state(w); ... }));
//   ...
//   TESSERA_RETURN_IF_ERROR(checkpointer.wait());  // before exit: the last write's result
//
// Sharded saves (ZeRO: each rank owns 1/dp of every parameter and optimizer tensor): every rank of the
// job constructs its checkpointer with the same dir, keep_last and ShardedCommit (its own rank), and
// calls save() for the same steps; each writes only what its snapshot holds, and rank 0 commits once
// every rank's part is durable (sharded_commit.h). Rank 0's constructor removes the *.tmp directories a
// crashed run left, so rank 0 must construct its checkpointer before any rank of the run saves.
//
// Ownership: move-only; owns the snapshot of the write in flight and the thread writing it; the
// destructor joins that thread (a failure then is only logged: call wait() to see it). Between saves
// it keeps the last snapshot's host buffers for reuse (memory: one copy of the saved state).
// Thread safety: save/wait/set_metadata from one thread at a time.
#pragma once

#include <cstdint>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/sharded_commit.h"
#include "tessera/core/stateful.h"

namespace tessera {

// Figures of the last finished save, for metrics (goodput: the snapshot stalls training, the write not).
struct CheckpointSaveStats {
  int64_t step = -1;
  double snapshot_seconds = 0;  // inside save(): copying the state to host memory (deferred: recording it)
  double deferred_copy_seconds = 0;  // deferred snapshots: the copy on the background thread
  double write_seconds = 0;     // on the background thread: files, fsyncs, rename, retention
  uint64_t bytes = 0;           // tensor bytes written (sharded: this rank's)
};

class AsyncCheckpointer {
 public:
  // keep_last: committed checkpoints to keep (0 = keep all). sharding: this process's place in a
  // sharded save; the default (world_size 1) is an unsharded save by this process alone. An invalid
  // sharding (check_sharded_commit) or a failed clean-up is returned by every save().
  AsyncCheckpointer(std::string checkpoints_dir, int keep_last, CheckpointWriteOptions options = {},
                    ShardedCommit sharding = {});
  AsyncCheckpointer(AsyncCheckpointer&& other) noexcept;
  AsyncCheckpointer& operator=(AsyncCheckpointer&& other) noexcept;
  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;
  ~AsyncCheckpointer();

  // Waits for the previous write; if it failed, returns its error and saves nothing this time (the
  // error is then consumed: the next save() tries again). Otherwise calls `snapshot` with a
  // SnapshotWriter, returns any misuse it recorded, and starts writing step_<step> in the background.
  // The state may change as soon as save() returns. Sharded: the snapshot holds this rank's shards
  // only (their tiling is checked by rank 0's merge); a rank > 0 that records a misuse publishes a
  // failure marker so that rank 0's save fails at once.
  Status save(int64_t step, const std::function<void(StateWriter&)>& snapshot);
  // Deferred snapshots (off by default): save() records where the state's tensors are and returns at once;
  // the background thread copies them before writing. The caller must then call wait_snapshot() before it
  // changes any tensor it wrote (the trainer: before the optimizer update), so that the copy overlaps the
  // next forward and backward instead of stalling the step. Scalars are always copied inside save().
  void set_deferred_snapshot(bool deferred) { deferred_snapshot_ = deferred; }
  // Blocks until the write in flight (if any) has copied its tensors; returns the seconds it waited.
  double wait_snapshot();
  // Joins the write in flight (if any) and returns its status; OK if none. Sharded, on a rank > 0:
  // OK once this rank's part is durable, which does not mean that rank 0 committed the checkpoint.
  Status wait();
  // True while a write has been started and not yet collected by wait()/save().
  bool pending() const { return in_flight_ != nullptr; }
  // Stored with every later save (e.g. "config" → the resolved config text).
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  const std::string& checkpoints_dir() const { return checkpoints_dir_; }
  const ShardedCommit& sharding() const { return sharding_; }
  // The last save collected by wait()/save() that succeeded.
  const CheckpointSaveStats& last_stats() const { return last_stats_; }

 private:
  // What the background thread owns and fills; heap-held so that moving the checkpointer does not
  // move it under the thread.
  struct InFlight {
    std::unique_ptr<SnapshotWriter> snapshot;  // read by the thread only until it is joined
    std::mutex mutex;
    std::condition_variable copied_signal;
    bool copied = false;  // the deferred copies are done (guarded by mutex)
    std::thread thread;
    Status status;
    CheckpointSaveStats stats;
  };

  std::string checkpoints_dir_;
  int keep_last_ = 0;
  CheckpointWriteOptions options_;
  ShardedCommit sharding_;
  Status setup_status_;  // an invalid sharding or a failed clean-up at construction; returned by save()
  std::map<std::string, std::string> metadata_;
  std::unique_ptr<InFlight> in_flight_;
  bool deferred_snapshot_ = false;
  // Buffers of the last written snapshot, reused by the next (same state → same sizes).
  SnapshotBufferPool buffer_pool_;
  CheckpointSaveStats last_stats_;
};

}  // namespace tessera
