// FlightRecorder: the last N communication operations of one rank on one communicator, so that after a
// deadline or an error the rank and the operation that did not arrive are named, and what every rank was
// doing can be read side by side (one file per rank).
//
// Dump format (docs/communication.md), one file `flight_<axis>_rank<r>.txt` per rank and axis:
//   line 1:  tessera flight recorder axis=<axis> rank=<r>/<size> backend=<b> reason: <one-line status>
//   then one line per operation, oldest first:
//     #<seq> <op> peer=<p|-> bytes=<n> dtype=<t> start_us=<t0> end_us=<t1|-> state=<pending|ok|error> [<message>]
//   times are microseconds since the recorder was created (steady clock).
// Thread-safe: the caller's thread begins an entry, a backend's progress thread may end it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/comm/comm_types.h"
#include "tessera/core/status.h"

namespace tessera {

struct FlightEntry {
  uint64_t id = 0;        // position in the recorder's history (0, 1, ...)
  uint64_t seq = 0;       // the operation's sequence number on its communicator (collectives and p2p counted apart)
  CommOpKind op = CommOpKind::kBarrier;
  int peer = -1;          // send/recv partner or broadcast root; -1 when none
  int64_t bytes = 0;      // bytes this rank contributes
  DataType dtype = DataType::kBytes;
  int64_t start_us = 0;
  int64_t end_us = -1;    // -1 while pending
  enum class State : uint8_t { kPending, kOk, kError } state = State::kPending;
  std::string message;    // the error, when state is kError
};

class FlightRecorder {
 public:
  explicit FlightRecorder(int capacity);

  // Records the start of an operation; returns the id to end() it with.
  uint64_t begin(CommOpKind op, uint64_t seq, int peer, int64_t bytes, DataType dtype);
  // Records the end of operation `id` (ignored when it has already left the ring).
  void end(uint64_t id, const Status& status);

  // The kept entries, oldest first.
  std::vector<FlightEntry> snapshot() const;
  // The dump text (header line + one line per entry).
  std::string format(const std::string& axis, int rank, int size, const std::string& backend,
                     const Status& reason) const;
  // Writes format() to `dir`/flight_<axis>_rank<rank>.txt (creating `dir`); returns the path written.
  StatusOr<std::string> dump(const std::string& dir, const std::string& axis, int rank, int size,
                             const std::string& backend, const Status& reason) const;

 private:
  int64_t now_us() const;

  const std::chrono::steady_clock::time_point origin_;
  mutable std::mutex mutex_;
  std::vector<FlightEntry> ring_;  // ring_[id % capacity]
  uint64_t next_id_ = 0;
};

}  // namespace tessera
