// MemoryReport: what one training process holds, by kind, predicted from the shapes before anything is
// allocated, so it can be printed at start-up and compared with the measured peak RSS (and with the
// planner's memory model, which uses the same five kinds).
//
//   parameters   fp32 master weights, plus the bf16 copy the bf16 matmuls read (KernelBackend::
//                set_matmul_weights) when the precision is bf16
//   gradients    fp32, one per parameter
//   optimizer    AdamW's two fp32 moments per parameter
//   activations  what the blocks keep per layer for backward under the recompute mode, plus the one
//                shared set of recomputed buffers (GptModel::allocation_bytes)
//   workspace    the model's LM-head chunk, its wte gradient and the backward scratch; the fast kernels'
//                per-thread attention scratch; the bf16 operand scratch and the layer weights' two packed bf16
//                layouts (fast_matmul.cc)
//
// Not counted: the program, its libraries and oneDNN's internal buffers (tens of MiB), and the data
// loader's windows.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/gpt_model.h"

namespace tessera {

struct MemoryReport {
  double parameters = 0, gradients = 0, optimizer = 0, activations = 0, workspace = 0;  // bytes, predicted
  // What the process itself held before training started (its code and libraries, MPI's shared-memory
  // segments, the data loader's maps): measured at start-up (the trainer sets it), not predicted; 0 = unknown.
  double program = 0;
  // Pages of the peers' shared-memory buffers this process maps and writes in in-place collectives (the shm
  // backend: rank r writes slice r of every peer's gradients, and of its parameters where they are all-gathered
  // in place). Physically the peers' memory, but a process's RSS counts every page it touches, so each rank's
  // peak RSS does too (zero_memory_report; 0 without shared-memory peers).
  double peer_buffers = 0;
  double total() const {
    return parameters + gradients + optimizer + activations + workspace + program + peer_buffers;
  }
  // "memory: 2.61 GiB = parameters 474 MiB + gradients 474 MiB + optimizer 949 MiB + activations
  //  147 MiB (recompute full) + workspace 590 MiB [+ program 80 MiB (measured at start)]"
  std::string summary(Recompute recompute) const;
};

// The report for training `spec` on [batch, seq] micro-batches with `threads` kernel threads.
MemoryReport training_memory_report(const ModelSpec& spec, int64_t batch, int64_t seq, const ModelOptions& options,
                                    MatmulPrecision precision, int threads);

}  // namespace tessera
