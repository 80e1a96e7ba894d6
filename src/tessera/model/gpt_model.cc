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

GptModel::GptModel(const ModelSpec& spec, KernelBackend& kernels, int64_t batch, int64_t seq,
                   const ModelOptions& options, FlatStorage storage)
    : spec_(spec),
      kernels_(kernels),
      options_(options),
      layout_(spec, options.unit_alignment, options.stage),
      B_(batch),
      T_(seq) {
  TESSERA_CHECK(spec.validate().ok(), "{}", spec.validate().message());
  TESSERA_CHECK(batch > 0 && seq > 0 && seq <= spec.seq_len, "batch {} seq {} (max {})", batch, seq, spec.seq_len);
  TESSERA_CHECK(options.slots >= 1, "ModelOptions::slots {} (expected ≥ 1)", options.slots);
  TESSERA_CHECK(!options.split_backward || options.recompute == Recompute::kNone,
                "ModelOptions::split_backward needs every activation kept (recompute none)");
  const ModelStage& stage = options_.stage;
  TESSERA_CHECK(stage.encoder || layout_.end_layer() > layout_.first_layer(),
                "GptModel: a stage without the encoder needs at least one layer");
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head, V = spec_.vocab_size;
  head_rows_ = resolve_head_chunk_rows(spec_, N, options_);
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
      a.ln1 = AlignedBuffer<float>(N * C);
      a.ln1_mean = AlignedBuffer<float>(N);
      a.ln1_rstd = AlignedBuffer<float>(N);
      a.qkv = AlignedBuffer<float>(N * 3 * C);
      a.residual2 = AlignedBuffer<float>(N * C);
      a.ln2 = AlignedBuffer<float>(N * C);
      a.ln2_mean = AlignedBuffer<float>(N);
      a.ln2_rstd = AlignedBuffer<float>(N);
      a.fch = AlignedBuffer<float>(N * F);
    }
    if (attention_core) {
      a.att_stats = AlignedBuffer<float>(2 * B_ * NH * T_);
      a.atty = AlignedBuffer<float>(N * C);
    }
    if (gelu) a.fch_gelu = AlignedBuffer<float>(N * F);
  };
  dln_ = AlignedBuffer<float>(N * C);
  slots_.resize(static_cast<size_t>(options_.slots));
  for (MicroBatchState& state : slots_) {
    state.blocks.resize(static_cast<size_t>(layout_.end_layer() - layout_.first_layer()));
    for (BlockActivations& a : state.blocks) {
      allocate(a, keep.attention_core, keep.gelu, keep.rest);
      a.residual3 = AlignedBuffer<float>(N * C);
    }
    state.input = AlignedBuffer<float>(N * C);
    if (options_.split_backward) {
      state.deferred.resize(state.blocks.size());
      for (DeferredGrads& d : state.deferred) {
        d.fcproj_out = AlignedBuffer<float>(N * C);
        d.fc_out = AlignedBuffer<float>(N * F);
        d.proj_out = AlignedBuffer<float>(N * C);
        d.qkv_out = AlignedBuffer<float>(N * 3 * C);
      }
    }
    if (stage.head) {
      state.lnf = AlignedBuffer<float>(N * C);
      state.lnf_mean = AlignedBuffer<float>(N);
      state.lnf_rstd = AlignedBuffer<float>(N);
      if (options_.slots > 1) state.own_dlnf = AlignedBuffer<float>(N * C);
      state.dlnf = options_.slots > 1 ? state.own_dlnf.data() : dln_.data();
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
  dresidual_ = AlignedBuffer<float>(N * C);
  datty_ = AlignedBuffer<float>(N * C);
  dqkv_ = AlignedBuffer<float>(N * 3 * C);
  dfch_ = AlignedBuffer<float>(N * F);
}

GptModel::~GptModel() { kernels_.clear_matmul_weights(); }

int64_t GptModel::BlockActivations::floats() const {
  return ln1.size() + ln1_mean.size() + ln1_rstd.size() + qkv.size() + att_stats.size() + atty.size() +
         residual2.size() + ln2.size() + ln2_mean.size() + ln2_rstd.size() + fch.size() + fch_gelu.size() +
         residual3.size();
}

GptModel::MicroBatchState& GptModel::slot_state(int64_t slot) {
  TESSERA_CHECK(slot >= 0 && slot < slots(), "GptModel: slot {} outside [0, {})", slot, slots());
  return slots_[static_cast<size_t>(slot)];
}

const float* GptModel::block_input(const MicroBatchState& state, int64_t layer) const {
  return layer == layout_.first_layer() ? state.input.data()
                                        : state.blocks[static_cast<size_t>(layer - 1 - layout_.first_layer())].residual3.data();
}

GptModel::BlockView GptModel::view(int64_t slot, int64_t layer) {
  BlockActivations& own = slot_state(slot).blocks[static_cast<size_t>(layer - layout_.first_layer())];
  auto pick = [&](AlignedBuffer<float>& mine, AlignedBuffer<float>& shared) {
    return mine.size() > 0 ? mine.data() : shared.data();
  };
  BlockActivations& r = recomputed_;
  return BlockView{.ln1 = pick(own.ln1, r.ln1),
                   .ln1_mean = pick(own.ln1_mean, r.ln1_mean),
                   .ln1_rstd = pick(own.ln1_rstd, r.ln1_rstd),
                   .qkv = pick(own.qkv, r.qkv),
                   .att_stats = pick(own.att_stats, r.att_stats),
                   .atty = pick(own.atty, r.atty),
                   .residual2 = pick(own.residual2, r.residual2),
                   .ln2 = pick(own.ln2, r.ln2),
                   .ln2_mean = pick(own.ln2_mean, r.ln2_mean),
                   .ln2_rstd = pick(own.ln2_rstd, r.ln2_rstd),
                   .fch = pick(own.fch, r.fch),
                   .fch_gelu = pick(own.fch_gelu, r.fch_gelu),
                   .residual3 = own.residual3.data()};
}

int64_t GptModel::activation_bytes() const {
  int64_t floats = logits_.size() + dwte_head_.size() + dresidual_.size() + dln_.size() + datty_.size() +
                   dqkv_.size() + dfch_.size() + recomputed_.floats();
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
  const double F = static_cast<double>(spec.ffn()), V = static_cast<double>(spec.vocab_size);
  const ModelStage& stage = options.stage;
  // The stage's layers (the whole model: all of them).
  const double L = static_cast<double>((stage.end_layer < 0 ? spec.n_layer : stage.end_layer) - stage.first_layer);
  const double NH = static_cast<double>(spec.n_head);
  const double T = static_cast<double>(seq), B = static_cast<double>(batch);
  const double slots = static_cast<double>(std::max<int64_t>(1, options.slots));
  // Parameters: the layout's count in double (ModelSpec::num_params is int64): the embeddings unit on the
  // first and last stage, the stage's blocks, the final norm on the last.
  const double embeddings = stage.encoder || stage.head ? V * C + static_cast<double>(spec.seq_len) * C : 0.0;
  const double params = embeddings + L * (4 * C + 4 * C * C + 4 * C + 2 * C * F + F + C) + (stage.head ? 2 * C : 0.0);
  // Block fields as in BlockActivations: kept per layer, or once in the shared recomputed set.
  const double attention_core = N * C + 2 * B * NH * T, gelu = N * F, rest = N * (6 * C + F + 4), output = N * C;
  const Kept keep = kept(options.recompute);
  // A split backward keeps each layer's four matmul output gradients [N,C], [N,F], [N,C], [N,3C] per slot.
  const double deferred = options.split_backward ? N * (5 * C + F) : 0.0;
  const double per_layer = output + (keep.attention_core ? attention_core : 0) + (keep.gelu ? gelu : 0) +
                           (keep.rest ? rest : 0) + deferred;
  const double shared = (keep.attention_core ? 0 : attention_core) + (keep.gelu ? 0 : gelu) + (keep.rest ? 0 : rest);
  // Head chunk logits (in double: the row count may be a clamped absurd size) and its wte gradient.
  const double head_rows = std::min(std::max(N, 1.0), options.head_chunk_rows > 0
                                                           ? static_cast<double>(options.head_chunk_rows)
                                                           : std::floor(static_cast<double>(ModelOptions::kHeadChunkBytes) / (4.0 * V)));
  const double head = stage.head ? std::max(head_rows, 1.0) * V + V * C : 0.0;
  // Per slot: the stage input (the embeddings' output on the first stage); on the last stage lnf (+stats),
  // losses, lse and, with several slots, dlnf. Once: the backward scratch (dresidual, dln, datty, dqkv, dfch).
  const double per_slot = N * C + (stage.head ? N * (C + 4) + (slots > 1 ? N * C : 0.0) : 0.0);
  const double scratch = N * (6 * C + F);
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
    switch (t.kind) {
      case ParamKind::kEmbedding:
      case ParamKind::kWeight:
        for (int64_t j = 0; j < t.numel; ++j) p[j] = 0.02f * rng.normal();
        break;
      case ParamKind::kResidualWeight:
        for (int64_t j = 0; j < t.numel; ++j) p[j] = residual_std * rng.normal();
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
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  // x + attn(ln1(x))
  kernels_.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, input, p + w.ln1_w, p + w.ln1_b, N, C);
  kernels_.matmul_forward(a.qkv, a.ln1, p + w.qkv_w, p + w.qkv_b, N, C, 3 * C);
  kernels_.attention_forward(a.atty, a.att_stats, a.qkv, B_, T_, C, NH);
  // The projection goes to residual2 first, then the residual is added in place.
  kernels_.matmul_forward(a.residual2, a.atty, p + w.proj_w, p + w.proj_b, N, C, C);
  kernels_.residual_forward(a.residual2, a.residual2, input, N * C);
  // + mlp(ln2(·))
  kernels_.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.residual2, p + w.ln2_w, p + w.ln2_b, N, C);
  kernels_.matmul_forward(a.fch, a.ln2, p + w.fc_w, p + w.fc_b, N, C, F);
  kernels_.gelu_forward(a.fch_gelu, a.fch, N * F);
  if (!through_output) return;
  kernels_.matmul_forward(a.residual3, a.fch_gelu, p + w.fcproj_w, p + w.fcproj_b, N, F, C);
  kernels_.residual_forward(a.residual3, a.residual3, a.residual2, N * C);
}

