#include "tessera/plan/memory_model.h"

#include <algorithm>
#include <fmt/format.h>

#include "tessera/plan/layer_mix.h"

namespace tessera::plan {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kBufferGiB = 2.0;

// Weights outside the routed experts, whole stack: mixers, dense MLPs, routers and shared experts, MTP
// projections, and 4·C of norm weights per layer (layer_mix.h has the per-kind counts). LatentMoE's projections
// are apart (latent_params_total): they are replicated on every tp rank, not split.
double latent_params_total(const ModelSpec& m) { return is_moe(m) ? held_layer_mix(m).moe_ffn * moe_latent_params(m) : 0; }
double dense_layer_params_total(const ModelSpec& m) {
  const LayerMix mix = held_layer_mix(m);
  const double C = static_cast<double>(m.n_embd);
  double total = mix.attention * attention_matmul_params(m) + mix.mamba * mamba_matmul_params(m) +
                 mix.dense_ffn * dense_ffn_params(m) + mix.mtp * 2 * C * C + 4 * C * static_cast<double>(m.n_layer);
  if (is_moe(m)) total += mix.moe_ffn * (moe_router_params(m) + moe_shared_params(m));
  return total;
}
double expert_params_total(const ModelSpec& m) {
  return is_moe(m) ? held_layer_mix(m).moe_ffn * static_cast<double>(m.moe_experts) * moe_expert_params(m) : 0;
}
// Mean weights of one layer (FSDP's gathered-layer buffers), dense part split by tp.
double layer_params(const ModelSpec& m) {
  return (dense_layer_params_total(m) + latent_params_total(m) + expert_params_total(m)) / static_cast<double>(m.n_layer);
}

// One layer's activation shapes on one rank for one micro-batch: widths, and sbh = b·(t/cp)·C elements.
struct LayerActivations {
  double C, F, KV, Q;  // model width, MLP width, K/V width (kv_heads·HS), query width (NH·HS)
  double tp;
  double t_local;      // t/cp
  double tokens;       // b·t/cp
  double sbh;
  bool sp;             // sequence parallelism splits the non-matmul tensors over tp too
};

LayerActivations layer_activations(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  LayerActivations a;
  a.C = static_cast<double>(m.n_embd);
  a.F = static_cast<double>(m.ffn());
  a.KV = static_cast<double>(m.kv_heads() * m.head_size());
  a.Q = static_cast<double>(m.q_dim());
  a.tp = static_cast<double>(p.tp);
  a.t_local = static_cast<double>(m.seq_len) / static_cast<double>(p.cp);
  a.tokens = static_cast<double>(p.micro_batch) * a.t_local;
  a.sbh = a.tokens * a.C;
  a.sp = job.sequence_parallel && p.tp > 1;
  return a;
}

// Bytes per token one layer keeps for backward, by where they live: `replicated` on every tp rank without
// sequence parallelism (norm and matmul inputs, dropout masks), `split` over tp (matmul outputs). Averaged
// over the stack's layer kinds (÷ n_layer). A transformer block (attention + MLP) gives Korthikanti's
// 10·C replicated (8 without dropout) and 2(Q+2KV) + 2Q + 4F(×1.5 gated) split.
struct TokenBytes {
  double replicated = 0, split = 0;
};
TokenBytes layer_token_bytes(const Job& job) {
  const ModelSpec& m = job.model;
  const LayerMix mix = layer_mix(m);
  const double C = static_cast<double>(m.n_embd), F = static_cast<double>(m.ffn());
  const double gate = m.gated_mlp ? 1.5 : 1.0;
  // Bytes per element of a saved GEMM input, by the kind of GEMM it feeds: its quantized copy with fp8/fp4 under
  // Transformer Engine (1 byte), bf16 (2) where the GEMM runs unquantized — everywhere without fp8 GEMM inputs, and
  // for the share of the kind's instances that a recipe keeps in bf16 (gemm_parts.h).
  // (Without parts, every kind at the job's format: one split for all, not one per kind — the search's hot path.)
  const bool uniform = job.gemm_parts.empty();
  const double uniform_gemm_in =
      2.0 - quantized_fraction(gemm_split(m, job.gemm_parts, job.gemm_format, LayerGemm::kDenseMlp));
  auto gemm_in_of = [&](LayerGemm kind) {
    if (!job.memory.fp8_saved_gemm_inputs) return 2.0;
    if (uniform) return uniform_gemm_in;
    return 2.0 - quantized_fraction(gemm_split(m, job.gemm_parts, job.gemm_format, kind));
  };
  // Norm input + matmul input (+ mask); the matmul input is the norm's output, rebuilt when norms are recomputed.
  auto per_input_of = [&](double gemm_in) {
    return (job.memory.recompute_norm ? 2 : 2 + gemm_in) * C + (job.memory.dropout ? C : 0);
  };
  TokenBytes b;
  // Attention: q, k, v and the attention output; MLA also keeps its two latents.
  const double NH = static_cast<double>(m.n_head), HS = static_cast<double>(m.head_size());
  const double dv = static_cast<double>(value_head_dim(m));
  const double kv = is_mla(m) ? NH * (HS + dv) : 2 * static_cast<double>(m.kv_heads()) * HS;
  const double latents = is_mla(m) ? 2.0 * static_cast<double>(m.mla_q_lora_rank + m.mla_kv_lora_rank + m.mla_rope_dim) : 0;
  const double attention_in = gemm_in_of(LayerGemm::kAttention);
  b.replicated += mix.attention * (per_input_of(attention_in) + latents);
  // The attention output stays bf16 for flash attention's backward; an fp8 o projection keeps its own copy too.
  const double attention_out = 2 + (2 - attention_in);
  // MLA's up-projection recompute (mla_up_proj) drops q, k and v; the latents stay.
  const double qkv = is_mla(m) && job.memory.recompute_mla_up_proj ? 0 : 2 * (NH * HS + kv);
  b.split += mix.attention * (qkv + attention_out * NH * dv);
  const double dense_in = gemm_in_of(LayerGemm::kDenseMlp);
  b.replicated += mix.dense_ffn * per_input_of(dense_in);
  // fc1 (gate and up) outputs in bf16 for the activation's backward, the activation output as fc2's input.
  b.split += mix.dense_ffn * (4 * F * gate - (2 - dense_in) * F);
  if (mix.mamba > 0) {
    const double d = mamba_inner_dim(m), state = static_cast<double>(m.mamba_groups * m.mamba_state);
    b.replicated += mix.mamba * per_input_of(gemm_in_of(LayerGemm::kMambaInProj));
    b.split += mix.mamba * (2 * mamba_in_proj_width(m) + 2 * (d + 2 * state) + 6 * d);
  }
  if (mix.moe_ffn > 0 && job.memory.recompute_moe) {
    // The "moe" recompute module keeps the MoE layer's checkpointed input, the pre-MLP norm output (bf16: the
    // checkpoint holds the tensor, not a quantized copy), beside the norm's own input; nothing inside the layer.
    // With the norm recomputed too, its output is rebuilt before the layer's recompute and not kept.
    b.replicated += mix.moe_ffn * ((job.memory.recompute_norm ? 2 : 4) * C + (job.memory.dropout ? C : 0));
  } else if (mix.moe_ffn > 0) {
    // Per routed copy of a token: the permuted input and the expert output awaiting the combine (2·C each)
    // and the expert MLP's intermediates; the shared experts like a dense MLP.
    const double k = static_cast<double>(m.moe_top_k), etp = static_cast<double>(job.etp);
    // The pre-MLP norm output feeds the shared experts (and LatentMoE's down-projection, the router).
    const double shared_in = gemm_in_of(LayerGemm::kSharedExperts), expert_in = gemm_in_of(LayerGemm::kExperts);
    b.replicated += mix.moe_ffn * per_input_of(shared_in);
    // Recomputing the expert activation (moe_act) drops its output, 2·F_e bytes of each copy's intermediates.
    const double Fe = static_cast<double>(m.moe_ffn_hidden);
    // The activation output is the expert fc2's input (gemm_in bytes); the permuted input is fc1's.
    const double expert_intermediates = 4 * Fe * gate - 2 * Fe + (job.memory.recompute_moe_act ? 0 : expert_in * Fe);
    const double Fs = static_cast<double>(m.moe_shared_ffn_hidden);
    // Copies are expert-wide: the latent width under LatentMoE, whose up-projection also keeps its input (the
    // combined latent output, gemm_in bytes per token; the down-projection's input is the norm output above).
    const double W = moe_expert_width(m), latent = static_cast<double>(m.moe_latent_size);
    b.split += mix.moe_ffn * (k * ((2 + expert_in) * W * etp + expert_intermediates) + 4 * Fs * gate -
                              (2 - shared_in) * Fs + gemm_in_of(LayerGemm::kMoeLatent) * latent);
  }
  const double L = static_cast<double>(m.n_layer);
  b.replicated /= L;
  b.split /= L;
  return b;
}

// Bytes one layer keeps for one micro-batch with nothing recomputed (the whole set backward needs); the t×t
// attention internals only when `scores` (unfused attention that is not recomputed).
double all_activation_bytes(const Job& job, bool scores) {
  const LayerActivations a = layer_activations(job);
  const TokenBytes tb = layer_token_bytes(job);
  double bytes = a.tokens * (a.sp ? (tb.replicated + tb.split) / a.tp : tb.replicated + tb.split / a.tp);
  // The QKV and MLP inputs kept whole rather than sequence-sharded (2·C per token for each, per block).
  if (a.sp && job.memory.saves_gathered_sp_inputs) bytes += a.sbh * 4 * (1 - 1 / a.tp);
  if (scores) {
    const double attention_share = layer_mix(job.model).attention / static_cast<double>(job.model.n_layer);
    bytes += attention_share * 5.0 * static_cast<double>(job.model.n_head) * a.t_local *
             static_cast<double>(job.model.seq_len) * static_cast<double>(job.plan.micro_batch) / a.tp;
  }
  return bytes;
}

}  // namespace

