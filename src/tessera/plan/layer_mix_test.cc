#include "tessera/plan/layer_mix.h"

#include <gtest/gtest.h>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/flops.h"
#include "tessera/plan/framework.h"
#include "tessera/plan/memory_model.h"
#include "tessera/plan/moe_dispatch.h"
#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

using testing::catalog_model;

// Total and active parameters of the catalog's MoE and hybrid entries against what their publishers state.
TEST(LayerMix, ParameterCountsMatchThePublishedOnes) {
  struct Case {
    const char* name;
    double total_b, active_b, tolerance;
  } cases[] = {
      {"deepseek-v3", 671 + 14, 37 + 2.4, 0.03},  // 671B main + 14B MTP module; 37B active (+ MTP layer and head)
      {"kimi-k2", 1040, 32.6, 0.03},
      {"qwen3-30b-a3b", 30.5, 3.3, 0.05},
      {"qwen3-235b-a22b", 235, 22, 0.03},
      {"gpt-oss-120b", 116.8, 5.13, 0.03},
      {"nemotron-3-nano", 31.6, 3.6, 0.06},  // 3.2B active + 0.35B embedding... counted with the LM head here
  };
  for (const Case& c : cases) {
    const ModelSpec m = catalog_model(c.name);
    EXPECT_NEAR(total_params(m) / 1e9, c.total_b, c.tolerance * c.total_b) << c.name;
    EXPECT_NEAR(active_matmul_params(m) / 1e9, c.active_b, 2 * c.tolerance * c.active_b) << c.name;
  }
}

// Megatron-Bridge publishes tokens/s and TFLOP/s per GPU; their ratio is its FLOPs per token, which the
// model-causal convention must reproduce (rows 79, 139, 88, 83, 141 of published_runs.csv).
TEST(LayerMix, ModelCausalFlopsPerTokenMatchMegatronBridge) {
  auto per_token = [](const ModelSpec& m, int64_t t) {
    return step_flops(m, t, 1, FlopConvention::kModelCausal, Recompute::kNone) / static_cast<double>(t);
  };
  ModelSpec dsv3 = catalog_model("deepseek-v3");
  EXPECT_NEAR(per_token(dsv3, 4096) / (1219e12 / 4691), 1.0, 0.02);  // with MTP
  dsv3.mtp_layers = 0;
  EXPECT_NEAR(per_token(dsv3, 4096) / (961e12 / 3848), 1.0, 0.02);  // "w/o MTP"
  EXPECT_NEAR(per_token(catalog_model("qwen3-30b-a3b"), 4096) / (700e12 / 30411), 1.0, 0.02);
  const ModelSpec oss = catalog_model("gpt-oss-120b");
  EXPECT_NEAR(per_token(oss, 4096) / (526e12 / 19366), 1.0, 0.02);
  EXPECT_NEAR(per_token(oss, 8192) / (565e12 / 18347), 1.0, 0.02);
  // The physical count (model-full) honours the gate and the sliding windows.
  ModelSpec no_window = oss;
  no_window.window_layers = 0;
  EXPECT_LT(step_flops(oss, 8192, 1, FlopConvention::kModelFull, Recompute::kNone),
            step_flops(no_window, 8192, 1, FlopConvention::kModelFull, Recompute::kNone));
}

TEST(LayerMix, KindsAddUpAndDenseModelsAreUnchanged) {
  const ModelSpec llama = catalog_model("llama3-8b");
  const LayerMix plain = layer_mix(llama);
  EXPECT_EQ(plain.attention, 32);
  EXPECT_EQ(plain.dense_ffn, 32);
  EXPECT_EQ(plain.moe_ffn, 0);
  EXPECT_DOUBLE_EQ(active_matmul_params(llama), static_cast<double>(llama.matmul_params()));
  const LayerMix nano = layer_mix(catalog_model("nemotron-3-nano"));
  EXPECT_EQ(nano.attention, 6);
  EXPECT_EQ(nano.mamba, 23);
  EXPECT_EQ(nano.moe_ffn, 23);
  EXPECT_EQ(nano.dense_ffn, 0);
  const LayerMix dsv3 = layer_mix(catalog_model("deepseek-v3"));
  EXPECT_EQ(dsv3.dense_ffn, 3);
  EXPECT_EQ(dsv3.moe_ffn, 58 + 1);  // 58 MoE layers and the MTP module's
  EXPECT_EQ(dsv3.attention, 62);
  // Causal window attention: each query sees w keys less the w²/2t triangle.
  const ModelSpec oss = catalog_model("gpt-oss-120b");
  EXPECT_DOUBLE_EQ(attention_core_flops_per_token(oss, 4096, true, true),
                   2 * (128 - 128.0 * 128 / (2 * 4096)) * 64 * (64 + 64));
}

