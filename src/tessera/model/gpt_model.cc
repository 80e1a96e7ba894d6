#include "tessera/model/gpt_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tessera/core/check.h"
#include "tessera/core/rng.h"

namespace tessera {

namespace {
// Which block fields a layer keeps for itself under each recompute mode (the rest are recomputed).
struct Kept {
  bool attention_core;  // atty, att_stats
  bool gelu;            // fch_gelu
  bool rest;            // ln1 (+stats), qkv, residual2, ln2 (+stats), fch
};
Kept kept(Recompute mode) {
  switch (mode) {
    case Recompute::kNone: return {true, true, true};
    case Recompute::kSelective: return {false, false, true};
    case Recompute::kFull: return {false, false, false};
  }
  return {true, true, true};
}
}  // namespace

int64_t GptModel::resolve_head_chunk_rows(const ModelSpec& spec, int64_t tokens, const ModelOptions& options) {
  const int64_t rows = options.head_chunk_rows > 0
                           ? options.head_chunk_rows
                           : ModelOptions::kHeadChunkBytes / (static_cast<int64_t>(sizeof(float)) * spec.vocab_size);
  return std::clamp<int64_t>(rows, 1, std::max<int64_t>(tokens, 1));
}

int64_t GptModel::resolve_head_group_rows(const ModelSpec& spec, int64_t tokens, const ModelOptions& options,
                                          int64_t dlogit_bytes) {
  tokens = std::max<int64_t>(tokens, 1);
  const int64_t chunk = resolve_head_chunk_rows(spec, tokens, options);
  if (dlogit_bytes <= 0) return chunk;
  const int64_t wanted = options.head_group_rows > 0
                             ? options.head_group_rows
                             : ModelOptions::kHeadGroupBytes / (dlogit_bytes * spec.vocab_size);
  // Whole chunks, at least one; never past the last token.
  return std::min(tokens, std::max<int64_t>(wanted / chunk, 1) * chunk);
}

GptModel::GptModel(const ModelSpec& spec, KernelBackend& kernels, int64_t batch, int64_t seq,
                   const ModelOptions& options, FlatStorage storage)
    : spec_(spec),
      kernels_(kernels),
      options_(options),
      layout_(spec, options.unit_alignment, options.stage, options.tensor_parallel),
      B_(batch),
      T_(seq),
      regions_(options.tensor_parallel.size > 1 ? options.tensor_group : nullptr, options.sequence_parallel,
               batch * seq) {
  TESSERA_CHECK(spec.validate().ok(), "{}", spec.validate().message());
  TESSERA_CHECK(batch > 0 && seq > 0 && seq <= spec.seq_len, "batch {} seq {} (max {})", batch, seq, spec.seq_len);
  TESSERA_CHECK(options.slots >= 1, "ModelOptions::slots {} (expected ≥ 1)", options.slots);
  TESSERA_CHECK(!options.split_backward || options.recompute == Recompute::kNone,
                "ModelOptions::split_backward needs every activation kept (recompute none)");
  const ModelStage& stage = options_.stage;
  for (int64_t c = 0; c < num_chunks(); ++c) {
    TESSERA_CHECK(chunk_encoder(c) || chunk_layers(c).size() > 0,
                  "GptModel: a stage (chunk {}) without the encoder needs at least one layer", c);
  }
  const TensorParallelPart& tp = options_.tensor_parallel;
  TESSERA_CHECK(tp.size == 1 || (options_.tensor_group != nullptr && options_.tensor_group->size() == tp.size &&
                                 options_.tensor_group->rank() == tp.rank),
                "GptModel: tensor parallelism rank {} of {} needs its group (ModelOptions::tensor_group)", tp.rank, tp.size);
  TESSERA_CHECK(spec.n_head % tp.size == 0 && spec.ffn() % tp.size == 0 && spec.vocab_size % tp.size == 0,
                "GptModel: tp {} must divide the heads ({}), the MLP width ({}) and the vocabulary ({})", tp.size,
                spec.n_head, spec.ffn(), spec.vocab_size);
  const int64_t N = B_ * T_, C = spec_.n_embd, R = regions_.rows();
  Cl_ = C / tp.size, NHl_ = spec_.n_head / tp.size, Fl_ = spec_.ffn() / tp.size, Vl_ = spec_.vocab_size / tp.size;
  const int64_t F = Fl_, NH = NHl_, V = Vl_;  // what this rank holds
  const bool sp = regions_.sequence_parallel();
  head_rows_ = resolve_head_chunk_rows(spec_, N, options_);
  head_group_rows_ = resolve_head_group_rows(spec_, N, options_, kernels_.head_group_dlogit_bytes());
  TESSERA_CHECK((storage.params == nullptr) == (storage.grads == nullptr), "FlatStorage: give both buffers or neither");
  if (storage.params == nullptr) {
    own_params_ = AlignedBuffer<float>(layout_.total_numel());
    own_grads_ = AlignedBuffer<float>(layout_.total_numel());
    storage = {.params = own_params_.data(), .grads = own_grads_.data()};
  }
  params_ = storage.params;
  grads_ = storage.grads;
  // Fields a layer keeps go to each slot's blocks[l]; the others once to recomputed_.
  const Kept keep = kept(options_.recompute);
  auto allocate = [&](BlockActivations& a, bool attention_core, bool gelu, bool rest) {
    if (rest) {
      a.ln1 = AlignedBuffer<float>(R * C);
      a.ln1_mean = AlignedBuffer<float>(R);
      a.ln1_rstd = AlignedBuffer<float>(R);
      a.qkv = AlignedBuffer<float>(N * 3 * Cl_);
      a.residual2 = AlignedBuffer<float>(R * C);
      a.ln2 = AlignedBuffer<float>(R * C);
      a.ln2_mean = AlignedBuffer<float>(R);
      a.ln2_rstd = AlignedBuffer<float>(R);
      a.fch = AlignedBuffer<float>(N * F);
      if (sp) {
        a.ln1_full = AlignedBuffer<float>(N * C);
        a.ln2_full = AlignedBuffer<float>(N * C);
      }
    }
    if (attention_core) {
      a.att_stats = AlignedBuffer<float>(2 * B_ * NH * T_);
      a.atty = AlignedBuffer<float>(N * Cl_);
    }
    if (gelu) a.fch_gelu = AlignedBuffer<float>(N * F);
  };
  dln_ = AlignedBuffer<float>(N * C);  // also the whole ∂loss/∂lnf [N,C] with one slot
  // options.slots per chunk: slots [c·slots, (c+1)·slots) keep chunk c's micro-batches.
  slots_.resize(static_cast<size_t>(options_.slots * num_chunks()));
  for (size_t i = 0; i < slots_.size(); ++i) {
    MicroBatchState& state = slots_[i];
    state.chunk = static_cast<int64_t>(i) / options_.slots;
    state.blocks.resize(static_cast<size_t>(chunk_layers(state.chunk).size()));
    for (BlockActivations& a : state.blocks) {
      allocate(a, keep.attention_core, keep.gelu, keep.rest);
      a.residual3 = AlignedBuffer<float>(R * C);
    }
    state.input = AlignedBuffer<float>(R * C);
    if (options_.split_backward) {
      state.deferred.resize(state.blocks.size());
      for (DeferredGrads& d : state.deferred) {
        d.fcproj_out = AlignedBuffer<float>(N * C);
        d.fc_out = AlignedBuffer<float>(N * F);
        d.proj_out = AlignedBuffer<float>(N * C);
        d.qkv_out = AlignedBuffer<float>(N * 3 * Cl_);
      }
    }
    if (chunk_head(state.chunk)) {
      state.lnf = AlignedBuffer<float>(R * C);
      state.lnf_mean = AlignedBuffer<float>(R);
      state.lnf_rstd = AlignedBuffer<float>(R);
      // With one slot in all, dlnf waits in dln_ (no other backward runs before its own).
      if (slots_.size() > 1) state.own_dlnf = AlignedBuffer<float>(R * C);
      state.dlnf = slots_.size() > 1 ? state.own_dlnf.data() : dln_.data();
      state.losses = AlignedBuffer<float>(N);
      state.lse = AlignedBuffer<float>(N);
    }
    state.inputs.resize(static_cast<size_t>(N));
    state.targets.resize(static_cast<size_t>(N));
  }
  allocate(recomputed_, !keep.attention_core, !keep.gelu, !keep.rest);
  if (stage.head) {
    logits_ = AlignedBuffer<float>(head_rows_ * V);
    dwte_head_ = AlignedBuffer<float>(V * C);
  }
  dresidual_ = AlignedBuffer<float>(R * C);
  datty_ = AlignedBuffer<float>(N * Cl_);
  dqkv_ = AlignedBuffer<float>(N * 3 * Cl_);
  dfch_ = AlignedBuffer<float>(N * F);
  if (sp) full_ = AlignedBuffer<float>(N * C);
  if (sp && stage.head) lnf_full_ = AlignedBuffer<float>(N * C);
  if (regions_.active() && stage.head) {
    local_targets_.resize(static_cast<size_t>(head_rows_));
    loss_exchange_ = AlignedBuffer<float>(2 * head_rows_ * (tp.size + 1));  // what is sent, then what arrives
  }
  // Sequence parallelism: a block's four LayerNorm vectors, or lnf's two, or wpe [T,C] (the largest).
  if (sp) replica_grads_ = AlignedBuffer<float>(std::max(4 * C, spec_.seq_len * C));
}

GptModel::~GptModel() { kernels_.clear_matmul_weights(); }

int64_t GptModel::BlockActivations::floats() const {
  return ln1.size() + ln1_mean.size() + ln1_rstd.size() + ln1_full.size() + ln2_full.size() + qkv.size() +
         att_stats.size() + atty.size() + residual2.size() + ln2.size() + ln2_mean.size() + ln2_rstd.size() +
         fch.size() + fch_gelu.size() + residual3.size();
}

GptModel::MicroBatchState& GptModel::slot_state(int64_t slot) {
  TESSERA_CHECK(slot >= 0 && slot < slots(), "GptModel: slot {} outside [0, {})", slot, slots());
  return slots_[static_cast<size_t>(slot)];
}

const float* GptModel::block_input(const MicroBatchState& state, int64_t layer) const {
  const int64_t first = chunk_layers(state.chunk).first;
  return layer == first ? state.input.data() : state.blocks[static_cast<size_t>(layer - 1 - first)].residual3.data();
}

GptModel::BlockView GptModel::view(int64_t slot, int64_t layer) {
  MicroBatchState& state = slot_state(slot);
  BlockActivations& own = state.blocks[static_cast<size_t>(layer - chunk_layers(state.chunk).first)];
  auto pick = [&](AlignedBuffer<float>& mine, AlignedBuffer<float>& shared) {
    return mine.size() > 0 ? mine.data() : shared.data();
  };
  BlockActivations& r = recomputed_;
  const bool sp = regions_.sequence_parallel();
  float* ln1 = pick(own.ln1, r.ln1);
  float* ln2 = pick(own.ln2, r.ln2);
  return BlockView{.ln1 = ln1,
                   .ln1_mean = pick(own.ln1_mean, r.ln1_mean),
                   .ln1_rstd = pick(own.ln1_rstd, r.ln1_rstd),
                   .ln1_full = sp ? pick(own.ln1_full, r.ln1_full) : ln1,
                   .ln2_full = sp ? pick(own.ln2_full, r.ln2_full) : ln2,
                   .qkv = pick(own.qkv, r.qkv),
                   .att_stats = pick(own.att_stats, r.att_stats),
                   .atty = pick(own.atty, r.atty),
                   .residual2 = pick(own.residual2, r.residual2),
                   .ln2 = ln2,
                   .ln2_mean = pick(own.ln2_mean, r.ln2_mean),
                   .ln2_rstd = pick(own.ln2_rstd, r.ln2_rstd),
                   .fch = pick(own.fch, r.fch),
                   .fch_gelu = pick(own.fch_gelu, r.fch_gelu),
                   .residual3 = own.residual3.data()};
}

int64_t GptModel::activation_bytes() const {
  int64_t floats = logits_.size() + dwte_head_.size() + dresidual_.size() + dln_.size() + datty_.size() +
                   dqkv_.size() + dfch_.size() + recomputed_.floats() + full_.size() + lnf_full_.size() +
                   loss_exchange_.size() + replica_grads_.size();
  for (const MicroBatchState& state : slots_) {
    floats += state.input.size() + state.lnf.size() + state.lnf_mean.size() + state.lnf_rstd.size() +
              state.own_dlnf.size() + state.losses.size() + state.lse.size();
    for (const BlockActivations& a : state.blocks) floats += a.floats();
    for (const DeferredGrads& d : state.deferred) {
      floats += d.fcproj_out.size() + d.fc_out.size() + d.proj_out.size() + d.qkv_out.size();
    }
  }
  return floats * static_cast<int64_t>(sizeof(float));
}

double GptModel::estimate_bytes(const ModelSpec& spec, int64_t batch, int64_t seq, const ModelOptions& options) {
  const Bytes b = allocation_bytes(spec, batch, seq, options);
  return b.parameters + b.gradients + b.activations + b.workspace;
}

GptModel::Bytes GptModel::allocation_bytes(const ModelSpec& spec, int64_t batch, int64_t seq,
                                           const ModelOptions& options) {
  const double N = static_cast<double>(batch) * static_cast<double>(seq), C = static_cast<double>(spec.n_embd);
  const double t = static_cast<double>(std::max<int64_t>(1, options.tensor_parallel.size));
  // This rank's share of the split dimensions; R rows of the residual stream (N/t with sequence parallelism).
  const double F = static_cast<double>(spec.ffn()) / t, V = static_cast<double>(spec.vocab_size) / t, Cl = C / t;
  const bool sp = options.sequence_parallel && t > 1;
  const double R = sp ? N / t : N;
  const ModelStage& stage = options.stage;
  // The stage's layers (the whole model: all of them).
  double L = static_cast<double>((stage.end_layer < 0 ? spec.n_layer : stage.end_layer) - stage.first_layer);
  if (!stage.chunks.empty()) {  // an interleaved stage: its chunks' layers
    L = 0;
    for (const LayerRange& chunk : stage.chunks) L += static_cast<double>(chunk.size());
  }
  const double chunks = static_cast<double>(std::max<size_t>(1, stage.chunks.size()));
  const double NH = static_cast<double>(spec.n_head) / t;
  const double T = static_cast<double>(seq), B = static_cast<double>(batch);
  const double slots = static_cast<double>(std::max<int64_t>(1, options.slots));
  // Parameters: the layout's count in double (ModelSpec::num_params is int64): the embeddings unit on the
  // first and last stage, the stage's blocks (split tensors at 1/t), the final norm on the last.
  const double embeddings = stage.encoder || stage.head ? V * C + static_cast<double>(spec.seq_len) * C : 0.0;
  const double block = 4 * C + 3 * C * Cl + 3 * Cl + C * Cl + C + 2 * C * F + F + C;
  const double params = embeddings + L * block + (stage.head ? 2 * C : 0.0);
  // Block fields as in BlockActivations: kept per layer, or once in the shared recomputed set.
  const double attention_core = N * Cl + 2 * B * NH * T, gelu = N * F, output = R * C;
  const double rest = R * 3 * C + 4 * R + N * 3 * Cl + N * F + (sp ? 2 * N * C : 0.0);
  const Kept keep = kept(options.recompute);
  // A split backward keeps each layer's four matmul output gradients [N,C], [N,F'], [N,C], [N,3C'] per slot.
  const double deferred = options.split_backward ? N * (2 * C + 3 * Cl + F) : 0.0;
  const double per_layer = output + (keep.attention_core ? attention_core : 0) + (keep.gelu ? gelu : 0) +
                           (keep.rest ? rest : 0) + deferred;
  const double shared = (keep.attention_core ? 0 : attention_core) + (keep.gelu ? 0 : gelu) + (keep.rest ? 0 : rest);
  // Head chunk logits (in double: the row count may be a clamped absurd size) and its wte gradient.
  const double head_rows = std::min(std::max(N, 1.0), options.head_chunk_rows > 0
                                                           ? static_cast<double>(options.head_chunk_rows)
                                                           : std::floor(static_cast<double>(ModelOptions::kHeadChunkBytes) /
                                                                        (4.0 * static_cast<double>(spec.vocab_size))));
  const double head = stage.head ? std::max(head_rows, 1.0) * (V + (t > 1 ? 2 * t : 0.0)) + V * C : 0.0;
  // Per slot: the stage input (the embeddings' output on the first stage); on the last stage lnf (+stats),
  // losses, lse and, with several slots, dlnf. Once: the backward scratch (dresidual, dln, datty, dqkv, dfch),
  // and with sequence parallelism the gathered [N,C] activation, the head's gathered lnf and the replicas'
  // gradient scratch.
  const double per_slot = chunks * R * C + (stage.head ? R * (C + 2) + 2 * N + (slots * chunks > 1 ? R * C : 0.0) : 0.0);
  const double scratch = R * C + N * C + N * (4 * Cl + F) +
                         (sp ? N * C + (stage.head ? N * C : 0.0) + std::max(4 * C, static_cast<double>(spec.seq_len) * C) : 0.0);
  return Bytes{.parameters = 4.0 * params,
               .gradients = 4.0 * params,
               .activations = 4.0 * (slots * L * per_layer + shared),
               .workspace = 4.0 * (head + slots * per_slot + scratch)};
}

void GptModel::init_parameters(uint64_t seed) {
  for (int unit = 0; unit < static_cast<int>(layout_.units().size()); ++unit) init_unit_parameters(seed, unit);
}

void GptModel::init_unit_parameters(uint64_t seed, int unit) {
  weights_declared_ = false;
  const float residual_std = 0.02f / std::sqrt(2.0f * static_cast<float>(spec_.n_layer));
  const auto& tensors = layout_.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (layout_.unit_of_tensor(i) != unit) continue;
    const ParamTensor& t = tensors[i];
    float* p = params_ + t.offset;
    RngStream rng(seed, RngPurpose::kInit, static_cast<uint64_t>(t.global_index));
    // A tensor-parallel slice keeps its elements of the whole tensor's stream (every value is drawn, in order,
    // so that each element gets the value it has on one rank; no whole-tensor buffer).
    const auto draw_normal = [&](float std_dev) {
      if (!t.slice.is_split()) {
        for (int64_t j = 0; j < t.numel; ++j) p[j] = std_dev * rng.normal();
        return;
      }
      const int64_t global = shape_numel(t.slice.global_shape);
      for (int64_t g = 0; g < global; ++g) {
        const float value = std_dev * rng.normal();
        if (const int64_t local = t.slice.local_index(g); local >= 0) p[local] = value;
      }
    };
    switch (t.kind) {
      case ParamKind::kEmbedding:
      case ParamKind::kWeight:
        draw_normal(0.02f);
        break;
      case ParamKind::kResidualWeight:
        draw_normal(residual_std);
        break;
      case ParamKind::kNormWeight:
        std::fill(p, p + t.numel, 1.0f);
        break;
      case ParamKind::kBias:
      case ParamKind::kNormBias:
        std::fill(p, p + t.numel, 0.0f);
        break;
    }
  }
}

