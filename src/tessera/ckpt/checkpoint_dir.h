// The checkpoints directory of a run (runs/NAME/checkpoints/): finding the newest committed
// checkpoint to resume from, listing, and retention. Only names of the form step_<digits> with a COMMIT
// marker count as checkpoints; `*.tmp` directories are unfinished saves (or deletions) and are ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

// Paths of the step directories in `checkpoints_dir` that hold a COMMIT marker, sorted by step
// (ascending). Does not validate them (see find_latest_checkpoint). Empty if the directory is missing.
std::vector<std::string> list_checkpoints(const std::string& checkpoints_dir);

// The newest committed checkpoint, checked to open cleanly (COMMIT matches the manifest, manifest valid,
// data files long enough; chunk checksums are checked when read). Skips, with a warning each, what a crash
// or a stray file leaves: *.tmp, uncommitted, unparsable names. NotFound with a hint if no committed
// checkpoint exists; DataLoss naming it if the newest committed one does not open (corruption is never
// passed over silently: a hint says to move it aside to use the previous one).
StatusOr<std::string> find_latest_checkpoint(const std::string& checkpoints_dir);

// What a user may point at: a step directory (has COMMIT or manifest.json) → itself; a run directory
// (has checkpoints/) or a checkpoints directory → its newest checkpoint.
StatusOr<std::string> resolve_checkpoint_path(const std::string& path);

// Retention: removes the oldest committed checkpoints so that `keep_last` remain (0 = keep all), never
// the one at `keep_step`. Each is first renamed to "<name>.deleting.tmp" (atomic uncommit) and then
// removed, so a crash mid-removal never leaves a half-deleted directory that looks committed.
Status remove_old_checkpoints(const std::string& checkpoints_dir, int keep_last, int64_t keep_step);

// Removes every `*.tmp` directory (left by interrupted saves or deletions). Call only when no save
// into `checkpoints_dir` is in flight.
Status remove_stale_tmp_dirs(const std::string& checkpoints_dir);
// Removes only the `step_M.tmp` / `step_M.deleting.tmp` directories with M < before_step: what a sharded
// run's rank 0 may remove once step `before_step` committed (every rank has finished with every older
// step then, while other ranks may already write newer ones).
Status remove_stale_tmp_dirs_before(const std::string& checkpoints_dir, int64_t before_step);

}  // namespace tessera
