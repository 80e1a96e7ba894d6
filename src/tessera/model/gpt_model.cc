#include "tessera/model/gpt_model.h"

#include <cmath>
#include <cstring>

#include "tessera/core/check.h"
#include "tessera/core/rng.h"

namespace tessera {

GptModel::GptModel(const ModelSpec& spec, KernelBackend& kernels, int64_t batch, int64_t seq)
    : spec_(spec), kernels_(kernels), layout_(spec), B_(batch), T_(seq) {
  TESSERA_CHECK(spec.validate().ok(), "{}", spec.validate().message());
  TESSERA_CHECK(batch > 0 && seq > 0 && seq <= spec.seq_len, "batch {} seq {} (max {})", batch, seq, spec.seq_len);
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head, V = spec_.vocab_size;
  params_ = AlignedBuffer<float>(layout_.total_numel());
  grads_ = AlignedBuffer<float>(layout_.total_numel());
  encoded_ = AlignedBuffer<float>(N * C);
  blocks_.resize(static_cast<size_t>(spec_.n_layer));
  for (BlockActivations& a : blocks_) {
    a.ln1 = AlignedBuffer<float>(N * C);
    a.ln1_mean = AlignedBuffer<float>(N);
    a.ln1_rstd = AlignedBuffer<float>(N);
    a.qkv = AlignedBuffer<float>(N * 3 * C);
    a.att_lse = AlignedBuffer<float>(B_ * NH * T_);
    a.atty = AlignedBuffer<float>(N * C);
    a.residual2 = AlignedBuffer<float>(N * C);
    a.ln2 = AlignedBuffer<float>(N * C);
    a.ln2_mean = AlignedBuffer<float>(N);
    a.ln2_rstd = AlignedBuffer<float>(N);
    a.fch = AlignedBuffer<float>(N * F);
    a.fch_gelu = AlignedBuffer<float>(N * F);
    a.residual3 = AlignedBuffer<float>(N * C);
  }
  lnf_ = AlignedBuffer<float>(N * C);
  lnf_mean_ = AlignedBuffer<float>(N);
  lnf_rstd_ = AlignedBuffer<float>(N);
  logits_ = AlignedBuffer<float>(N * V);
  losses_ = AlignedBuffer<float>(N);
  lse_ = AlignedBuffer<float>(N);
  inputs_.resize(static_cast<size_t>(N));
  targets_.resize(static_cast<size_t>(N));
  dresidual_ = AlignedBuffer<float>(N * C);
  dln_ = AlignedBuffer<float>(N * C);
  datty_ = AlignedBuffer<float>(N * C);
  dqkv_ = AlignedBuffer<float>(N * 3 * C);
  dfch_ = AlignedBuffer<float>(N * F);
}

int64_t GptModel::activation_bytes() const {
  int64_t floats = encoded_.size() + lnf_.size() + lnf_mean_.size() + lnf_rstd_.size() + logits_.size() +
                   losses_.size() + lse_.size() + dresidual_.size() + dln_.size() + datty_.size() + dqkv_.size() +
                   dfch_.size();
  for (const BlockActivations& a : blocks_) {
    floats += a.ln1.size() + a.ln1_mean.size() + a.ln1_rstd.size() + a.qkv.size() + a.att_lse.size() + a.atty.size() +
              a.residual2.size() + a.ln2.size() + a.ln2_mean.size() + a.ln2_rstd.size() + a.fch.size() +
              a.fch_gelu.size() + a.residual3.size();
  }
  return floats * static_cast<int64_t>(sizeof(float));
}

double GptModel::estimate_bytes(const ModelSpec& spec, int64_t batch, int64_t seq) {
  const double N = static_cast<double>(batch) * static_cast<double>(seq), C = static_cast<double>(spec.n_embd);
  const double F = static_cast<double>(spec.ffn()), V = static_cast<double>(spec.vocab_size);
  const double L = static_cast<double>(spec.n_layer), NH = static_cast<double>(spec.n_head);
  const double T = static_cast<double>(seq), B = static_cast<double>(batch);
  // Parameters: the layout's count in double (ModelSpec::num_params is int64).
  const double params = V * C + static_cast<double>(spec.seq_len) * C + L * (4 * C + 4 * C * C + 4 * C + 2 * C * F + F + C) + 2 * C;
  // Per block as in BlockActivations; then encoded, lnf, logits, losses and the backward scratch.
  const double per_block = N * (8 * C + 2 * F + 4) + B * NH * T;
  const double rest = N * (8 * C + V + 4 + F);
  return 4.0 * (2 * params + L * per_block + rest);
}

void GptModel::init_parameters(uint64_t seed) {
  const float residual_std = 0.02f / std::sqrt(2.0f * static_cast<float>(spec_.n_layer));
  const auto& tensors = layout_.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    float* p = params_.data() + t.offset;
    RngStream rng(seed, RngPurpose::kInit, i);
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

void GptModel::zero_grad() { std::memset(grads_.data(), 0, sizeof(float) * static_cast<size_t>(grads_.size())); }

void GptModel::block_forward(int64_t layer, const float* input) {
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_.data();
  BlockActivations& a = blocks_[static_cast<size_t>(layer)];
  // x + attn(ln1(x))
  kernels_.layernorm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), input, p + w.ln1_w, p + w.ln1_b, N, C);
  kernels_.matmul_forward(a.qkv.data(), a.ln1.data(), p + w.qkv_w, p + w.qkv_b, N, C, 3 * C);
  kernels_.attention_forward(a.atty.data(), a.att_lse.data(), a.qkv.data(), B_, T_, C, NH);
  // The projection goes to residual2 first, then the residual is added in place.
  kernels_.matmul_forward(a.residual2.data(), a.atty.data(), p + w.proj_w, p + w.proj_b, N, C, C);
  kernels_.residual_forward(a.residual2.data(), a.residual2.data(), input, N * C);
  // + mlp(ln2(·))
  kernels_.layernorm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), a.residual2.data(), p + w.ln2_w,
                             p + w.ln2_b, N, C);
  kernels_.matmul_forward(a.fch.data(), a.ln2.data(), p + w.fc_w, p + w.fc_b, N, C, F);
  kernels_.gelu_forward(a.fch_gelu.data(), a.fch.data(), N * F);
  kernels_.matmul_forward(a.residual3.data(), a.fch_gelu.data(), p + w.fcproj_w, p + w.fcproj_b, N, F, C);
  kernels_.residual_forward(a.residual3.data(), a.residual3.data(), a.residual2.data(), N * C);
}

