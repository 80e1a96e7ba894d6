// Straggler detection: a rank persistently slower than its peers. Every step each rank measures its
// step sections (e.g. data, forward, backward, exposed comm, optimizer: names fixed per run), the
// timings are gathered (gather_step_timings, collective), and StragglerDetector::observe judges them:
//
//   total_r   = Σ sections of rank r;  median = median over ranks of total_r
//   slow_r    ⇔ total_r > slow_factor · median
//   reported  ⇔ slow_r for `consecutive_steps` steps in a row (once per episode; an episode ends at the
//               first step the rank is not slow, and a new one may be reported later)
//
// A report names the rank, its total against the median, and its slow sections: those where its time
// exceeds slow_factor × the median of that section over ranks (where the time goes). Time spent
// waiting in collectives for the straggler shows up on the *other* ranks' comm sections; a straggler
// is slow in compute, so the totals compare compute + wait and the sections tell which is which.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

struct StragglerOptions {
  double slow_factor = 1.5;   // slower than this × the median step time of all ranks
  int consecutive_steps = 5;  // for this many steps in a row
};

// InvalidArgument naming the field when slow_factor <= 1 (or not finite) or consecutive_steps < 1.
Status check_straggler_options(const StragglerOptions& options);

// One rank's timings of one step, seconds per section (the detector's section order).
using SectionTimes = std::vector<double>;

struct StragglerReport {
  int rank = 0;
  int64_t step = 0;              // the step at which the episode reached consecutive_steps
  int consecutive_steps = 0;
  double seconds = 0;            // this rank's step time (sum of sections) at `step`
  double median_seconds = 0;     // the median over ranks at `step`
  struct Section {
    std::string name;
    double seconds = 0;
    double median_seconds = 0;
  };
  std::vector<Section> slow_sections;  // by how much they exceed their median, largest first
  // "rank 3 is 2.1x slower than the median (0.84 s vs 0.40 s) for 5 steps up to step 120; slow sections:
  // forward 0.52 s (median 0.20 s), …"
  std::string describe() const;
};

class StragglerDetector {
 public:
  // section_names: the order of every SectionTimes; num_ranks: how many ranks each step reports.
  StragglerDetector(std::vector<std::string> section_names, int num_ranks, StragglerOptions options = {});

  // per_rank[r] = rank r's section times at `step`. Returns the ranks whose episode reached
  // consecutive_steps at this step (usually none). InvalidArgument if the shape is wrong.
  StatusOr<std::vector<StragglerReport>> observe(int64_t step, const std::vector<SectionTimes>& per_rank);

  const std::vector<std::string>& section_names() const { return section_names_; }

 private:
  std::vector<std::string> section_names_;
  int num_ranks_;
  StragglerOptions options_;
  std::vector<int> slow_streak_;  // [rank]: consecutive slow steps so far
};

// Collective over `group`: every rank passes its own section times (the same count on every rank);
// returns every rank's, indexed by rank in `group`.
StatusOr<std::vector<SectionTimes>> gather_step_timings(Communicator& group, const SectionTimes& mine);

}  // namespace tessera
