#include "tessera/model/gpt_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tessera {

GptDecoder::GptDecoder(const ModelSpec& spec, const float* params, KernelBackend& kernels)
    : spec_(spec), layout_(spec), params_(params), kernels_(kernels) {
  const int64_t C = spec.n_embd, T = spec.seq_len, L = spec.n_layer;
  key_cache_ = AlignedBuffer<float>(L * T * C);
  value_cache_ = AlignedBuffer<float>(L * T * C);
  x_ = AlignedBuffer<float>(C);
  ln_ = AlignedBuffer<float>(C);
  qkv_ = AlignedBuffer<float>(3 * C);
  atty_ = AlignedBuffer<float>(C);
  tmp_ = AlignedBuffer<float>(C);
  fch_ = AlignedBuffer<float>(spec.ffn());
  scores_ = AlignedBuffer<float>(T);
  logits_ = AlignedBuffer<float>(spec.vocab_size);
  mean_ = AlignedBuffer<float>(1);
  rstd_ = AlignedBuffer<float>(1);
}

StatusOr<const float*> GptDecoder::feed(int32_t token) {
  const int64_t C = spec_.n_embd, T = spec_.seq_len, F = spec_.ffn(), NH = spec_.n_head, HS = C / NH;
  const int64_t V = spec_.vocab_size;
  if (position_ >= T) return invalid_argument_error("generate: context of {} tokens is full", T);
  if (token < 0 || token >= V) return invalid_argument_error("generate: token {} is outside [0, {})", token, V);
  const float* p = params_;
  const int64_t pos = position_;
  for (int64_t c = 0; c < C; ++c) x_[c] = p[layout_.wte() + token * C + c] + p[layout_.wpe() + pos * C + c];
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  for (int64_t l = 0; l < spec_.n_layer; ++l) {
    const BlockParams& w = layout_.block(l);
    float* keys = key_cache_.data() + l * T * C;    // [T, C]
    float* values = value_cache_.data() + l * T * C;
    kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), p + w.ln1_w, p + w.ln1_b, 1, C);
    kernels_.matmul_forward(qkv_.data(), ln_.data(), p + w.qkv_w, p + w.qkv_b, 1, C, 3 * C);
    std::memcpy(keys + pos * C, qkv_.data() + C, sizeof(float) * static_cast<size_t>(C));
    std::memcpy(values + pos * C, qkv_.data() + 2 * C, sizeof(float) * static_cast<size_t>(C));
    // Per head h: atty[h] = Σ_j softmax_j(q_h · k_{j,h} · scale) v_{j,h}, j = 0..pos.
    for (int64_t h = 0; h < NH; ++h) {
      const float* q = qkv_.data() + h * HS;
      float max_score = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        const float* k = keys + j * C + h * HS;
        float dot = 0.0f;
        for (int64_t d = 0; d < HS; ++d) dot += q[d] * k[d];
        scores_[j] = dot * scale;
        max_score = std::max(max_score, scores_[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= pos; ++j) sum += (scores_[j] = std::exp(scores_[j] - max_score));
      float* out = atty_.data() + h * HS;
      std::fill(out, out + HS, 0.0f);
      for (int64_t j = 0; j <= pos; ++j) {
        const float weight = scores_[j] / sum;
        const float* v = values + j * C + h * HS;
        for (int64_t d = 0; d < HS; ++d) out[d] += weight * v[d];
      }
    }
    kernels_.matmul_forward(tmp_.data(), atty_.data(), p + w.proj_w, p + w.proj_b, 1, C, C);
    kernels_.residual_forward(x_.data(), x_.data(), tmp_.data(), C);
    kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), p + w.ln2_w, p + w.ln2_b, 1, C);
    kernels_.matmul_forward(fch_.data(), ln_.data(), p + w.fc_w, p + w.fc_b, 1, C, F);
    kernels_.gelu_forward(fch_.data(), fch_.data(), F);
    kernels_.matmul_forward(tmp_.data(), fch_.data(), p + w.fcproj_w, p + w.fcproj_b, 1, F, C);
    kernels_.residual_forward(x_.data(), x_.data(), tmp_.data(), C);
  }
  kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), p + layout_.lnf_w(),
                             p + layout_.lnf_b(), 1, C);
  kernels_.matmul_forward(logits_.data(), ln_.data(), p + layout_.wte(), nullptr, 1, C, V);
  ++position_;
  return static_cast<const float*>(logits_.data());
}

}  // namespace tessera
