// The commit protocol of a sharded save: every rank of a job writes the shards it owns, in parallel,
// into one step directory, and rank 0 commits the checkpoint only when every rank's part is durable.
// Coordination goes through the file system alone (shared by all ranks of a job, as
// torch.distributed.checkpoint assumes); nothing here talks to comm/.
//
//   rank r (every rank, on its AsyncCheckpointer's thread):
//     1. create checkpoints/step_N.tmp/ if missing (never remove it: other ranks write into it)
//     2. write rank_<r>.bin (its chunks only), fsync; fsync step_N.tmp/
//     3. ranks > 0: publish rank_<r>.part.json (checkpoint_part.h) atomically: tmp file, fsync, rename,
//        fsync step_N.tmp/. A rank whose write fails publishes a failure marker in its place instead.
//   rank 0 then:
//     4. polls (1 ms doubling to 50 ms) until ranks 1..n-1 have published a part with this run's save_id
//        (a part with another save_id is a crashed run's and is passed over), each data file as long as
//        its part says; a failure marker ends the wait at once with that rank's error, and
//        part_deadline_seconds without all parts ends it with DeadlineExceeded naming the missing ranks
//     5. merges the parts (merge_parts: every tensor tiled exactly, scalars agree), removes everything
//        in step_N.tmp/ the merged manifest does not list (part files, stale files of crashed runs)
//     6. manifest.json, COMMIT, rename to step_N: the steps of an unsharded save (checkpoint_writer.h)
// A failed sharded save leaves step_N.tmp/ without COMMIT (readers ignore it): rank 0 cannot know
// whether a slow rank still writes into it. It is removed once a later step commits, when every rank
// has provably finished with it, or by rank 0's next construction. docs/checkpoint_format.md has the
// table of what a crash at each point leaves.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/snapshot_writer.h"
#include "tessera/core/status.h"

namespace tessera {

// Where this process stands in a sharded save. Every rank of a job passes the same world_size,
// save_id and deadline, and its own rank.
struct ShardedCommit {
  int rank = 0;
  int world_size = 1;   // 1 = an unsharded save: exactly write_checkpoint's behaviour and file names
  uint64_t save_id = 0;  // same on every rank of one run; tags every part so that parts left by a
                         // crashed earlier run are never merged
  double part_deadline_seconds = 600;  // how long rank 0 waits for the other ranks' parts

  bool sharded() const { return world_size > 1; }
};

// InvalidArgument naming the field when rank is outside [0, world_size), world_size < 1 or the
// deadline is not a positive number.
Status check_sharded_commit(const ShardedCommit& sharding);

// One rank's whole part of a sharded save of `snapshot` (finish_part() must be OK) as step `step`:
// steps 1-3 above, and on rank 0 steps 4-6. Returns OK once this rank's part is durable (ranks > 0)
// or the checkpoint is committed (rank 0). Errors carry "checkpoint step N" in front. Blocking; runs
// on the checkpointer's background thread. options.stop_after is called after kDataWritten on every
// rank and at the later points on rank 0.
Status write_sharded_checkpoint(const SnapshotWriter& snapshot, int64_t step, const std::string& checkpoints_dir,
                                const ShardedCommit& sharding, const CheckpointWriteOptions& options = {});

// For a rank > 0 whose save failed before its write began (a misuse recorded by its snapshot):
// publishes the failure marker of step `step` carrying `error`, so that rank 0 fails at once.
Status publish_part_failure(int64_t step, const std::string& checkpoints_dir, const ShardedCommit& sharding,
                            const Status& error);

}  // namespace tessera
