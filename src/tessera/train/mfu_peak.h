// The peak FLOP/s that MFU is measured against (MFU = model FLOP/s / peak): probed on the machines the job
// runs on at start-up (kernels/peak_probe.h), or set by config, which the source then says.
//
// The peak is the whole job's: the sum over every rank of that rank's peak on its kernel threads, because
// tokens/s counts the whole global batch. With parallel.precision = bf16 it is the bf16 dot-product peak
// (the matmuls run there); on a CPU without one, the fp32 peak.
#pragma once

#include <string>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"
#include "tessera/train/train_config.h"

namespace tessera {

struct MfuPeak {
  double gflops = 0.0;  // the job's peak, 1e9 FLOP/s, all ranks and threads
  std::string source;   // e.g. "probed: fp32 FMA loop (avx512f), 2 threads x 1 rank" or "configured: ..."
};

// Probes (about 40 ms) or reads the configured per-thread peak, then sums it over `world`. Collective over
// `world`: every rank calls it. `threads` is this rank's kernel thread count.
StatusOr<MfuPeak> resolve_mfu_peak(const TrainConfig& config, int threads, Communicator& world);

}  // namespace tessera
