// Where an Open MPI rank may listen. By default Open MPI's TCP transport opens a listening socket on every
// interface (0.0.0.0 and [::]) in every rank, even when all ranks share one host and talk through shared
// memory (issue 7: a single-host run was reachable from the network). Tessera scopes it before MPI_Init:
//
//   - all ranks on this host (OMPI_COMM_WORLD_LOCAL_SIZE == OMPI_COMM_WORLD_SIZE): the byte transports are
//     restricted to self + shared memory (OMPI_MCA_btl = "self,vader"), so no rank listens on TCP at all;
//   - ranks on several hosts: TCP is needed; it listens on the interfaces the operator names with
//     TESSERA_MPI_INTERFACES (e.g. "eth1" or "10.0.0.0/24"), passed to Open MPI as btl_tcp_if_include and
//     oob_tcp_if_include. Without it, Open MPI's default (every interface) stays, and docs/parallelism.md says
//     how to choose.
//
// An OMPI_MCA_* variable the operator already set always wins: nothing here overrides it.
// (mpirun's own out-of-band listener starts before any rank: `tessera launch` passes it loopback; a user
// who runs mpirun by hand adds `--mca oob_tcp_if_include lo` for a single host.)
#pragma once

#include <string>
#include <vector>

namespace tessera {

// The OMPI_MCA_* variables scope_mpi_network() sets, as "NAME=value", for the current environment.
// Pure function of the environment; exposed for tests.
std::vector<std::string> mpi_network_scope_settings();

// Sets them (setenv without overwrite). Call before MpiRuntime::init.
void scope_mpi_network();

}  // namespace tessera
