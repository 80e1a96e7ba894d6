#include "tessera/plan/power_reliability.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tessera::plan {
namespace {

TEST(Reliability, YoungDalyInterval) {
  // δ = 60 s, M = 1.8 h (Meta: 16,384 GPUs): τ = √(2·60·6480) − 60 ≈ 821.8 s.
  EXPECT_NEAR(young_daly_interval_s(60, 6480), std::sqrt(2.0 * 60 * 6480) - 60, 1e-9);
  EXPECT_NEAR(young_daly_interval_s(60, 6480), 821.8, 0.1);
  EXPECT_DOUBLE_EQ(young_daly_interval_s(100, 1), 100);  // never shorter than a write
}

TEST(Reliability, Llama3InterruptionRate) {
  // 50,700 GPU-hours per interruption at 16,384 GPUs for 54 days → ≈419 interruptions, MTBF ≈ 3.1 h.
  const Reliability r = estimate_reliability(50700, 16384, 54 * 24, 60, 600);
  EXPECT_NEAR(r.expected_interruptions, 419, 1);
  EXPECT_NEAR(r.mtbf_hours, 3.09, 0.01);
  EXPECT_GT(r.goodput, 0.8);
  EXPECT_LT(r.goodput, 1.0);
  EXPECT_GT(estimate_reliability(50700, 1024, 100, 60, 600).goodput, r.goodput);
}

// Llama 3 405B's pre-training: 16,384 GPUs for 54 days with 419 interruptions is what H = 50,700 GPU-hours
// per interruption encodes; with a 60 s checkpoint and a 10-minute restart, the failures stretch the job by
// 1/goodput and the dollars with it, and the interruptions are counted over the stretched time.
TEST(Reliability, FailuresStretchTimeToTrainAndCost) {
  PowerCost ideal;
  ideal.train_hours = 54 * 24;
  ideal.accelerator_hours = 16384 * ideal.train_hours;
  ideal.rental_cost_usd = 2 * ideal.accelerator_hours;
  ideal.energy_mwh = 30000, ideal.energy_cost_usd = 3e6;
  const Reliability r = estimate_reliability(50700, 16384, ideal.train_hours, 60, 600);
  const FailureAdjusted f = adjust_for_failures(ideal, r);
  EXPECT_NEAR(f.wall_hours, ideal.train_hours / r.goodput, 1e-9);
  EXPECT_GT(f.wall_hours, ideal.train_hours * 1.05);  // goodput below 95% at this failure rate
  EXPECT_NEAR(f.rental_cost_usd / ideal.rental_cost_usd, f.wall_hours / ideal.train_hours, 1e-12);
  EXPECT_NEAR(f.expected_interruptions, r.expected_interruptions / r.goodput, 1e-9);
  EXPECT_NEAR(f.lost_hours, f.wall_hours - ideal.train_hours, 1e-12);
  // A cheaper checkpoint lowers the loss (Young/Daly interval shortens with it).
  const Reliability fast = estimate_reliability(50700, 16384, ideal.train_hours, 5, 600);
  EXPECT_LT(adjust_for_failures(ideal, fast).wall_hours, f.wall_hours);
}

TEST(Power, EnergyAndCostForATokenBudget) {
  ClusterSpec c;
  c.accelerators_per_node = 8, c.node_power_w = 10200, c.pue = 1.2, c.price_per_kwh = 0.1;
  AcceleratorSpec a;
  a.tdp_w = 700, a.price_per_hour = 2;
  // 64 GPUs = 8 nodes = 81.6 kW IT, 97.92 kW facility; 3.6e9 tokens at 1e6 tokens/s = 1 h.
  const PowerCost p = estimate_power_cost(c, a, 64, 1e6, 3.6e9);
  EXPECT_NEAR(p.it_power_kw, 81.6, 1e-9);
  EXPECT_NEAR(p.facility_power_kw, 97.92, 1e-9);
  EXPECT_NEAR(p.train_hours, 1, 1e-12);
  EXPECT_NEAR(p.energy_mwh, 0.09792, 1e-9);
  EXPECT_NEAR(p.rental_cost_usd, 128, 1e-9);
  EXPECT_NEAR(p.energy_cost_usd, 9.792, 1e-9);
}

}  // namespace
}  // namespace tessera::plan
