// The live progress line: on a terminal, one line redrawn in place
//   step 120/1000 | loss 4.1234 | val 4.2001 | 5120 tok/s | MFU 52.1% | ETA 3m12s
// and when stderr is not a terminal (CI, log files), a plain log line every `log_every` steps and on
// evaluation steps.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/train/metrics.h"

namespace tessera {

class ProgressReporter {
 public:
  ProgressReporter(int64_t total_steps, int64_t log_every, bool is_terminal);
  // Call once per step; eta_seconds < 0 means unknown.
  void update(const StepMetrics& metrics, double eta_seconds);
  // Ends the in-place line (terminal) so later output starts on a new line.
  void finish();

  static std::string format_line(const StepMetrics& metrics, int64_t total_steps, double eta_seconds);
  static std::string format_duration(double seconds);  // "3m12s", "1h02m", "45s"

 private:
  int64_t total_steps_;
  int64_t log_every_;
  bool is_terminal_;
  bool line_open_ = false;
  std::string last_val_;  // the last validation loss, kept on the terminal line
};

}  // namespace tessera