void GptModel::head_chunk(MicroBatchState& state, int64_t n0, int64_t rows, Pass pass) {
  const int64_t N = B_ * T_, C = spec_.n_embd, V = spec_.vocab_size;
  const float* wte = params_ + layout_.wte();
  const float* x = state.lnf.data() + n0 * C;
  const int32_t* targets = state.targets.data();
  // Tied head: logits[rows,V] = lnf[rows,C] · wte[V,C]^T.
  kernels_.matmul_forward(logits_.data(), x, wte, nullptr, rows, C, V);
  kernels_.crossentropy_forward(state.losses.data() + n0, state.lse.data() + n0, logits_.data(), targets + n0, rows, V);
  if (pass == Pass::kEval) return;
  // d(mean loss)/dlogits in place, then dlnf rows (overwritten) and the head's dwte (accumulated).
  kernels_.crossentropy_backward(logits_.data(), logits_.data(), state.lse.data() + n0, targets + n0,
                                 1.0f / static_cast<float>(N), rows, V);
  kernels_.matmul_backward(state.dlnf + n0 * C, dwte_head_.data(), nullptr, logits_.data(), x, wte, rows, C, V);
}

float GptModel::forward(const int32_t* inputs, const int32_t* targets, Pass pass) {
  TESSERA_CHECK(options_.stage == ModelStage::whole(), "GptModel::forward runs the whole model; a stage uses forward_stage");
  return forward_stage(0, inputs, nullptr, targets, pass);
}