void GptModel::zero_grad() { std::memset(grads_, 0, sizeof(float) * static_cast<size_t>(layout_.total_numel())); }

void GptModel::block_forward(int64_t layer, const float* input, const BlockView& a, bool through_output) {
  // R rows of the residual stream, N tokens, this rank's C' = C/t attention width, NH' heads, F' MLP columns.
  const int64_t N = B_ * T_, R = regions_.rows(), C = spec_.n_embd, Cl = Cl_, F = Fl_, NH = NHl_;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  // Row-parallel biases are added once: by tp rank 0, before the sum over the group.
  const bool adds_bias = regions_.rank() == 0;
  // Without sequence parallelism a row-parallel matmul's partial sum lands where its reduced output goes.
  const bool sp = regions_.sequence_parallel();
  // x + attn(ln1(x))
  kernels_.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, input, p + w.ln1_w, p + w.ln1_b, R, C);
  const float* ln1 = regions_.enter_forward(a.ln1, a.ln1_full, C);
  kernels_.matmul_forward(a.qkv, ln1, p + w.qkv_w, p + w.qkv_b, N, C, 3 * Cl);
  kernels_.attention_forward(a.atty, a.att_stats, a.qkv, B_, T_, Cl, NH);
  // The projection goes to residual2 first (via full_ under sequence parallelism), then the residual is added in place.
  float* proj = sp ? full_.data() : a.residual2;
  kernels_.matmul_forward(proj, a.atty, p + w.proj_w, adds_bias ? p + w.proj_b : nullptr, N, Cl, C);
  regions_.leave_forward(proj, a.residual2, C);
  kernels_.residual_forward(a.residual2, a.residual2, input, R * C);
  // + mlp(ln2(·))
  kernels_.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.residual2, p + w.ln2_w, p + w.ln2_b, R, C);
  const float* ln2 = regions_.enter_forward(a.ln2, a.ln2_full, C);
  kernels_.matmul_forward(a.fch, ln2, p + w.fc_w, p + w.fc_b, N, C, F);
  kernels_.gelu_forward(a.fch_gelu, a.fch, N * F);
  if (!through_output) return;
  float* fcproj = sp ? full_.data() : a.residual3;
  kernels_.matmul_forward(fcproj, a.fch_gelu, p + w.fcproj_w, adds_bias ? p + w.fcproj_b : nullptr, N, F, C);
  regions_.leave_forward(fcproj, a.residual3, C);
  kernels_.residual_forward(a.residual3, a.residual3, a.residual2, R * C);
}