TEST(LayerMix, BadFieldsAreRefusedByName) {
  ModelSpec m = catalog_model("qwen3-30b-a3b");
  m.moe_top_k = 200;
  EXPECT_NE(validate_layer_mix(m).message().find("model.moe_top_k: expected 1..moe_experts (128), found 200"),
            std::string::npos);
  m = catalog_model("llama3-8b");
  m.moe_top_k = 2;
  EXPECT_NE(validate_layer_mix(m).message().find("model.moe_experts"), std::string::npos);
  m = catalog_model("nemotron-3-nano");
  m.mamba_state = 0;
  EXPECT_NE(validate_layer_mix(m).message().find("model.mamba_*"), std::string::npos);
  m = catalog_model("gpt-oss-120b");
  m.attention_window = 0;
  EXPECT_NE(validate_layer_mix(m).message().find("model.window_layers"), std::string::npos);
}

Job moe_job(int64_t ep) {
  Job job;
  job.model = catalog_model("qwen3-235b-a22b");
  job.plan.tp = 1, job.plan.pp = 4, job.plan.dp = 64, job.plan.micro_batch = 1, job.plan.global_batch = 1024;
  job.plan.zero_stage = 1;
  job.plan.precision = Precision::kBf16;
  job.ep = ep;
  return job;
}

// Experts are split over ep and sharded over the expert-data-parallel group; the dense part is not.
TEST(LayerMix, ExpertMemorySplitsOverEp) {
  const RankParams ep1 = rank_params(moe_job(1)), ep8 = rank_params(moe_job(8));
  EXPECT_DOUBLE_EQ(ep1.dense, ep8.dense);
  EXPECT_NEAR(ep1.expert / ep8.expert, 8.0, 1e-9);
  const ModelSpec m = moe_job(1).model;
  EXPECT_NEAR(ep1.expert, layer_mix(m).moe_ffn / 4 * 128 * moe_expert_params(m), 1);
  const MemoryBreakdown mem1 = estimate_memory(moe_job(1), 192), mem8 = estimate_memory(moe_job(8), 192);
  EXPECT_GT(mem1.weights_gib, 4 * mem8.weights_gib);
  // ZeRO-1: expert optimizer state over edp = 64/8 ranks, dense over 64: the same bytes per rank as ep = 1
  // gives over 64 ranks for the experts.
  EXPECT_NEAR(mem1.optimizer_gib, mem8.optimizer_gib, 1e-6);
  EXPECT_EQ(moe_job(8).expert_dp(), 8);
  Job bad = moe_job(3);
  EXPECT_NE(validate_job(bad, 256).message().find("parallel.ep"), std::string::npos) << validate_job(bad, 256).message();
  Job dense;
  dense.model = catalog_model("llama3-8b");
  dense.plan.dp = 8, dense.plan.global_batch = 8;
  dense.ep = 2;
  EXPECT_NE(validate_job(dense, 8).message().find("expected 1 for a dense model"), std::string::npos);
}

