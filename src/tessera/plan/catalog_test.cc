#include "tessera/plan/catalog.h"
#include "tessera/plan/layer_mix.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

TEST(Catalog, HasTheIssueAcceleratorsClustersAndModels) {
  const Catalog c = testing::load_test_catalog();
  for (const char* a : {"v100-sxm2-32gb", "a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200",
                        "gb200", "mi250x", "mi300x", "mi325x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "trainium1",
                        "trainium2", "gaudi2", "gaudi3"}) {
    EXPECT_TRUE(c.accelerator(a).ok()) << a;
  }
  for (const char* m : {"gpt3-175b", "llama3-8b", "llama3-70b", "llama3-405b", "llama2-70b", "nemotron4-15b",
                        "nemotron4-340b", "tiny", "small", "gpt2-124m"}) {
    EXPECT_TRUE(c.model(m).ok()) << m;
  }
  for (const char* k : {"dgx-h100-superpod", "grand-teton-roce", "tpu-v5p-pod", "aws-trn2-ultracluster",
                        "aws-p5-ultracluster", "gb200-nvl72", "mi300x-cluster", "xai-colossus", "xai-colossus-h200"}) {
    EXPECT_TRUE(c.cluster(k).ok()) << k;
  }
  // xAI Colossus: 100k H100 on Spectrum-X Ethernet at 400 Gb/s per GPU, and the H200 expansion.
  EXPECT_EQ(c.cluster("xai-colossus")->max_accelerators, 100000);
  EXPECT_EQ(c.cluster("xai-colossus")->scaleout_gbit_per_s, 400);
  EXPECT_EQ(c.cluster("xai-colossus-h200")->accelerator, "h200-sxm-141gb");
  // A topology the planner does not know is refused by name.
  ClusterSpec typo = *c.cluster("xai-colossus");
  typo.scaleout_topology = "dragonfly";
  EXPECT_NE(typo.validate().message().find("scaleout_topology: expected fat-tree, rail-optimized, torus or "
                                           "shared-memory, found 'dragonfly'"),
            std::string::npos);
  // Every catalog model's planner-only keys are consistent.
  for (const std::string& name : c.model_names()) EXPECT_TRUE(validate_layer_mix(*c.model(name)).ok()) << name;
  EXPECT_EQ(c.accelerator("h100-sxm-80gb")->peak_bf16_tflops, 989);
  EXPECT_EQ(c.model("gpt2-124m")->num_params(), 124439808);
  EXPECT_EQ(c.model("LLAMA3.1_405B")->n_layer, 126);  // aliases are normalized
}

TEST(Catalog, MatchesFreeTextAcceleratorNamesByLongestSubstring) {
  const Catalog c = testing::load_test_catalog();
  EXPECT_EQ(c.match_accelerator("DGX-GB200")->name, "gb200");
  EXPECT_EQ(c.match_accelerator("DGX-B200")->name, "b200");
  EXPECT_EQ(c.match_accelerator("H100 96GB HBM2e SXM-variant @500W (Grand Teton)")->name, "h100-96gb-500w");
  EXPECT_EQ(c.match_accelerator("A100-40GB")->name, "a100-sxm-40gb");
  EXPECT_EQ(c.match_accelerator("Z80"), nullptr);
}

TEST(Catalog, UnknownNamesListTheKnownOnes) {
  const Catalog c = testing::load_test_catalog();
  auto acc = c.accelerator("h900");
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(acc.status().code(), StatusCode::kNotFound);
  EXPECT_NE(acc.status().message().find("unknown accelerator 'h900'; known: "), std::string::npos);
  EXPECT_NE(acc.status().message().find("h100-sxm-80gb"), std::string::npos);
  EXPECT_NE(c.model("gpt5").status().message().find("llama3-405b"), std::string::npos);
  EXPECT_NE(c.cluster("moon").status().message().find("dgx-h100-superpod"), std::string::npos);
  EXPECT_FALSE(Catalog::load("/nonexistent").ok());
}

