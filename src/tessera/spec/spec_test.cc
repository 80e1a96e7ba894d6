#include <gtest/gtest.h>

#include "tessera/spec/config_reader.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera {
namespace {

ConfigReader parse(const std::string& text) {
  auto reader = ConfigReader::from_string(text, "test.toml");
  EXPECT_TRUE(reader.ok()) << reader.status().message();
  return std::move(reader).value();
}

TEST(ConfigReader, ReadsTypedValuesAndOverrides) {
  ConfigReader reader = parse("[model]\nn_layer = 6\n[train]\nlr = 3e-4\nname = \"x\"\n");
  ASSERT_TRUE(reader.apply_override("train.lr=1e-3").ok());
  ASSERT_TRUE(reader.apply_override("train.flag=true").ok());
  ASSERT_TRUE(reader.apply_override("train.name=bare_word").ok());
  EXPECT_EQ(reader.get_int("model.n_layer", 1, ""), 6);
  EXPECT_EQ(reader.get_int("model.n_head", 3, ""), 3);
  EXPECT_DOUBLE_EQ(reader.get_double("train.lr", 0, ""), 1e-3);
  EXPECT_TRUE(reader.get_bool("train.flag", false, ""));
  EXPECT_EQ(reader.get_string("train.name", "", ""), "bare_word");
  EXPECT_TRUE(reader.status().ok());
  EXPECT_TRUE(reader.check_no_unknown_keys().ok());
  const std::string resolved = reader.resolved_toml();
  EXPECT_NE(resolved.find("[model]\nn_head = 3"), std::string::npos) << resolved;
  // The resolved config parses back to the same values.
  ConfigReader again = parse(resolved);
  EXPECT_DOUBLE_EQ(again.get_double("train.lr", 0, ""), 1e-3);
  EXPECT_EQ(again.get_string("train.name", "", ""), "bare_word");
}

TEST(ConfigReader, WrongTypeNamesKeyExpectedAndFound) {
  ConfigReader reader = parse("[model]\nn_layer = \"six\"\n");
  reader.get_int("model.n_layer", 1, "");
  ASSERT_FALSE(reader.status().ok());
  EXPECT_EQ(reader.status().message(),
            "config 'test.toml': model.n_layer: expected an integer, found 'six' (a string)");
}

TEST(ConfigReader, UnknownKeyIsRejectedWithKnownKeysAsHint) {
  ConfigReader reader = parse("[train]\nlrr = 1.0\n");
  reader.get_double("train.lr", 0.1, "");
  const Status status = reader.check_no_unknown_keys();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "config 'test.toml': unknown key 'train.lrr'; hint: known keys are train.lr");
}

TEST(ConfigReader, SyntaxErrorNamesTheLine) {
  auto reader = ConfigReader::from_string("[model]\nn_layer = = 3\n", "bad.toml");
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("bad.toml': line 2"), std::string::npos) << reader.status().message();
}

TEST(ModelSpec, CountsMatchGpt2Small) {
  ModelSpec gpt2{.n_layer = 12, .n_head = 12, .n_embd = 768, .seq_len = 1024, .vocab_size = 50257};
  EXPECT_EQ(gpt2.num_params(), 124439808);  // the well-known GPT-2 124M count (tied head)
  EXPECT_EQ(gpt2.matmul_params(), 12 * 12 * 768 * 768 + 50257 * 768);
  EXPECT_DOUBLE_EQ(gpt2.train_flops_per_token(1024), 6.0 * gpt2.matmul_params() + 12.0 * 12 * 1024 * 768);
  EXPECT_TRUE(gpt2.validate().ok());
  gpt2.n_head = 5;
  EXPECT_EQ(gpt2.validate().message(), "model.n_head: expected a divisor of model.n_embd (768), found 5");
}

TEST(ParallelPlan, ValidateNamesEveryFactor) {
  ModelSpec model{.n_layer = 8, .n_head = 8, .n_embd = 256, .seq_len = 128, .vocab_size = 1000};
  ParallelPlan plan{.dp = 4, .tp = 2, .pp = 2};
  EXPECT_EQ(plan.validate(model, 8).message(),
            "parallel: dp(4)*tp(2)*pp(2)*cp(1)=16 != world_size(8); hint: set dp=2");
  plan.dp = 2;
  EXPECT_TRUE(plan.validate(model, 8).ok());
  plan.tp = 3;
  plan.dp = 1;
  plan.pp = 1;
  EXPECT_EQ(plan.validate(model, 3).message(), "parallel.tp: expected a divisor of model.n_head (8), found 3");
  ParallelPlan accum{.dp = 2, .micro_batch = 4, .global_batch = 24};
  EXPECT_TRUE(accum.validate(model, 2).ok());
  EXPECT_EQ(accum.num_micro_batches(), 3);
  accum.global_batch = 20;
  EXPECT_FALSE(accum.validate(model, 2).ok());
}

TEST(ParallelPlan, CommBackendAndTimeoutAreReadAndChecked) {
  ConfigReader defaults = parse("");
  const ParallelPlan plain = read_parallel_plan(defaults);
  EXPECT_EQ(plain.comm_backend, "auto");
  EXPECT_DOUBLE_EQ(plain.comm_timeout_s, 300);
  ConfigReader set = parse("[parallel]\ncomm_backend = \"shm\"\ncomm_timeout_s = 2.5\n");
  const ParallelPlan chosen = read_parallel_plan(set);
  EXPECT_TRUE(set.status().ok()) << set.status().message();
  EXPECT_EQ(chosen.comm_backend, "shm");
  EXPECT_DOUBLE_EQ(chosen.comm_timeout_s, 2.5);
  ConfigReader bad_backend = parse("[parallel]\ncomm_backend = \"nccl\"\n");
  read_parallel_plan(bad_backend);
  EXPECT_EQ(bad_backend.status().message(),
            "config 'test.toml': parallel.comm_backend: expected one of auto, mpi, shm, hier, found \"nccl\"");
  ConfigReader bad_timeout = parse("[parallel]\ncomm_timeout_s = 0\n");
  read_parallel_plan(bad_timeout);
  EXPECT_EQ(bad_timeout.status().message(),
            "config 'test.toml': parallel.comm_timeout_s: expected a positive number of seconds, found 0");
}

}  // namespace
}  // namespace tessera
