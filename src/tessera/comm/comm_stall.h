// Stall notices: how a rank that waits on its peers tells the outside world that it is a victim, not the
// culprit. When one rank hangs, every other rank soon blocks in a collective waiting for it, and all their
// heartbeats stop together; a supervisor that only sees stopped heartbeats cannot tell who is to blame.
// A backend reports each operation that has waited longer than CommOptions::stall_notice_after, once when
// the stall starts (with the peers it is still waiting for, where the backend knows them) and once when
// the operation ends. The trainer forwards the notices into its heartbeat (resilience/heartbeat.h), and
// the supervisor blames a stalled rank that is not itself waiting, or the rank the waiters name.
//
// Ownership: CommOptions holds a shared_ptr to one CommStallNotices per process; communicators split from
// a group share it (their notices carry their own axis name). Thread-safe: progress threads report.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/comm/comm_types.h"

namespace tessera {

struct CommStall {
  std::string axis;          // the reporting communicator's axis ("dp", "world", "dp/host", ...)
  CommOpKind op = CommOpKind::kBarrier;
  uint64_t seq = 0;          // the operation's sequence number on that axis
  std::vector<int> missing;  // axis-local ranks not yet arrived (empty where the backend cannot tell)
  bool ended = false;        // false: the stall started; true: the operation finished (or failed)
};

class CommStallNotices {
 public:
  using Listener = std::function<void(const CommStall&)>;
  // Replaces the listener (empty: notices are dropped). After it returns, the old listener is not running
  // and will not be called again, so its owner may be destroyed.
  void set_listener(Listener listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
  }
  void report(const CommStall& stall) {
    std::lock_guard lock(mutex_);
    if (listener_) listener_(stall);
  }

 private:
  std::mutex mutex_;
  Listener listener_;
};

}  // namespace tessera