float GptModel::forward_stage(int64_t slot, const int32_t* inputs, const float* input, const int32_t* targets,
                              Pass pass) {
  const int64_t N = B_ * T_, C = spec_.n_embd, V = spec_.vocab_size;
  const ModelStage& stage = options_.stage;
  MicroBatchState& state = slot_state(slot);
  TESSERA_CHECK(stage.encoder ? inputs != nullptr : input != nullptr, "GptModel::forward_stage: missing the stage's input");
  TESSERA_CHECK(!stage.head || targets != nullptr, "GptModel::forward_stage: the last stage needs targets");
  const float* p = params_;
  if (!weights_declared_ && options_.resident_weights) {  // bf16 kernels convert the parameters once here
    kernels_.set_matmul_weights(p, layout_.total_numel());  // instead of per matmul
    weights_declared_ = true;
  }
  TESSERA_CHECK(!state.weight_pending, "GptModel::forward_stage: slot {} still waits for its weight gradients", slot);
  // This slot's earlier kTrain forward never got its backward: its head gradient cannot be taken out of
  // dwte_head_ again, so that is only allowed when no other forward is pending (then it is simply reset).
  if (state.backward_ready) {
    TESSERA_CHECK(!stage.head || head_forwards_pending_ == 1,
                  "GptModel::forward_stage: slot {} still waits for its backward while other forwards do too", slot);
    state.backward_ready = false;
    if (stage.head) head_forwards_pending_ = 0;
  }
  constexpr ModelPhase kFwd = ModelPhase::kForward;
  const int E = layout_.embedding_unit(), F = layout_.final_norm_unit();
  if (stage.encoder) {
    std::memcpy(state.inputs.data(), inputs, sizeof(int32_t) * static_cast<size_t>(N));
    before(E, kFwd);
    kernels_.encoder_forward(state.input.data(), inputs, p + layout_.wte(), p + layout_.wpe(), B_, T_, C);
    after(E, kFwd);
  } else if (input != state.input.data()) {
    std::memcpy(state.input.data(), input, sizeof(float) * static_cast<size_t>(N * C));
  }
  for (int64_t l = layout_.first_layer(); l < layout_.end_layer(); ++l) {
    before(layout_.block_unit(l), kFwd);
    block_forward(l, block_input(state, l), view(slot, l), /*through_output=*/true);
    after(layout_.block_unit(l), kFwd);
  }
  if (!stage.head) {
    state.backward_ready = pass == Pass::kTrain;
    return 0.0f;
  }
  std::memcpy(state.targets.data(), targets, sizeof(int32_t) * static_cast<size_t>(N));
  const float* x = layout_.end_layer() > layout_.first_layer() ? state.blocks.back().residual3.data() : state.input.data();
  before(F, kFwd);
  kernels_.layernorm_forward(state.lnf.data(), state.lnf_mean.data(), state.lnf_rstd.data(), x, p + layout_.lnf_w(),
                             p + layout_.lnf_b(), N, C);
  after(F, kFwd);
  if (pass == Pass::kTrain && head_forwards_pending_ == 0) {
    std::memset(dwte_head_.data(), 0, sizeof(float) * static_cast<size_t>(V * C));
  }
  before(E, kFwd);  // the tied head reads wte
  for (int64_t n0 = 0; n0 < N; n0 += head_rows_) head_chunk(state, n0, std::min(head_rows_, N - n0), pass);
  after(E, kFwd);
  if (pass == Pass::kTrain) {
    state.backward_ready = true;
    ++head_forwards_pending_;
  }
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) total += state.losses[i];
  return static_cast<float>(total / static_cast<double>(N));
}

