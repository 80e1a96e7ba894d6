// Import of a Hugging Face GPT-2 model directory (config.json + model.safetensors, as hf_export writes it
// or as GPT2LMHeadModel.save_pretrained / the Hub's gpt2 repositories have it) into Tessera's tensors.
//
// config.json must describe a GPT-2 Tessera can run: model_type "gpt2", activation "gelu_new" (or its
// alias "gelu_pytorch_tanh"), layer_norm_epsilon 1e-5, n_inner null or 4·n_embd, tied embeddings.
// model.safetensors: names with or without the "transformer." prefix; F32, F16 or BF16 (read as f32);
// Conv1D weights [in, out] are transposed back to Tessera's [out, in] (gpt2_names.h). The causal-mask
// buffers older exports carry ("h.i.attn.bias", "h.i.attn.masked_bias") are skipped; "lm_head.weight" is
// accepted only when it equals wte bit for bit (Tessera ties them). Any other tensor, a missing one, or
// a wrong shape is refused by name.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

struct HfGpt2Model {
  ModelSpec spec;  // n_layer, n_head, n_embd, seq_len = n_positions, vocab_size; other fields default
  // (Tessera name without "model.", values row-major in Tessera's shape), in gpt2_tensor_names() order.
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  std::string tokenizer_path;  // DIR/tokenizer.model, or empty when the directory has none
};

StatusOr<HfGpt2Model> read_hf_gpt2(const std::string& dir);

}  // namespace tessera