// The all-to-all stays on NVLink inside a node and pays the NIC across nodes: ep 8 on 8-GPU nodes is far
// cheaper than ep 64, and on an NVL72 rack ep 64 stays in the rack (a power-of-two job places 64 per rack).
TEST(LayerMix, AllToAllCostFollowsTheScaleUpDomain) {
  ClusterLinks links;
  links.scaleup = {900e9 * 0.8, 3e-6};
  links.scaleout = {50e9 * 0.8, 10e-6};
  links.scaleup_domain = 8;
  const double S = 256e6;
  const double in_node = group_all_to_all_seconds(links, 8, 1, S);
  EXPECT_NEAR(in_node, 3e-6 + 7.0 / 8 * S / links.scaleup.bytes_per_s, 1e-12);
  const double across = group_all_to_all_seconds(links, 64, 1, S);
  EXPECT_NEAR(across, 10e-6 + 56.0 / 64 * S / links.scaleout.bytes_per_s, 1e-12);
  EXPECT_GT(across, 10 * in_node);
  links.scaleup_domain = 72;
  EXPECT_TRUE(links.fits_scaleup(64, 1));
  EXPECT_NEAR(group_all_to_all_seconds(links, 64, 1, S), 3e-6 + 63.0 / 64 * S / links.scaleup.bytes_per_s, 1e-12);
}

// Step model: more experts per rank (smaller ep) means fewer tokens per expert GEMM; ep all-to-all shows in
// the breakdown; the host wait is paid per MoE layer and micro-batch.
TEST(LayerMix, StepModelChargesMoeWork) {
  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  ClusterSpec cluster = *testing::load_test_catalog().cluster("dgx-h100-superpod");
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  const StepPrediction ep8 = predict_step(moe_job(8), acc, links, dev);
  const StepPrediction ep64 = predict_step(moe_job(64), acc, links, dev);
  EXPECT_GT(ep8.ep_comm_s, 0);
  EXPECT_GT(ep64.ep_comm_s, ep8.ep_comm_s);  // across nodes
  Job no_host = moe_job(8);
  no_host.moe_host_overhead_s = 0;
  no_host.moe_host_per_expert_s = 0;
  const StepPrediction bare = predict_step(no_host, acc, links, dev);
  const double slots = 1024.0 / 64 + 3;  // micro-batches + pp − 1
  // 128 experts over ep 8: 16 local experts launched one by one.
  EXPECT_NEAR(ep8.step_time_s - bare.step_time_s, slots * 94.0 / 4 * (kMoeHostOverheadS + 16 * kMoeHostPerExpertS),
              1e-6);
  EXPECT_NEAR(ep8.host_wait_s, 1024.0 / 64 * 94.0 / 4 * (kMoeHostOverheadS + 16 * kMoeHostPerExpertS), 1e-9);
  // Imbalance slows the expert GEMMs; a capacity factor caps it.
  Job skewed = no_host;
  skewed.expert_imbalance = 1.5;
  const double slow = predict_step(skewed, acc, links, dev).step_time_s;
  EXPECT_GT(slow, bare.step_time_s);
  skewed.capacity_factor = 1.0;
  EXPECT_NEAR(predict_step(skewed, acc, links, dev).step_time_s, bare.step_time_s, 1e-9);
}

// The host wait grows with the experts a rank launches (E/ep): ep 8 leaves 16 of Qwen3-235B's 128 experts per rank,
// ep 64 two, so per MoE layer and micro-batch the wait differs by 14 · moe_host_per_expert_s, and a job without the
// per-expert term waits the same at any ep.
TEST(LayerMix, HostWaitGrowsWithLocalExperts) {
  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  ClusterSpec cluster = *testing::load_test_catalog().cluster("dgx-h100-superpod");
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job ep8 = moe_job(8), ep64 = moe_job(64);
  ep8.moe_host_overhead_s = ep64.moe_host_overhead_s = 0.002;
  ep8.moe_host_per_expert_s = ep64.moe_host_per_expert_s = 0.0001;
  const double per_slot = 1024.0 / 64 * 94.0 / 4;  // micro-batches × MoE layers on a stage
  EXPECT_NEAR(predict_step(ep8, acc, links, dev).host_wait_s, per_slot * (0.002 + 16 * 0.0001), 1e-9);
  EXPECT_NEAR(predict_step(ep64, acc, links, dev).host_wait_s, per_slot * (0.002 + 2 * 0.0001), 1e-9);
  ep8.moe_host_per_expert_s = ep64.moe_host_per_expert_s = 0;
  EXPECT_DOUBLE_EQ(predict_step(ep8, acc, links, dev).host_wait_s, predict_step(ep64, acc, links, dev).host_wait_s);
}

