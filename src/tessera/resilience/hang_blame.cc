#include "tessera/resilience/hang_blame.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace tessera {

std::optional<HangVerdict> blame_hung_rank(const std::vector<Heartbeat>& beats, double now_unix_s, double hang_timeout_s) {
  std::vector<size_t> stale;
  for (size_t i = 0; i < beats.size(); ++i) {
    if (!beats[i].final && now_unix_s - beats[i].time_unix_s > hang_timeout_s) stale.push_back(i);
  }
  if (stale.empty()) return std::nullopt;
  const auto oldest_of = [&](const std::vector<size_t>& candidates) {
    size_t best = candidates.front();
    for (const size_t i : candidates) {
      if (beats[i].time_unix_s < beats[best].time_unix_s) best = i;
    }
    return best;
  };

  std::vector<size_t> not_waiting;
  for (const size_t i : stale) {
    if (beats[i].waiting.empty()) not_waiting.push_back(i);
  }
  if (!not_waiting.empty()) return HangVerdict{.index = oldest_of(not_waiting), .why = {}};

  std::map<int, int> named;  // rank → how many stale waits name it
  for (const size_t i : stale) {
    for (const HeartbeatWait& wait : beats[i].waiting) {
      for (const int rank : wait.for_ranks) {
        if (rank != beats[i].rank) ++named[rank];
      }
    }
  }
  int blamed = -1, most = 0;
  for (const auto& [rank, count] : named) {
    if (count > most) blamed = rank, most = count;  // ascending ranks: ties keep the lowest
  }
  for (size_t i = 0; i < beats.size(); ++i) {
    if (beats[i].rank != blamed) continue;
    std::string why;
    for (const size_t s : stale) {
      for (const HeartbeatWait& wait : beats[s].waiting) {
        if (std::find(wait.for_ranks.begin(), wait.for_ranks.end(), blamed) == wait.for_ranks.end()) continue;
        why += fmt::format("{}rank {} waits for it in {} #{} on axis '{}'", why.empty() ? "" : "; ", beats[s].rank, wait.op,
                           wait.seq, wait.axis);
      }
    }
    return HangVerdict{.index = i, .why = why};
  }
  const size_t oldest = oldest_of(stale);
  return HangVerdict{.index = oldest,
                     .why = fmt::format("every silent rank waits on its peers ({} in {} #{} on axis '{}'), naming none",
                                        beats[oldest].rank, beats[oldest].waiting.front().op,
                                        beats[oldest].waiting.front().seq, beats[oldest].waiting.front().axis)};
}

}  // namespace tessera