void GptModel::head_chunk(MicroBatchState& state, const float* lnf, float* dlnf, int64_t n0, int64_t rows, Pass pass) {
  const int64_t N = B_ * T_, C = spec_.n_embd, V = Vl_;  // V: this rank's vocabulary rows
  const float* wte = params_ + layout_.wte();
  const float* x = lnf + n0 * C;
  // Tied head: logits[rows,V] = lnf[rows,C] · wte[V,C]^T.
  kernels_.matmul_forward(logits_.data(), x, wte, nullptr, rows, C, V);
  const int32_t* targets = state.targets.data() + n0;
  if (!regions_.active()) {
    if (pass == Pass::kEval) {
      kernels_.crossentropy_forward(state.losses.data() + n0, state.lse.data() + n0, logits_.data(), targets, rows, V);
    } else {
      // Loss, d(mean loss)/dlogits, dlnf rows (overwritten) and the head's dwte (accumulated), fused; the
      // kernels may run the products once per group of chunks (done when the group's last chunk returns).
      const int64_t group_start = n0 / head_group_rows_ * head_group_rows_;
      const HeadGroup group{.row = n0 - group_start, .rows = std::min(head_group_rows_, N - group_start)};
      kernels_.head_loss_backward(state.losses.data() + n0, state.lse.data() + n0, logits_.data(), targets,
                                  1.0f / static_cast<float>(N), dlnf + n0 * C, dwte_head_.data(), x, wte, rows, C, V,
                                  group);
    }
    return;
  }
  // This rank's columns are vocabulary ids [v0, v0 + V): targets elsewhere are −1 here.
  const int64_t v0 = regions_.rank() * V;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t local = targets[i] - v0;
    local_targets_[static_cast<size_t>(i)] = local >= 0 && local < V ? static_cast<int32_t>(local) : -1;
  }
  targets = local_targets_.data();
  vocab_parallel_loss(state, n0, rows);
  if (pass == Pass::kEval) return;
  // Vocabulary-parallel: d(mean loss)/dlogits in place, then dlnf rows (overwritten; this rank's partial sum)
  // and the head's dwte (accumulated).
  kernels_.crossentropy_backward(logits_.data(), logits_.data(), state.lse.data() + n0, targets,
                                 1.0f / static_cast<float>(N), rows, V);
  kernels_.matmul_backward(dlnf + n0 * C, dwte_head_.data(), nullptr, logits_.data(), x, wte, rows, C, V);
}

