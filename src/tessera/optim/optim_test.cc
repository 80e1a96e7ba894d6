#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tessera/optim/adamw.h"
#include "tessera/optim/grad_clip.h"
#include "tessera/optim/lr_schedule.h"

namespace tessera {
namespace {

TEST(LrSchedule, WarmupThenCosineToFloor) {
  const LrSchedule s{.max_lr = 1.0, .min_lr = 0.1, .warmup_steps = 4, .total_steps = 14};
  EXPECT_DOUBLE_EQ(s.lr(0), 0.25);
  EXPECT_DOUBLE_EQ(s.lr(3), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 1.0);
  EXPECT_NEAR(s.lr(9), 0.55, 1e-12);  // halfway through the cosine
  EXPECT_NEAR(s.lr(14), 0.1, 1e-12);
  EXPECT_NEAR(s.lr(100), 0.1, 1e-12);
  for (int64_t t = 4; t < 14; ++t) EXPECT_GE(s.lr(t), s.lr(t + 1));
}

// AdamW against a hand-evaluated scalar recurrence (the update of kernel_backend.h), and the per-tensor
// decay flag.
TEST(AdamW, MatchesScalarRecurrenceAndDecayFlag) {
  auto kernels = make_kernel_backend("ref");
  ASSERT_TRUE(kernels.ok());
  const AdamWConfig config{.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
  AdamW adam(config, {{.name = "w", .shape = {2}, .offset = 0, .numel = 2, .decay = true},
                      {.name = "b", .shape = {1}, .offset = 2, .numel = 1, .decay = false}},
             **kernels);
  std::vector<float> p{1.0f, -2.0f, 0.5f};
  double m[3] = {}, v[3] = {}, ref[3] = {1.0, -2.0, 0.5};
  const double decay[3] = {0.1, 0.1, 0.0};
  for (int t = 1; t <= 3; ++t) {
    const std::vector<float> g{0.3f * t, -0.1f, 0.2f};
    adam.update(p.data(), g.data(), 0.01f);
    for (int i = 0; i < 3; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(0.9, t)), vhat = v[i] / (1 - std::pow(0.95, t));
      ref[i] -= 0.01 * (mhat / (std::sqrt(vhat) + 1e-8) + decay[i] * ref[i]);
    }
  }
  EXPECT_EQ(adam.step(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], ref[i], 1e-6) << i;
}

TEST(GradClip, ScalesOnlyAboveTheThreshold) {
  auto kernels = make_kernel_backend("ref");
  ASSERT_TRUE(kernels.ok());
  std::vector<float> g{3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 2, 10.0, **kernels), 5.0);
  EXPECT_FLOAT_EQ(g[0], 3.0f);
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 2, 1.0, **kernels), 5.0);
  EXPECT_FLOAT_EQ(g[0], 0.6f);
  EXPECT_FLOAT_EQ(g[1], 0.8f);
}

}  // namespace
}  // namespace tessera