// Token drop padded to capacity (Megatron's moe_pad_expert_input_to_capacity, Bridge's token-drop recipes): every
// expert computes its full capacity and every rank sends it, whatever the routing — at capacity factor 1.25 with
// balanced routing the padded job does 1.25x the expert work of the unpadded one, which drops nothing; at capacity
// factor 1 both are the balanced dropless step. Padding needs a capacity factor.
TEST(LayerMix, PaddedTokenDropComputesTheCapacity) {
  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  ClusterSpec cluster = *testing::load_test_catalog().cluster("dgx-h100-superpod");
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  const StepPrediction dropless = predict_step(moe_job(8), acc, links, dev);
  Job padded = moe_job(8);
  padded.capacity_factor = 1.0;
  padded.pad_to_capacity = true;
  ASSERT_TRUE(validate_job(padded, 256).ok()) << validate_job(padded, 256).message();
  const StepPrediction p1 = predict_step(padded, acc, links, dev);
  EXPECT_NEAR(p1.step_time_s, dropless.step_time_s, 1e-9);
  EXPECT_NEAR(p1.host_wait_s, dropless.host_wait_s, 1e-12);  // the per-layer wait is still charged
  padded.capacity_factor = 1.25;
  Job unpadded = padded;
  unpadded.pad_to_capacity = false;
  const StepPrediction p125 = predict_step(padded, acc, links, dev);
  const StepPrediction u125 = predict_step(unpadded, acc, links, dev);
  EXPECT_NEAR(u125.step_time_s, dropless.step_time_s, 1e-9);
  EXPECT_GT(p125.compute_s, u125.compute_s);
  EXPECT_GT(p125.ep_comm_s, u125.ep_comm_s);
  padded.capacity_factor = 0;
  EXPECT_NE(validate_job(padded, 256).message().find("padding to capacity needs a capacity factor"), std::string::npos);
}

// CUDA graphs over the MoE layers (Megatron-Core enable_cuda_graph with the experts padded to capacity): the host
// replays the captured layer instead of looping over the rank's experts, so the wait drops by exactly the per-expert
// part, E/ep · moe_host_per_expert_s per MoE layer and micro-batch; the fixed part stays. Dropless layers have
// dynamic shapes and cannot be captured: refused by name.
TEST(LayerMix, CudaGraphRemovesThePerExpertLaunchLoop) {
  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  ClusterSpec cluster = *testing::load_test_catalog().cluster("dgx-h100-superpod");
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job padded = moe_job(8);
  padded.capacity_factor = 1.0;
  padded.pad_to_capacity = true;
  padded.moe_host_overhead_s = 0.002;
  padded.moe_host_per_expert_s = 0.0001;
  Job graphed = padded;
  graphed.moe_cuda_graph = true;
  ASSERT_TRUE(validate_job(graphed, 256).ok()) << validate_job(graphed, 256).message();
  const double per_slot = 1024.0 / 64 * 94.0 / 4;  // micro-batches × MoE layers on a stage
  const StepPrediction eager = predict_step(padded, acc, links, dev);
  const StepPrediction captured = predict_step(graphed, acc, links, dev);
  EXPECT_NEAR(eager.host_wait_s, per_slot * (0.002 + 16 * 0.0001), 1e-9);
  EXPECT_NEAR(captured.host_wait_s, per_slot * 0.002, 1e-9);
  EXPECT_NEAR(captured.compute_s, eager.compute_s, 1e-12);  // the GPU work is the same
  EXPECT_LT(captured.step_time_s, eager.step_time_s);
  Job dropless = moe_job(8);
  dropless.moe_cuda_graph = true;
  EXPECT_NE(validate_job(dropless, 256).message().find("CUDA graph of the MoE layers needs experts padded"),
            std::string::npos)
      << validate_job(dropless, 256).message();
}