TEST(Catalog, ImpossibleLayoutsAreRejectedNamingTheFactors) {
  const Catalog c = testing::load_test_catalog();
  Job job;
  job.model = *c.model("gpt3-175b");
  job.plan.tp = 8, job.plan.dp = 12;
  auto world = validate_job(job, 100);
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.message().find("!= world_size(100)"), std::string::npos);
  job.plan.tp = 7, job.plan.dp = 1;
  auto heads = validate_job(job, 7);
  ASSERT_FALSE(heads.ok());
  EXPECT_NE(heads.message().find("divisor of model.n_head (96), found 7"), std::string::npos);
  // Uneven pipeline stages are allowed (96 layers over 5 stages: 20 + 19·4), more stages than layers are not.
  job.plan.tp = 1, job.plan.pp = 5;
  EXPECT_TRUE(validate_job(job, 5).ok()) << validate_job(job, 5).message();
  job.plan.pp = 97;
  EXPECT_NE(validate_job(job, 97).message().find("stages for model.n_layer (96) layers"), std::string::npos);
}

// A models.toml key the planner does not read (a typo, or a feature it does not model) is refused by name.
TEST(Catalog, UnknownModelKeyIsRefused) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "tessera_catalog_unknown_key";
  std::filesystem::create_directories(dir);
  for (const char* f : {"accelerators.toml", "clusters.toml"}) {
    std::filesystem::copy_file(testing::source_dir() + "/catalog/" + f, dir / f,
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream(dir / "models.toml") << "[[model]]\nname = \"m\"\nn_layer = 2\nn_head = 2\nn_embd = 64\nseq_len = 16\n"
                                        "vocab_size = 32\nmoe_expert = 8\n";
  auto c = Catalog::load(dir.string());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'m': unknown key 'moe_expert'"), std::string::npos) << c.status().message();
  std::filesystem::remove_all(dir);
}

// A published model whose layer kinds the planner lacks ([[unmodelled]] in models.toml) is refused by its reason, by
// name or alias; an entry without a reason, or with a key the loader does not read, is refused when loading.
TEST(Catalog, UnmodelledModelsAreRefusedWithTheirReason) {
  const Catalog c = testing::load_test_catalog();
  auto next = c.model("Qwen3-Next-80B-A3B");
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(next.status().message().find("model 'qwen3-next-80b-a3b' is not modelled: 36 of its 48 layers are Gated "
                                         "DeltaNet"),
            std::string::npos)
      << next.status().message();
  ASSERT_NE(c.match_unmodelled("DeepSeekV4 Flash"), nullptr);
  EXPECT_NE(c.match_unmodelled("DeepSeekV4 Flash")->reason.find("compressed sparse attention"), std::string::npos);
  EXPECT_EQ(c.match_unmodelled("deepseek-v3"), nullptr);
  EXPECT_TRUE(c.model("nemotron-3-super").ok());

  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "tessera_catalog_unmodelled";
  std::filesystem::create_directories(dir);
  for (const char* f : {"accelerators.toml", "clusters.toml"}) {
    std::filesystem::copy_file(testing::source_dir() + "/catalog/" + f, dir / f,
                               std::filesystem::copy_options::overwrite_existing);
  }
  const std::string model = "[[model]]\nname = \"m\"\nn_layer = 2\nn_head = 2\nn_embd = 64\nseq_len = 16\nvocab_size = 32\n";
  std::ofstream(dir / "models.toml") << model << "[[unmodelled]]\nname = \"x\"\n";
  auto no_reason = Catalog::load(dir.string());
  ASSERT_FALSE(no_reason.ok());
  EXPECT_NE(no_reason.status().message().find("unmodelled[0]: expected a name and a reason"), std::string::npos)
      << no_reason.status().message();
  std::ofstream(dir / "models.toml") << model << "[[unmodelled]]\nname = \"x\"\nreason = \"r\"\nn_layer = 2\n";
  auto extra = Catalog::load(dir.string());
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("'x': unknown key 'n_layer'"), std::string::npos) << extra.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera::plan