float GptModel::forward(const int32_t* inputs, const int32_t* targets) {
  const int64_t N = B_ * T_, C = spec_.n_embd, V = spec_.vocab_size;
  std::memcpy(inputs_.data(), inputs, sizeof(int32_t) * static_cast<size_t>(N));
  std::memcpy(targets_.data(), targets, sizeof(int32_t) * static_cast<size_t>(N));
  const float* p = params_.data();
  kernels_.encoder_forward(encoded_.data(), inputs, p + layout_.wte(), p + layout_.wpe(), B_, T_, C);
  const float* x = encoded_.data();
  for (int64_t l = 0; l < spec_.n_layer; ++l) {
    block_forward(l, x);
    x = blocks_[static_cast<size_t>(l)].residual3.data();
  }
  kernels_.layernorm_forward(lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), x, p + layout_.lnf_w(),
                             p + layout_.lnf_b(), N, C);
  // Tied head: logits[N,V] = lnf[N,C] · wte[V,C]^T.
  kernels_.matmul_forward(logits_.data(), lnf_.data(), p + layout_.wte(), nullptr, N, C, V);
  kernels_.crossentropy_forward(losses_.data(), lse_.data(), logits_.data(), targets, N, V);
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) total += losses_[i];
  return static_cast<float>(total / static_cast<double>(N));
}

