// Step time as a distribution across steps, not only the jitter-free time of the step model.
//
// A synchronous step ends when its slowest rank does. With each rank's step time varying from step to step
// with coefficient of variation cv (OS noise, clock and thermal throttling, network contention), the step
// time of N ranks is the largest of N draws. For independent normal draws that maximum follows a Gumbel law
// (extreme-value theory) with, in units of the per-rank standard deviation,
//   location a_N = √(2 ln N) − (ln ln N + ln 4π) / (2 √(2 ln N)),   scale b_N = 1 / √(2 ln N),
// so the q-quantile of the step time is t · (1 + cv · (a_N − b_N · ln(−ln q))). One rank: the normal quantile
// t · (1 + cv · z_q). Stragglers therefore grow like √(2 ln N): 1% jitter costs ≈ +3.9% at the median of a
// 16,384-GPU job and ≈ +4.4% at p90, against +1.3% p90 on one GPU.
#pragma once

#include <cstdint>

namespace tessera::plan {

struct StepDistribution {
  double p50_s = 0;
  double p90_s = 0;
};

// `step_time_s`: the jitter-free prediction; `ranks` in lock-step; `cv` >= 0 per-rank step-time jitter.
StepDistribution step_distribution(double step_time_s, int64_t ranks, double cv);

}  // namespace tessera::plan
