#include "tessera/plan/recompute_modules.h"

#include <gtest/gtest.h>

namespace tessera::plan {
namespace {

// Each module sets exactly its trait; core_attn alone decides the plan's selective recompute.
TEST(RecomputeModules, EachModuleSetsItsTrait) {
  Job job;
  job.plan.recompute = Recompute::kFull;
  ASSERT_TRUE(apply_recompute_modules("layernorm, moe", &job).ok());
  EXPECT_TRUE(job.memory.recompute_norm);
  EXPECT_TRUE(job.memory.recompute_moe);
  EXPECT_FALSE(job.memory.recompute_moe_act);  // "moe" is not "moe_act", nor the reverse
  EXPECT_FALSE(job.memory.recompute_mla_up_proj);
  EXPECT_EQ(job.plan.recompute, Recompute::kNone);

  Job act;
  ASSERT_TRUE(apply_recompute_modules("(moe_act mla_up_proj core_attn)", &act).ok());
  EXPECT_TRUE(act.memory.recompute_moe_act);
  EXPECT_TRUE(act.memory.recompute_mla_up_proj);
  EXPECT_FALSE(act.memory.recompute_moe);
  EXPECT_FALSE(act.memory.recompute_norm);
  EXPECT_EQ(act.plan.recompute, Recompute::kSelective);

  Job words;
  ASSERT_TRUE(apply_recompute_modules("norm,act", &words).ok());
  EXPECT_TRUE(words.memory.recompute_norm);
  EXPECT_TRUE(words.memory.recompute_moe_act);
  // The report names them back in Megatron-Core's words.
  EXPECT_EQ(recompute_modules_name(job.memory), "layernorm,moe");
  EXPECT_EQ(recompute_modules_name(act.memory), "moe_act,mla_up_proj");
  EXPECT_EQ(recompute_modules_name(Job().memory), "");
}

// A module the planner does not model fails naming it and the known ones; so does an empty list.
TEST(RecomputeModules, UnknownModulesAreNamed) {
  Job job;
  const Status bad = apply_recompute_modules("norm, mlp, shared_experts", &job);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "module(s) mlp, shared_experts not modelled (expected norm, layernorm, act, moe_act, "
                           "core_attn, mla_up_proj, moe)");
  EXPECT_NE(apply_recompute_modules(" , ", &job).message().find("no module listed"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan
