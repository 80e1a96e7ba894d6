#include "tessera/plan/step_model.h"

#include <algorithm>

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

struct LayerTimes {
  double fwd_compute = 0;   // GEMMs + attention + elementwise, forward
  double bwd_compute = 0;   // the same, backward: dX = dY·Wᵀ and dW = Xᵀ·dY GEMMs, 2× attention and traffic
  double attention_fwd = 0;
  double selective_recompute = 0;  // what the selective policy re-runs in backward
  double tp_comm_fwd = 0;   // one forward's tp collectives (exposed share)
  double cp_comm_fwd = 0;
};

LayerTimes layer_times(const Job& job, const DeviceModel& dev, const ClusterLinks& links) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const double C = static_cast<double>(m.n_embd), F = static_cast<double>(m.ffn());
  const double KV = static_cast<double>(m.kv_heads() * m.head_size());
  const double tp = static_cast<double>(p.tp), cp = static_cast<double>(p.cp);
  const double t = static_cast<double>(m.seq_len);
  const double M = static_cast<double>(p.micro_batch) * t / cp;
  LayerTimes lt;
  // Forward Y[M×n] = X[M×k]·W[k×n] per projection; backward dX[M×k] = dY·Wᵀ and dW[k×n] = Xᵀ·dY.
  const double Q = static_cast<double>(m.q_dim());  // NH·HS (= C unless head_dim is set)
  const double shapes[4][2] = {{(Q + 2 * KV) / tp, C}, {C, Q / tp}, {(m.gated_mlp ? 2 : 1) * F / tp, C}, {C, F / tp}};
  double gemm = 0, gemm_bwd = 0;
  for (const auto& [n, k] : shapes) {
    gemm += dev.gemm_seconds(M, n, k);
    gemm_bwd += dev.gemm_seconds(M, k, n) + dev.gemm_seconds(k, n, M);
  }
  const ForwardFlops ff = forward_flops(m, m.seq_len, job.flash_attention);
  lt.attention_fwd = dev.attention_seconds(ff.layer_attention * static_cast<double>(p.micro_batch) / (tp * cp), t,
                                           static_cast<double>(m.head_size()));
  const bool sp = job.sequence_parallel && p.tp > 1;
  const double elem = M * dev.activation_bytes() *
                      (kElementwiseCPerToken * C / (sp ? tp : 1) + kElementwiseFPerToken * F / tp *
                                                                        (m.gated_mlp ? 1.5 : 1.0));
  if (!job.flash_attention) {
    // Unfused attention streams the t×t scores through memory: write QKᵀ, softmax read+write, dropout
    // mask and output, A·V read — ~10 bytes per score per head forward (2-byte scores).
    lt.attention_fwd += dev.memory_seconds(kUnfusedScoreBytes * static_cast<double>(m.n_head) / tp * t / cp * t *
                                           static_cast<double>(p.micro_batch));
  }
  lt.fwd_compute = gemm + lt.attention_fwd + dev.memory_seconds(elem);
  if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) {
    // The k, o and up (gated) or fc2 projections and all memory-bound work; attention is kept.
    lt.selective_recompute = dev.gemm_seconds(M, KV / tp, C) + dev.gemm_seconds(M, C, Q / tp) +
                             (m.gated_mlp ? dev.gemm_seconds(M, F / tp, C) : dev.gemm_seconds(M, C, F / tp)) +
                             dev.memory_seconds(elem);
  } else {
    lt.selective_recompute = lt.attention_fwd;
  }
  // Attention backward: dV = PᵀdO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀQ — twice the forward's two products — and
  // flash attention first recomputes S = QKᵀ (it stores no scores): 2.5× the forward's FLOPs.
  const double attention_bwd = (job.flash_attention ? 2.5 : 2.0) * lt.attention_fwd;
  lt.bwd_compute = gemm_bwd + attention_bwd + 2 * dev.memory_seconds(elem);
  if (p.tp > 1) {
    lt.tp_comm_fwd = kTpExposed * 2 * group_all_reduce_seconds(links, p.tp, 1, M * C * dev.activation_bytes());
  }
  if (p.cp > 1) {
    const Link& link = links.link_for(p.cp, p.tp);
    const double kv_bytes = M * 2 * KV / tp * dev.activation_bytes();
    lt.cp_comm_fwd = (cp - 1) * send_recv_seconds(link, kv_bytes);
  }
  return lt;
}

}  // namespace

