// Which rank to blame for a hang. When one rank stops (a stuck kernel, a SIGSTOP, a dead link), its peers
// soon block in the next collective waiting for it, and every heartbeat stops within a step of the others;
// the first beat to pass the timeout is as likely a victim's as the culprit's. Victims say so: a rank
// blocked on its peers adds "waiting" to its heartbeat with the ranks it waits for (comm/comm_stall.h).
//
// Among the ranks whose beat is older than the timeout (final beats excepted):
//   1. one that is not waiting on any peer is stuck on its own: the oldest such beat is blamed;
//   2. else every stale rank waits: the rank they name most often (ties: the lowest) is blamed, if it has a
//      beat (it may be stuck in communication itself, e.g. on a send nobody receives);
//   3. else (waits that name nobody, e.g. mpi collectives) the oldest stale beat.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tessera/resilience/heartbeat.h"

namespace tessera {

struct HangVerdict {
  size_t index = 0;  // into the beats given
  std::string why;   // e.g. "rank 1 waits for it in all_reduce #42 on axis 'dp'"; empty for rule 1
};

// nullopt while no beat is older than hang_timeout_s.
std::optional<HangVerdict> blame_hung_rank(const std::vector<Heartbeat>& beats, double now_unix_s, double hang_timeout_s);

}  // namespace tessera
