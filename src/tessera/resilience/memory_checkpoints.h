// In-memory checkpoints with a copy on a peer host (train.ckpt_in_memory_every = K). Every K steps each
// rank writes its own state — everything it holds, as DataParallel::save_held_state and the trainer's
// scalars give it — into host memory (a tmpfs, /dev/shm), and sends the same files to its partner, a rank
// on the next host, which keeps them beside its own. When a rank dies, or a whole host with its memory,
// the restart resumes from at most K steps ago without reading storage: a rank whose own copy is gone
// (or fails its checksums) gets its partner's copy back over comm/. Storage checkpoints remain for the
// loss of a rank and its partner together, or of the whole job.
//
// Layout, on every host (the run directory's XXH3 names the root, the layout's XXH3 the level below it, so
// a restart under another dp/tp/pp/ZeRO layout finds nothing and reads storage instead):
//   /dev/shm/tessera-<uid>-<run hash>/<layout hash>/rank_<r>/step_<N>          rank r's own state
//   /dev/shm/tessera-<uid>-<run hash>/<layout hash>/copy_of_rank_<s>/step_<N>  the copy rank r keeps of s
// Each step directory is an ordinary committed checkpoint of one rank's state (core/rank_local_state.h
// names its shards), verified by its own checksums; the copy is its files byte for byte, sent from mapping to
// mapping (step_dir_transfer.h).
//
// Partners: detect_hosts proves which ranks share /dev/shm. With H ≥ 2 hosts of equal rank counts, the
// partner of local rank l on host h is local rank l on host (h + 1) mod H, so a host's loss leaves every
// one of its ranks' copies on the next host; otherwise (one host, or unequal hosts) it is rank (r + 1) mod
// world, which survives the loss of a rank but not of its host. Partnering is a permutation: every rank
// holds exactly one copy, of its source.
//
// A save is collective and synchronous (the state written straight from its buffers into tmpfs, and one
// exchange of the rank's files with its partner and source); it keeps the previous step until every rank holds the new one and its copy, so a
// crash mid-save leaves a complete older state. Restoring is collective: the ranks agree on the newest
// step whose every rank's state is in memory somewhere (own or copy) and verifies, the partners of ranks
// that lack theirs send them, and every rank opens its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/comm/communicator.h"
#include "tessera/core/stateful.h"
#include "tessera/core/status.h"

namespace tessera {

// /dev/shm/tessera-<uid>-<XXH3 of the absolute run directory>: every in-memory checkpoint of the run
// directory, on this host.
std::string memory_checkpoints_root(const std::string& run_dir);

// Removes this host's in-memory checkpoints of `run_dir` (no error if there are none).
void remove_memory_checkpoints(const std::string& run_dir);

// Figures of the last save, for metrics and the benchmark.
struct MemorySaveStats {
  int64_t step = -1;
  double seconds = 0;        // the whole collective save: snapshot, tmpfs write, exchange, copy write
  double exchange_seconds = 0;  // of which sending the own state to the partner and receiving the source's
  uint64_t bytes = 0;        // this rank's state (its step directory's files)
};

// What restore found: the step, and which ranks got their state back from their partner's copy.
struct MemoryRestore {
  int64_t step = -1;
  std::vector<int> restored_from_copy;
};

class MemoryCheckpoints {
 public:
  // Collective over `world`. `root`: memory_checkpoints_root(run_dir) (tests pass their own);
  // `layout_key`: a text that differs between layouts whose ranks hold different state (dp, tp, pp, vpp,
  // ZeRO stage, world size). A fresh run refuses, on every rank and naming the ranks and directory, to
  // start over in-memory checkpoints an earlier run of the same directory left (FailedPrecondition; they
  // are the only copy of its newest state); a resumed run keeps them.
  static StatusOr<std::unique_ptr<MemoryCheckpoints>> create(Communicator& world, const std::string& root,
                                                            const std::string& layout_key, bool fresh_run);

  int partner() const { return partner_; }  // holds this rank's copy; -1 with one rank
  int source() const { return source_; }    // whose copy this rank holds; -1 with one rank
  bool partner_on_another_host() const { return partner_other_host_; }

  // Collective: every rank saves the same steps. `snapshot` writes this rank's state (shards through
  // write_tensor_shard, which are stored under rank-local names). On a failure on any rank every rank
  // returns an error naming the ranks that failed, and the previous step stays.
  Status save(int64_t step, const std::function<void(StateWriter&)>& snapshot);

  // Collective: the newest step that every rank can restore (see above), with this rank's own state at
  // it open in `*reader` (read it through RankLocalStateReader); nullopt when none is complete. A state
  // that fails its checksums is moved to <own or copy dir>/quarantine/ and passed over. DataLoss on every rank,
  // naming the ranks, when a copy could not be sent back (the trainer then uses storage).
  StatusOr<std::optional<MemoryRestore>> restore(std::optional<CheckpointReader>* reader);

  // Collective: every rank's directories, once no rank writes any more (after a completed run).
  Status remove_all();

  const MemorySaveStats& last_save() const { return last_save_; }

 private:
  MemoryCheckpoints(Communicator& world, std::string root, int partner, int source, bool partner_other_host,
                    bool host_leader);
  // Keeps only `step` in `dir` (committed or not).
  void keep_only(const std::string& dir, int64_t step);

  Communicator& world_;
  std::string root_, own_dir_, copy_dir_;
  int partner_ = -1, source_ = -1;
  bool partner_other_host_ = false;
  bool host_leader_ = false;  // lowest rank of its host: removes the host's root at the end
  MemorySaveStats last_save_;
};

}  // namespace tessera
