// Machine probe for the planner's calibration (`tessera bench kernels`, `tessera plan --calibrate`):
// measured matmul throughput on transformer shapes, STREAM-triad memory bandwidth and the fp32/bf16
// arithmetic peaks (peak_probe.h), all at a given thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/kernels/kernel_backend.h"
#include "tessera/kernels/peak_probe.h"

namespace tessera {

// One timed matmul_forward: out[m,n] = inp[m,k]·W[n,k]ᵀ (no bias); gflops = 2·m·n·k / seconds / 1e9.
struct MatmulProbe {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  double gflops = 0.0;
};

struct MachineProbe {
  int threads = 0;                         // kernel threads used for every figure below
  std::vector<MatmulProbe> matmul;         // transformer shapes, in the order of matmul_probe_shapes()
  double memory_bandwidth_gbs = 0.0;       // triad a = b + s·c, 12 bytes per element, 1e9 bytes/s
  PeakFlops peak;                          // register-only multiply-add loops, all threads
};

// The (m, n, k) shapes probe_machine times: N = 2048 rows of GPT-2 small-ish layers (C = 384):
// qkv, attention projection, MLP up/down, LM head, plus smaller and larger neighbours.
std::vector<MatmulProbe> matmul_probe_shapes();

// Times `backend.matmul_forward` on every probe shape, then the bandwidth and FMA loops, in two sweeps of
// about seconds_per_point/2 each per figure, and reports each figure's fastest call over both sweeps
// (noise on a shared machine only slows calls down). Sets the kernel thread count to
// `threads` (0 = all cores) and leaves it there. Takes ~(shapes + 2)·seconds_per_point plus the
// allocation of the largest shape (the LM head's 411 MB output).
MachineProbe probe_machine(KernelBackend& backend, int threads, double seconds_per_point);

// {"threads":2,"matmul":[{"m":..,"n":..,"k":..,"gflops":..},..],"memory_bandwidth_gbs":..,
//  "fp32_peak_gflops":..,"bf16_peak_gflops":..,"fp32_peak_isa":"avx512f","bf16_peak_isa":"avx512_bf16"}
std::string machine_probe_to_json(const MachineProbe& probe);

}  // namespace tessera