MemoryBreakdown estimate_memory(const Job& job, double capacity_gib) {
  const ParallelPlan& p = job.plan;
  const MemoryTraits& traits = job.memory;
  const RankParams P = rank_params(job);
  // Ranks of a cp group hold the same weights, so ZeRO/FSDP shards over dp·cp; expert weights are held by the
  // expert-data-parallel group (tp·cp·dp / (ep·etp) ranks) and shard over it.
  const double dp = static_cast<double>(p.dp * p.cp);
  const double edp = static_cast<double>(std::max<int64_t>(1, job.expert_dp()));
  const bool fp32 = p.precision == Precision::kFp32;
  MemoryBreakdown mem;
  mem.capacity_gib = capacity_gib;
  // FSDP without resharding keeps the gathered weights for the whole step: not divided by dp.
  const bool weights_sharded = p.zero_stage >= 3 && job.reshard_per_micro_batch;
  const double weight_bytes = fp32 ? 4 : (traits.fp8_weights ? 1 : 2);
  const double grad_bytes = fp32 ? 4 : traits.gradient_bytes;
  const bool grads_sharded = p.zero_stage >= 2 && !traits.unsharded_gradient_accumulation;
  // Parameters as one rank holds them after `sharded` (ZeRO/FSDP) division, dense and expert parts apart.
  auto held = [&](bool sharded) { return sharded ? P.dense / dp + P.expert / edp : P.dense + P.expert; };
  mem.weights_gib = held(weights_sharded) * weight_bytes / kGiB;
  mem.gradients_gib = held(grads_sharded) * (traits.unsharded_gradient_accumulation ? 4 : grad_bytes) / kGiB;
  mem.optimizer_gib = held(p.zero_stage >= 1) * (fp32 ? 8 : 12) / kGiB;

  const double m = static_cast<double>(p.num_micro_batches());
  const double pp = static_cast<double>(p.pp);
  double in_flight = 1;
  if (p.pp > 1) {
    switch (p.schedule) {
      case PipelineSchedule::kGPipe: in_flight = m; break;
      case PipelineSchedule::kOneFOneB:
      case PipelineSchedule::kZeroBubbleH1: in_flight = std::min(pp, m); break;
      case PipelineSchedule::kInterleaved:
        in_flight = std::min(pp, m) * (1 + (pp - 1) / (pp * static_cast<double>(p.vpp)));
        break;
    }
  }
  const double layers = static_cast<double>(job.model.n_layer) / pp;
  const double kept_layers = std::max(0.0, layers - static_cast<double>(traits.offload_layers));
  const double stored = activation_bytes_per_layer(job) / kGiB;
  // Backward of a recomputed or offloaded layer rebuilds its whole set first (a recomputed MoE layer's
  // internals included: the set without the "moe" module).
  double whole = all_activation_bytes(job, !job.flash_attention) / kGiB;
  if (traits.recompute_moe) {
    Job unrecomputed = job;
    unrecomputed.memory.recompute_moe = false;
    whole = all_activation_bytes(unrecomputed, !job.flash_attention) / kGiB;
  }
  const double rebuilt = (whole > stored || traits.offload_layers > 0) ? whole : 0;
  const double logits_gib = static_cast<double>(p.micro_batch) * static_cast<double>(job.model.seq_len) /
                            static_cast<double>(p.cp) * static_cast<double>(job.model.vocab_size) /
                            static_cast<double>(p.tp) * traits.loss_bytes_per_logit / kGiB;
  mem.activations_gib = stored * kept_layers * in_flight + rebuilt;
  mem.logits_gib = logits_gib;
  if (p.pp > 1) {
    // The first stage holds the most micro-batches in flight, the last the logits: report the stage that
    // needs more (both hold one V·C matrix). The last stage keeps one micro-batch (GPipe: all m).
    const double last_in_flight = p.schedule == PipelineSchedule::kGPipe ? m : 1.0;
    const double first_act = mem.activations_gib, last_act = stored * kept_layers * last_in_flight + rebuilt;
    if (last_act + logits_gib > first_act) {
      mem.activations_gib = last_act;
      mem.stage = "last";
    } else {
      mem.logits_gib = 0;
      mem.stage = "first";
    }
  }
  mem.buffers_gib = kBufferGiB;
  if (weights_sharded) {
    // FSDP: the layer being computed and the prefetched one, gathered, plus one layer's unreduced gradients.
    const double layer = layer_params(job.model) / static_cast<double>(p.tp);
    mem.buffers_gib += layer * (2 * weight_bytes + grad_bytes) / kGiB;
  }
  return mem;
}

