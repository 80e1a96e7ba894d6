#include "tessera/train/progress.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "tessera/core/log.h"

namespace tessera {

ProgressReporter::ProgressReporter(int64_t total_steps, int64_t log_every, bool is_terminal)
    : total_steps_(total_steps), log_every_(log_every), is_terminal_(is_terminal) {}

std::string ProgressReporter::format_duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string ProgressReporter::format_line(const StepMetrics& m, int64_t total_steps, double eta_seconds) {
  std::string line = fmt::format("step {}/{} | loss {:.4f}", m.step, total_steps, m.loss);
  if (m.val_loss) line += fmt::format(" | val {:.4f}", *m.val_loss);
  line += fmt::format(" | lr {:.2e} | {:.0f} tok/s | MFU {:.1f}% | ETA {}", m.lr, m.tokens_per_s, 100.0 * m.mfu,
                      format_duration(eta_seconds));
  return line;
}

void ProgressReporter::update(const StepMetrics& m, double eta_seconds) {
  if (is_terminal_) {
    StepMetrics shown = m;
    if (m.val_loss) last_val_ = fmt::format("{}", *m.val_loss);
    if (!shown.val_loss && !last_val_.empty()) shown.val_loss = std::stod(last_val_);
    std::fprintf(stderr, "\r\033[K%s", format_line(shown, total_steps_, eta_seconds).c_str());
    std::fflush(stderr);
    line_open_ = true;
    return;
  }
  if (m.step % log_every_ == 0 || m.val_loss || m.step == total_steps_) {
    log_info("{}", format_line(m, total_steps_, eta_seconds));
  }
}

void ProgressReporter::finish() {
  if (line_open_) std::fprintf(stderr, "\n");
  line_open_ = false;
}

}  // namespace tessera