Status validate_job(const Job& job, int64_t world_size) {
  TESSERA_RETURN_IF_ERROR(job.model.validate());
  TESSERA_RETURN_IF_ERROR(job.plan.validate(job.model, world_size));
  const int64_t layers_per_stage = max_layers_per_stage(job.model.n_layer, std::max<int64_t>(1, job.plan.pp));
  if (job.memory.offload_layers < 0 || job.memory.offload_layers > layers_per_stage) {
    return invalid_argument_error("offload layers: expected 0..{} (the layers of one pipeline stage), found {}",
                                  layers_per_stage, job.memory.offload_layers);
  }
  if (job.model.kv_heads() % job.plan.tp != 0 && job.plan.tp % job.model.kv_heads() != 0) {
    return invalid_argument_error("parallel.tp: expected a divisor or multiple of the kv heads ({}), found {}",
                                  job.model.kv_heads(), job.plan.tp);
  }
  // The interleaved schedule runs micro-batches in groups of pp (Megatron requires it); the step model's
  // bubble and the pipeline simulator (--trace) only agree then.
  if (job.plan.pp > 1 && job.plan.schedule == PipelineSchedule::kInterleaved &&
      job.plan.num_micro_batches() % job.plan.pp != 0) {
    return invalid_argument_error("parallel: the interleaved schedule needs micro-batches ({}) to be a multiple of pp "
                                  "({}); change --global-batch or --micro-batch",
                                  job.plan.num_micro_batches(), job.plan.pp);
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
  const double cp_fwd_exposed = std::max(0.0, lt.cp_comm_fwd - lt.attention_fwd);
  const double cp_bwd_exposed = std::max(0.0, 2 * lt.cp_comm_fwd - 2 * lt.attention_fwd);
  // LM head + loss (memory-bound softmax over fp32 logits), spread over the stages.
  const double head_fwd = dev.gemm_seconds(M, V / tp, C) + dev.memory_seconds(M * V / tp * 4 * 2);
  const double head_bwd = dev.gemm_seconds(M, C, V / tp) + dev.gemm_seconds(C, V / tp, M) +
                          dev.memory_seconds(M * V / tp * 4 * 2);
  const double layers_per_stage = L / pp;
  double pp_send = 0;
  if (p.pp > 1) {
    const Link& link = links.link_for(p.pp, p.tp * p.cp * p.dp);
    const bool sp = job.sequence_parallel && p.tp > 1;
    pp_send = vpp * send_recv_seconds(link, M * C * dev.activation_bytes() / (sp ? tp : 1));
  }
  const double fwd_compute = layers_per_stage * lt.fwd_compute + head_fwd / pp;
  const double bwd_compute = layers_per_stage * (lt.bwd_compute + recompute) + head_bwd / pp;
  const double tp_fwd = layers_per_stage * lt.tp_comm_fwd;
  const double tp_bwd = layers_per_stage * (lt.tp_comm_fwd + recompute_comm);
  // Activation offload: the offloaded layers' saved activations go to the host during forward and come back
  // during backward, overlapped with the stage's compute; only what the host link cannot hide is paid.
  if (job.memory.offload_layers > 0 && acc.host_link_gb_per_s > 0) {
    const double layers = std::min(static_cast<double>(job.memory.offload_layers), layers_per_stage);
    const double transfer = layers * activation_bytes_per_layer(job) / (acc.host_link_gb_per_s * 1e9);
    out.offload_s = std::max(0.0, transfer - fwd_compute) + std::max(0.0, transfer - bwd_compute);
  }
  out.forward_s = fwd_compute + tp_fwd + layers_per_stage * cp_fwd_exposed + pp_send;
  out.backward_s = bwd_compute + tp_bwd + layers_per_stage * cp_bwd_exposed + pp_send + out.offload_s;
  const double t_mb = out.forward_s + out.backward_s;

  // Pipeline: (m + (pp−1)/vpp) micro-batch slots; the bubble is the (pp−1)/vpp fill/drain share.
  const double slots = p.pp > 1 ? mb + (pp - 1) / (p.schedule == PipelineSchedule::kInterleaved ? vpp : 1.0) : mb;
  const double pipeline = slots * t_mb;
  out.compute_s = mb * (fwd_compute + bwd_compute);
  out.tp_comm_s = mb * (tp_fwd + tp_bwd);
  out.cp_comm_s = mb * layers_per_stage * (cp_fwd_exposed + cp_bwd_exposed);
  out.pp_comm_s = mb * 2 * pp_send;
  out.bubble_s = pipeline - mb * t_mb;
  out.bubble_fraction = pipeline > 0 ? out.bubble_s / pipeline : 0;

  // Data parallel: gradients are reduced (and ZeRO/FSDP state sharded) over the dp·cp ranks that hold the
  // same weights — cp ranks see different tokens of the same sequences (Megatron's dp-cp group, torchtitan's
  // dp_shard_cp). With ranks laid out tp fastest, then cp, dp, that group has n = dp·cp members, stride tp.
  // Gradients are bf16 (2 bytes per parameter).
  const double P = params_per_rank(job);
  const int64_t n_dp = p.dp * p.cp;
  if (n_dp > 1) {
    const int64_t stride = p.tp;
    out.dp_crosses_scaleout = &links.link_for(n_dp, stride) == &links.scaleout;
    const double grad_bytes = P * (p.precision == Precision::kFp32 ? 4 : 2);
    if (p.zero_stage >= 3) {
      // Gather weights for forward and backward, reduce-scatter gradients.
      const double gathers = group_all_gather_seconds(links, n_dp, stride, grad_bytes);
      const double rs = group_reduce_scatter_seconds(links, n_dp, stride, grad_bytes);
      const double per_mb = job.reshard_per_micro_batch ? 2 * gathers + rs : 0;
      const double once = job.reshard_per_micro_batch ? 0 : gathers + rs;
      out.dp_comm_total_s = mb * per_mb + once;
      const double hidden_per_mb = job.dp_overlap * (fwd_compute + bwd_compute);
      out.dp_comm_s = mb * std::max(0.0, per_mb - hidden_per_mb) +
                      std::max(0.0, once - job.dp_overlap * (fwd_compute + bwd_compute));
    } else {
      const double reduce = group_reduce_scatter_seconds(links, n_dp, stride, grad_bytes);
      const double gather = p.zero_stage >= 1 ? group_all_gather_seconds(links, n_dp, stride, grad_bytes) : 0;
      // Without ZeRO the reduction is a full all-reduce (reduce-scatter + all-gather of gradients).
      const double reduce_all = p.zero_stage >= 1 ? reduce : group_all_reduce_seconds(links, n_dp, stride, grad_bytes);
      out.dp_comm_total_s = reduce_all + gather;
      out.dp_comm_s = std::max(0.0, reduce_all - job.dp_overlap * bwd_compute) +
                      std::max(0.0, gather - job.dp_overlap * fwd_compute);
    }
  }
  out.tp_crosses_scaleout = p.tp > 1 && &links.link_for(p.tp, 1) == &links.scaleout;
  const double opt_params = P / (p.zero_stage >= 1 ? static_cast<double>(n_dp) : 1.0);
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
  out.tflops_per_gpu = out.model_flops / out.step_time_s / world / 1e12;
  const double bf16_peak = acc.peak_tflops(GemmFormat::kBf16);
  out.mfu = bf16_peak > 0 ? out.tflops_per_gpu / bf16_peak : 0;
  out.hfu = bf16_peak > 0 ? out.executed_flops / out.step_time_s / world / 1e12 / bf16_peak : 0;
  out.memory = estimate_memory(job, acc.hbm_gib);
  return out;
}

}  // namespace tessera::plan