const float* GptModel::stage_output(int64_t slot) const {
  TESSERA_CHECK(slot >= 0 && slot < slots() && layout_.end_layer() > layout_.first_layer(), "GptModel::stage_output: slot {}", slot);
  return slots_[static_cast<size_t>(slot)].blocks.back().residual3.data();
}

float* GptModel::stage_input(int64_t slot) { return slot_state(slot).input.data(); }

void GptModel::compute_logits(float* out) {
  TESSERA_CHECK(options_.stage.head, "GptModel::compute_logits needs the LM head");
  kernels_.matmul_forward(out, slots_[0].lnf.data(), params_ + layout_.wte(), nullptr, B_ * T_, spec_.n_embd,
                          spec_.vocab_size);
}

void GptModel::block_backward(int64_t layer, const float* input, const BlockView& a, float* dresidual,
                              DeferredGrads* defer) {
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  float* g = grads_;
  // A split backward (defer) computes the input gradients only and keeps each matmul's output gradient for
  // block_weight_backward; the LayerNorms' (cheap) parameter gradients are taken now either way.
  const auto weight_grad = [&](int64_t offset) { return defer != nullptr ? nullptr : g + offset; };
  float* dfch = defer != nullptr ? defer->fc_out.data() : dfch_.data();
  float* dqkv = defer != nullptr ? defer->qkv_out.data() : dqkv_.data();
  const size_t activation_bytes = sizeof(float) * static_cast<size_t>(N * C);
  // residual3 = residual2 + fcproj: dresidual flows to both the MLP branch and residual2 unchanged.
  if (defer != nullptr) std::memcpy(defer->fcproj_out.data(), dresidual, activation_bytes);
  kernels_.matmul_backward(dfch, weight_grad(w.fcproj_w), weight_grad(w.fcproj_b), dresidual, a.fch_gelu, p + w.fcproj_w,
                           N, F, C);
  kernels_.gelu_backward(dfch, a.fch, dfch, N * F);
  kernels_.matmul_backward(dln_.data(), weight_grad(w.fc_w), weight_grad(w.fc_b), dfch, a.ln2, p + w.fc_w, N, C, F);
  // dresidual += ∂ln2/∂residual2 · dln: now the gradient w.r.t. residual2.
  kernels_.layernorm_backward(dresidual, g + w.ln2_w, g + w.ln2_b, dln_.data(), a.residual2, p + w.ln2_w, a.ln2_mean,
                              a.ln2_rstd, N, C);
  // residual2 = input + proj(attn(ln1(input))).
  if (defer != nullptr) std::memcpy(defer->proj_out.data(), dresidual, activation_bytes);
  kernels_.matmul_backward(datty_.data(), weight_grad(w.proj_w), weight_grad(w.proj_b), dresidual, a.atty,
                           p + w.proj_w, N, C, C);
  kernels_.attention_backward(dqkv, datty_.data(), a.qkv, a.atty, a.att_stats, B_, T_, C, NH);
  kernels_.matmul_backward(dln_.data(), weight_grad(w.qkv_w), weight_grad(w.qkv_b), dqkv, a.ln1, p + w.qkv_w, N, C,
                           3 * C);
  // dresidual += ∂ln1/∂input · dln: now the gradient w.r.t. the block input.
  kernels_.layernorm_backward(dresidual, g + w.ln1_w, g + w.ln1_b, dln_.data(), input, p + w.ln1_w, a.ln1_mean,
                              a.ln1_rstd, N, C);
}

