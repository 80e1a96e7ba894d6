// `tessera report RUN_DIR`: what a training run did, as one self-contained HTML page — inline CSS and
// inline SVG charts (svg_chart.h), no scripts, no external resources — that any browser renders offline.
//
// Read from the run directory that `tessera train --out RUN_DIR` writes:
//   metrics.jsonl  one JSON object per optimizer step (train/metrics.h): step, loss, lr, grad_norm,
//                  step_seconds, tokens_per_s, mfu (0..1), val_loss on evaluation steps; every
//                  numeric "<name>rss_bytes" or "<name>memory_bytes" field (the trainer writes
//                  peak_rss_bytes) is charted as memory in MiB; other "_bytes" fields (comm_bytes) are not
//   config.toml    the resolved config, shown verbatim
//   checkpoints/   the committed step_N directories, drawn as dashed markers on every chart
//   incidents.jsonl  the run's incidents (resilience/incident_log.h): each one with a step is a dashed
//                  marker on every chart, and all are listed in a table (time, kind, rank, step, time lost)
//   goodput.json   where the wall time went (resilience/goodput.h), written when a run or a supervised
//                  job ends: a stacked bar (productive, lost work, restart, checkpoint stall, other)
// Charts: loss and val loss; tokens/s; MFU (%); memory (a "no data" frame and a note when the run
// recorded none); learning rate; gradient norm; the goodput bar when the run has goodput.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/resilience/goodput.h"
#include "tessera/resilience/incident_log.h"

namespace tessera {

struct RunMetricsRow {
  int64_t step = 0;
  std::map<std::string, double> values;  // every numeric field but "step"
};

struct RunHistory {
  std::string run_dir;
  std::string config_text;            // config.toml; empty if the run has none
  std::vector<RunMetricsRow> rows;    // in file order
  std::vector<int64_t> checkpoint_steps;  // committed checkpoints, ascending
  std::vector<Incident> incidents;        // incidents.jsonl in file order; empty if none
  std::optional<GoodputSummary> goodput;  // goodput.json, if the run has one
};

// Reads the run directory. NotFound (with a hint) without metrics.jsonl; DataLoss naming file and line
// for a line that is not a JSON object with an integer "step"; InvalidArgument for a log with no rows;
// DataLoss naming the field of a malformed goodput.json (a torn incidents.jsonl line is skipped, as
// read_incidents does, with a warning).
StatusOr<RunHistory> load_run_history(const std::string& run_dir);

// The page, "<!DOCTYPE html>..." (UTF-8).
std::string render_run_report(const RunHistory& history);

}  // namespace tessera
