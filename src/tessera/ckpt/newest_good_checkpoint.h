// Resuming from storage without ever trusting a bad checkpoint: open_newest_good_checkpoint walks the
// step directories of a run's checkpoints/ from the newest down, fully verifies each (COMMIT names the
// manifest's checksum, the manifest parses and is consistent, every data file is whole, every chunk's
// XXH3 matches: one read of the checkpoint's bytes), and returns a reader of the first that passes.
// Every newer one that fails is quarantined: renamed to checkpoints/quarantine/step_N.<reason> (never
// deleted, never overwritten: a name already taken gets a ".2", ".3", … suffix), with one warning line
// naming the directory and the file and chunk that failed. The previous good checkpoint is then the
// newest one, so a resumed run can never overwrite the bad one with a later save, and an operator can
// inspect it later.
//
// What counts: directories named step_<digits> (with or without COMMIT: a step directory without a
// COMMIT marker is never left by the commit protocol, which renames only committed tmp dirs, so it is
// damage). `*.tmp` directories are saves or deletions in progress, not checkpoints: left alone (their
// clean-up is the checkpointer's, checkpoint_dir.h). Older checkpoints than the good one are not read.
//
// Multi-rank: only one process may quarantine (rank 0, the run directory's writer); it then tells the
// others which step to open (a broadcast), and they open that step directory with CheckpointReader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/core/status.h"

namespace tessera {

inline constexpr std::string_view kQuarantineDirName = "quarantine";

// One checkpoint set aside, and why.
struct QuarantinedCheckpoint {
  int64_t step = 0;
  std::string from;    // checkpoints/step_N
  std::string to;      // checkpoints/quarantine/step_N.<reason>; empty when not moved (quarantine off)
  std::string reason;  // "uncommitted" (no COMMIT), "unreadable" (COMMIT, manifest or data files do
                       // not open consistently), "checksum" (a chunk's bytes fail their XXH3)
  Status error;        // the verification failure: names the file (and tensor/chunk) that failed
};

struct NewestGoodOptions {
  // false: bad checkpoints are skipped with the same warning but not moved (read-only callers, ranks
  // other than the one that owns the run directory).
  bool quarantine = true;
};

// The newest step directory in `checkpoints_dir` that fully verifies, opened (its chunks already
// verified, so reads do not hash them again). Appends every newer bad checkpoint to *quarantined (if
// given). NotFound if the directory is missing or holds no good checkpoint; the message then says how
// many were quarantined and where. IoError if a bad one cannot be moved aside (the caller must not go
// on: a later save of that step would replace it).
StatusOr<CheckpointReader> open_newest_good_checkpoint(const std::string& checkpoints_dir,
                                                       const NewestGoodOptions& options = {},
                                                       std::vector<QuarantinedCheckpoint>* quarantined = nullptr);

}  // namespace tessera
