// Per-step training metrics and the run's metrics.jsonl (one JSON object per line, flushed per step so a
// crash loses at most the line being written).
//
// MFU = model FLOP/s / peak FLOP/s, with model FLOPs per token = 6·N_mm + 12·L·T·C (ModelSpec::
// train_flops_per_token; docs/training.md) and the job's peak from train/mfu_peak.h (probed at start-up
// or configured), which every row records as mfu_peak_gflops.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

struct StepMetrics {
  int64_t step = 0;         // optimizer steps completed (1 after the first step)
  double loss = 0.0;        // mean training loss of the step's global batch
  double lr = 0.0;          // learning rate used by the step
  double grad_norm = 0.0;   // global gradient norm before clipping
  double step_seconds = 0.0;
  double tokens_per_s = 0.0;
  double mfu = 0.0;         // fraction of peak, 0..1
  double mfu_peak_gflops = 0.0;  // the peak MFU is measured against (the whole job's)
  // Data parallelism: seconds of the step this rank waited for gradient/parameter collectives (what overlap
  // with backward did not hide), and the payload bytes of those and of the pipeline's sends.
  double comm_exposed_s = 0.0;
  int64_t comm_bytes = 0;
  // Pipeline parallelism (pp > 1): the fraction of the step the stages spent blocked on pipeline messages
  // (their bubble), averaged over the stages.
  std::optional<double> pipeline_bubble;
  std::optional<double> val_loss;
  int64_t peak_rss_bytes = 0;  // this process's peak resident set so far (getrusage); 0 = not recorded
};

// This process's peak resident set size so far (getrusage's ru_maxrss), in bytes.
int64_t peak_rss_bytes();
// This process's resident set size now (/proc/self/statm), in bytes; 0 where it cannot be read.
int64_t current_rss_bytes();

std::string step_metrics_to_json(const StepMetrics& m);

// On resume from `step`, drops the lines of steps after it (logged by the interrupted run after its last
// checkpoint), so the log holds each step once, as the resumed run computes it. A missing file is fine.
// Returns the losses the dropped lines recorded, by step (what the resumed run must reproduce).
StatusOr<std::map<int64_t, double>> truncate_metrics_log(const std::string& path, int64_t step);

// Append-only metrics.jsonl writer. Move-only owner of the FILE.
class MetricsLog {
 public:
  static StatusOr<MetricsLog> open_append(const std::string& path);
  MetricsLog(MetricsLog&& other) noexcept;
  MetricsLog& operator=(MetricsLog&& other) noexcept;
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  ~MetricsLog();

  Status write(const StepMetrics& metrics);

 private:
  MetricsLog() = default;
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace tessera
