#include "tessera/plan/step_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "tessera/plan/layer_mix.h"
#include "tessera/plan/moe_dispatch.h"
#include "tessera/plan/pipeline_sim.h"
#include "tessera/spec/pipeline_stages.h"

namespace tessera::plan {

namespace {

// Fraction of tensor-parallel collective time not hidden behind GEMMs (Megatron runs them on the critical
// path; TE's userbuffer overlap hides part of it).
constexpr double kTpExposed = 0.6;
// Bytes moved per local parameter by the optimizer step (fp32 master, m, v read+write, grads, bf16 copy).
constexpr double kOptimizerBytesPerParam = 30;
// Element accesses per token per layer, forward, in memory-bound kernels: C-sized (norms, residuals,
// dropout, rotary, bias) and F-sized (activation function, gating).
constexpr double kElementwiseCPerToken = 16;
constexpr double kElementwiseFPerToken = 4;
constexpr double kUnfusedScoreBytes = 10;
// torchtitan's ring (PyTorch's _attention.py), bytes through memory per output element and later ring step, counted
// from its code. Forward (_SDPAMerger): the bf16→fp32 cast (6), out − block_out (12), × sigmoid(Δlse) (8),
// out − that (12), the torch.cat of a partial step's halves (8 on half the steps) and the K,V torch.cat before the
// exchange (8): ~40. Backward: dQ += (10, 13 on partial steps), dK and dV accumulated through _partial_update
// (~11.5 each), their fp32 torch.cat for the next rank (16) and the K,V torch.cat (8): ~58.
constexpr double kTorchCpMergeBytes = 40;
constexpr double kTorchCpGradBytes = 58;
// Tessera's LM head computes the logits in chunks of this many bytes of fp32 rows (GptModel::kHeadChunkBytes).
constexpr double kHeadChunkBytes = 64.0 * (1 << 20);

struct LayerTimes {
  // Means over the stack's layers (layer_mix.h: the sum over the layer kinds ÷ n_layer), one micro-batch.
  double fwd_compute = 0;   // GEMMs + attention + elementwise, forward
  double bwd_compute = 0;   // the same, backward: dX = dY·Wᵀ and dW = Xᵀ·dY GEMMs, 2× attention and traffic
  double attention_fwd = 0;
  double selective_recompute = 0;  // what the selective policy re-runs in backward
  double tp_comm_fwd = 0;   // one forward's tp collectives (exposed share)
  double cp_fwd_exposed = 0;  // context-parallel exchange not hidden behind the attention, forward
  double cp_bwd_exposed = 0;  // the same, backward
  double ep_comm_fwd = 0;   // one forward's expert-parallel all-to-alls (dispatch + combine), exposed share
  double host_fwd = 0, host_bwd = 0;  // MoE layers' host-side wait (Job::moe_host_*: 1/3 fwd, 2/3 bwd)
  // What the "moe" recompute module (MemoryTraits::recompute_moe) re-runs before the MoE layers' backward: their
  // forward compute, tp collectives and exposed all-to-alls once more (its host wait is in host_bwd).
  double moe_recompute = 0, moe_recompute_tp = 0, moe_recompute_ep = 0;
};

// Seconds of one GEMM in `format`: the job's own format at the device's rate (DeviceModel::gemm_seconds), another
// (a part of the model in another format: gemm_parts.h) at that format's peak × efficiency.
double gemm_seconds_as(const DeviceModel& dev, GemmFormat job_format, GemmFormat format, double m, double n, double k) {
  return format == job_format ? dev.gemm_seconds(m, n, k) : dev.gemm_seconds_in(format, m, n, k);
}

// Forward and backward GEMM seconds of Y[M×n] = X[M×k]·W[k×n] for each {n, k}: backward is dX = dY·Wᵀ and
// dW = Xᵀ·dY.
struct GemmTimes {
  double fwd = 0, bwd = 0;
};

// A job's GEMMs by kind, the kind's instances charged in the formats they run in, weighed by their shares
// (gemm_split, gemm_parts.h); with no parts every share is the job's format, as before parts existed.
struct JobGemms {
  const DeviceModel& dev;
  const Job& job;
  // No parts (every job the search builds): every GEMM at the device's rate, without splitting (the search's hot
  // path; splitting cost it ~17% of its candidates/s).
  const bool uniform = job.gemm_parts.empty();
  GemmSplit split(LayerGemm kind) const { return gemm_split(job.model, job.gemm_parts, job.gemm_format, kind); }
  double seconds(LayerGemm kind, double m, double n, double k) const {
    if (uniform) return dev.gemm_seconds(m, n, k);
    double s = 0;
    for (const FormatShare& f : split(kind)) {
      if (f.fraction > 0) s += f.fraction * gemm_seconds_as(dev, job.gemm_format, f.format, m, n, k);
    }
    return s;
  }
  GemmTimes times(LayerGemm kind, double M, std::initializer_list<std::array<double, 2>> shapes) const {
    GemmTimes total;
    if (uniform) {
      for (const auto& [n, k] : shapes) {
        total.fwd += dev.gemm_seconds(M, n, k);
        total.bwd += dev.gemm_seconds(M, k, n) + dev.gemm_seconds(k, n, M);
      }
      return total;
    }
    for (const FormatShare& f : split(kind)) {
      if (f.fraction <= 0) continue;
      GemmTimes g;
      for (const auto& [n, k] : shapes) {
        g.fwd += gemm_seconds_as(dev, job.gemm_format, f.format, M, n, k);
        g.bwd += gemm_seconds_as(dev, job.gemm_format, f.format, M, k, n) +
                 gemm_seconds_as(dev, job.gemm_format, f.format, k, n, M);
      }
      total.fwd += f.fraction * g.fwd;
      total.bwd += f.fraction * g.bwd;
    }
    return total;
  }
};

// The attention kernel a framework runs: Transformer Engine's cuDNN fused attention under Megatron and NeMo,
// PyTorch SDPA's flash backend (FlashAttention-2) under torchtitan and plain PyTorch, flash-attn v2 in llm-foundry.
AttentionKernel attention_kernel_of(Framework f) {
  return f == Framework::kMegatron || f == Framework::kNemo ? AttentionKernel::kFused : AttentionKernel::kFlash2;
}

// The links tensor-parallel collectives run on: ClusterLinks::tensor_parallel where set.
ClusterLinks tp_links_of(const ClusterLinks& links) {
  ClusterLinks tp = links;
  if (links.tensor_parallel) tp.scaleup = tp.scaleout = *links.tensor_parallel;
  return tp;
}

LayerTimes layer_times(const Job& job, const DeviceModel& dev, const ClusterLinks& links) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const LayerMix mix = layer_mix(m);
  const JobGemms gemms{dev, job};
  const double C = static_cast<double>(m.n_embd), F = static_cast<double>(m.ffn());
  const double KV = static_cast<double>(m.kv_heads() * m.head_size());
  const double tp = static_cast<double>(p.tp), cp = static_cast<double>(p.cp);
  const double t = static_cast<double>(m.seq_len);
  const double b = static_cast<double>(p.micro_batch);
  const double M = b * t / cp;
  const double act = dev.activation_bytes();
  const bool sp = job.sequence_parallel && p.tp > 1;
  const double gate = m.gated_mlp ? 1.5 : 1.0;
  const double up = m.gated_mlp ? 2 : 1;  // gate and up projections fused into one GEMM
  // Memory-bound work per layer of any kind: norms, residuals, dropout, rotary — 8 C-sized element accesses
  // per token (a transformer block, attention + MLP, has 16).
  const double elem_c = M * act * kElementwiseCPerToken / 2 * C / (sp ? tp : 1);
  // Tessera's runtime blocks on every tp collective (nothing overlaps them); frameworks hide part of it.
  const double tp_exposed = job.runtime_stages ? 1.0 : kTpExposed;
  const double tp_all_reduce =
      p.tp > 1 ? tp_exposed * group_all_reduce_seconds(tp_links_of(links), p.tp, 1, M * C * act) : 0;
  LayerTimes total;  // sums over the stack, divided by n_layer at the end
  double selective = 0;
  double ep_a2a_fwd = 0;  // one MoE layer's forward all-to-alls (dispatch + combine), one micro-batch

