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
