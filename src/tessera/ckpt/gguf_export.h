// Export of a Tessera GPT checkpoint as one GGUF file (version 3) that llama.cpp loads as its "gpt2"
// architecture, tokenizer included, so `llama-cli`/node-llama-cpp/ollama run Tessera models.
//
// Byte layout (all integers little-endian):
//   "GGUF" · u32 version = 3 · u64 tensor count · u64 key/value count
//   key/values: string key · u32 value type · value     (string = u64 length + bytes, no NUL;
//               array = u32 element type + u64 count + elements; types: 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array)
//   tensor infos: string name · u32 n_dims · u64 ne[n_dims] (innermost first) · u32 ggml type · u64 offset
//   zero padding to general.alignment (32), then each tensor's bytes at its offset (a multiple of 32) from there
// Keys: general.architecture "gpt2", general.name, general.file_type (0 f32, 1 f16, 32 bf16),
// general.alignment 32, gpt2.{context_length = position rows, embedding_length, feed_forward_length,
// block_count, attention.head_count, attention.layer_norm_epsilon = 1e-5}, and the tokenizer as llama.cpp's
// SentencePiece ("llama") vocabulary: tokenizer.ggml.{model, tokens, scores, token_type, bos/eos/unknown
// ids, add_bos_token = add_eos_token = false, add_space_prefix = the model's add_dummy_prefix}. Pieces past
// the tokenizer's up to vocab_size (a padded model) are "[PAD<id>]" of type UNUSED. llama.cpp needs the
// 256 byte pieces <0x00>…<0xFF> of a byte-fallback model (it aborts without them), so they are required.
// Tensors (gpt2_names.h): 2-D matrices in the chosen type (f32, f16 or bf16, round to nearest even), 1-D
// norms and biases always f32 (as llama.cpp's own converter does); no output.weight (tied: llama.cpp
// reuses token_embd).
#pragma once

#include <string>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/sentencepiece_vocab.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

enum class GgufTensorType { kF32, kF16, kBF16 };

// "f32" / "f16" / "bf16" → the type; InvalidArgument naming the choices otherwise.
StatusOr<GgufTensorType> parse_gguf_tensor_type(const std::string& name);

struct GgufExportSummary {
  size_t tensors = 0;
  uint64_t bytes = 0;  // the whole file
};

// Writes `out_path` atomically after check_export_file_target(out_path, force). `name` → general.name.
StatusOr<GgufExportSummary> export_gguf(CheckpointReader& reader, const ModelSpec& spec,
                                        const SentencePieceVocab& vocab, GgufTensorType type,
                                        const std::string& name, const std::string& out_path, bool force);

// Conversions used for the f16/bf16 tensors (round to nearest, ties to even; NaN stays NaN).
uint16_t f32_to_f16(float value);
uint16_t f32_to_bf16(float value);

}  // namespace tessera
