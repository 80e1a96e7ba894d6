// In-memory checkpoints (train.ckpt_in_memory_every): the same sharded checkpoints as in RUN_DIR/checkpoints,
// written every few steps to host memory — a tmpfs, /dev/shm — where they outlive the job's processes
// (a killed or hung rank, a restart by the supervisor) but not the host. A restart then resumes from at
// most ckpt_in_memory_every steps ago without reading storage; storage checkpoints remain for the loss of
// the whole job or host. The writes are as cheap as a memcpy and run in the checkpointer's thread.
//
// Layout: /dev/shm/tessera-<uid>-<XXH3 of the absolute run directory>/checkpoints/step_<N>, one per run
// directory, kept to the newest one. Every rank must see the same directory (one host): rank 0 writes a
// token there and every rank reads it back, or the run is refused with one line. The trainer removes the
// directory when its run ends; the supervisor when it stops restarting.
//
// Not built: a copy of each rank's part in a peer's memory on another host, which would survive the loss
// of a host (today that falls back to the storage checkpoints).
#pragma once

#include <string>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

// The directory holding `run_dir`'s in-memory checkpoints (its parent is removed with it).
std::string memory_checkpoints_dir(const std::string& run_dir);

// Collective over `world`: rank 0 creates memory_checkpoints_dir(run_dir) (a fresh run first removes what
// an earlier run of the same directory left) and writes a token; every rank checks that it reads the same
// token. FailedPrecondition on every rank (naming the directory and the ranks) when some rank does not see
// it: the ranks are not on one host, or /dev/shm is not writable.
Status prepare_memory_checkpoints(Communicator& world, const std::string& run_dir, bool fresh_run);

// Removes `run_dir`'s in-memory checkpoints (no error if there are none).
void remove_memory_checkpoints(const std::string& run_dir);

}  // namespace tessera
