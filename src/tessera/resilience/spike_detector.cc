#include "tessera/resilience/spike_detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tessera {

Status check_spike_detector_options(const SpikeDetectorOptions& o) {
  if (o.window < 2) return invalid_argument_error("spike detector: window must be >= 2, found {}", o.window);
  if (o.min_samples < 2 || o.min_samples > o.window) {
    return invalid_argument_error("spike detector: min_samples must be in [2, window = {}], found {}", o.window,
                                  o.min_samples);
  }
  if (!(std::isfinite(o.z_threshold) && o.z_threshold > 0)) {
    return invalid_argument_error("spike detector: z_threshold must be a positive number, found {}", o.z_threshold);
  }
  if (!(std::isfinite(o.min_relative_std) && o.min_relative_std > 0)) {
    return invalid_argument_error("spike detector: min_relative_std must be a positive number, found {}",
                                  o.min_relative_std);
  }
  if (o.warmup_steps < 0) {
    return invalid_argument_error("spike detector: warmup_steps must be >= 0, found {}", o.warmup_steps);
  }
  return Status();
}

void SpikeDetector::Series::push(double x, int window) {
  values.push_back(x);
  if (static_cast<int>(values.size()) > window) values.pop_front();
}

double SpikeDetector::Series::mean() const {
  double sum = 0;
  for (double x : values) sum += x;
  return sum / static_cast<double>(values.size());
}

double SpikeDetector::Series::stddev() const {
  const double m = mean();
  double sum_sq = 0;
  for (double x : values) sum_sq += (x - m) * (x - m);
  return std::sqrt(sum_sq / static_cast<double>(values.size()));
}

SpikeDetector::SpikeDetector(SpikeDetectorOptions options) : options_(options) {}

double SpikeDetector::z_score(const Series& series, double x) const {
  const double mean = series.mean();
  const double floor = options_.min_relative_std * std::abs(mean);
  const double scale = std::max({series.stddev(), floor, 1e-12});
  return (x - mean) / scale;
}

SpikeVerdict SpikeDetector::observe(int64_t step, double loss, double grad_norm) {
  SpikeVerdict verdict;
  ++observed_;
  if (observed_ <= options_.warmup_steps) return verdict;
  const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
  if (static_cast<int>(loss_.values.size()) < options_.min_samples) {
    // Still filling; a non-finite value is a spike regardless (and never enters the window).
    if (!finite) {
      verdict.judged = true;
      verdict.loss_spike = !std::isfinite(loss);
      verdict.grad_norm_spike = !std::isfinite(grad_norm);
      verdict.detail = fmt::format("step {}: non-finite loss {} / gradient norm {}", step, loss, grad_norm);
      return verdict;
    }
    loss_.push(loss, options_.window);
    grad_norm_.push(grad_norm, options_.window);
    return verdict;
  }
  verdict.judged = true;
  verdict.loss_z = std::isfinite(loss) ? z_score(loss_, loss) : INFINITY;
  verdict.grad_norm_z = std::isfinite(grad_norm) ? z_score(grad_norm_, grad_norm) : INFINITY;
  verdict.loss_spike = !std::isfinite(loss) || verdict.loss_z > options_.z_threshold;
  verdict.grad_norm_spike = !std::isfinite(grad_norm) || verdict.grad_norm_z > options_.z_threshold;
  if (verdict.spike()) {
    std::string parts;
    if (verdict.loss_spike) {
      parts += fmt::format("loss {:.6g} is {:.3g} sigma above its window mean {:.6g}", loss, verdict.loss_z,
                           loss_.mean());
    }
    if (verdict.grad_norm_spike) {
      parts += fmt::format("{}gradient norm {:.6g} is {:.3g} sigma above its window mean {:.6g}",
                           parts.empty() ? "" : "; ", grad_norm, verdict.grad_norm_z, grad_norm_.mean());
    }
    verdict.detail = fmt::format("step {}: {} (window {}, threshold {} sigma)", step, parts, loss_.values.size(),
                                 options_.z_threshold);
    return verdict;  // a spike never enters the window
  }
  loss_.push(loss, options_.window);
  grad_norm_.push(grad_norm, options_.window);
  return verdict;
}

}  // namespace tessera