void GptModel::vocab_parallel_loss(MicroBatchState& state, int64_t n0, int64_t rows) {
  const int64_t t = regions_.size();
  float* lse = state.lse.data() + n0;
  float* losses = state.losses.data() + n0;
  // Local log-sum-exp per row (losses[i] = lse_r − target logit where the target is here, else lse_r).
  kernels_.crossentropy_forward(losses, lse, logits_.data(), local_targets_.data(), rows, Vl_);
  // Sent: [lse_r of each row | the target's logit where this rank holds the target, else 0]; received: every
  // rank's, [t][2·rows].
  float* mine = loss_exchange_.data();
  const float* all = mine + 2 * rows;
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t target = local_targets_[static_cast<size_t>(i)];
    mine[i] = lse[i];
    mine[rows + i] = target >= 0 ? logits_[i * Vl_ + target] : 0.0f;
  }
  regions_.group()->all_gather(mine, loss_exchange_.data() + 2 * rows, 2 * rows);
  // lse = log Σ_r e^{lse_r} (shifted by the largest), target logit = Σ_r (one rank's non-zero); in rank order.
  for (int64_t i = 0; i < rows; ++i) {
    float m = -INFINITY;
    for (int64_t r = 0; r < t; ++r) m = std::max(m, all[r * 2 * rows + i]);
    double sum = 0.0, target = 0.0;
    for (int64_t r = 0; r < t; ++r) {
      sum += std::exp(static_cast<double>(all[r * 2 * rows + i]) - m);
      target += all[r * 2 * rows + rows + i];
    }
    lse[i] = m + static_cast<float>(std::log(sum));
    losses[i] = lse[i] - static_cast<float>(target);
  }
}