  // Attention mixers (GQA, or MLA's low-rank projections), full and sliding-window.
  if (mix.attention > 0) {
    const double NH = static_cast<double>(m.n_head), HS = static_cast<double>(m.head_size());
    const double dv = static_cast<double>(value_head_dim(m)), Q = static_cast<double>(m.q_dim());
    GemmTimes g;
    if (is_mla(m)) {
      const double ql = static_cast<double>(m.mla_q_lora_rank), kvl = static_cast<double>(m.mla_kv_lora_rank);
      const double rope = static_cast<double>(m.mla_rope_dim);
      g = ql > 0 ? gemms.times(LayerGemm::kAttention, M, {{ql, C}, {NH * HS / tp, ql}})
                 : gemms.times(LayerGemm::kAttention, M, {{NH * HS / tp, C}});
      const GemmTimes kv =
          gemms.times(LayerGemm::kAttention, M, {{kvl + rope, C}, {NH * (HS - rope + dv) / tp, kvl}, {C, NH * dv / tp}});
      g.fwd += kv.fwd, g.bwd += kv.bwd;
      // mla_up_proj recompute: the backward first re-runs the q and kv up-projections (MemoryTraits).
      if (job.memory.recompute_mla_up_proj) {
        g.bwd += (ql > 0 ? gemms.seconds(LayerGemm::kAttention, M, NH * HS / tp, ql) : 0) +
                 gemms.seconds(LayerGemm::kAttention, M, NH * (HS - rope + dv) / tp, kvl);
      }
    } else {
      g = gemms.times(LayerGemm::kAttention, M, {{(Q + 2 * KV) / tp, C}, {C, Q / tp}});
    }
    // Seconds of one layer's attention core, forward, and of its first ring step (the causal call over the rank's
    // own chunk; the whole core without a ring).
    struct Core {
      double seconds = 0, step0 = 0;
    };
    auto core = [&](bool windowed) -> Core {
      const double flops = attention_core_flops_per_token(m, m.seq_len, job.flash_attention, windowed) * b * t / (tp * cp);
      const double keys = windowed && m.attention_window > 0 ? std::min(t, static_cast<double>(m.attention_window)) : t;
      if (job.flash_attention) {
        const AttentionKernel kernel = attention_kernel_of(job.framework);
        if (job.cp_mode == ContextParallel::kAllToAll || p.cp == 1) {
          // One causal call over the whole sequence (Ulysses: with cp× fewer heads).
          const double s = dev.flash_attention_seconds(flops, keys, HS, /*causal=*/true, kernel);
          return {s, s};
        }
        // The ring under load-balanced causal sharding (each rank holds chunks r and 2cp−1−r: torchtitan's
        // round-robin in torch/distributed/tensor/experimental/_attention.py, Transformer Engine's CP likewise):
        // step 0 is one causal call over the rank's t/cp keys — 1/cp of its attention FLOPs — and each of the
        // cp−1 later steps one full (unmasked) call over half a chunk pair, t/(2cp) keys or queries.
        const double step0 = dev.flash_attention_seconds(flops / cp, keys / cp, HS, /*causal=*/true, kernel);
        return {step0 + dev.flash_attention_seconds(flops * (cp - 1) / cp, keys / (2 * cp), HS, /*causal=*/false, kernel),
                step0};
      }
      // Unfused attention streams the t×t scores through memory: write QKᵀ, softmax read+write, dropout mask and
      // output, A·V read — ~10 bytes per score per head forward (2-byte scores).
      const double s = dev.attention_seconds(flops, keys, HS) +
                       dev.memory_seconds(kUnfusedScoreBytes * NH / tp * t / cp * keys * b);
      return {s, s};
    };
    const Core full = core(false), windowed = core(true);
    const double attention = (mix.attention - mix.window) * full.seconds + mix.window * windowed.seconds;
    const double attention_step0 = (mix.attention - mix.window) * full.step0 + mix.window * windowed.step0;
    // Attention backward: dV = PᵀdO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀQ — twice the forward's two products — and
    // flash attention first recomputes S = QKᵀ (it stores no scores): 2.5× the forward's FLOPs.
    const double attention_bwd = (job.flash_attention ? 2.5 : 2.0) * attention;
    total.attention_fwd += attention;
    total.fwd_compute += mix.attention * (g.fwd + dev.memory_seconds(elem_c)) + attention;
    total.bwd_compute += mix.attention * (g.bwd + 2 * dev.memory_seconds(elem_c)) + attention_bwd;
    total.tp_comm_fwd += mix.attention * tp_all_reduce;
    if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) {
      // torchtitan's per-op policy re-runs the k and o projections and the memory-bound work.
      selective += mix.attention * (gemms.seconds(LayerGemm::kAttention, M, KV / tp, C) +
                                    gemms.seconds(LayerGemm::kAttention, M, C, Q / tp) + dev.memory_seconds(elem_c));
    } else {
      selective += attention;
    }
    if (p.cp > 1) {
      const int64_t stride = grid_stride(GridOrderAxis::kCp, job.grid());
      const Link& link = links.link_for(p.cp, stride);
      const double kv_width = is_mla(m) ? NH * (HS + dv) : 2 * KV;
      if (job.cp_mode == ContextParallel::kAllToAll) {
        // Ulysses: Q, K, V to head shards before attention, the output back after it; exposed, and the backward
        // moves the gradients of the same tensors.
        const double bytes = M * (NH * HS + kv_width + NH * dv) / tp * act;
        const double a2a = mix.attention * group_all_to_all_seconds(links, p.cp, stride, bytes);
        total.cp_fwd_exposed += a2a;
        total.cp_bwd_exposed += a2a;
      } else if (job.framework == Framework::kTorchtitan) {
        // torchtitan's ring is PyTorch's (torch/distributed/tensor/experimental/_attention.py,
        // _templated_ring_attention and its backward; torchtitan's create_context_parallel_ctx sets the rotate
        // method, "allgather" by default):
        //  - K and V reach SDPA after repeat_kv (torchtitan's Llama attention), so they carry all NH/tp heads;
        //  - _AllGatherRotater gathers every rank's K,V once, issued before step 0 and waited for at step 1, so
        //    only step 0's causal call hides it; the backward gathers again (hidden behind step 0's backward) and
        //    passes the fp32 dK,dV partial sums rank to rank after every step (_AllToAllRotater, permute_tensor),
        //    each hidden behind the next step's backward;
        //  - every later step merges its output into fp32 partials (_SDPAMerger, convert_to_f32) and the backward
        //    accumulates dQ, dK, dV in fp32 with torch.cat re-assemblies (_partial_update): memory passes.
        const double kv_bytes = M * 2 * NH * HS / tp * act;  // one rank's expanded K,V chunk
        const double gather = group_all_gather_seconds(links, p.cp, stride, cp * kv_bytes);
        const double later_bwd = 2.5 * (attention - attention_step0) / mix.attention / (cp - 1);  // one later step
        const double dkv_pass = send_recv_seconds(link, 2 * kv_bytes);                             // fp32
        total.cp_fwd_exposed += mix.attention * std::max(0.0, gather - attention_step0 / mix.attention);
        total.cp_bwd_exposed += mix.attention * (std::max(0.0, gather - 2.5 * attention_step0 / mix.attention) +
                                                 (cp - 1) * std::max(0.0, dkv_pass - later_bwd));
        const double elements = M * NH * HS / tp;  // of the output (and of each expanded K, V)
        total.fwd_compute += mix.attention * (cp - 1) * dev.memory_seconds(kTorchCpMergeBytes * elements);
        total.bwd_compute += mix.attention * (cp - 1) * dev.memory_seconds(kTorchCpGradBytes * elements);
      } else {
        // Megatron/Transformer Engine ring: (cp−1) K,V sends forward, hidden behind the attention, the same and
        // the dK,dV sends backward (2×) behind its backward.
        const double ring = mix.attention * (cp - 1) * send_recv_seconds(link, M * kv_width / tp * act);
        total.cp_fwd_exposed += std::max(0.0, ring - attention);
        total.cp_bwd_exposed += std::max(0.0, 2 * ring - 2 * attention);
      }
    }
  }
  // Mamba-2 mixers: in_proj and out_proj GEMMs, the SSD scan (at the attention kernels' rate), conv1d and
  // gating traffic over the inner width.
  if (mix.mamba > 0) {
    const double d = mamba_inner_dim(m);
    const GemmTimes in = gemms.times(LayerGemm::kMambaInProj, M, {{mamba_in_proj_width(m) / tp, C}});
    const GemmTimes out = gemms.times(LayerGemm::kMambaOutProj, M, {{C, d / tp}});
    const GemmTimes g{in.fwd + out.fwd, in.bwd + out.bwd};
    const double scan = dev.attention_seconds(mamba_scan_flops_per_token(m) * M / tp, t,
                                              static_cast<double>(m.mamba_head_dim));
    const double elem = elem_c + M * act * 8 * d / tp;
    total.fwd_compute += mix.mamba * (g.fwd + scan + dev.memory_seconds(elem));
    total.bwd_compute += mix.mamba * (g.bwd + 2 * scan + 2 * dev.memory_seconds(elem));
    total.tp_comm_fwd += mix.mamba * tp_all_reduce;
    if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) selective += mix.mamba * dev.memory_seconds(elem);
  }
  // Dense MLPs.
  if (mix.dense_ffn > 0) {
    const GemmTimes g = gemms.times(LayerGemm::kDenseMlp, M, {{up * F / tp, C}, {C, F / tp}});
    const double elem = elem_c + M * act * kElementwiseFPerToken * F / tp * gate;
    total.fwd_compute += mix.dense_ffn * (g.fwd + dev.memory_seconds(elem));
    total.bwd_compute += mix.dense_ffn * (g.bwd + 2 * dev.memory_seconds(elem));
    total.tp_comm_fwd += mix.dense_ffn * tp_all_reduce;
    if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) {
      // The up (gated) or fc2 projection and the memory-bound work.
      selective += mix.dense_ffn * ((m.gated_mlp ? gemms.seconds(LayerGemm::kDenseMlp, M, F / tp, C)
                                                 : gemms.seconds(LayerGemm::kDenseMlp, M, C, F / tp)) +
                                    dev.memory_seconds(elem));
    }
  }
  // MoE MLPs: router, the rank's E/ep experts as grouped GEMMs over the tokens routed to them, shared
  // experts, permutation traffic, and the all-to-all dispatch and combine over the ep group.
  if (mix.moe_ffn > 0) {
    const double E = static_cast<double>(m.moe_experts), k = static_cast<double>(m.moe_top_k);
    const double ep = static_cast<double>(job.ep), etp = static_cast<double>(job.etp);
    const double Fe = static_cast<double>(m.moe_ffn_hidden), Fs = static_cast<double>(m.moe_shared_ffn_hidden);
    const double tokens = M / (p.tp > 1 ? tp : 1);  // Megatron's MoE layer takes the sequence-parallel shard
    // Routed token copies a rank computes: its etp group's tokens, k copies each, at the busiest expert's
    // load (capped by the capacity factor when tokens are dropped; exactly the capacity when padded to it).
    const double load = job.pad_to_capacity && job.capacity_factor > 0 ? job.capacity_factor
                        : job.capacity_factor > 0                       ? std::min(job.expert_imbalance, job.capacity_factor)
                                                                        : job.expert_imbalance;
    const double per_expert = tokens * k * ep * etp / E * std::max(load, 1e-9);
    // Expert width W: C, or LatentMoE's latent ℓ, which the tokens are projected down to before the dispatch and
    // back up from after the combine (two unsharded GEMMs on the rank's tokens; Megatron-Core's fc1_latent_proj and
    // fc2_latent_proj, parallel_mode "duplicated"): experts, permutations and all-to-alls all move ℓ-wide rows.
    const double W = moe_expert_width(m), latent = static_cast<double>(m.moe_latent_size);
    const GemmTimes experts = gemms.times(LayerGemm::kExperts, per_expert, {{up * Fe / etp, W}, {W, Fe / etp}});
    GemmTimes router = gemms.times(LayerGemm::kRouter, tokens, {{E, C}});
    if (latent > 0) {
      const GemmTimes projections = gemms.times(LayerGemm::kMoeLatent, tokens, {{latent, C}, {C, latent}});
      router.fwd += projections.fwd, router.bwd += projections.bwd;
    }
    GemmTimes shared;
    if (Fs > 0) shared = gemms.times(LayerGemm::kSharedExperts, M, {{up * Fs / tp, C}, {C, Fs / tp}});
    const double copies = tokens * k * etp * load;
    const double elem = elem_c + M * act * kElementwiseFPerToken * Fs / tp * gate +
                        copies * act * kElementwiseFPerToken * Fe / etp * gate;
    // Permutation passes of the dispatcher (moe_dispatch.h), each reading and writing C per copy; the backward
    // runs the inverse permutations on the gradients, once each.
    const double permute = dev.memory_seconds(copies * act * 2 * W * permutation_passes(job));
    const double local_experts = E / ep;
    const double fwd = local_experts * experts.fwd + router.fwd + shared.fwd + dev.memory_seconds(elem) + permute;
    const double bwd = local_experts * experts.bwd + router.bwd + shared.bwd + 2 * dev.memory_seconds(elem) + permute;
    total.fwd_compute += mix.moe_ffn * fwd;
    total.bwd_compute += mix.moe_ffn * bwd;
    total.tp_comm_fwd += mix.moe_ffn * tp_all_reduce;
    // Host wait: a fixed part per layer plus the per-expert launch loop over the rank's E/ep experts; a captured
    // CUDA graph replays the loop's launches without the host (Job::moe_cuda_graph).
    // A full-iteration graph (Job::full_iteration_graph) leaves no host work inside the step at all.
    const double host = job.full_iteration_graph
                            ? 0.0
                            : job.moe_host_overhead_s + (job.moe_cuda_graph ? 0.0 : job.moe_host_per_expert_s * E / ep);
    total.host_fwd += mix.moe_ffn * host / 3;
    total.host_bwd += mix.moe_ffn * host * 2 / 3;
    // The "moe" recompute module re-runs the layer's whole forward inside the backward (MemoryTraits::recompute_moe);
    // under full recompute it is already re-run with the rest of the layer.
    if (job.memory.recompute_moe && p.recompute != Recompute::kFull) {
      total.moe_recompute += mix.moe_ffn * fwd;
      total.moe_recompute_tp += mix.moe_ffn * tp_all_reduce;
      total.host_bwd += mix.moe_ffn * host / 3;
    }
    // Dispatch + combine, forward (their gradients backward), by the job's dispatcher (moe_dispatch.h); padded
    // to capacity, a rank sends cf × its k routed copies (E experts × capacity = cf·k·tokens rows).
    const double padded = job.pad_to_capacity && job.capacity_factor > 0 ? job.capacity_factor : 1.0;
    ep_a2a_fwd = 2 * expert_dispatch_seconds(links, job, tokens * padded, W * act);
  }
  // MTP modules' 2C×C projections.
  if (mix.mtp > 0) {
    const GemmTimes g = gemms.times(LayerGemm::kMtpProjection, M, {{C / tp, 2 * C}});
    total.fwd_compute += mix.mtp * g.fwd;
    total.bwd_compute += mix.mtp * g.bwd;
  }
  const double L = static_cast<double>(m.n_layer);
  if (ep_a2a_fwd > 0) {
    // Forward and backward each move ep_a2a_fwd per MoE layer. With the all-to-all overlap (Job::ep_overlap) they
    // run under the compute of the micro-batch paired with this one: per MoE layer only what exceeds a layer's
    // forward + backward compute (the stack's mean) stays exposed, split evenly over forward and backward.
    double exposed = job.ep_exposed * 2 * ep_a2a_fwd;
    if (job.ep_overlap) exposed = std::max(0.0, 2 * ep_a2a_fwd - (total.fwd_compute + total.bwd_compute) / L);
    total.ep_comm_fwd += mix.moe_ffn * exposed / 2;
    // A recomputed MoE forward dispatches and combines again, exposed like the first forward's.
    if (job.memory.recompute_moe && p.recompute != Recompute::kFull) total.moe_recompute_ep += mix.moe_ffn * exposed / 2;
  }
  LayerTimes lt;
  lt.fwd_compute = total.fwd_compute / L;
  lt.bwd_compute = total.bwd_compute / L;
  lt.attention_fwd = total.attention_fwd / L;
  lt.selective_recompute = selective / L;
  lt.tp_comm_fwd = total.tp_comm_fwd / L;
  lt.cp_fwd_exposed = total.cp_fwd_exposed / L;
  lt.cp_bwd_exposed = total.cp_bwd_exposed / L;
  lt.ep_comm_fwd = total.ep_comm_fwd / L;
  lt.host_fwd = total.host_fwd / L;
  lt.host_bwd = total.host_bwd / L;
  lt.moe_recompute = total.moe_recompute / L;
  lt.moe_recompute_tp = total.moe_recompute_tp / L;
  lt.moe_recompute_ep = total.moe_recompute_ep / L;
  return lt;
}

}  // namespace

