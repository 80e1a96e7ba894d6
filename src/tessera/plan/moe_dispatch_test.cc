#include "tessera/plan/moe_dispatch.h"

#include <gtest/gtest.h>

#include "tessera/plan/plan_test_util.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {
namespace {

// Expected domains a token's experts touch: the hypergeometric miss chance, capped by group-limited routing.
TEST(MoeDispatch, ExpectedDomainsTouched) {
  EXPECT_DOUBLE_EQ(expected_domains_touched(256, 8, 1, 0, 0), 1.0);
  // 4 experts in 2 domains, top-2: both experts in one domain with chance C(2,2)/C(4,2) = 1/6.
  EXPECT_NEAR(expected_domains_touched(4, 2, 2, 0, 0), 2 * (1 - 1.0 / 6), 1e-12);
  // DeepSeek-V3 over 8 nodes: unlimited, 8·(1 − C(224,8)/C(256,8)) ≈ 5.3 nodes; its 8 groups, top 4, one group per
  // node: 8·(1 − C(7,4)/C(8,4)) = 4 nodes exactly (the paper's "at most 4 nodes", on average 4 when balanced).
  const double unlimited = expected_domains_touched(256, 8, 8, 0, 0);
  EXPECT_GT(unlimited, 5.2);
  EXPECT_LT(unlimited, 5.4);
  EXPECT_DOUBLE_EQ(expected_domains_touched(256, 8, 8, 8, 4), 4.0);
  // Groups that do not tile the domains (8 groups over 3 domains) do not cap it.
  EXPECT_DOUBLE_EQ(expected_domains_touched(256, 8, 3, 8, 4), expected_domains_touched(256, 8, 3, 0, 0));
}

// C(252, 8) / C(256, 8): the chance that a token's 8 experts all miss one rank's 4.
double chance_to_miss_4_of_256() {
  double p = 1;
  for (int i = 0; i < 8; ++i) p *= (252.0 - i) / (256.0 - i);
  return p;
}

ClusterLinks eight_gpu_nodes() {
  ClusterLinks links;
  links.scaleup = {450e9 * 0.8, 3e-6};
  links.scaleout = {50e9 * 0.8, 10e-6};
  links.scaleup_domain = 8;
  return links;
}

Job deepseek_job(ExpertDispatch dispatch) {
  Job job;
  job.model = *testing::load_test_catalog().model("deepseek-v3");
  job.router_groups = 8;
  job.router_group_topk = 4;
  job.plan.tp = 2, job.plan.pp = 8, job.plan.vpp = 4, job.plan.dp = 64;
  job.plan.schedule = PipelineSchedule::kInterleaved;
  job.plan.micro_batch = 1, job.plan.global_batch = 8192, job.plan.zero_stage = 1;
  job.plan.precision = Precision::kFp8;
  job.gemm_format = GemmFormat::kFp8;
  job.ep = 64;
  job.ep_dispatch = dispatch;
  return job;
}

// ep = 64 over 8-GPU nodes: the all-to-all dispatcher sends 56/64 of a token's 8 copies through the NIC (7);
// deduplicated and node-limited, a token crosses once per remote node it reaches: 4 · 7/8 = 3.5. The all-to-all
// path equals group_all_to_all_seconds (what the step model charged before dispatchers were modelled).
TEST(MoeDispatch, DeduplicationHalvesDeepSeekNicTraffic) {
  const ClusterLinks links = eight_gpu_nodes();
  const DispatchCopies a2a = dispatch_copies(links, deepseek_job(ExpertDispatch::kAllToAll));
  EXPECT_DOUBLE_EQ(a2a.scaleout, 7.0);
  EXPECT_DOUBLE_EQ(a2a.scaleup, 7.0 / 64 * 8);
  const DispatchCopies dedup = dispatch_copies(links, deepseek_job(ExpertDispatch::kDeduplicated));
  EXPECT_DOUBLE_EQ(dedup.scaleout, 3.5);
  EXPECT_GT(dedup.scaleup, a2a.scaleup);  // the relay GPUs forward over NVLink
  const double tokens = 2048, bytes = 7168 * 2;
  EXPECT_NEAR(expert_dispatch_seconds(links, deepseek_job(ExpertDispatch::kAllToAll), tokens, bytes),
              group_all_to_all_seconds(links, 64, 1, tokens * 8 * bytes), 1e-15);
  EXPECT_NEAR(expert_dispatch_seconds(links, deepseek_job(ExpertDispatch::kDeduplicated), tokens, bytes),
              10e-6 + 3.5 * tokens * bytes / links.scaleout.bytes_per_s, 1e-12);
  // Inside one NVL72 rack nothing crosses a NIC; the deduplicating dispatchers still send a token once per rank
  // holding any of its experts: 4 experts per rank, 8 draws of 256 (the 8 groups do not tile 64 ranks).
  ClusterLinks rack = links;
  rack.scaleup_domain = 72;
  const double ranks = 64 * (1 - chance_to_miss_4_of_256());
  const DispatchCopies in_rack = dispatch_copies(rack, deepseek_job(ExpertDispatch::kHybridEp));
  EXPECT_DOUBLE_EQ(in_rack.scaleout, 0);
  EXPECT_NEAR(in_rack.scaleup, ranks * 63 / 64, 1e-12);
  EXPECT_NEAR(expert_dispatch_seconds(rack, deepseek_job(ExpertDispatch::kHybridEp), tokens, bytes) - 3e-6,
              (expert_dispatch_seconds(rack, deepseek_job(ExpertDispatch::kAllToAll), tokens, bytes) - 3e-6) * ranks / 8,
              1e-12);
}

// DeepSeek-V3 with ep = 8 inside one 8-GPU node (Megatron-Bridge's B200 layout): each rank holds 32 experts, one
// router group, so a token routed to the top 4 of 8 groups reaches exactly 4 ranks. The all-to-all dispatcher sends
// its 8 copies (7 of them to other ranks); DeepEP and HybridEP send it once per rank: 4 · 7/8 = 3.5 copies.
TEST(MoeDispatch, DeduplicatingDispatchersSendATokenOncePerRank) {
  const ClusterLinks links = eight_gpu_nodes();
  Job job = deepseek_job(ExpertDispatch::kAllToAll);
  job.ep = 8;
  EXPECT_DOUBLE_EQ(dispatch_copies(links, job).scaleup, 7.0);
  EXPECT_DOUBLE_EQ(dispatch_copies(links, job).scaleout, 0.0);
  for (ExpertDispatch d : {ExpertDispatch::kDeduplicated, ExpertDispatch::kHybridEp}) {
    job.ep_dispatch = d;
    EXPECT_DOUBLE_EQ(dispatch_copies(links, job).scaleup, 3.5);
    EXPECT_DOUBLE_EQ(dispatch_copies(links, job).scaleout, 0.0);
  }
}

// Permutation passes per forward (moe_dispatch.h): the all-to-all dispatcher's permute/unpermute plus, with more
// than one local expert, its sort by local expert and the unsort; DeepEP permutes on the receiver; HybridEP fuses
// both into its kernels.
TEST(MoeDispatch, PermutationPassesFollowTheDispatcher) {
  Job job = deepseek_job(ExpertDispatch::kAllToAll);
  EXPECT_DOUBLE_EQ(permutation_passes(job), 4);  // ep 64 of 256: 4 local experts
  job.ep = 256;
  EXPECT_DOUBLE_EQ(permutation_passes(job), 2);  // one local expert: nothing to sort
  job.ep = 1;
  EXPECT_DOUBLE_EQ(permutation_passes(job), 2);  // no all-to-all: the received order is the local order
  job.ep = 64;
  job.ep_dispatch = ExpertDispatch::kDeduplicated;
  EXPECT_DOUBLE_EQ(permutation_passes(job), 2);
  job.ep_dispatch = ExpertDispatch::kHybridEp;
  EXPECT_DOUBLE_EQ(permutation_passes(job), 0);
}

// In the step: DeepSeek-V3 on 1024 H100 (Megatron-Bridge's layout) spends half the all-to-all time with the
// deduplicating dispatcher; the all-to-all overlap hides it behind the paired micro-batch's compute up to a
// layer's forward + backward, and hides it completely when the layer computes longer than it communicates.
TEST(MoeDispatch, StepModelChargesTheDispatcherAndTheOverlap) {
  const Catalog catalog = testing::load_test_catalog();
  const AcceleratorSpec acc = *catalog.accelerator("h100-sxm-80gb");
  const ClusterLinks links = cluster_links(*catalog.cluster("dgx-h100-superpod"), acc);
  const AcceleratorDevice dev(acc, GemmFormat::kFp8);
  const StepPrediction a2a = predict_step(deepseek_job(ExpertDispatch::kAllToAll), acc, links, dev);
  const StepPrediction dedup = predict_step(deepseek_job(ExpertDispatch::kDeduplicated), acc, links, dev);
  EXPECT_NEAR(dedup.ep_comm_s / a2a.ep_comm_s, 0.5, 0.02);
  // The all-to-all dispatcher also sorts the received copies by local expert and back (2 more passes forward, 2
  // backward over the 8 copies of each of the micro-batch's 2048 tokens, bf16): compute, not communication.
  const double sort_bytes = 2048 * 8 * 2 * 7168.0 * 2 * 2 * 2;  // tokens·k·bf16·C·(read+write)·2 passes·(fwd+bwd)
  const double moe_layers = (58.0 + 1) / 8;  // 58 MoE layers + the MTP module's, over 8 stages
  EXPECT_NEAR(a2a.compute_s - dedup.compute_s, 128 * moe_layers * AcceleratorDevice(acc, GemmFormat::kFp8).memory_seconds(sort_bytes),
              1e-6);
  // Through the pipeline (bubble 7/4 of 128 slots); the longer backward hides a few ms more data-parallel traffic.
  EXPECT_NEAR(a2a.step_time_s - dedup.step_time_s,
              (a2a.ep_comm_s - dedup.ep_comm_s + a2a.compute_s - dedup.compute_s) * (1 + 7.0 / 4 / 128), 0.005);

  Job overlapped = deepseek_job(ExpertDispatch::kAllToAll);
  overlapped.ep_overlap = true;
  const StepPrediction hidden = predict_step(overlapped, acc, links, dev);
  EXPECT_LT(hidden.ep_comm_s, a2a.ep_comm_s);
  EXPECT_GT(hidden.ep_comm_s, 0);  // 7 of 8 copies over 400 Gb/s NICs outlast a layer's compute
  // What it hid is a layer's forward + backward compute, once per MoE layer and micro-batch: just under the
  // stage's compute per layer (which also holds the stage's share of the LM head).
  const double per_layer_compute = a2a.compute_s / 128 / (61.0 / 8);
  const double hid = a2a.ep_comm_s - hidden.ep_comm_s;
  EXPECT_LT(hid, 128 * moe_layers * per_layer_compute);
  EXPECT_GT(hid, 0.9 * 128 * moe_layers * per_layer_compute);
  // On an NVL72 rack the all-to-all is shorter than the compute: nothing stays exposed.
  const AcceleratorSpec gb200 = *catalog.accelerator("gb200");
  const ClusterLinks rack = cluster_links(*catalog.cluster("gb200-nvl72"), gb200);
  Job in_rack = overlapped;
  in_rack.plan.tp = 1, in_rack.plan.pp = 4, in_rack.plan.dp = 64, in_rack.plan.global_batch = 4096;
  EXPECT_EQ(predict_step(in_rack, gb200, rack, AcceleratorDevice(gb200, GemmFormat::kFp8)).ep_comm_s, 0);
}

}  // namespace
}  // namespace tessera::plan