void GptModel::parallel_encoder_forward(const int32_t* inputs, float* out) {
  const int64_t N = B_ * T_, C = spec_.n_embd, R = regions_.rows(), row0 = regions_.first_row();
  const int64_t v0 = regions_.rank() * Vl_;
  const float* wte = params_ + layout_.wte();
  const float* wpe = params_ + layout_.wpe();
  // Every token's row from this rank's vocabulary slice (zero where another rank holds it), summed over the
  // group into this rank's R rows: exactly wte[token] (one non-zero term).
  float* looked_up = regions_.sequence_parallel() ? full_.data() : out;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t local = inputs[n] - v0;
    float* row = looked_up + n * C;
    if (local >= 0 && local < Vl_) {
      std::memcpy(row, wte + local * C, sizeof(float) * static_cast<size_t>(C));
    } else {
      std::memset(row, 0, sizeof(float) * static_cast<size_t>(C));
    }
  }
  regions_.leave_forward(looked_up, out, C);
  // + wpe[t] for each of this rank's rows (token n = row0 + r sits at position n mod T).
  for (int64_t r = 0; r < R; ++r) {
    const float* position = wpe + ((row0 + r) % T_) * C;
    float* row = out + r * C;
    for (int64_t c = 0; c < C; ++c) row[c] += position[c];
  }
}

void GptModel::parallel_encoder_backward(const float* dout, const int32_t* inputs) {
  const int64_t N = B_ * T_, C = spec_.n_embd, R = regions_.rows(), row0 = regions_.first_row();
  const int64_t v0 = regions_.rank() * Vl_;
  float* dwte = grads_ + layout_.wte();
  float* dwpe = grads_ + layout_.wpe();
  // wpe: Σ over this rank's rows by position; under sequence parallelism each rank saw only its rows, so the
  // contributions are summed over the group before they are added.
  float* dpositions = dwpe;
  if (regions_.sequence_parallel()) {
    dpositions = replica_grads_.data();
    std::memset(dpositions, 0, sizeof(float) * static_cast<size_t>(spec_.seq_len * C));
  }
  for (int64_t r = 0; r < R; ++r) {
    float* position = dpositions + ((row0 + r) % T_) * C;
    const float* row = dout + r * C;
    for (int64_t c = 0; c < C; ++c) position[c] += row[c];
  }
  if (regions_.sequence_parallel()) {
    regions_.sum_replica_gradients(dpositions, T_ * C);
    kernels_.residual_forward(dwpe, dwpe, dpositions, T_ * C);
  }
  // wte: every token's gradient row into this rank's vocabulary slice.
  const float* whole = regions_.leave_backward(dout, full_.data(), C);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t local = inputs[n] - v0;
    if (local < 0 || local >= Vl_) continue;
    float* row = dwte + local * C;
    const float* d = whole + n * C;
    for (int64_t c = 0; c < C; ++c) row[c] += d[c];
  }
}

float GptModel::forward(const int32_t* inputs, const int32_t* targets, Pass pass) {
  TESSERA_CHECK(options_.stage == ModelStage::whole(), "GptModel::forward runs the whole model; a stage uses forward_stage");
  return forward_stage(0, inputs, nullptr, targets, pass);
}

