#include "tessera/model/gpt_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tessera {

GptDecoder::GptDecoder(const ModelSpec& spec, const float* params, KernelBackend& kernels, int64_t slots,
                       int64_t max_rows)
    : spec_(spec),
      layout_(spec),
      params_(params),
      kernels_(kernels),
      max_rows_(max_rows > 0 ? max_rows : spec.seq_len + std::max<int64_t>(slots, 1) - 1),
      positions_(static_cast<size_t>(std::max<int64_t>(slots, 1)), 0) {
  const int64_t C = spec.n_embd, T = spec.seq_len, L = spec.n_layer, R = max_rows_, S = this->slots();
  key_cache_ = AlignedBuffer<float>(S * L * T * C);
  value_cache_ = AlignedBuffer<float>(S * L * T * C);
  x_ = AlignedBuffer<float>(R * C);
  ln_ = AlignedBuffer<float>(R * C);
  qkv_ = AlignedBuffer<float>(R * 3 * C);
  atty_ = AlignedBuffer<float>(R * C);
  tmp_ = AlignedBuffer<float>(R * C);
  fch_ = AlignedBuffer<float>(R * spec.ffn());
  mean_ = AlignedBuffer<float>(R);
  rstd_ = AlignedBuffer<float>(R);
  scores_ = AlignedBuffer<float>(T);
  last_ = AlignedBuffer<float>(S * C);
  logits_ = AlignedBuffer<float>(S * spec.vocab_size);
  row_slot_.resize(static_cast<size_t>(R));
  row_pos_.resize(static_cast<size_t>(R));
}

StatusOr<const float*> GptDecoder::feed(int32_t token) {
  const DecoderInput input{.slot = 0, .tokens = std::span<const int32_t>(&token, 1)};
  return feed(std::span<const DecoderInput>(&input, 1));
}

