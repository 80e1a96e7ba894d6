// Process faults injected for tests and demos (issue 10's fault injection), from the environment variable
// TESSERA_FAULT, a ';'-separated list whose entries of these kinds concern a training rank (other kinds,
// e.g. ckpt_write, belong to other layers and are skipped here):
//   kill:rank=R,step=S   rank R kills itself with SIGKILL right after finishing step S (a crashed node)
//   hang:rank=R,step=S   rank R stops itself with SIGSTOP right after step S (a hung process: alive, silent)
//   bitflip:rank=R,step=S[,bit=B][,tensor=NAME]  rank R flips bit B (default 20, a mantissa bit: the value
//                          changes by a small fraction and stays finite) of the fp32 parameter in the
//                          middle of tensor NAME (default: of the whole flat buffer) right after step S
//                          (silent memory corruption)
//   matmul:rank=R,step=S     rank R's first matmul of step S computes one wrong output (its largest element
//                          x2 or x1/2: a compute fault; kernels/abft_backend.h), once per run directory
//   slow:rank=R,step=S,ms=M  rank R computes M ms longer in every step after step S (a straggler: a slow
//                          or throttled node); not once per run directory, it is a property of the node
// Kill, hang and bitflip fire once per run directory: before firing it creates RUN_DIR/faults/<kind>_rank<R>_step<S>,
// so the restarted job passes step S again without dying again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct ProcessFault {
  enum class Kind { kKill, kHang, kBitflip, kSlow, kMatmul };
  Kind kind = Kind::kKill;
  int rank = 0;
  int64_t step = 0;
  int64_t slow_ms = 0;  // kSlow: extra compute milliseconds per step
  int bit = 20;         // kBitflip: which bit of the fp32 value, 0 (mantissa LSB) to 31 (sign)
  std::string tensor;   // kBitflip: the parameter tensor's name; empty: the whole flat buffer
};

// The kill/hang/bitflip/slow/matmul entries of `value`; InvalidArgument naming the entry and field when one is malformed.
StatusOr<std::vector<ProcessFault>> parse_process_faults(std::string_view value);
// The faults of the TESSERA_FAULT variable (none when unset).
StatusOr<std::vector<ProcessFault>> process_faults_from_environment();
// Fires the first kill or hang of `rank` at `step` that has not fired in `run_dir` yet (does not return then).
void inject_process_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir, int rank, int64_t step);
// The fault of `kind` (bitflip, matmul) for `rank` at `step` that has not fired in `run_dir` yet; it is
// marked fired (the caller injects it: it knows where the tensor or the matmul is).
std::optional<ProcessFault> take_due_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir,
                                           ProcessFault::Kind kind, int rank, int64_t step);
// Flips bit `bit` (0..31) of *value's fp32 representation.
void flip_float_bit(float* value, int bit);
// How many milliseconds `rank` is to stall while computing step `step` (1-based): the sum over its slow
// faults with S < step (0: none).
int64_t injected_slowdown_ms(const std::vector<ProcessFault>& faults, int rank, int64_t step);

}  // namespace tessera
