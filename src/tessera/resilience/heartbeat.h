// Heartbeats: how a supervisor outside the job sees each rank's progress without talking to it. After every
// step a rank replaces RUN_DIR/heartbeats/rank_<r>.json with {"rank", "pid", "host", "step", "time_unix_s",
// "start_step"}
// (write to a temporary name, then rename: a reader sees the old or the new beat, never half of one). The
// supervisor reads them to tell a dead rank (its pid is gone), a hung rank (its beat stopped) and the step
// each rank reached. A rank's last beat is marked final when it leaves in order, so that its exit is not
// taken for a death. A rank blocked on its peers adds "waiting" (the operations and the ranks it waits
// for) without changing its step or time, so that the supervisor blames the rank they wait for.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/comm/comm_stall.h"
#include "tessera/core/status.h"

namespace tessera {

// An operation this rank has been waiting in for its peers (comm/comm_stall.h): the rank is a victim.
struct HeartbeatWait {
  std::string axis;            // "dp", "world", "dp/host", ...
  std::string op;              // "all_reduce", "recv", ...
  uint64_t seq = 0;
  std::vector<int> for_ranks;  // world ranks it waits for (empty where unknown)
  double since_unix_s = 0;     // when the stall was noticed
};

struct Heartbeat {
  int rank = 0;
  int64_t pid = 0;
  std::string host;
  int64_t step = 0;
  double time_unix_s = 0;  // when `step` finished
  int64_t start_step = -1;  // the step this attempt of the rank started from (its checkpoint's); -1: unknown
  bool final = false;  // the rank's last beat: it is leaving in order (its run ended, or it failed cleanly)
  std::vector<HeartbeatWait> waiting;  // operations stalled on peers now (the beat's step and time unchanged)
};

// Thread-safe: the training thread beats, communication progress threads note stalls.
class HeartbeatWriter {
 public:
  // start_step: the step the rank starts from (0, or the checkpoint it resumed), written in every beat.
  HeartbeatWriter(const std::string& run_dir, int rank, int64_t start_step = -1);
  // Records that this rank finished `step` now. Failures are returned (the caller logs them once; a
  // missing heartbeat makes the supervisor suspect a hang, it never corrupts training).
  Status beat(int64_t step, bool final = false);
  // Records that this rank started (or, with stall.ended, stopped) waiting on peers in `stall`, whose
  // missing ranks are `world_ranks`, and rewrites the beat with its step and time unchanged. Before the
  // first step's beat nothing is written (a supervisor counts a beat as a finished step).
  Status note_stall(const CommStall& stall, std::vector<int> world_ranks);

 private:
  Status write_locked();
  std::mutex mutex_;
  std::string dir_, path_, tmp_path_, host_;
  int rank_;
  int64_t start_step_;
  int64_t step_ = 0;
  double step_time_unix_s_ = 0;
  bool final_ = false;
  bool beaten_ = false;
  std::vector<HeartbeatWait> waiting_;
};

// The heartbeats in RUN_DIR/heartbeats (malformed or half-removed files are skipped), by rank.
std::vector<Heartbeat> read_heartbeats(const std::string& run_dir);
// Removes RUN_DIR/heartbeats/* (a supervisor before each attempt, so old beats are not mistaken for new).
void clear_heartbeats(const std::string& run_dir);
// This machine's host name ("" if unknown).
std::string this_host_name();

}  // namespace tessera
