// Peak FLOP/s of this machine, probed at start-up: the denominator of MFU (issue 7: a hard-coded per-core
// constant from one CPU gave 111% MFU on the next one).
//
// The probe runs a register-only multiply-add loop on every kernel thread at once: 12 independent vector
// accumulators per thread (enough to cover the FMA latency × the FMA pipes of current x86 cores), no memory
// traffic, so the rate is the core's arithmetic peak at the clock it holds under full vector load. Each
// thread times ~1 ms repetitions in its own CPU time (CLOCK_THREAD_CPUTIME_ID) and keeps the fastest: on a
// shared machine other processes take turns on the core, which wall time would count against the core and
// CPU time does not. The job's peak is the sum of its threads' rates.
//   fp32: vfmadd231ps — 2 FLOP per lane (a·b + c).
//   bf16: vdpbf16ps   — per fp32 lane, c + a0·b0 + a1·b1: 4 FLOP per fp32 lane (2 multiplies, 2 adds).
// Both are "model FLOPs" in the usual convention (a multiply-add is 2 FLOPs), so MFU = achieved / peak.
#pragma once

#include <string>

namespace tessera {

struct PeakFlops {
  int threads = 0;            // threads that ran the loops at once
  double fp32_gflops = 0.0;   // all threads together, 1e9 FLOP/s
  double bf16_gflops = 0.0;   // 0 when this CPU has no bf16 dot-product instruction
  std::string fp32_isa;       // the instruction the fp32 loop ran: "avx512f", "avx2+fma" or "scalar"
  std::string bf16_isa;       // "avx512_bf16", or "" when there is none
  double probe_seconds = 0.0; // wall time the probe took
};

// Runs the fp32 (and, where the CPU has it, the bf16) loop on `threads` OpenMP threads (0 = the kernel
// thread count, kernel_threads()) for about `seconds_per_precision` each, and reports the fastest
// repetition's rate. ~0.02 s per precision is enough for a stable figure (a few tens of repetitions).
PeakFlops probe_peak_flops(int threads, double seconds_per_precision);

// "fp32 421.0 GFLOP/s (avx512f), bf16 760.2 GFLOP/s (avx512_bf16), 2 threads": for log lines.
std::string describe_peak_flops(const PeakFlops& peak);

}  // namespace tessera
