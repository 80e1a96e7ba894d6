// The MPI backend of Communicator (Open MPI, launched by `mpirun` or Slurm's `srun`), and the process-wide
// MPI runtime it needs. MPI is used only inside comm/ (docs/architecture.md).
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
  std::unique_ptr<Communicator> world() const;
  // Ends every rank of the job with `code` (after an error on one rank, so the others do not wait forever
  // in a collective).
  [[noreturn]] static void abort_job(int code);

 private:
  MpiRuntime() = default;
  bool owns_ = false;
};

}  // namespace tessera