void GptModel::block_weight_backward(int64_t layer, const BlockView& a, const DeferredGrads& d) {
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn();
  const BlockParams& w = layout_.block(layer);
  const float* p = params_;
  float* g = grads_;
  // dW += doutᵀ · inp and db += Σ dout for the four matmuls, from the output gradients the input pass kept.
  kernels_.matmul_backward(nullptr, g + w.fcproj_w, g + w.fcproj_b, d.fcproj_out.data(), a.fch_gelu, p + w.fcproj_w, N, F, C);
  kernels_.matmul_backward(nullptr, g + w.fc_w, g + w.fc_b, d.fc_out.data(), a.ln2, p + w.fc_w, N, C, F);
  kernels_.matmul_backward(nullptr, g + w.proj_w, g + w.proj_b, d.proj_out.data(), a.atty, p + w.proj_w, N, C, C);
  kernels_.matmul_backward(nullptr, g + w.qkv_w, g + w.qkv_b, d.qkv_out.data(), a.ln1, p + w.qkv_w, N, C, 3 * C);
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
  for (int64_t l = layout_.end_layer() - 1; l >= layout_.first_layer(); --l) {
    block_weight_backward(l, view(slot, l), state.deferred[static_cast<size_t>(l - layout_.first_layer())]);
    if (hooks_ != nullptr) hooks_->gradients_ready(layout_.block_unit(l));
  }
}

