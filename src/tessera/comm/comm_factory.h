// Which backend each grid axis uses (docs/communication.md). The factory turns an axis group of the MPI
// world into the backend chosen for it; groups that already share memory (local) stay as they are.
#pragma once

#include <memory>
#include <string_view>

#include "tessera/comm/communicator.h"
#include "tessera/comm/shm_communicator.h"

namespace tessera {

enum class CommBackend {
  kKeep,  // the group's own backend, as split from the world (mpi under mpirun, local for thread-ranks)
  kAuto,  // shm when the group is on one host; hier when it spans hosts and some host holds several of its ranks; else mpi
  kMpi,
  kShm,
  kHier,
};

StatusOr<CommBackend> parse_comm_backend(std::string_view name);  // "keep", "auto", "mpi", "shm", "hier"
const char* comm_backend_name(CommBackend backend);

// A communicator of `backend` over the ranks of `group`, keeping its name, deadline and flight-recorder
// settings. Collective over `group`. An mpi `group` is consumed (kept as the mpi backend or as the
// bootstrap and inter-host part of the others); a group of another backend is returned as it is when
// `backend` is kAuto, and is an error for an explicit backend it is not.
StatusOr<std::unique_ptr<Communicator>> make_axis_communicator(std::unique_ptr<Communicator> group, CommBackend backend,
                                                               const ShmOptions& shm = {});

}  // namespace tessera
