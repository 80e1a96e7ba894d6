#include "tessera/spec/model_spec.h"

#include "tessera/spec/config_reader.h"

namespace tessera {

int64_t ModelSpec::num_params() const {
  const int64_t C = n_embd, F = ffn(), V = vocab_size, T = seq_len;
  const int64_t KV = kv_heads() * head_size(), Q = q_dim();
  const int64_t mlp = gated_mlp ? (3 * C * F + 2 * F + C) : (C * F + F) + (F * C + C);
  const int64_t per_layer = 4 * C + (C * Q + 2 * C * KV + Q + 2 * KV) + (Q * C + C) + mlp;
  return V * C * (tied_embeddings ? 1 : 2) + (learned_positions ? T * C : 0) + n_layer * per_layer + 2 * C;
}

int64_t ModelSpec::matmul_params() const {
  const int64_t C = n_embd, F = ffn(), KV = kv_heads() * head_size(), Q = q_dim();
  return n_layer * (2 * C * Q + 2 * C * KV + (gated_mlp ? 3 : 2) * C * F) + vocab_size * C;
}

double ModelSpec::train_flops_per_token(int64_t t) const {
  return 6.0 * static_cast<double>(matmul_params()) +
         12.0 * static_cast<double>(n_layer) * static_cast<double>(t) * static_cast<double>(n_embd);
}

Status ModelSpec::validate() const {
  const struct {
    const char* key;
    int64_t value;
  } positives[] = {{"model.n_layer", n_layer}, {"model.n_head", n_head}, {"model.n_embd", n_embd},
                   {"model.seq_len", seq_len}, {"model.vocab_size", vocab_size}};
  for (const auto& field : positives) {
    if (field.value <= 0) return invalid_argument_error("{}: expected a positive integer, found {}", field.key, field.value);
  }
  if (head_dim < 0) return invalid_argument_error("model.head_dim: expected >= 0 (0 = n_embd/n_head), found {}", head_dim);
  if (head_dim == 0 && n_embd % n_head != 0) {
    return invalid_argument_error("model.n_head: expected a divisor of model.n_embd ({}), found {}", n_embd, n_head);
  }
  if (ffn_hidden < 0) return invalid_argument_error("model.ffn_hidden: expected >= 0 (0 = 4*n_embd), found {}", ffn_hidden);
  if (n_kv_head < 0 || n_head % kv_heads() != 0) {
    return invalid_argument_error("model.n_kv_head: expected a divisor of model.n_head ({}) or 0, found {}", n_head,
                                  n_kv_head);
  }
  if (vocab_size > (int64_t{1} << 31)) {
    return invalid_argument_error("model.vocab_size: expected at most 2^31, found {}", vocab_size);
  }
  return Status();
}

ModelSpec read_model_spec(ConfigReader& reader) {
  ModelSpec spec;
  // The shape has no defaults: a config without its [model] table (an empty file, a typo in the table name)
  // is refused instead of training some built-in model.
  spec.n_layer = reader.get_required_int("model.n_layer", "L: transformer blocks");
  spec.n_head = reader.get_required_int("model.n_head", "NH: attention heads (divides n_embd)");
  spec.n_embd = reader.get_required_int("model.n_embd", "C: model width");
  spec.seq_len = reader.get_required_int("model.seq_len", "T: context length");
  spec.vocab_size = reader.get_required_int("model.vocab_size", "V: vocabulary size (must match the data)");
  spec.ffn_hidden = reader.get_int("model.ffn_hidden", spec.ffn_hidden, "MLP width; 0 = 4*n_embd");
  return spec;
}

}  // namespace tessera
