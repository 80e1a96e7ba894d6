// The goodput summary of a run: how much of the wall time trained the model. At the end of a run (or
// of a supervised job, across restarts) it is written to RUN_DIR/goodput.json and printed as one line.
//
//   effective training time = productive_step_s / wall_s
//   wall_s = productive_step_s + lost_work_s + restart_s + checkpoint_stall_s + other_s
//
// productive_step_s: step time of the steps that count (each optimizer step once); lost_work_s: step
// time of steps computed and then thrown away (redone after a rollback or restart); restart_s: from
// the detection of a failure to the first new step (teardown, relaunch, load); checkpoint_stall_s:
// time the step loop was blocked by checkpointing (snapshot copies, waits for a previous write);
// other_s: the rest (start-up, evaluation, logging), derived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

inline constexpr std::string_view kGoodputFileName = "goodput.json";

struct GoodputSummary {
  double wall_s = 0;
  double productive_step_s = 0;
  double lost_work_s = 0;
  double restart_s = 0;
  double checkpoint_stall_s = 0;
  int64_t steps = 0;  // productive steps
  int restarts = 0;

  void add_step(double seconds) { productive_step_s += seconds; ++steps; }
  void add_lost_work(double seconds) { lost_work_s += seconds; }
  void add_restart(double seconds) { restart_s += seconds; ++restarts; }
  void add_checkpoint_stall(double seconds) { checkpoint_stall_s += seconds; }

  // productive_step_s / wall_s (0 when wall_s is 0).
  double effective() const;
  // wall_s minus the accounted parts, never negative.
  double other_s() const;
};

// InvalidArgument naming the field when a duration is negative or not finite, or the parts add up to
// more than wall_s (beyond 1 ms of rounding).
Status check_goodput(const GoodputSummary& summary);

// {"effective_training_time": 0.931, "wall_s": …, …, "other_s": …} (one line).
std::string goodput_to_json(const GoodputSummary& summary);
// "goodput: effective training time 93.1% (productive 931 s of 1000 s wall over 500 steps; lost work
// 20 s, restart 12.5 s in 2 restarts, checkpoint stall 3.2 s, other 33.3 s)"
std::string goodput_text_line(const GoodputSummary& summary);

// Checks `summary` and writes RUN_DIR/goodput.json atomically.
Status write_goodput(const std::string& run_dir, const GoodputSummary& summary);

// The parts of a goodput_to_json object (the derived effective_training_time and other_s are recomputed).
// DataLoss naming `source` and the field that is missing or not a number; check_goodput's refusals too.
StatusOr<GoodputSummary> goodput_from_json(std::string_view text, const std::string& source);
// RUN_DIR/goodput.json, or nullopt when the run has none (it is written when a run ends).
StatusOr<std::optional<GoodputSummary>> read_goodput(const std::string& run_dir);

}  // namespace tessera
