// The `local` backend: ranks as threads of one process, sharing an arena in heap memory. It runs the same
// algorithms as `shm` (group_communicator.h), so it is the fast oracle for unit tests of every parallel
// feature: a test runs its body on N thread-ranks with run_on_thread_ranks.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tessera/comm/communicator.h"

namespace tessera {

struct LocalGroupOptions {
  int64_t block_bytes = 256 << 10;  // staging slot per rank
  int slots = 4;                    // staging slots per rank (pipeline depth)
  int64_t p2p_slot_bytes = 16 << 10;
  // Which ranks' buffers peers read and write in place; the others copy through their staging slots.
  // Threads can always share, so kAll is the fast default; tests use the others to cover staging.
  enum class Sharing { kAll, kNone, kEvenRanks } sharing = Sharing::kAll;
};

// `n` communicators of one group; rank i is element i. Each must be driven by its own thread.
StatusOr<std::vector<std::unique_ptr<Communicator>>> make_local_communicators(int n, const CommOptions& options = {},
                                                                              const LocalGroupOptions& group = {});

// Runs body(communicator) on n threads, one per rank, and returns when every one has returned.
Status run_on_thread_ranks(int n, const std::function<void(Communicator&)>& body, const CommOptions& options = {},
                           const LocalGroupOptions& group = {});

}  // namespace tessera
