// Choosing the checkpoint a (multi-rank) run resumes from, in one collective call: rank 0 — the run
// directory's only writer — runs open_newest_good_checkpoint (ckpt/newest_good_checkpoint.h: the newest
// checkpoint that fully verifies; every newer bad one is quarantined, with one log line and one
// `checkpoint_quarantined` incident each) and broadcasts the chosen step; every rank then holds a reader
// of that same step (rank 0's already verified in full, the others' verify each chunk on first read).
//
//   TESSERA_ASSIGN_OR_RETURN(auto reader, open_resume_checkpoint(grid_.world(), run_dir + "/checkpoints",
//                                                              &incident_log));
//   if (!reader) { start from step 0 } else { load from *reader }
//
// Never silently from a worse state: if checkpoints existed but none verifies, every rank fails (rank 0
// with the reasons, the others naming rank 0); starting from step 0 then is the operator's decision.
#pragma once

#include <optional>
#include <string>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"
#include "tessera/resilience/incident_log.h"

namespace tessera {

// Collective over `world` (every rank calls it). nullopt: no checkpoint at all (a fresh run). DataLoss
// when every step directory failed verification; a comm failure as is. `incidents` may be null (rank 0
// only appends to it).
StatusOr<std::optional<CheckpointReader>> open_resume_checkpoint(Communicator& world,
                                                                 const std::string& checkpoints_dir,
                                                                 IncidentLog* incidents);

}  // namespace tessera