float GptModel::forward_stage(int64_t slot, const int32_t* inputs, const float* input, const int32_t* targets,
                              Pass pass) {
  const int64_t N = B_ * T_, R = regions_.rows(), C = spec_.n_embd, V = Vl_;
  MicroBatchState& state = slot_state(slot);
  // This slot's chunk of layers, the encoder before it (the first chunk of the first stage), the head after it
  // (the last chunk of the last stage).
  const LayerRange layers = chunk_layers(state.chunk);
  const bool encoder = chunk_encoder(state.chunk), head = chunk_head(state.chunk);
  TESSERA_CHECK(encoder ? inputs != nullptr : input != nullptr, "GptModel::forward_stage: missing the stage's input");
  TESSERA_CHECK(!head || targets != nullptr, "GptModel::forward_stage: the last stage needs targets");
  const float* p = params_;
  if (!weights_declared_ && options_.resident_weights) {  // bf16 kernels convert the parameters once here
    kernels_.set_matmul_weights(p, layout_.total_numel());  // instead of per matmul
    weights_declared_ = true;
  }
  TESSERA_CHECK(!state.weight_pending, "GptModel::forward_stage: slot {} still waits for its weight gradients", slot);
  // This slot's earlier kTrain forward never got its backward: its head gradient cannot be taken out of
  // dwte_head_ again, so that is only allowed when no other forward is pending (then it is simply reset).
  if (state.backward_ready) {
    TESSERA_CHECK(!head || head_forwards_pending_ == 1,
                  "GptModel::forward_stage: slot {} still waits for its backward while other forwards do too", slot);
    state.backward_ready = false;
    if (head) head_forwards_pending_ = 0;
  }
  constexpr ModelPhase kFwd = ModelPhase::kForward;
  const int E = layout_.embedding_unit(), F = layout_.final_norm_unit();
  if (encoder) {
    std::memcpy(state.inputs.data(), inputs, sizeof(int32_t) * static_cast<size_t>(N));
    before(E, kFwd);
    if (regions_.active()) {
      parallel_encoder_forward(inputs, state.input.data());
    } else {
      kernels_.encoder_forward(state.input.data(), inputs, p + layout_.wte(), p + layout_.wpe(), B_, T_, C);
    }
    after(E, kFwd);
  } else if (input != state.input.data()) {
    std::memcpy(state.input.data(), input, sizeof(float) * static_cast<size_t>(R * C));
  }
  for (int64_t l = layers.first; l < layers.end; ++l) {
    before(layout_.block_unit(l), kFwd);
    block_forward(l, block_input(state, l), view(slot, l), /*through_output=*/true);
    after(layout_.block_unit(l), kFwd);
  }
  if (!head) {
    state.backward_ready = pass == Pass::kTrain;
    return 0.0f;
  }
  std::memcpy(state.targets.data(), targets, sizeof(int32_t) * static_cast<size_t>(N));
  const float* x = layers.size() > 0 ? state.blocks.back().residual3.data() : state.input.data();
  before(F, kFwd);
  kernels_.layernorm_forward(state.lnf.data(), state.lnf_mean.data(), state.lnf_rstd.data(), x, p + layout_.lnf_w(),
                             p + layout_.lnf_b(), R, C);
  after(F, kFwd);
  if (pass == Pass::kTrain && head_forwards_pending_ == 0) {
    std::memset(dwte_head_.data(), 0, sizeof(float) * static_cast<size_t>(V * C));
  }
  // The head reads the whole [N,C] final-norm output and writes its whole gradient (this rank's partial sum
  // under tensor parallelism), reduced to the rank's R rows of dlnf after the last chunk.
  const float* lnf = regions_.enter_forward(state.lnf.data(), lnf_full_.data(), C);
  float* dlnf = regions_.sequence_parallel() ? full_.data() : state.dlnf;
  before(E, kFwd);  // the tied head reads wte
  for (int64_t n0 = 0; n0 < N; n0 += head_rows_) head_chunk(state, lnf, dlnf, n0, std::min(head_rows_, N - n0), pass);
  after(E, kFwd);
  if (pass == Pass::kTrain) regions_.enter_backward(dlnf, state.dlnf, C);
  if (pass == Pass::kTrain) {
    state.backward_ready = true;
    ++head_forwards_pending_;
  }
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) total += state.losses[i];
  return static_cast<float>(total / static_cast<double>(N));
}

const float* GptModel::stage_output(int64_t slot) const {
  TESSERA_CHECK(slot >= 0 && slot < slots() && !slots_[static_cast<size_t>(slot)].blocks.empty(),
                "GptModel::stage_output: slot {}", slot);
  return slots_[static_cast<size_t>(slot)].blocks.back().residual3.data();
}

float* GptModel::stage_input(int64_t slot) { return slot_state(slot).input.data(); }

void GptModel::compute_logits(float* out) {
  TESSERA_CHECK(options_.stage.head, "GptModel::compute_logits needs the LM head");
  TESSERA_CHECK(!regions_.active(), "GptModel::compute_logits: a tensor-parallel rank holds only its vocabulary slice");
  kernels_.matmul_forward(out, slots_[0].lnf.data(), params_ + layout_.wte(), nullptr, B_ * T_, spec_.n_embd,
                          spec_.vocab_size);
}

