// The `hier` backend: shm within each host, MPI between the hosts' leaders (local rank 0).
//   all_reduce      shm all_reduce on each host → leaders MPI all_reduce → shm broadcast from the leader
//   all_gather      shm all_gather on each host → leaders MPI all_gather of host blocks → leader puts the
//                   blocks in global rank order → shm broadcast
//   reduce_scatter  the all_reduce of the whole input, then this rank's block (simple; moves p× the bytes
//                   of a native reduce-scatter, docs/communication.md)
//   broadcast       shm broadcast on the root's host → leaders MPI broadcast → shm broadcast elsewhere
//   send/recv       MPI over the whole group
// Each host must hold the same number of the group's ranks. Operations run as a chain of sub-operations
// that test()/wait() on any of this communicator's handles advance, in call order.
#pragma once

#include <memory>

#include "tessera/comm/communicator.h"
#include "tessera/comm/shm_communicator.h"

namespace tessera {

// Builds the hierarchy over `group` (an mpi communicator; consumed: it carries send/recv and splits).
// Collective over `group`.
StatusOr<std::unique_ptr<Communicator>> make_hierarchical_communicator(std::unique_ptr<Communicator> group,
                                                                       const ShmOptions& shm = {});

}  // namespace tessera