// A full-iteration CUDA graph launches the whole step once: no MoE host wait at all, dropless or padded, and the
// GPU work is unchanged (the static per-rank token budget sizes buffers, the GEMMs run the routed tokens).
TEST(LayerMix, FullIterationGraphRemovesTheHostWait) {
  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  ClusterSpec cluster = *testing::load_test_catalog().cluster("dgx-h100-superpod");
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job eager = moe_job(8);
  eager.moe_host_overhead_s = 0.002;
  eager.moe_host_per_expert_s = 0.0001;
  Job full = eager;
  full.full_iteration_graph = true;
  ASSERT_TRUE(validate_job(full, 256).ok()) << validate_job(full, 256).message();  // dropless is allowed
  const StepPrediction a = predict_step(eager, acc, links, dev);
  const StepPrediction b = predict_step(full, acc, links, dev);
  EXPECT_GT(a.host_wait_s, 0.0);
  EXPECT_EQ(b.host_wait_s, 0.0);
  EXPECT_NEAR(b.compute_s, a.compute_s, 1e-12);
  // The step saves at least the wait (with pp = 4 the wait also sat in every stage's share of the bubble).
  EXPECT_GE(a.step_time_s - b.step_time_s, a.host_wait_s - 1e-9);
}

// Context parallelism as a ring (K,V passed point to point behind the attention) or as Ulysses' all-to-all
// (heads exchanged before and after attention, exposed): at 128k tokens the ring hides, Ulysses pays.
TEST(ContextParallel, RingHidesUlyssesPays) {
  const Catalog catalog = testing::load_test_catalog();
  const AcceleratorSpec acc = *catalog.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*catalog.cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job job;
  job.model = *catalog.model("llama3-8b");
  job.model.seq_len = 131072;
  job.plan.cp = 4, job.plan.dp = 2, job.plan.global_batch = 2;
  job.plan.precision = Precision::kBf16;
  ASSERT_TRUE(validate_job(job, 8).ok()) << validate_job(job, 8).message();
  const StepPrediction ring = predict_step(job, acc, links, dev);
  EXPECT_DOUBLE_EQ(ring.cp_comm_s, 0);
  job.cp_mode = ContextParallel::kAllToAll;
  ASSERT_TRUE(validate_job(job, 8).ok());
  const StepPrediction ulysses = predict_step(job, acc, links, dev);
  const double M = 131072.0 / 4;
  const double a2a = group_all_to_all_seconds(links, 4, 1, M * (4096 + 2 * 1024 + 4096) * 2);
  EXPECT_NEAR(ulysses.cp_comm_s, 32 * 2 * a2a, 1e-9);  // 32 layers, forward + backward, one micro-batch
  EXPECT_GT(ulysses.step_time_s, ring.step_time_s);
  job.plan.cp = 16, job.plan.dp = 1, job.plan.global_batch = 1;
  EXPECT_NE(validate_job(job, 16).message().find("all-to-all (Ulysses) context parallelism needs cp*tp (16)"),
            std::string::npos);
}

