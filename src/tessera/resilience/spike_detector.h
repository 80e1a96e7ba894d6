// Loss and gradient-norm spike detection: a one-sided z-score of each new value against a sliding
// window of the recent normal ones.
//
//   z = (x - mean(window)) / max(std(window), min_relative_std · |mean(window)|)
//   spike ⇔ z > z_threshold, or x is not finite
//
// std is the population standard deviation of the window. The floor keeps a flat window (std ≈ 0)
// from turning noise into spikes. The first warmup_steps observations are ignored entirely (early
// training falls fast and would only widen the window), and nothing is judged until the window holds
// min_samples values. A spike is not added to the window, so a burst does not hide the next one.
// Only upward moves count: a sudden drop of the loss is not a fault.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

struct SpikeDetectorOptions {
  int window = 100;                // values per series kept
  double z_threshold = 6.0;        // a spike is strictly above this many (floored) standard deviations
  int64_t warmup_steps = 100;      // observations ignored at the start
  int min_samples = 20;            // values in the window before anything is judged (≤ window)
  double min_relative_std = 1e-3;  // floor of the std, relative to |mean|
};

// InvalidArgument naming the field when window < 2, min_samples outside [2, window], z_threshold or
// min_relative_std not positive and finite, or warmup_steps < 0.
Status check_spike_detector_options(const SpikeDetectorOptions& options);

struct SpikeVerdict {
  bool judged = false;  // false during warm-up or while the window fills
  bool loss_spike = false;
  bool grad_norm_spike = false;
  double loss_z = 0;
  double grad_norm_z = 0;

  bool spike() const { return loss_spike || grad_norm_spike; }
  // "step 812: loss 4.1 is 9.3σ above its window mean 2.2 (…)"; empty when no spike.
  std::string detail;
};

class SpikeDetector {
 public:
  explicit SpikeDetector(SpikeDetectorOptions options = {});  // call check_spike_detector_options first
  SpikeVerdict observe(int64_t step, double loss, double grad_norm);
  int64_t observed() const { return observed_; }

 private:
  // One series' window (oldest first). Mean and std are recomputed from the values at each judgement:
  // O(window) per step, exact (no running-sum cancellation).
  struct Series {
    std::deque<double> values;
    void push(double x, int window);
    double mean() const;
    double stddev() const;
  };
  // z of x against `series` (with the std floor).
  double z_score(const Series& series, double x) const;

  SpikeDetectorOptions options_;
  Series loss_;
  Series grad_norm_;
  int64_t observed_ = 0;
};

}  // namespace tessera