const char* memory_band_name(MemoryBand band) {
  switch (band) {
    case MemoryBand::kFits: return "fits";
    case MemoryBand::kTight: return "tight";
    case MemoryBand::kOom: return "OOM";
  }
  return "OOM";
}

MemoryBand MemoryBreakdown::band() const {
  if (total_gib() <= kFitsFraction * capacity_gib) return MemoryBand::kFits;
  return clearly_oom() ? MemoryBand::kOom : MemoryBand::kTight;
}

std::string MemoryBreakdown::verdict() const {
  return fmt::format("{}: needs {:.1f} GiB of {:.0f} GiB ({:.0f}%; weights {:.1f}, grads {:.1f}, optimizer {:.1f}, "
                     "activations {:.1f}, logits {:.1f}, buffers {:.1f}){}",
                     memory_band_name(band()), total_gib(), capacity_gib, capacity_gib > 0 ? 100 * total_gib() / capacity_gib : 0,
                     weights_gib, gradients_gib, optimizer_gib, activations_gib, logits_gib, buffers_gib,
                     stage.empty() ? "" : ", " + stage + " pipeline stage");
}

RankParams rank_params(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const double pp = static_cast<double>(p.pp);
  // Vocab-parallel V·C on the first stage (embedding) and the last (LM head); one stage holds both when
  // pp = 1, twice the matrix when the head is untied.
  const double vocab_matrices = (p.pp == 1 && !m.tied_embeddings) ? 2.0 : 1.0;
  RankParams r;
  r.dense = dense_layer_params_total(m) / pp / static_cast<double>(p.tp) + latent_params_total(m) / pp +
            vocab_matrices * static_cast<double>(m.vocab_size * m.n_embd) / static_cast<double>(p.tp);
  r.expert = expert_params_total(m) / pp / static_cast<double>(std::max<int64_t>(1, job.ep * job.etp));
  return r;
}