StatusOr<const float*> GptDecoder::feed(std::span<const DecoderInput> inputs) {
  const int64_t C = spec_.n_embd, T = spec_.seq_len, F = spec_.ffn(), NH = spec_.n_head, HS = C / NH;
  const int64_t V = spec_.vocab_size, L = spec_.n_layer, S = slots();
  // Check everything before changing anything: a refused call leaves every slot as it was.
  std::vector<bool> seen(static_cast<size_t>(S), false);
  int64_t R = 0;
  for (const DecoderInput& in : inputs) {
    if (in.slot < 0 || in.slot >= S) return invalid_argument_error("decoder: slot {} is outside [0, {})", in.slot, S);
    if (seen[static_cast<size_t>(in.slot)]) return invalid_argument_error("decoder: slot {} is fed twice in one call", in.slot);
    seen[static_cast<size_t>(in.slot)] = true;
    if (in.tokens.empty()) return invalid_argument_error("decoder: slot {} is fed no token", in.slot);
    const int64_t n = static_cast<int64_t>(in.tokens.size());
    if (position(in.slot) + n > T) {
      return invalid_argument_error("generate: context of {} tokens is full ({} cached, {} more fed)", T,
                                    position(in.slot), n);
    }
    for (int32_t token : in.tokens) {
      if (token < 0 || token >= V) return invalid_argument_error("generate: token {} is outside [0, {})", token, V);
    }
    R += n;
  }
  if (inputs.empty()) return invalid_argument_error("decoder: no input");
  if (R > max_rows_) return invalid_argument_error("decoder: {} rows in one call; at most {}", R, max_rows_);

  const float* p = params_;
  // Rows in input order: row r runs token `tokens[j]` of input i at position position(slot) + j.
  int64_t r = 0;
  for (const DecoderInput& in : inputs) {
    for (size_t j = 0; j < in.tokens.size(); ++j, ++r) {
      const int64_t pos = position(in.slot) + static_cast<int64_t>(j);
      row_slot_[static_cast<size_t>(r)] = in.slot;
      row_pos_[static_cast<size_t>(r)] = pos;
      const int64_t token = in.tokens[j];
      for (int64_t c = 0; c < C; ++c) x_[r * C + c] = p[layout_.wte() + token * C + c] + p[layout_.wpe() + pos * C + c];
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  for (int64_t l = 0; l < L; ++l) {
    const BlockParams& w = layout_.block(l);
    kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), p + w.ln1_w, p + w.ln1_b, R, C);
    kernels_.matmul_forward(qkv_.data(), ln_.data(), p + w.qkv_w, p + w.qkv_b, R, C, 3 * C);
    // Every row's key and value go into its slot's cache first, so that a prompt's later rows see the
    // earlier ones of the same call.
    for (int64_t i = 0; i < R; ++i) {
      const int64_t cache = (row_slot_[static_cast<size_t>(i)] * L + l) * T * C + row_pos_[static_cast<size_t>(i)] * C;
      std::memcpy(key_cache_.data() + cache, qkv_.data() + i * 3 * C + C, sizeof(float) * static_cast<size_t>(C));
      std::memcpy(value_cache_.data() + cache, qkv_.data() + i * 3 * C + 2 * C, sizeof(float) * static_cast<size_t>(C));
    }
    // Per row i and head h: atty[i, h] = Σ_j softmax_j(q_h · k_{j,h} · scale) v_{j,h}, j = 0..pos_i of
    // row i's slot.
    for (int64_t i = 0; i < R; ++i) {
      const int64_t pos = row_pos_[static_cast<size_t>(i)];
      const float* keys = key_cache_.data() + (row_slot_[static_cast<size_t>(i)] * L + l) * T * C;  // [T, C]
      const float* values = value_cache_.data() + (row_slot_[static_cast<size_t>(i)] * L + l) * T * C;
      for (int64_t h = 0; h < NH; ++h) {
        const float* q = qkv_.data() + i * 3 * C + h * HS;
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
        float* out = atty_.data() + i * C + h * HS;
        std::fill(out, out + HS, 0.0f);
        for (int64_t j = 0; j <= pos; ++j) {
          const float weight = scores_[j] / sum;
          const float* v = values + j * C + h * HS;
          for (int64_t d = 0; d < HS; ++d) out[d] += weight * v[d];
        }
      }
    }
    kernels_.matmul_forward(tmp_.data(), atty_.data(), p + w.proj_w, p + w.proj_b, R, C, C);
    kernels_.residual_forward(x_.data(), x_.data(), tmp_.data(), R * C);
    kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), p + w.ln2_w, p + w.ln2_b, R, C);
    kernels_.matmul_forward(fch_.data(), ln_.data(), p + w.fc_w, p + w.fc_b, R, C, F);
    kernels_.gelu_forward(fch_.data(), fch_.data(), R * F);
    kernels_.matmul_forward(tmp_.data(), fch_.data(), p + w.fcproj_w, p + w.fcproj_b, R, F, C);
    kernels_.residual_forward(x_.data(), x_.data(), tmp_.data(), R * C);
  }
  // Only each input's last row needs logits: gather those rows, then one [n, C] · wte^T matmul.
  const int64_t n = static_cast<int64_t>(inputs.size());
  r = 0;
  for (int64_t i = 0; i < n; ++i) {
    r += static_cast<int64_t>(inputs[static_cast<size_t>(i)].tokens.size());
    std::memcpy(last_.data() + i * C, x_.data() + (r - 1) * C, sizeof(float) * static_cast<size_t>(C));
  }
  kernels_.layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), last_.data(), p + layout_.lnf_w(),
                             p + layout_.lnf_b(), n, C);  // n ≤ R rows of ln_
  kernels_.matmul_forward(logits_.data(), ln_.data(), p + layout_.wte(), nullptr, n, C, V);
  for (const DecoderInput& in : inputs) positions_[static_cast<size_t>(in.slot)] += static_cast<int64_t>(in.tokens.size());
  return static_cast<const float*>(logits_.data());
}

}  // namespace tessera