void GptModel::backward_pass(int64_t slot, const float* output_grad, float* input_grad, float loss_scale, bool split) {
  MicroBatchState& state = slot_state(slot);
  TESSERA_CHECK(state.backward_ready, "GptModel::backward needs a preceding forward with Pass::kTrain (slot {})", slot);
  state.backward_ready = false;
  state.weight_pending = split;
  const ModelStage& stage = options_.stage;
  TESSERA_CHECK(stage.head || output_grad != nullptr, "GptModel::backward_stage: a stage without the head needs output_grad");
  TESSERA_CHECK(stage.encoder || input_grad != nullptr, "GptModel::backward_stage: a stage without the encoder needs input_grad");
  const int64_t N = B_ * T_, C = spec_.n_embd, V = spec_.vocab_size, NH = spec_.n_head;
  const float* p = params_;
  float* g = grads_;
  constexpr ModelPhase kBwd = ModelPhase::kBackward;
  const int E = layout_.embedding_unit(), F = layout_.final_norm_unit();
  const int64_t first = layout_.first_layer(), end = layout_.end_layer();
  if (stage.head) {
    // The head's backward ran in forward at loss scale 1: apply loss_scale to dlnf (and, below, dwte).
    kernels_.scale(state.dlnf, loss_scale, N * C);
    // layernorm_backward accumulates into dresidual: start it at zero.
    std::memset(dresidual_.data(), 0, sizeof(float) * static_cast<size_t>(N * C));
    const float* last = end > first ? state.blocks.back().residual3.data() : state.input.data();
    before(F, kBwd);
    kernels_.layernorm_backward(dresidual_.data(), g + layout_.lnf_w(), g + layout_.lnf_b(), state.dlnf, last,
                                p + layout_.lnf_w(), state.lnf_mean.data(), state.lnf_rstd.data(), N, C);
    after(F, kBwd);
    if (hooks_ != nullptr) hooks_->gradients_ready(F);
  } else {
    std::memcpy(dresidual_.data(), output_grad, sizeof(float) * static_cast<size_t>(N * C));
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
        kernels_.attention_forward(a.atty, a.att_stats, a.qkv, B_, T_, C, NH);
        kernels_.gelu_forward(a.fch_gelu, a.fch, N * spec_.ffn());
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
  if (!stage.encoder) std::memcpy(input_grad, dresidual_.data(), sizeof(float) * static_cast<size_t>(N * C));
  if (E < 0) return;
  // The embeddings' gradient last: the head's part (at scale 1 since forward, for every forward pending),
  // then the encoder's. (Adding the head's part here rather than first keeps the embeddings' gradient memory
  // untouched for the whole backward, which matters when an engine releases gradient memory unit by unit.)
  // No before/after: neither reads a parameter.
  if (stage.head && head_forwards_pending_ > 0) {
    kernels_.scale(dwte_head_.data(), loss_scale, V * C);
    kernels_.residual_forward(g + layout_.wte(), g + layout_.wte(), dwte_head_.data(), V * C);
    head_forwards_pending_ = 0;
  }
  if (stage.encoder) {
    kernels_.encoder_backward(g + layout_.wte(), g + layout_.wpe(), dresidual_.data(), state.inputs.data(), B_, T_, C);
  }
  if (hooks_ != nullptr) hooks_->gradients_ready(E);
}

void GptModel::save_state(StateWriter& writer) const {
  const auto& tensors = layout_.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    // The last pipeline stage's embeddings are the first stage's replica: the first stage saves them.
    if (layout_.embeddings_replica() && layout_.unit_of_tensor(i) == layout_.embedding_unit()) continue;
    writer.write_tensor(TensorView{.name = "model." + t.name,
                                   .dtype = DType::kF32,
                                   .shape = t.shape,
                                   .data = const_cast<float*>(params_ + t.offset)});
  }
}

Status GptModel::load_state(StateReader& reader) {
  weights_declared_ = false;
  for (const ParamTensor& t : layout_.tensors()) {
    TESSERA_RETURN_IF_ERROR(reader.read_tensor(
        TensorView{.name = "model." + t.name, .dtype = DType::kF32, .shape = t.shape, .data = params_ + t.offset}));
  }
  return Status();
}

}  // namespace tessera