void GptModel::block_backward(int64_t layer, const float* input, const BlockView& a, float* dresidual,
                              DeferredGrads* defer) {
  const int64_t N = B_ * T_, R = regions_.rows(), C = spec_.n_embd, Cl = Cl_, F = Fl_, NH = NHl_;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  float* g = grads_;
  const bool sp = regions_.sequence_parallel();
  // A split backward (defer) computes the input gradients only and keeps each matmul's output gradient for
  // block_weight_backward; the LayerNorms' (cheap) parameter gradients are taken now either way.
  const auto weight_grad = [&](int64_t offset) { return defer != nullptr ? nullptr : g + offset; };
  float* dfch = defer != nullptr ? defer->fc_out.data() : dfch_.data();
  float* dqkv = defer != nullptr ? defer->qkv_out.data() : dqkv_.data();
  const size_t activation_bytes = sizeof(float) * static_cast<size_t>(N * C);
  // Sequence parallelism: the LayerNorms saw only this rank's rows, so their gradients go to a scratch first and
  // are summed over the group at the end (ln1 w, b, ln2 w, b); otherwise every rank computes the same sums.
  float* norm_grads = sp ? replica_grads_.data() : nullptr;
  if (sp) std::memset(norm_grads, 0, sizeof(float) * static_cast<size_t>(4 * C));
  float* dln1_w = sp ? norm_grads : g + w.ln1_w;
  float* dln1_b = sp ? norm_grads + C : g + w.ln1_b;
  float* dln2_w = sp ? norm_grads + 2 * C : g + w.ln2_w;
  float* dln2_b = sp ? norm_grads + 3 * C : g + w.ln2_b;
  // The whole [N,C] gradient a column-parallel matmul's input gradient partially sums into (full_ under
  // sequence parallelism, reduce-scattered to dln_'s R rows; else dln_, all-reduced in place).
  float* dln_whole = sp ? full_.data() : dln_.data();
  // residual3 = residual2 + fcproj: dresidual flows to both the MLP branch and residual2 unchanged.
  const float* dout3 = regions_.leave_backward(dresidual, full_.data(), C);
  if (defer != nullptr) std::memcpy(defer->fcproj_out.data(), dout3, activation_bytes);
  kernels_.matmul_backward(dfch, weight_grad(w.fcproj_w), weight_grad(w.fcproj_b), dout3, a.fch_gelu, p + w.fcproj_w,
                           N, F, C);
  kernels_.gelu_backward(dfch, a.fch, dfch, N * F);
  kernels_.matmul_backward(dln_whole, weight_grad(w.fc_w), weight_grad(w.fc_b), dfch, a.ln2_full, p + w.fc_w, N, C, F);
  const float* dln2 = regions_.enter_backward(dln_whole, dln_.data(), C);
  // dresidual += ∂ln2/∂residual2 · dln: now the gradient w.r.t. residual2.
  kernels_.layernorm_backward(dresidual, dln2_w, dln2_b, dln2, a.residual2, p + w.ln2_w, a.ln2_mean, a.ln2_rstd, R, C);
  // residual2 = input + proj(attn(ln1(input))).
  const float* dout2 = regions_.leave_backward(dresidual, full_.data(), C);
  if (defer != nullptr) std::memcpy(defer->proj_out.data(), dout2, activation_bytes);
  kernels_.matmul_backward(datty_.data(), weight_grad(w.proj_w), weight_grad(w.proj_b), dout2, a.atty, p + w.proj_w,
                           N, Cl, C);
  kernels_.attention_backward(dqkv, datty_.data(), a.qkv, a.atty, a.att_stats, B_, T_, Cl, NH);
  kernels_.matmul_backward(dln_whole, weight_grad(w.qkv_w), weight_grad(w.qkv_b), dqkv, a.ln1_full, p + w.qkv_w, N, C,
                           3 * Cl);
  const float* dln1 = regions_.enter_backward(dln_whole, dln_.data(), C);
  // dresidual += ∂ln1/∂input · dln: now the gradient w.r.t. the block input.
  kernels_.layernorm_backward(dresidual, dln1_w, dln1_b, dln1, input, p + w.ln1_w, a.ln1_mean, a.ln1_rstd, R, C);
  if (sp) {
    regions_.sum_replica_gradients(norm_grads, 4 * C);
    kernels_.residual_forward(g + w.ln1_w, g + w.ln1_w, norm_grads, C);
    kernels_.residual_forward(g + w.ln1_b, g + w.ln1_b, norm_grads + C, C);
    kernels_.residual_forward(g + w.ln2_w, g + w.ln2_w, norm_grads + 2 * C, C);
    kernels_.residual_forward(g + w.ln2_b, g + w.ln2_b, norm_grads + 3 * C, C);
  }
}

void GptModel::block_weight_backward(int64_t layer, const BlockView& a, const DeferredGrads& d) {
  const int64_t N = B_ * T_, C = spec_.n_embd, Cl = Cl_, F = Fl_;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  float* g = grads_;
  // dW += doutᵀ · inp and db += Σ dout for the four matmuls, from the output gradients the input pass kept.
  kernels_.matmul_backward(nullptr, g + w.fcproj_w, g + w.fcproj_b, d.fcproj_out.data(), a.fch_gelu, p + w.fcproj_w, N, F, C);
  kernels_.matmul_backward(nullptr, g + w.fc_w, g + w.fc_b, d.fc_out.data(), a.ln2_full, p + w.fc_w, N, C, F);
  kernels_.matmul_backward(nullptr, g + w.proj_w, g + w.proj_b, d.proj_out.data(), a.atty, p + w.proj_w, N, Cl, C);
  kernels_.matmul_backward(nullptr, g + w.qkv_w, g + w.qkv_b, d.qkv_out.data(), a.ln1_full, p + w.qkv_w, N, C, 3 * Cl);
}

void GptModel::backward(float loss_scale) {
  TESSERA_CHECK(options_.stage == ModelStage::whole(), "GptModel::backward runs the whole model; a stage uses backward_stage");
  backward_stage(0, nullptr, nullptr, loss_scale);
}

void GptModel::backward_stage(int64_t slot, const float* output_grad, float* input_grad, float loss_scale) {
  backward_pass(slot, output_grad, input_grad, loss_scale, /*split=*/false);
}

void GptModel::backward_stage_input(int64_t slot, const float* output_grad, float* input_grad, float loss_scale) {
  TESSERA_CHECK(options_.split_backward, "GptModel::backward_stage_input needs ModelOptions::split_backward");
  backward_pass(slot, output_grad, input_grad, loss_scale, /*split=*/true);
}

void GptModel::backward_stage_weight(int64_t slot) {
  MicroBatchState& state = slot_state(slot);
  TESSERA_CHECK(state.weight_pending, "GptModel::backward_stage_weight needs a preceding backward_stage_input (slot {})", slot);
  state.weight_pending = false;
  // No before/after: the weight gradients read activations and output gradients, no parameter.
  const LayerRange layers = chunk_layers(state.chunk);
  for (int64_t l = layers.end - 1; l >= layers.first; --l) {
    block_weight_backward(l, view(slot, l), state.deferred[static_cast<size_t>(l - layers.first)]);
    if (hooks_ != nullptr) hooks_->gradients_ready(layout_.block_unit(l));
  }
}

