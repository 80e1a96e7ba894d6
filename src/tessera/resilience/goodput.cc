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

StatusOr<GoodputSummary> goodput_from_json(std::string_view text, const std::string& source) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return data_loss_error("goodput '{}': expected a JSON object", source);
  const auto number = [&](const char* key) -> StatusOr<double> {
    if (!json.contains(key) || !json[key].is_number()) {
      return data_loss_error("goodput '{}': {}: expected a number, found {}", source, key,
                             json.contains(key) ? json[key].type_name() : "nothing");
    }
    return json[key].get<double>();
  };
  GoodputSummary s;
  TESSERA_ASSIGN_OR_RETURN(s.wall_s, number("wall_s"));
  TESSERA_ASSIGN_OR_RETURN(s.productive_step_s, number("productive_step_s"));
  TESSERA_ASSIGN_OR_RETURN(s.lost_work_s, number("lost_work_s"));
  TESSERA_ASSIGN_OR_RETURN(s.restart_s, number("restart_s"));
  TESSERA_ASSIGN_OR_RETURN(s.checkpoint_stall_s, number("checkpoint_stall_s"));
  TESSERA_ASSIGN_OR_RETURN(const double steps, number("steps"));
  TESSERA_ASSIGN_OR_RETURN(const double restarts, number("restarts"));
  if (steps < 0 || restarts < 0 || steps != std::floor(steps) || restarts != std::floor(restarts) || steps > 1e15 ||
      restarts > 1e9) {
    return data_loss_error("goodput '{}': steps and restarts: expected counts, found {} and {}", source, steps, restarts);
  }
  s.steps = static_cast<int64_t>(steps);
  s.restarts = static_cast<int>(restarts);
  const Status valid = check_goodput(s);
  if (!valid.ok()) return data_loss_error("goodput '{}': {}", source, valid.message());
  return s;
}

StatusOr<std::optional<GoodputSummary>> read_goodput(const std::string& run_dir) {
  const std::string path = run_dir + "/" + std::string(kGoodputFileName);
  if (!path_exists(path)) return std::optional<GoodputSummary>();
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  TESSERA_ASSIGN_OR_RETURN(GoodputSummary summary, goodput_from_json(text, path));
  return std::optional<GoodputSummary>(summary);
}

}  // namespace tessera