double params_per_rank(const Job& job) {
  const RankParams r = rank_params(job);
  return r.dense + r.expert;
}

double activation_bytes_per_layer(const Job& job) {
  const LayerActivations a = layer_activations(job);
  const double input = 2 * a.sbh / (a.sp ? a.tp : 1.0);  // the layer's input, bf16
  switch (job.plan.recompute) {
    case Recompute::kFull:
      return input;
    case Recompute::kSelective:
      if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) {
        // Matmuls in order q, k, v, o, then gate, up, down (gated) or fc1, fc2: the odd-numbered outputs are
        // kept (q, v, and gate + down or fc1), plus the attention output.
        const double kept = 2 * a.Q / a.C + 2 * a.KV / a.C + 2 * a.F / a.C + (job.model.gated_mlp ? 2 : 0) +
                            2 * a.Q / a.C;
        return input + a.sbh * kept / a.tp;
      }
      // Megatron's selective recompute only drops the t×t attention internals.
      return all_activation_bytes(job, /*scores=*/false);
    case Recompute::kNone:
      break;
  }
  return all_activation_bytes(job, !job.flash_attention);
}

int64_t min_offload_layers_to_fit(const Job& job, double capacity_gib) {
  Job trial = job;
  for (int64_t n = job.memory.offload_layers; n <= max_layers_per_stage(job.model.n_layer, job.plan.pp); ++n) {
    trial.memory.offload_layers = n;
    if (estimate_memory(trial, capacity_gib).fits()) return n;
  }
  return -1;
}

}  // namespace tessera::plan
