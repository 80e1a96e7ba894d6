#include "tessera/resilience/straggler_detector.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace tessera {

namespace {

// The median of `values` (the mean of the middle two for an even count).
double median(std::vector<double> values) {
  const size_t n = values.size();
  std::sort(values.begin(), values.end());
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

Status check_straggler_options(const StragglerOptions& o) {
  if (!(std::isfinite(o.slow_factor) && o.slow_factor > 1.0)) {
    return invalid_argument_error("straggler detector: slow_factor must be a number > 1, found {}", o.slow_factor);
  }
  if (o.consecutive_steps < 1) {
    return invalid_argument_error("straggler detector: consecutive_steps must be >= 1, found {}",
                                  o.consecutive_steps);
  }
  return Status();
}

std::string StragglerReport::describe() const {
  std::string sections;
  for (const Section& s : slow_sections) {
    sections += fmt::format("{}{} {:.3g} s (median {:.3g} s)", sections.empty() ? "" : ", ", s.name, s.seconds,
                            s.median_seconds);
  }
  return fmt::format("rank {} is {:.2f}x slower than the median ({:.3g} s vs {:.3g} s) for {} steps up to step {}; "
                     "slow sections: {}",
                     rank, median_seconds > 0 ? seconds / median_seconds : INFINITY, seconds, median_seconds,
                     consecutive_steps, step, sections.empty() ? "none alone" : sections);
}

StragglerDetector::StragglerDetector(std::vector<std::string> section_names, int num_ranks, StragglerOptions options)
    : section_names_(std::move(section_names)),
      num_ranks_(num_ranks),
      options_(options),
      slow_streak_(static_cast<size_t>(std::max(num_ranks, 0)), 0) {}

StatusOr<std::vector<StragglerReport>> StragglerDetector::observe(int64_t step,
                                                                  const std::vector<SectionTimes>& per_rank) {
  if (static_cast<int>(per_rank.size()) != num_ranks_) {
    return invalid_argument_error("straggler detector: step {}: expected timings of {} ranks, found {}", step,
                                  num_ranks_, per_rank.size());
  }
  const size_t sections = section_names_.size();
  std::vector<double> totals;
  for (size_t r = 0; r < per_rank.size(); ++r) {
    if (per_rank[r].size() != sections) {
      return invalid_argument_error("straggler detector: step {}: rank {} reports {} sections, expected {} ({})",
                                    step, r, per_rank[r].size(), sections, fmt::join(section_names_, ", "));
    }
    double total = 0;
    for (double t : per_rank[r]) total += t;
    totals.push_back(total);
  }
  std::vector<StragglerReport> reports;
  if (num_ranks_ < 2) return reports;  // no peers to compare with
  const double total_median = median(totals);
  std::vector<double> section_medians(sections);
  for (size_t s = 0; s < sections; ++s) {
    std::vector<double> column;
    for (const SectionTimes& times : per_rank) column.push_back(times[s]);
    section_medians[s] = median(std::move(column));
  }
  for (int r = 0; r < num_ranks_; ++r) {
    const bool slow = totals[static_cast<size_t>(r)] > options_.slow_factor * total_median;
    int& streak = slow_streak_[static_cast<size_t>(r)];
    streak = slow ? streak + 1 : 0;
    if (streak != options_.consecutive_steps) continue;  // reported once, when the episode qualifies
    StragglerReport report{.rank = r, .step = step, .consecutive_steps = streak,
                           .seconds = totals[static_cast<size_t>(r)], .median_seconds = total_median};
    for (size_t s = 0; s < sections; ++s) {
      const double t = per_rank[static_cast<size_t>(r)][s];
      if (t > options_.slow_factor * section_medians[s] && t > 0) {
        report.slow_sections.push_back({section_names_[s], t, section_medians[s]});
      }
    }
    std::sort(report.slow_sections.begin(), report.slow_sections.end(), [](const auto& a, const auto& b) {
      return a.seconds - a.median_seconds > b.seconds - b.median_seconds;
    });
    reports.push_back(std::move(report));
  }
  return reports;
}

StatusOr<std::vector<SectionTimes>> gather_step_timings(Communicator& group, const SectionTimes& mine) {
  const size_t sections = mine.size();
  std::vector<double> all(sections * static_cast<size_t>(group.size()));
  TESSERA_RETURN_IF_ERROR(group.all_gather_bytes(mine.data(), all.data(), static_cast<int64_t>(sections * sizeof(double)))
                              .with_context("step timings all-gather"));
  std::vector<SectionTimes> per_rank;
  for (int r = 0; r < group.size(); ++r) {
    per_rank.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(r * sections),
                          all.begin() + static_cast<std::ptrdiff_t>((r + 1) * sections));
  }
  return per_rank;
}

}  // namespace tessera