Status validate_job(const Job& job, int64_t world_size) {
  TESSERA_RETURN_IF_ERROR(job.model.validate());
  TESSERA_RETURN_IF_ERROR(validate_layer_mix(job.model));
  if (const Status parts = validate_gemm_parts(job.gemm_parts, job.model); !parts.ok()) {
    return invalid_argument_error("gemm parts: {}", parts.message());
  }
  // Uneven pipeline stages are allowed (Llama 3 405B: 126 layers over 16 stages; Qwen3-235B's 94 over 4 or
  // 8): the plan's other checks run against the layer count rounded up to whole stages; the step model
  // charges every stage the mean L/pp layers, the memory model bounds offload by the larger stages.
  ModelSpec whole_stages = job.model;
  const int64_t per_round = std::max<int64_t>(1, job.plan.pp) * std::max<int64_t>(1, job.plan.vpp);
  if (job.plan.pp > 0 && job.plan.vpp > 0 && job.model.n_layer >= per_round) {
    whole_stages.n_layer = (job.model.n_layer + per_round - 1) / per_round * per_round;
  }
  TESSERA_RETURN_IF_ERROR(job.plan.validate(whole_stages, world_size));
  if (job.ep < 1 || job.etp < 1) {
    return invalid_argument_error("parallel.ep, etp: expected positive integers, found ep {} and etp {}", job.ep, job.etp);
  }
  if (is_moe(job.model)) {
    const int64_t ranks = job.plan.tp * job.plan.cp * job.plan.dp;
    if (ranks % (job.ep * job.etp) != 0) {
      return invalid_argument_error("parallel.ep: expected ep({})*etp({}) to divide tp*cp*dp ({}) of a pipeline stage",
                                    job.ep, job.etp, ranks);
    }
    if (job.model.moe_experts % job.ep != 0) {
      return invalid_argument_error("parallel.ep: expected a divisor of the experts ({}), found {}",
                                    job.model.moe_experts, job.ep);
    }
    if (job.model.moe_ffn_hidden % job.etp != 0) {
      return invalid_argument_error("parallel.etp: expected a divisor of moe_ffn_hidden ({}), found {}",
                                    job.model.moe_ffn_hidden, job.etp);
    }
  } else if (job.ep > 1 || job.etp > 1) {
    return invalid_argument_error("parallel.ep: expected 1 for a dense model (no experts), found ep {} and etp {}",
                                  job.ep, job.etp);
  }
  if (job.cp_mode == ContextParallel::kAllToAll && job.plan.cp > 1 &&
      (job.model.n_head % (job.plan.cp * job.plan.tp) != 0 ||
       (job.model.kv_heads() % (job.plan.cp * job.plan.tp) != 0 && !is_mla(job.model)))) {
    return invalid_argument_error("parallel.cp: all-to-all (Ulysses) context parallelism needs cp*tp ({}) to divide the "
                                  "heads ({}) and kv heads ({}); use the ring",
                                  job.plan.cp * job.plan.tp, job.model.n_head, job.model.kv_heads());
  }
  if (job.pad_to_capacity && job.capacity_factor <= 0) {
    return invalid_argument_error("moe: padding to capacity needs a capacity factor > 0 (token drop), found {}",
                                  job.capacity_factor);
  }
  if (job.moe_cuda_graph && !(is_moe(job.model) && job.pad_to_capacity)) {
    return invalid_argument_error("moe: a CUDA graph of the MoE layers needs experts padded to capacity (static shapes; "
                                  "--capacity-factor X --pad-to-capacity), found {}",
                                  is_moe(job.model) ? (job.capacity_factor > 0 ? "token drop without padding" : "dropless")
                                                    : "a dense model");
  }
  if (job.expert_imbalance < 1 || job.capacity_factor < 0) {
    return invalid_argument_error("moe: expected expert imbalance >= 1 and capacity factor >= 0 (0 = dropless), "
                                  "found {} and {}",
                                  job.expert_imbalance, job.capacity_factor);
  }
  const int64_t layers_per_stage = max_layers_per_stage(job.model.n_layer, std::max<int64_t>(1, job.plan.pp));
  if (job.memory.offload_layers < 0 || job.memory.offload_layers > layers_per_stage) {
    return invalid_argument_error("offload layers: expected 0..{} (the layers of one pipeline stage), found {}",
                                  layers_per_stage, job.memory.offload_layers);
  }
  if (job.model.kv_heads() % job.plan.tp != 0 && job.plan.tp % job.model.kv_heads() != 0) {
    return invalid_argument_error("parallel.tp: expected a divisor or multiple of the kv heads ({}), found {}",
                                  job.model.kv_heads(), job.plan.tp);
  }
  // The schedule must be one the runtime can run (spec/pipeline_schedule.h; e.g. interleaved runs
  // micro-batches in groups of pp, as Megatron requires); the step model's bubble and the pipeline
  // simulator (--trace) only agree then. Uneven stages are accepted, so n_layer is not checked here.
  if (job.plan.pp > 1) {
    const Status s = check_pipeline_schedule({.kind = pipeline_schedule_kind(job.plan.schedule),
                                              .pp = job.plan.pp,
                                              .vpp = job.plan.vpp,
                                              .micro_batches = job.plan.num_micro_batches()});
    if (!s.ok()) return invalid_argument_error("parallel: {} (change --global-batch or --micro-batch)", s.message());
  }
  return Status();
}

