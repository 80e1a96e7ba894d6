// TraceRecorder: what one rank did during a run, as spans for a Chrome/Perfetto trace (chrome://tracing,
// ui.perfetto.dev) in the planner's format (plan/pipeline_sim.h's pipeline_chrome_trace): complete events
// ("ph":"X", microseconds) named like the schedule's actions ("F3", "B3", "recv_act3"), so a measured pipeline
// and a predicted one open side by side.
//
// Tracks: the rank's compute track (tid = its pipeline rank, pid = its data-parallel rank, as the planner
// draws one pipeline) and a communication track (tid = 1000 + pipeline rank) for collectives that run behind
// compute. Times are seconds of the shared monotonic clock (core/clock.h) minus an origin the ranks agree on,
// so the per-rank files of one host line up.
//
// Not thread-safe: spans are added by the training thread (the communication track by the same thread, when
// it learns that a collective finished).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

class TraceRecorder {
 public:
  // pid, tid: the process and compute track the spans go to; origin_s: now_seconds() at the trace's 0.
  TraceRecorder(int pid, int tid, double origin_s) : pid_(pid), tid_(tid), origin_s_(origin_s) {}

  enum class Track { kCompute, kComm };
  // A span [start_s, end_s) of now_seconds() named `name` in `category` ("forward", "backward", "idle", "comm",
  // "optimizer", "data", "eval").
  void add(std::string name, std::string category, double start_s, double end_s, Track track = Track::kCompute);
  int64_t size() const { return static_cast<int64_t>(spans_.size()); }

  // {"traceEvents": [...]} with thread-name metadata for both tracks.
  std::string to_json() const;
  // Writes to_json() to `path` atomically (core/file.h).
  Status write(const std::string& path) const;

  // The file rank `rank` of `world` writes for --trace PATH: PATH itself for one rank, else PATH with
  // ".rank<r>" before its extension ("run/trace.json" → "run/trace.rank3.json").
  static std::string rank_path(const std::string& path, int rank, int world);

 private:
  struct Span {
    std::string name, category;
    double start_s, end_s;
    Track track;
  };
  int pid_, tid_;
  double origin_s_;
  std::vector<Span> spans_;
};

}  // namespace tessera
