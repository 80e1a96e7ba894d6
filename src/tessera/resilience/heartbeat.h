// Heartbeats: how a supervisor outside the job sees each rank's progress without talking to it. After every
// step a rank replaces RUN_DIR/heartbeats/rank_<r>.json with {"rank", "pid", "host", "step", "time_unix_s"}
// (write to a temporary name, then rename: a reader sees the old or the new beat, never half of one). The
// supervisor reads them to tell a dead rank (its pid is gone), a hung rank (its beat stopped) and the step
// each rank reached. A rank's last beat is marked final when it leaves in order, so that its exit is not
// taken for a death.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct Heartbeat {
  int rank = 0;
  int64_t pid = 0;
  std::string host;
  int64_t step = 0;
  double time_unix_s = 0;
  bool final = false;  // the rank's last beat: it is leaving in order (its run ended, or it failed cleanly)
};

class HeartbeatWriter {
 public:
  HeartbeatWriter(const std::string& run_dir, int rank);
  // Records that this rank finished `step` now. Failures are returned (the caller logs them once; a
  // missing heartbeat makes the supervisor suspect a hang, it never corrupts training).
  Status beat(int64_t step, bool final = false);

 private:
  std::string dir_, path_, tmp_path_, host_;
  int rank_;
};

// The heartbeats in RUN_DIR/heartbeats (malformed or half-removed files are skipped), by rank.
std::vector<Heartbeat> read_heartbeats(const std::string& run_dir);
// Removes RUN_DIR/heartbeats/* (a supervisor before each attempt, so old beats are not mistaken for new).
void clear_heartbeats(const std::string& run_dir);
// This machine's host name ("" if unknown).
std::string this_host_name();

}  // namespace tessera