StepPrediction predict_step(const Job& job, const AcceleratorSpec& acc, const ClusterLinks& links,
                            const DeviceModel& dev) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  StepPrediction out;
  const double L = static_cast<double>(m.n_layer), pp = static_cast<double>(p.pp);
  const double tp = static_cast<double>(p.tp), cp = static_cast<double>(p.cp);
  const double vpp = static_cast<double>(p.vpp);
  const double mb = static_cast<double>(p.num_micro_batches());
  const double C = static_cast<double>(m.n_embd), V = static_cast<double>(m.vocab_size);
  const double M = static_cast<double>(p.micro_batch) * static_cast<double>(m.seq_len) / cp;

  const LayerTimes lt = layer_times(job, dev, links);
  // Recompute re-runs forward work during backward.
  double recompute = 0, recompute_comm = 0;
  if (p.recompute == Recompute::kFull) recompute = lt.fwd_compute, recompute_comm = lt.tp_comm_fwd;
  if (p.recompute == Recompute::kSelective) recompute = lt.selective_recompute;
  // Module recompute (zero under full recompute, which re-runs everything already).
  recompute += lt.moe_recompute;
  recompute_comm += lt.moe_recompute_tp;
  const double cp_fwd_exposed = lt.cp_fwd_exposed;
  // A fully recomputed forward runs its context-parallel exchange again.
  const double cp_bwd_exposed = lt.cp_bwd_exposed + (p.recompute == Recompute::kFull ? lt.cp_fwd_exposed : 0.0);
  // LM head + loss (memory-bound softmax over fp32 logits), spread over the stages; once more per MTP module.
  const double heads = 1 + static_cast<double>(m.mtp_layers);
  // The LM head runs in the job's format unless a part sets it (gemm_parts.h).
  const GemmFormat head = lm_head_format(job.gemm_parts, job.gemm_format);
  auto head_gemm = [&](double a, double b, double c) { return gemm_seconds_as(dev, job.gemm_format, head, a, b, c); };
  const double head_fwd = heads * (head_gemm(M, V / tp, C) + dev.memory_seconds(M * V / tp * 4 * 2));
  const double head_bwd = heads * (head_gemm(M, C, V / tp) + head_gemm(C, V / tp, M) +
                                   dev.memory_seconds(M * V / tp * 4 * 2));
  // Tessera's runtime (docs/parallelism.md "Embedding and loss"), per micro-batch under tp: the embedding's g
  // region sums the looked-up [M, C] rows (an all-reduce; a reduce-scatter under sequence parallelism) on the
  // first stage; on the last, the head's f region all-reduces the [M, C] input gradient (under sequence
  // parallelism: all-gathers the input forward and reduce-scatters its gradient), and the vocab-parallel loss
  // all-gathers 2·R floats per rank for each chunk of R = kHeadChunkBytes / (4·V) rows. All blocking.
  double embed_tp = 0, head_tp = 0;
  if (job.runtime_stages && p.tp > 1) {
    const ClusterLinks tp_links = tp_links_of(links);
    const bool sp = job.sequence_parallel;
    const double act_bytes = M * C * dev.activation_bytes();
    embed_tp = sp ? group_reduce_scatter_seconds(tp_links, p.tp, 1, act_bytes)
                  : group_all_reduce_seconds(tp_links, p.tp, 1, act_bytes);
    head_tp = sp ? group_all_gather_seconds(tp_links, p.tp, 1, act_bytes) +
                       group_reduce_scatter_seconds(tp_links, p.tp, 1, act_bytes)
                 : group_all_reduce_seconds(tp_links, p.tp, 1, act_bytes);
    const double rows = std::max(1.0, std::floor(kHeadChunkBytes / (4 * V)));
    for (double n0 = 0; n0 < M; n0 += rows) {
      head_tp += group_all_gather_seconds(tp_links, p.tp, 1, tp * 2 * std::min(rows, M - n0) * 4);
    }
  }
  const double layers_per_stage = L / pp;
  double pp_send = 0;
  if (p.pp > 1) {
    // Neighbouring stages are tp·cp·dp ranks apart (spec/grid_order.h, the runtime's order).
    const Link& link = links.link_for(p.pp, grid_stride(GridOrderAxis::kPp, job.grid()));
    const bool sp = job.sequence_parallel && p.tp > 1;
    pp_send = vpp * send_recv_seconds(link, M * C * dev.activation_bytes() / (sp ? tp : 1));
  }
  const double fwd_compute = layers_per_stage * lt.fwd_compute + head_fwd / pp;
  const double bwd_compute = layers_per_stage * (lt.bwd_compute + recompute) + head_bwd / pp;
  const double tp_fwd = layers_per_stage * lt.tp_comm_fwd + (embed_tp + head_tp) / pp;
  const double tp_bwd = layers_per_stage * (lt.tp_comm_fwd + recompute_comm);
  // Expert-parallel all-to-alls: dispatch and combine forward, their gradients backward (and again for a
  // fully recomputed forward).
  const double ep_fwd = layers_per_stage * lt.ep_comm_fwd;
  const double ep_bwd =
      layers_per_stage * (lt.ep_comm_fwd * (p.recompute == Recompute::kFull ? 2 : 1) + lt.moe_recompute_ep);
  // Activation offload: the offloaded layers' saved activations go to the host during forward and come back
  // during backward, overlapped with the stage's compute; only what the host link cannot hide is paid.
  if (job.memory.offload_layers > 0 && acc.host_link_gb_per_s > 0) {
    const double layers = std::min(static_cast<double>(job.memory.offload_layers), layers_per_stage);
    const double transfer = layers * activation_bytes_per_layer(job) / (acc.host_link_gb_per_s * 1e9);
    out.offload_s = std::max(0.0, transfer - fwd_compute) + std::max(0.0, transfer - bwd_compute);
  }
  const double host_fwd = layers_per_stage * lt.host_fwd;
  const double host_bwd = layers_per_stage * lt.host_bwd * (p.recompute == Recompute::kFull ? 1.5 : 1.0);
  out.forward_s = fwd_compute + tp_fwd + ep_fwd + host_fwd + layers_per_stage * cp_fwd_exposed + pp_send;
  out.backward_s =
      bwd_compute + tp_bwd + ep_bwd + host_bwd + layers_per_stage * cp_bwd_exposed + pp_send + out.offload_s;
  const double t_mb = out.forward_s + out.backward_s;

  // Pipeline: (m + (pp−1)/vpp) micro-batch slots; the bubble is the (pp−1)/vpp fill/drain share. ZB-H1 fills the
  // drain with deferred weight gradients: with F = I = W (B = 2F) its bubble is (pp−1) forwards, (pp−1)/3 slots.
  const double fill = p.schedule == PipelineSchedule::kInterleaved ? vpp
                      : p.schedule == PipelineSchedule::kZeroBubbleH1 ? 3.0 : 1.0;
  const double slots = p.pp > 1 ? mb + (pp - 1) / fill : mb;
  double pipeline = slots * t_mb;
  double stage_compute = fwd_compute + bwd_compute;  // per micro-batch on the slowest stage
  double idle_share = -1;                              // the simulated stages' mean idle share, if simulated
  if (job.runtime_stages && p.pp > 1) {
    // Tessera's runtime: its own stages, each with its own time, run through the schedule's program in the
    // pipeline simulator — the stages are uneven, so the slowest one paces the steady state and the others wait
    // (idle counted as bubble, as the runtime measures it). W (zero bubble): the weight-gradient GEMMs, half of a
    // block's backward. (Under GPipe the last stage's heavy forwards all come first, so its bubble exceeds
    // 1F1B's, as measured.)
    //   vpp = 1: pp stages as spec/pipeline_stages.h balances them, the LM head and loss on the last;
    //   vpp > 1 (interleaved): pp·vpp virtual stages of L/(pp·vpp) layers each (docs/parallelism.md: the runtime
    //   does not balance the head here, as in Megatron), global stage s = chunk·pp + rank, the head on the last
    //   one (rank pp−1's last chunk) — so the last rank carries the head once, not vpp times, and the simulator
    //   runs every chunk with its own time.
    const int64_t S = p.pp * p.vpp;
    const auto stages = p.vpp == 1 ? pipeline_stage_layers(m, p.pp) : pipeline_stage_layers(m.n_layer, S);
    const auto program = make_pipeline_schedule({.kind = pipeline_schedule_kind(p.schedule), .pp = p.pp, .vpp = p.vpp,
                                                 .micro_batches = p.num_micro_batches()});
    if (stages.ok() && program.ok()) {
      PipelineTimes times;
      const double per_layer_fwd = lt.fwd_compute + lt.tp_comm_fwd + lt.ep_comm_fwd + lt.host_fwd + cp_fwd_exposed;
      const double per_layer_bwd = lt.bwd_compute + recompute + lt.tp_comm_fwd + recompute_comm + lt.ep_comm_fwd +
                                   lt.moe_recompute_ep + lt.host_bwd + cp_bwd_exposed;
      const double send = pp_send / vpp;  // one activation (gradient) message per virtual stage and micro-batch
      std::vector<double> rank_f(static_cast<size_t>(p.pp)), rank_b(rank_f), rank_compute(rank_f);
      for (int64_t s = 0; s < S; ++s) {
        const double n = static_cast<double>((*stages)[static_cast<size_t>(s)].count());
        const bool last = s == S - 1;
        // The runtime fuses the LM head's backward into its forward (GptModel: the logits never exist whole), so
        // the last stage's F carries the head's forward and backward.
        times.stage_forward_s.push_back(n * per_layer_fwd + (last ? head_fwd + head_bwd + head_tp : 0.0) +
                                        (s == 0 ? embed_tp : 0.0) + send);
        times.stage_backward_s.push_back(n * per_layer_bwd + send);
        times.stage_weight_s.push_back(0.5 * n * lt.bwd_compute);
        const size_t r = static_cast<size_t>(s % p.pp);
        rank_f[r] += times.stage_forward_s.back();
        rank_b[r] += times.stage_backward_s.back();
        rank_compute[r] += n * (lt.fwd_compute + lt.bwd_compute + recompute) + (last ? head_fwd + head_bwd : 0.0);
      }
      double slowest = 0;
      for (size_t r = 0; r < rank_f.size(); ++r) {
        if (rank_f[r] + rank_b[r] <= slowest) continue;
        slowest = rank_f[r] + rank_b[r];
        out.forward_s = rank_f[r];
        out.backward_s = rank_b[r];
        stage_compute = rank_compute[r];
      }
      const auto timeline = simulate_pipeline(*program, times);
      if (timeline.ok()) {
        pipeline = timeline->makespan_s;
        idle_share = timeline->bubble_fraction;  // every stage's idle, as the runtime reports it
      }
    }
  }
  out.compute_s = mb * stage_compute;
  out.tp_comm_s = mb * (tp_fwd + tp_bwd);
  out.ep_comm_s = mb * (ep_fwd + ep_bwd);
  out.host_wait_s = mb * (host_fwd + host_bwd);
  out.cp_comm_s = mb * layers_per_stage * (cp_fwd_exposed + cp_bwd_exposed);
  out.pp_comm_s = mb * 2 * pp_send;
  out.bubble_s = pipeline - mb * (out.forward_s + out.backward_s);
  out.bubble_fraction = idle_share >= 0 ? idle_share : pipeline > 0 ? out.bubble_s / pipeline : 0;

  // Data parallel: gradients are reduced (and ZeRO/FSDP state sharded) over the dp·cp ranks that hold the
  // same weights — cp ranks see different tokens of the same sequences (Megatron's dp-cp group, torchtitan's
  // dp_shard_cp). In the grid's order (spec/grid_order.h: tp, cp, dp, pp) cp and dp are adjacent, so that
  // group has n = dp·cp members, stride tp (cp's stride; dp's, tp·cp, continues it). Expert weights are
  // reduced over their expert-data-parallel group instead: n = tp·cp·dp/(ep·etp) members, stride ep·etp
  // inside a stage's contiguous tp·cp·dp ranks. Gradients are bf16 (2 bytes per parameter).
  const RankParams P = rank_params(job);
  const int64_t n_dp = p.dp * p.cp;
  const int64_t n_edp = std::max<int64_t>(1, job.expert_dp());
  struct Group {
    double params;
    int64_t n, stride;
  };
  const Group groups[2] = {{P.dense, n_dp, grid_stride(GridOrderAxis::kCp, job.grid())},
                           {P.expert, n_edp, std::max<int64_t>(1, job.ep * job.etp)}};
  double per_mb = 0, once = 0, reduce_all = 0, gather = 0;
  for (const Group& g : groups) {
    if (g.n <= 1 || g.params <= 0) continue;
    if (&links.link_for(g.n, g.stride) == &links.scaleout) out.dp_crosses_scaleout = true;
    const double grad_bytes = g.params * (p.precision == Precision::kFp32 ? 4 : 2);
    if (p.zero_stage >= 3) {
      // Gather weights for forward and backward, reduce-scatter gradients.
      const double gathers = group_all_gather_seconds(links, g.n, g.stride, grad_bytes);
      const double rs = group_reduce_scatter_seconds(links, g.n, g.stride, grad_bytes);
      per_mb += job.reshard_per_micro_batch ? 2 * gathers + rs : 0;
      once += job.reshard_per_micro_batch ? 0 : gathers + rs;
    } else {
      // Without ZeRO the reduction is a full all-reduce (reduce-scatter + all-gather of gradients).
      reduce_all += p.zero_stage >= 1 ? group_reduce_scatter_seconds(links, g.n, g.stride, grad_bytes)
                                      : group_all_reduce_seconds(links, g.n, g.stride, grad_bytes);
      gather += p.zero_stage >= 1 ? group_all_gather_seconds(links, g.n, g.stride, grad_bytes) : 0;
    }
  }
  if (p.zero_stage >= 3) {
    out.dp_comm_total_s = mb * per_mb + once;
    const double hidden_per_mb = job.dp_overlap * (fwd_compute + bwd_compute);
    out.dp_comm_s = mb * std::max(0.0, per_mb - hidden_per_mb) +
                    std::max(0.0, once - job.dp_overlap * (fwd_compute + bwd_compute));
  } else {
    out.dp_comm_total_s = reduce_all + gather;
    out.dp_comm_s = std::max(0.0, reduce_all - job.dp_overlap * bwd_compute) +
                    std::max(0.0, gather - job.dp_overlap * fwd_compute);
  }
  out.tp_crosses_scaleout = p.tp > 1 && &links.link_for(p.tp, 1) == &links.scaleout;
  const double opt_params = p.zero_stage >= 1 ? P.dense / static_cast<double>(n_dp) + P.expert / static_cast<double>(n_edp)
                                              : P.dense + P.expert;
  out.optimizer_s = dev.memory_seconds(opt_params * kOptimizerBytesPerParam);
  out.step_time_s = pipeline + out.dp_comm_s + out.optimizer_s;

  const double world = static_cast<double>(p.world_size());
  const double seqs = static_cast<double>(p.resolved_global_batch());
  out.tokens_per_step = seqs * static_cast<double>(m.seq_len);
  out.tokens_per_s = out.tokens_per_step / out.step_time_s;
  out.model_flops = step_flops(m, m.seq_len, p.resolved_global_batch(), FlopConvention::kModelFull, Recompute::kNone);
  // HFU counts what MFU counts (full t² attention, PaLM convention) plus recomputation, over the same dense
  // bf16 peak, so HFU >= MFU always (counting the causal kernel's halved attention here made HFU < MFU).
  out.executed_flops = seqs * executed_flops_per_sequence(m, m.seq_len, p.recompute, /*causal_kernel=*/false);
  // The "moe" recompute module runs the MoE layers' matmuls forward once more: 2 FLOPs per active weight per token.
  if (job.memory.recompute_moe && p.recompute != Recompute::kFull) {
    out.executed_flops += seqs * static_cast<double>(m.seq_len) * 2 * layer_mix(m).moe_ffn * moe_active_params(m);
  }
  out.tflops_per_gpu = out.model_flops / out.step_time_s / world / 1e12;
  const double bf16_peak = acc.peak_tflops(GemmFormat::kBf16);
  out.mfu = bf16_peak > 0 ? out.tflops_per_gpu / bf16_peak : 0;
  const double format_peak = acc.peak_tflops(job.gemm_format);
  out.mfu_format_peak = format_peak > 0 ? out.tflops_per_gpu / format_peak : 0;
  out.hfu = bf16_peak > 0 ? out.executed_flops / out.step_time_s / world / 1e12 / bf16_peak : 0;
  out.memory = estimate_memory(job, acc.hbm_gib);
  return out;
}

}  // namespace tessera::plan
