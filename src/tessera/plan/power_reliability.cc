#include "tessera/plan/power_reliability.h"

#include <algorithm>
#include <cmath>

namespace tessera::plan {

PowerCost estimate_power_cost(const ClusterSpec& cluster, const AcceleratorSpec& acc, int64_t accelerators,
                              double tokens_per_s, double token_budget) {
  PowerCost pc;
  const double n = static_cast<double>(accelerators);
  const double per_node = static_cast<double>(cluster.accelerators_per_node);
  const double node_w = cluster.node_power_w > 0 ? cluster.node_power_w : per_node * acc.tdp_w * 1.5;
  pc.it_power_kw = std::ceil(n / per_node) * node_w / 1000.0;
  pc.facility_power_kw = pc.it_power_kw * cluster.pue;
  pc.train_hours = tokens_per_s > 0 ? token_budget / tokens_per_s / 3600.0 : 0;
  pc.energy_mwh = pc.facility_power_kw * pc.train_hours / 1000.0;
  pc.accelerator_hours = n * pc.train_hours;
  pc.rental_cost_usd = pc.accelerator_hours * acc.price_per_hour;
  pc.energy_cost_usd = pc.energy_mwh * 1000.0 * cluster.price_per_kwh;
  return pc;
}

double young_daly_interval_s(double checkpoint_write_s, double mtbf_s) {
  return std::max(checkpoint_write_s, std::sqrt(2 * checkpoint_write_s * mtbf_s) - checkpoint_write_s);
}

Reliability estimate_reliability(double hours_per_failure, int64_t accelerators, double duration_hours,
                                 double checkpoint_write_s, double restart_s) {
  Reliability r;
  r.mtbf_hours = hours_per_failure / static_cast<double>(std::max<int64_t>(accelerators, 1));
  r.expected_interruptions = duration_hours / r.mtbf_hours;
  const double M = r.mtbf_hours * 3600.0;
  r.checkpoint_interval_s = young_daly_interval_s(checkpoint_write_s, M);
  const double tau = r.checkpoint_interval_s, d = checkpoint_write_s;
  r.goodput = std::clamp(1 - d / (tau + d) - (restart_s + (tau + d) / 2) / M, 0.0, 1.0);
  return r;
}

FailureAdjusted adjust_for_failures(const PowerCost& ideal, const Reliability& r) {
  FailureAdjusted f;
  const double stretch = r.goodput > 0 ? 1 / r.goodput : 0;  // goodput 0: the job never finishes
  f.wall_hours = ideal.train_hours * stretch;
  f.accelerator_hours = ideal.accelerator_hours * stretch;
  f.energy_mwh = ideal.energy_mwh * stretch;
  f.rental_cost_usd = ideal.rental_cost_usd * stretch;
  f.energy_cost_usd = ideal.energy_cost_usd * stretch;
  f.expected_interruptions = r.mtbf_hours > 0 ? f.wall_hours / r.mtbf_hours : 0;
  f.lost_hours = f.wall_hours - ideal.train_hours;
  return f;
}

}  // namespace tessera::plan