void GptModel::block_backward(int64_t layer, const float* input, float* dresidual) {
  const int64_t N = B_ * T_, C = spec_.n_embd, F = spec_.ffn(), NH = spec_.n_head;
  const BlockParams& w = layout_.block(layer);
  const float* p = params_.data();
  float* g = grads_.data();
  BlockActivations& a = blocks_[static_cast<size_t>(layer)];
  // residual3 = residual2 + fcproj: dresidual flows to both the MLP branch and residual2 unchanged.
  kernels_.matmul_backward(dfch_.data(), g + w.fcproj_w, g + w.fcproj_b, dresidual, a.fch_gelu.data(),
                           p + w.fcproj_w, N, F, C);
  kernels_.gelu_backward(dfch_.data(), a.fch.data(), dfch_.data(), N * F);
  kernels_.matmul_backward(dln_.data(), g + w.fc_w, g + w.fc_b, dfch_.data(), a.ln2.data(), p + w.fc_w, N, C, F);
  // dresidual += ∂ln2/∂residual2 · dln: now the gradient w.r.t. residual2.
  kernels_.layernorm_backward(dresidual, g + w.ln2_w, g + w.ln2_b, dln_.data(), a.residual2.data(), p + w.ln2_w,
                              a.ln2_mean.data(), a.ln2_rstd.data(), N, C);
  // residual2 = input + proj(attn(ln1(input))).
  kernels_.matmul_backward(datty_.data(), g + w.proj_w, g + w.proj_b, dresidual, a.atty.data(), p + w.proj_w, N, C, C);
  kernels_.attention_backward(dqkv_.data(), datty_.data(), a.qkv.data(), a.atty.data(), a.att_lse.data(), B_, T_,
                              C, NH);
  kernels_.matmul_backward(dln_.data(), g + w.qkv_w, g + w.qkv_b, dqkv_.data(), a.ln1.data(), p + w.qkv_w, N, C,
                           3 * C);
  // dresidual += ∂ln1/∂input · dln: now the gradient w.r.t. the block input.
  kernels_.layernorm_backward(dresidual, g + w.ln1_w, g + w.ln1_b, dln_.data(), input, p + w.ln1_w,
                              a.ln1_mean.data(), a.ln1_rstd.data(), N, C);
}

void GptModel::backward(float loss_scale) {
  const int64_t N = B_ * T_, C = spec_.n_embd, V = spec_.vocab_size;
  const float* p = params_.data();
  float* g = grads_.data();
  // d(loss_scale · mean loss)/dlogits, in place over the logits.
  kernels_.crossentropy_backward(logits_.data(), logits_.data(), lse_.data(), targets_.data(),
                                 loss_scale / static_cast<float>(N), N, V);
  kernels_.matmul_backward(dln_.data(), g + layout_.wte(), nullptr, logits_.data(), lnf_.data(), p + layout_.wte(),
                           N, C, V);
  // layernorm_backward accumulates into dresidual: start it at zero.
  std::memset(dresidual_.data(), 0, sizeof(float) * static_cast<size_t>(N * C));
  const float* last = spec_.n_layer > 0 ? blocks_.back().residual3.data() : encoded_.data();
  kernels_.layernorm_backward(dresidual_.data(), g + layout_.lnf_w(), g + layout_.lnf_b(), dln_.data(), last,
                              p + layout_.lnf_w(), lnf_mean_.data(), lnf_rstd_.data(), N, C);
  for (int64_t l = spec_.n_layer - 1; l >= 0; --l) {
    const float* input = l == 0 ? encoded_.data() : blocks_[static_cast<size_t>(l - 1)].residual3.data();
    block_backward(l, input, dresidual_.data());
  }
  kernels_.encoder_backward(g + layout_.wte(), g + layout_.wpe(), dresidual_.data(), inputs_.data(), B_, T_, C);
}

void GptModel::save_state(StateWriter& writer) const {
  for (const ParamTensor& t : layout_.tensors()) {
    writer.write_tensor(TensorView{.name = "model." + t.name,
                                   .dtype = DType::kF32,
                                   .shape = t.shape,
                                   .data = const_cast<float*>(params_.data() + t.offset)});
  }
}

Status GptModel::load_state(StateReader& reader) {
  for (const ParamTensor& t : layout_.tensors()) {
    TESSERA_RETURN_IF_ERROR(reader.read_tensor(
        TensorView{.name = "model." + t.name, .dtype = DType::kF32, .shape = t.shape, .data = params_.data() + t.offset}));
  }
  return Status();
}

}  // namespace tessera
