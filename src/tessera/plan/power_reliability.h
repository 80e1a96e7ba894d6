// Power, energy, cost and reliability of a job.
//
// Power: IT power = nodes · node_power (or accelerators · TDP · 1.5 when the node figure is unknown),
// facility power = IT · PUE. Energy for a token budget = facility power · budget / tokens_per_s.
// Cost = accelerator-hours · price + facility energy · price_per_kWh (the second only matters when
// owning the hardware; both are printed).
// Reliability: with H accelerator-hours per unexpected interruption, a job of N accelerators has
// MTBF M = H / N hours and expects duration / M interruptions. Young/Daly: checkpoint every
// τ = √(2·δ·M) − δ (δ = checkpoint write time, τ clamped to ≥ δ). Goodput = useful fraction of wall time:
//   1 − δ/(τ+δ) − (R + (τ+δ)/2)/M   (checkpoint overhead, and per failure the restart time R plus on
//   average half an interval of lost work), clamped to [0, 1].
#pragma once

#include <cstdint>

#include "tessera/spec/cluster_spec.h"

namespace tessera::plan {

struct PowerCost {
  double it_power_kw = 0;
  double facility_power_kw = 0;
  double train_hours = 0;          // wall hours for the token budget at the predicted rate (no failures)
  double energy_mwh = 0;           // facility energy
  double accelerator_hours = 0;
  double rental_cost_usd = 0;      // accelerator-hours · price_per_hour
  double energy_cost_usd = 0;      // energy · price_per_kwh
};

PowerCost estimate_power_cost(const ClusterSpec& cluster, const AcceleratorSpec& accelerator, int64_t accelerators,
                              double tokens_per_s, double token_budget);

struct Reliability {
  double mtbf_hours = 0;              // job mean time between interruptions
  double expected_interruptions = 0;  // over the job's duration
  double checkpoint_interval_s = 0;   // Young/Daly τ
  double goodput = 0;                 // useful fraction of wall time
};

double young_daly_interval_s(double checkpoint_write_s, double mtbf_s);

// Time-to-train with the expected failures: the ideal wall time divided by the goodput (checkpoint writes,
// restarts and lost work stretch the job; the failures it meets are counted over that longer time), and
// the accelerator-hours, energy and dollars that go with it. `ideal` is estimate_power_cost's result.
struct FailureAdjusted {
  double wall_hours = 0;
  double accelerator_hours = 0;
  double energy_mwh = 0;
  double rental_cost_usd = 0;
  double energy_cost_usd = 0;
  double expected_interruptions = 0;
  double lost_hours = 0;  // wall_hours − ideal train_hours
};
FailureAdjusted adjust_for_failures(const PowerCost& ideal, const Reliability& reliability);
Reliability estimate_reliability(double hours_per_failure, int64_t accelerators, double duration_hours,
                                 double checkpoint_write_s, double restart_s);

}  // namespace tessera::plan
