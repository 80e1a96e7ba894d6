// Names and layouts of a Tessera GPT checkpoint's "model." tensors in the two formats other tools read
// GPT-2 from. ckpt sees named tensors only; this table is the whole of what it knows about the model.
//
//   Tessera (model/parameter_layout.h)   Hugging Face GPT-2 (GPT2LMHeadModel)      llama.cpp (GGUF, arch gpt2)
//   wte [V,C]                           transformer.wte.weight [V,C]              token_embd.weight
//   wpe [T,C]                           transformer.wpe.weight [T,C]              position_embd.weight
//   h.i.ln1.{weight,bias} [C]           transformer.h.i.ln_1.{weight,bias}        blk.i.attn_norm.{weight,bias}
//   h.i.attn.qkv.weight [3C,C]          transformer.h.i.attn.c_attn.weight [C,3C]  blk.i.attn_qkv.weight
//   h.i.attn.qkv.bias [3C]              transformer.h.i.attn.c_attn.bias          blk.i.attn_qkv.bias
//   h.i.attn.proj.weight [C,C]          transformer.h.i.attn.c_proj.weight [C,C]ᵀ  blk.i.attn_output.weight
//   h.i.attn.proj.bias [C]              transformer.h.i.attn.c_proj.bias          blk.i.attn_output.bias
//   h.i.ln2.{weight,bias} [C]           transformer.h.i.ln_2.{weight,bias}        blk.i.ffn_norm.{weight,bias}
//   h.i.mlp.fc.weight [F,C]             transformer.h.i.mlp.c_fc.weight [C,F]     blk.i.ffn_up.weight
//   h.i.mlp.fc.bias [F]                 transformer.h.i.mlp.c_fc.bias             blk.i.ffn_up.bias
//   h.i.mlp.proj.weight [C,F]           transformer.h.i.mlp.c_proj.weight [F,C]   blk.i.ffn_down.weight
//   h.i.mlp.proj.bias [C]               transformer.h.i.mlp.c_proj.bias           blk.i.ffn_down.bias
//   lnf.{weight,bias} [C]               transformer.ln_f.{weight,bias}            output_norm.{weight,bias}
// Tessera stores matmul weights [out, in] (torch.nn.Linear). GPT-2's Conv1D stores them [in, out], so the
// four weight matrices per block are transposed for Hugging Face. GGUF lists dims innermost first
// ({in, out}), which is Tessera's row-major [out, in]: no transpose. The LM head is tied to wte in all
// three (GPT2LMHeadModel's lm_head.weight is not saved; llama.cpp duplicates token_embd when there is no
// output.weight).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/core/tensor.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

struct Gpt2TensorName {
  std::string tessera;       // without the "model." prefix, e.g. "h.0.attn.qkv.weight"
  std::vector<int64_t> shape;  // Tessera's shape
  std::string hf;            // e.g. "transformer.h.0.attn.c_attn.weight"
  bool hf_transposed = false;  // HF stores the transpose of Tessera's [out, in]
  std::string gguf;          // e.g. "blk.0.attn_qkv.weight"
};

// Every parameter of a GPT-2-architecture `spec`, in Tessera's parameter order.
std::vector<Gpt2TensorName> gpt2_tensor_names(const ModelSpec& spec);

// The architecture features the three formats share; InvalidArgument naming the first other one (a gated
// MLP, untied embeddings, no learned positions, grouped-query attention, an MLP not 4C wide, ...).
Status check_gpt2_architecture(const ModelSpec& spec);

// out[j, i] = in[i, j] for a row-major rows×cols matrix `in` (out is cols×rows). Bitwise exact.
void transpose_f32(const float* in, int64_t rows, int64_t cols, float* out);

}  // namespace tessera
