#include "tessera/resilience/goodput.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"

namespace tessera {

double GoodputSummary::effective() const { return wall_s > 0 ? productive_step_s / wall_s : 0.0; }

double GoodputSummary::other_s() const {
  return std::max(0.0, wall_s - productive_step_s - lost_work_s - restart_s - checkpoint_stall_s);
}

Status check_goodput(const GoodputSummary& s) {
  const std::pair<const char*, double> fields[] = {{"wall_s", s.wall_s},
                                                   {"productive_step_s", s.productive_step_s},
                                                   {"lost_work_s", s.lost_work_s},
                                                   {"restart_s", s.restart_s},
                                                   {"checkpoint_stall_s", s.checkpoint_stall_s}};
  for (const auto& [name, value] : fields) {
    if (!std::isfinite(value) || value < 0) {
      return invalid_argument_error("goodput: {} must be a duration >= 0, found {}", name, value);
    }
  }
  const double parts = s.productive_step_s + s.lost_work_s + s.restart_s + s.checkpoint_stall_s;
  if (parts > s.wall_s + 1e-3) {
    return invalid_argument_error("goodput: the accounted parts add up to {:.3f} s, more than the wall time {:.3f} s",
                                  parts, s.wall_s);
  }
  return Status();
}

std::string goodput_to_json(const GoodputSummary& s) {
  const nlohmann::ordered_json json = {{"effective_training_time", s.effective()},
                                       {"wall_s", s.wall_s},
                                       {"productive_step_s", s.productive_step_s},
                                       {"lost_work_s", s.lost_work_s},
                                       {"restart_s", s.restart_s},
                                       {"checkpoint_stall_s", s.checkpoint_stall_s},
                                       {"other_s", s.other_s()},
                                       {"steps", s.steps},
                                       {"restarts", s.restarts}};
  return json.dump();
}

std::string goodput_text_line(const GoodputSummary& s) {
  return fmt::format("goodput: effective training time {:.1f}% (productive {:.4g} s of {:.4g} s wall over {} steps; "
                     "lost work {:.4g} s, restart {:.4g} s in {} restart{}, checkpoint stall {:.4g} s, other {:.4g} s)",
                     100.0 * s.effective(), s.productive_step_s, s.wall_s, s.steps, s.lost_work_s, s.restart_s,
                     s.restarts, s.restarts == 1 ? "" : "s", s.checkpoint_stall_s, s.other_s());
}

Status write_goodput(const std::string& run_dir, const GoodputSummary& summary) {
  TESSERA_RETURN_IF_ERROR(check_goodput(summary));
  return write_file_atomic(run_dir + "/" + std::string(kGoodputFileName), goodput_to_json(summary) + "\n");
}

}  // namespace tessera