// Megatron-Core's mla_up_proj recompute (DeepSeek-V3's Bridge recipes): MLA's q, k and v — 2·(NH·HS + NH·(HS + dv))
// bytes per token, 128 heads of q/k size 192 and v size 128 — are not kept, the latents are; the backward re-runs the
// q up-projection (1536 -> 128·192) and the kv up-projection (512 -> 128·(128 + 128)) of every attention layer.
TEST(LayerMix, MlaUpProjectionRecomputeDropsQkvAndRerunsTheUpProjections) {
  Job job;
  job.model = catalog_model("deepseek-v3");
  job.plan.tp = 1, job.plan.pp = 16, job.plan.dp = 16, job.plan.micro_batch = 1, job.plan.global_batch = 2048;
  job.plan.zero_stage = 1;
  job.plan.precision = Precision::kFp8;
  job.gemm_format = GemmFormat::kFp8;
  job.ep = 8;
  const ModelSpec& m = job.model;
  const double tokens = static_cast<double>(m.seq_len), attention = layer_mix(m).attention;
  const double kept = activation_bytes_per_layer(job);
  Job recompute = job;
  recompute.memory.recompute_mla_up_proj = true;
  EXPECT_NEAR(kept - activation_bytes_per_layer(recompute),
              tokens * 2 * (128 * 192 + 128 * (192 + 128)) * attention / static_cast<double>(m.n_layer), 1);

  AcceleratorSpec acc = *testing::load_test_catalog().accelerator("b200");
  const ClusterLinks links = cluster_links(*testing::load_test_catalog().cluster("dgx-b200"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kFp8);
  const StepPrediction base = predict_step(job, acc, links, dev);
  const StepPrediction rerun = predict_step(recompute, acc, links, dev);
  const double up = dev.gemm_seconds(tokens, 128 * 192, 1536) + dev.gemm_seconds(tokens, 128 * (192 - 64 + 128), 512);
  const double micro_batches = 2048 / 16;
  EXPECT_NEAR(rerun.compute_s - base.compute_s, micro_batches * attention / 16 * up, 1e-6);
  EXPECT_LT(rerun.compute_s / base.compute_s, 1.03);  // a few percent, as the recipe intends
}

// Megatron-Core's "moe" recompute module re-runs the whole MoE forward inside the backward (moe_layer.py: the route,
// dispatch, expert and combine steps in one checkpoint). Qwen3-235B (every layer attention + MoE) on 256 H100, tp 4:
// the backward gains one more forward of each MoE layer — its compute, its tp collective (1 of a layer's 2 forward
// ones), its dispatch + combine all-to-alls and its host wait — and nothing moves in the forward.
TEST(LayerMix, MoeRecomputeRerunsTheWholeMoeForwardInTheBackward) {
  Job job;
  job.model = catalog_model("qwen3-235b-a22b");
  job.plan.tp = 4, job.plan.pp = 8, job.plan.dp = 8, job.plan.micro_batch = 1, job.plan.global_batch = 256;
  job.ep = 8;
  apply_framework(Framework::kMegatron, &job);
  const AcceleratorSpec acc = *testing::load_test_catalog().accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*testing::load_test_catalog().cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kBf16);
  Job moe = job;
  moe.memory.recompute_moe = true;
  const StepPrediction base = predict_step(job, acc, links, dev), rerun = predict_step(moe, acc, links, dev);
  EXPECT_DOUBLE_EQ(rerun.forward_s, base.forward_s);
  EXPECT_NEAR(rerun.ep_comm_s / base.ep_comm_s, 1.5, 1e-9);      // forward, backward, + the recomputed forward
  EXPECT_NEAR(rerun.host_wait_s / base.host_wait_s, 4.0 / 3, 1e-9);  // 1/3 of the wait is the forward's
  EXPECT_NEAR(rerun.tp_comm_s / base.tp_comm_s, 5.0 / 4, 1e-9);
  // Compute: more than nothing, less than a full recompute (which also re-runs the attention).
  Job full = job;
  full.plan.recompute = Recompute::kFull;
  const StepPrediction all = predict_step(full, acc, links, dev);
  EXPECT_GT(rerun.compute_s - base.compute_s, 0.3 * (all.compute_s - base.compute_s));
  EXPECT_LT(rerun.compute_s - base.compute_s, all.compute_s - base.compute_s);
  // HFU counts the re-run: 2 FLOPs per active MoE weight per token, 94 layers.
  const double tokens = 256.0 * static_cast<double>(job.model.seq_len);
  EXPECT_NEAR(rerun.executed_flops - base.executed_flops, tokens * 2 * 94 * moe_active_params(job.model),
              1e-9 * base.executed_flops);
  // Under full recompute the module adds nothing: the MoE forward is re-run once, with the rest of the layer.
  full.memory.recompute_moe = true;
  const StepPrediction both = predict_step(full, acc, links, dev);
  EXPECT_DOUBLE_EQ(both.compute_s, all.compute_s);
  EXPECT_DOUBLE_EQ(both.ep_comm_s, all.ep_comm_s);
  EXPECT_DOUBLE_EQ(both.executed_flops, all.executed_flops);
}

