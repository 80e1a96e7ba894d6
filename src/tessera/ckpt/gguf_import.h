// Import of a GGUF file of llama.cpp's "gpt2" architecture (as export_gguf writes it, or llama.cpp's own
// converter for a GPT-2 with a SentencePiece vocabulary) into Tessera's tensors, for `tessera ckpt import
// FILE.gguf`: the inverse of gguf_export.h.
//
// The model's shape comes from the metadata: gpt2.block_count (L), embedding_length (C),
// attention.head_count (NH; attention.head_count_kv, if present, must equal it: no GQA), context_length (T)
// and the rows of token_embd.weight (V); feed_forward_length must be 4C and attention.layer_norm_epsilon
// 1e-5, as Tessera's GPT-2 has them. Every tensor of gpt2_names.h must be there with GGUF dims {in, out}
// (Tessera's row-major [out, in], no transpose) in f32, f16 or bf16 (read as f32; a quantized tensor is
// refused by name); output.weight is accepted only when it is token_embd.weight bit for bit (Tessera ties
// the LM head); any other tensor is refused by name.
//
// The vocabulary (tokenizer.ggml.model must be "llama", llama.cpp's SentencePiece) is returned as a
// SentencePieceVocab: the weights only mean something with the tokenizer they were trained with, and
// check_gguf_vocab compares it with the tokenizer a data directory was prepared with.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tessera/ckpt/sentencepiece_vocab.h"
#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

struct GgufGpt2Model {
  ModelSpec spec;  // n_layer, n_head, n_embd, seq_len, vocab_size; other fields default
  // (Tessera name without "model.", values row-major in Tessera's shape), in gpt2_tensor_names() order.
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  SentencePieceVocab vocab;  // tokenizer.ggml.{tokens, scores, token_type}, add_space_prefix
};

StatusOr<GgufGpt2Model> read_gguf_gpt2(const std::string& path);

// OK when the GGUF's vocabulary is `tokenizer`'s, piece for piece (text, score, type, the dummy prefix),
// and every id past it (a vocabulary padded to vocab_size) is UNUSED. InvalidArgument naming the first id
// that differs otherwise. `gguf_path` and `tokenizer_path` are for the message.
Status check_gguf_vocab(const SentencePieceVocab& gguf, const std::string& gguf_path,
                        const SentencePieceVocab& tokenizer, const std::string& tokenizer_path);

}  // namespace tessera
