// The MPI backend of Communicator (Open MPI, launched by `mpirun` or Slurm's `srun`), and the process-wide
// MPI runtime it needs. MPI is used only inside comm/ (docs/architecture.md).
//
// Every operation is nonblocking underneath (MPI_Iallreduce, MPI_Isend, ...); a handle's test()/wait()
// drive MPI's progress from the calling thread and wait() gives up at the deadline. Each collective first
// all-gathers a small descriptor (sequence number, operation, type, count, root) alongside the data, so a
// rank that calls a different collective is named on every rank. At a deadline the waiting rank asks its
// peers (on a separate control communicator) where they are; peers that are waiting in any Tessera call
// answer, and those that do not are named as missing.
#pragma once

#include <memory>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

// True when this process was started by an MPI launcher (Open MPI's mpirun, PMIx, Slurm srun with PMI):
// then the tools initialise MPI; otherwise they run as one rank without touching MPI.
bool launched_by_mpi();

// MPI_Init_thread on construction (MPI_THREAD_FUNNELED: only the main thread calls MPI), MPI_Finalize on
// destruction. One per process, owned by main(). Move-only.
class MpiRuntime {
 public:
  static StatusOr<MpiRuntime> init(int* argc, char*** argv);
  MpiRuntime(MpiRuntime&& other) noexcept;
  MpiRuntime& operator=(MpiRuntime&&) = delete;
  MpiRuntime(const MpiRuntime&) = delete;
  ~MpiRuntime();

  // A communicator over MPI_COMM_WORLD (a duplicate, so Tessera's traffic never mixes with others').
  std::unique_ptr<Communicator> world(CommOptions options = {}) const;
  // Ends every rank of the job with `code` (after an error on one rank, so the others do not wait forever
  // in a collective).
  [[noreturn]] static void abort_job(int code);

 private:
  MpiRuntime() = default;
  bool owns_ = false;
};

// The plain blocking MPI collective (MPI_Allreduce in place, MPI_Reduce_scatter_block, MPI_Allgather) on
// an mpi-backend communicator, without deadline or checks: the baseline of `tessera bench comm`.
Status mpi_plain_collective(Communicator& comm, CommOpKind op, const void* in, void* out, int64_t count, DataType type);

}  // namespace tessera
