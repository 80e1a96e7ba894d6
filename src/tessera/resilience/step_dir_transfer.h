// Copying committed step directories between ranks through comm/, for in-memory checkpoints' partner copies
// (memory_checkpoints.h). Each file goes from the sender's read-only mapping of it straight into the receiver's
// writable mapping of the new file: no staging buffer and no extra copy on either side (with shared memory the
// bytes move once; with MPI, as its transport moves them). The listing (ckpt/step_dir_listing.h) goes first.
//
//   // every rank: send my directory to my partner, receive my source's into a new directory
//   TESSERA_RETURN_IF_ERROR(exchange_step_dirs(world, mine, partner, copy_dir + "/step_00000012", source, tag));
//
// The copy is written into <receive_dir>.tmp and renamed when whole, so receive_dir appears complete or not at
// all. It is not fsynced: the destination is host memory (tmpfs). Each file is checked by the checkpoint's own
// checksums when the copy is opened.
#pragma once

#include <string>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

// Called by a pair (or a ring) of ranks at once, each with its own arguments:
//   to >= 0:   sends send_dir (a committed step directory) to rank `to`; an empty send_dir sends "nothing" —
//              how a rank whose own save failed keeps the protocol going.
//   from >= 0: receives into receive_dir (which must not exist) from rank `from`.
// `tag` and the few after it (one per file) must not be used by other traffic between the two ranks meanwhile.
// Errors name the directory or the peer; a receiver that cannot create its files still takes the bytes (and
// drops them), so its sender never waits for it. A sender that sent "nothing" is a FailedPrecondition at the
// receiver naming it.
Status exchange_step_dirs(Communicator& comm, const std::string& send_dir, int to, const std::string& receive_dir,
                          int from, int tag);

}  // namespace tessera