// LatentMoE (Nemotron 3 Super): the routed experts work at ℓ = 1024 of C = 4096, with a C×ℓ projection down before
// the dispatch and an ℓ×C one up after the combine; the router and the shared expert stay at C. Weights: 123.6B
// with the one MTP block (Megatron-Bridge's verification card: 123,611,033,088 elements), 120.6B without (NVIDIA's
// 120.6B total); ~12.2B active matmul weights without MTP (NVIDIA: 12.7B active, embedding included).
TEST(LayerMix, LatentMoeExpertsWeightsAndDispatchAreLatentWide) {
  const ModelSpec super = catalog_model("nemotron-3-super");
  EXPECT_NEAR(total_params(super) / 1e9, 123.611, 0.01);
  ModelSpec main_model = super;
  main_model.mtp_layers = 0;
  EXPECT_NEAR(total_params(main_model) / 1e9, 120.6, 0.1);
  EXPECT_NEAR((active_matmul_params(main_model) + 131072.0 * 4096) / 1e9, 12.7, 0.2);
  // The two MTP passes share one block's weights: one more attention + MoE layer held, two computed.
  ModelSpec unshared = super;
  unshared.mtp_shared_weights = false;
  EXPECT_NEAR(total_params(unshared) - total_params(super),
              attention_matmul_params(super) + moe_held_params(super) + 2 * 4096.0 * 4096, 1);
  EXPECT_DOUBLE_EQ(active_matmul_params(unshared), active_matmul_params(super));
  ModelSpec full_width = super;
  full_width.moe_latent_size = 0;
  EXPECT_DOUBLE_EQ(moe_expert_params(super) / moe_expert_params(full_width), 1024.0 / 4096);
  EXPECT_DOUBLE_EQ(moe_active_params(super) - (moe_router_params(super) + 22 * moe_expert_params(super) +
                                               moe_shared_params(super)),
                   2 * 4096.0 * 1024);
  full_width.moe_latent_size = 4096;
  EXPECT_NE(validate_layer_mix(full_width).message().find("moe_latent_size: expected 0 (experts at n_embd) or less than "
                                                          "n_embd (4096), found 4096"),
            std::string::npos);

  // 64 GB300 in one NVL72 rack, ep 64, MXFP8: the dispatch and combine carry ℓ-wide rows, 2 bytes per element, forward
  // and backward, for each of the 42 MoE layers (40 + the MTP block's, run twice) of 8 micro-batches.
  Job job;
  job.model = super;
  job.plan.tp = 1, job.plan.pp = 1, job.plan.dp = 64, job.plan.micro_batch = 1, job.plan.global_batch = 512;
  job.plan.precision = Precision::kFp8;
  job.gemm_format = GemmFormat::kFp8;
  job.ep = 64;
  apply_framework(Framework::kNemo, &job);
  const Catalog catalog = testing::load_test_catalog();
  const AcceleratorSpec acc = *catalog.accelerator("gb300");
  const ClusterLinks links = cluster_links(*catalog.cluster("gb300-nvl72"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kFp8);
  const StepPrediction latent = predict_step(job, acc, links, dev);
  EXPECT_NEAR(latent.ep_comm_s, 8 * 42 * 4 * expert_dispatch_seconds(links, job, 8192, 1024 * 2), 1e-9);
  Job wide = job;
  wide.model.moe_latent_size = 0;
  const StepPrediction full = predict_step(wide, acc, links, dev);
  EXPECT_NEAR(full.ep_comm_s, 8 * 42 * 4 * expert_dispatch_seconds(links, wide, 8192, 4096 * 2), 1e-9);
  EXPECT_LT(latent.compute_s, full.compute_s);
  // Activations per token of a MoE layer: 22 copies of the permuted input (fp8, 1 byte) and the expert output
  // (bf16, 2) at ℓ instead of C, plus the up-projection's fp8 input, ℓ wide.
  const double per_layer = 8192.0 * (22 * 3 * (4096 - 1024) - 1024) * 42 / 88;
  EXPECT_NEAR(activation_bytes_per_layer(wide) - activation_bytes_per_layer(job), per_layer, 1);
}

}  // namespace
}  // namespace tessera::plan
