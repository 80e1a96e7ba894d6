// Process faults injected for tests and demos (issue 10's fault injection), from the environment variable
// TESSERA_FAULT, a ';'-separated list whose entries of these kinds concern a training rank (other kinds,
// e.g. ckpt_write, belong to other layers and are skipped here):
//   kill:rank=R,step=S   rank R kills itself with SIGKILL right after finishing step S (a crashed node)
//   hang:rank=R,step=S   rank R stops itself with SIGSTOP right after step S (a hung process: alive, silent)
// Each fault fires once per run directory: before firing it creates RUN_DIR/faults/<kind>_rank<R>_step<S>,
// so the restarted job passes step S again without dying again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct ProcessFault {
  enum class Kind { kKill, kHang };
  Kind kind = Kind::kKill;
  int rank = 0;
  int64_t step = 0;
};

// The kill/hang entries of `value`; InvalidArgument naming the entry and field when one is malformed.
StatusOr<std::vector<ProcessFault>> parse_process_faults(std::string_view value);
// The faults of the TESSERA_FAULT variable (none when unset).
StatusOr<std::vector<ProcessFault>> process_faults_from_environment();
// Fires the first fault of `rank` at `step` that has not fired in `run_dir` yet (does not return then).
void inject_process_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir, int rank, int64_t step);

}  // namespace tessera