void GptModel::backward_pass(int64_t slot, const float* output_grad, float* input_grad, float loss_scale, bool split) {
  MicroBatchState& state = slot_state(slot);
  TESSERA_CHECK(state.backward_ready, "GptModel::backward needs a preceding forward with Pass::kTrain (slot {})", slot);
  state.backward_ready = false;
  state.weight_pending = split;
  const bool encoder = chunk_encoder(state.chunk), head = chunk_head(state.chunk);
  TESSERA_CHECK(head || output_grad != nullptr, "GptModel::backward_stage: a stage without the head needs output_grad");
  TESSERA_CHECK(encoder || input_grad != nullptr, "GptModel::backward_stage: a stage without the encoder needs input_grad");
  // R rows of the residual stream; this rank's vocabulary rows, heads and MLP columns.
  const int64_t N = B_ * T_, R = regions_.rows(), C = spec_.n_embd, V = Vl_, NH = NHl_;
  const float* p = params_;
  float* g = grads_;
  constexpr ModelPhase kBwd = ModelPhase::kBackward;
  const int E = layout_.embedding_unit(), F = layout_.final_norm_unit();
  const int64_t first = chunk_layers(state.chunk).first, end = chunk_layers(state.chunk).end;
  if (head) {
    // The head's backward ran in forward at loss scale 1: apply loss_scale to dlnf (and, below, dwte). At 1 (one
    // rank, one micro-batch) there is nothing to apply, and skipping the pass over dwte saves reading and writing
    // V·C floats.
    if (loss_scale != 1.0f) kernels_.scale(state.dlnf, loss_scale, R * C);
    // layernorm_backward accumulates into dresidual: start it at zero.
    std::memset(dresidual_.data(), 0, sizeof(float) * static_cast<size_t>(R * C));
    const float* last = end > first ? state.blocks.back().residual3.data() : state.input.data();
    before(F, kBwd);
    // Sequence parallelism: this rank's rows' contribution to lnf's gradients, summed over the group first.
    const bool sp = regions_.sequence_parallel();
    float* dlnf_w = sp ? replica_grads_.data() : g + layout_.lnf_w();
    float* dlnf_b = sp ? replica_grads_.data() + C : g + layout_.lnf_b();
    if (sp) std::memset(replica_grads_.data(), 0, sizeof(float) * static_cast<size_t>(2 * C));
    kernels_.layernorm_backward(dresidual_.data(), dlnf_w, dlnf_b, state.dlnf, last, p + layout_.lnf_w(),
                                state.lnf_mean.data(), state.lnf_rstd.data(), R, C);
    if (sp) {
      regions_.sum_replica_gradients(replica_grads_.data(), 2 * C);
      kernels_.residual_forward(g + layout_.lnf_w(), g + layout_.lnf_w(), dlnf_w, C);
      kernels_.residual_forward(g + layout_.lnf_b(), g + layout_.lnf_b(), dlnf_b, C);
    }
    after(F, kBwd);
    if (hooks_ != nullptr) hooks_->gradients_ready(F);
  } else {
    std::memcpy(dresidual_.data(), output_grad, sizeof(float) * static_cast<size_t>(R * C));
  }
  for (int64_t l = end - 1; l >= first; --l) {
    const float* input = block_input(state, l);
    const BlockView a = view(slot, l);
    const int unit = layout_.block_unit(l);
    before(unit, kBwd);
    switch (options_.recompute) {
      case Recompute::kNone:
        break;
      case Recompute::kSelective:  // the attention core and the GELU output, from the kept qkv and fch
        kernels_.attention_forward(a.atty, a.att_stats, a.qkv, B_, T_, Cl_, NH);
        kernels_.gelu_forward(a.fch_gelu, a.fch, N * Fl_);
        break;
      case Recompute::kFull:  // everything up to the GELU, from the kept block input
        block_forward(l, input, a, /*through_output=*/false);
        break;
    }
    block_backward(l, input, a, dresidual_.data(), split ? &state.deferred[static_cast<size_t>(l - first)] : nullptr);
    after(unit, kBwd);
    // A split backward's block gradients are complete only after its weight pass.
    if (hooks_ != nullptr && !split) hooks_->gradients_ready(unit);
  }
  if (!encoder) std::memcpy(input_grad, dresidual_.data(), sizeof(float) * static_cast<size_t>(R * C));
  if (E < 0 || (!encoder && !head)) return;  // (an interleaved stage's middle chunks have neither)
  // The embeddings' gradient last: the head's part (at scale 1 since forward, for every forward pending),
  // then the encoder's. (Adding the head's part here rather than first keeps the embeddings' gradient memory
  // untouched for the whole backward, which matters when an engine releases gradient memory unit by unit.)
  // No before/after: neither reads a parameter.
  if (head && head_forwards_pending_ > 0) {
    if (loss_scale != 1.0f) kernels_.scale(dwte_head_.data(), loss_scale, V * C);
    kernels_.residual_forward(g + layout_.wte(), g + layout_.wte(), dwte_head_.data(), V * C);
    head_forwards_pending_ = 0;
  }
  if (encoder) {
    if (regions_.active()) {
      parallel_encoder_backward(dresidual_.data(), state.inputs.data());
    } else {
      kernels_.encoder_backward(g + layout_.wte(), g + layout_.wpe(), dresidual_.data(), state.inputs.data(), B_, T_, C);
    }
  }
  if (hooks_ != nullptr) hooks_->gradients_ready(E);
}

void GptModel::save_state(StateWriter& writer) const {
  const auto& tensors = layout_.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    // The last pipeline stage's embeddings are the first stage's replica: the first stage saves them; a tensor
    // every tp rank holds alike is saved by tp rank 0.
    if (layout_.embeddings_replica() && layout_.unit_of_tensor(i) == layout_.embedding_unit()) continue;
    if (t.tp_replica && regions_.rank() != 0) continue;
    write_sliced_range(writer, "model." + t.name, t.slice, 0, t.numel, params_ + t.offset);
  }
}

Status GptModel::load_state(StateReader& reader) {
  weights_declared_ = false;
  for (const ParamTensor& t : layout_.tensors()) {
    TESSERA_RETURN_IF_ERROR(read_sliced_range(reader, "model." + t.name, t.slice, 0, t.numel, params_ + t.offset));
  }
  return Status();
}

}  // namespace tessera
