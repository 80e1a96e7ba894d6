#include "tessera/plan/search.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tessera/plan/plan_test_util.h"

namespace tessera::plan {
namespace {

TEST(Search, RanksFittingLayoutsByThroughputFast) {
  const Catalog c = testing::load_test_catalog();
  const ModelSpec model = *c.model("llama3-70b");
  const AcceleratorSpec acc = *c.accelerator("h100-sxm-80gb");
  const ClusterSpec cluster = *c.cluster("dgx-h100-superpod");
  SearchSpace space;
  space.gpus = 1024;
  space.global_batch = 512;
  const auto start = std::chrono::steady_clock::now();
  auto r = search_layouts(model, acc, cluster, space, 5);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_GT(r->candidates, 10000);
  EXPECT_GT(r->valid, r->fit);
  ASSERT_EQ(r->top.size(), 5u);
  for (size_t i = 0; i + 1 < r->top.size(); ++i) {
    EXPECT_GE(r->top[i].step.tokens_per_s, r->top[i + 1].step.tokens_per_s);
  }
  for (const auto& cand : r->top) {
    EXPECT_TRUE(cand.step.memory.fits());
    EXPECT_TRUE(validate_job(cand.job, 1024).ok());
  }
  // The issue asks for >= 100,000 candidates/s; leave headroom for a loaded CI machine.
  EXPECT_GT(static_cast<double>(r->candidates) / s, 100000.0);
}

TEST(Search, RejectsBadInput) {
  const Catalog c = testing::load_test_catalog();
  SearchSpace space;
  auto r = search_layouts(*c.model("tiny"), *c.accelerator("a100-sxm-80gb"), *c.cluster("selene-dgx-a100"), space, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--gpus"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan
