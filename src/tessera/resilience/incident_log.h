// The incident log of a run: RUN_DIR/incidents.jsonl, one JSON object per line, appended as incidents
// happen (a rank died, hung, straggled, diverged, a checkpoint was quarantined, a save failed, …), so
// operators and the goodput summary can tell what a run lost and why. Each line:
//
//   {"time_unix_s": 1764655200.25, "kind": "checkpoint_quarantined", "rank": 0, "step": 200,
//    "detection_s": 0.8, "time_lost_s": 41.5, "detail": "step_00000200 → quarantine/…: …"}
//
// kind: a short snake_case word (free-form; the ones in use are listed in docs/resilience.md); rank: the
// rank concerned (-1: the whole job); step: the optimizer step (-1: unknown); detection_s: from the
// fault to its detection; time_lost_s: wall time the run lost to it (work redone, restart).
//
// Durability: each line is one write(2) on an O_APPEND descriptor followed by fsync, so concurrent
// appenders (ranks, the supervisor) never interleave within a line and a crash loses at most the line
// being written. A torn last line (a crash mid-write) is skipped by read_incidents with a warning.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

inline constexpr std::string_view kIncidentLogFileName = "incidents.jsonl";

struct Incident {
  double time_unix_s = 0;  // 0 → now when appended
  std::string kind;
  int rank = -1;
  int64_t step = -1;
  double detection_s = 0;
  double time_lost_s = 0;
  std::string detail;
};

// The JSON line of `incident` (no trailing newline) and back. Parsing fails with DataLoss naming the
// field that is missing or mistyped.
std::string incident_to_json(const Incident& incident);
StatusOr<Incident> incident_from_json(std::string_view line);

class IncidentLog {
 public:
  // The log of `run_dir` (created if missing; the file is created on the first append).
  explicit IncidentLog(std::string run_dir);
  // Appends one line durably (see above). InvalidArgument for an empty kind; IoError naming the file.
  Status append(Incident incident);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every well-formed line of the log at `path`, in order; an empty list if the file does not exist.
// A malformed line is skipped with one warning naming the file and line number.
StatusOr<std::vector<Incident>> read_incidents(const std::string& path);

}  // namespace tessera
