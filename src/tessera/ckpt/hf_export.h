// Export of a Tessera GPT checkpoint as a Hugging Face GPT-2 model directory, which
// transformers.GPT2LMHeadModel.from_pretrained(DIR) and any safetensors reader load:
//
//   DIR/model.safetensors      the "model." tensors under GPT-2's names, f32, Conv1D weights [in, out]
//                              (gpt2_names.h); metadata {"format": "pt"} only, so the same weights give
//                              the same bytes whatever step or run they came from
//   DIR/config.json            GPT2Config: n_layer, n_head, n_embd, n_positions = n_ctx = seq_len,
//                              vocab_size, activation "gelu_new" (GELU, tanh form), layer_norm_epsilon 1e-5,
//                              tied embeddings, bos/eos ids of the tokenizer, dropout 0
//   DIR/tokenizer.model        the run's SentencePiece model, byte for byte
//   DIR/tokenizer_config.json  LlamaTokenizer (the SentencePiece-backed class), legacy mode (the model's own
//                              normalisation: no dummy prefix), no bos/eos added
// Every file is written atomically (export_file.h); the directory is checked first
// (check_export_dir_target) and each file in it (check_export_file_target).
#pragma once

#include <string>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

inline constexpr const char* kHfWeightsFile = "model.safetensors";
inline constexpr const char* kHfConfigFile = "config.json";
inline constexpr const char* kHfTokenizerFile = "tokenizer.model";
inline constexpr const char* kHfTokenizerConfigFile = "tokenizer_config.json";

struct HfExportSummary {
  size_t tensors = 0;
  uint64_t bytes = 0;  // tensor bytes of model.safetensors
};

// `spec` is the checkpoint's model (from its train.config); `tokenizer_path` its SentencePiece model.
// Refuses a model GPT-2 cannot express (check_gpt2_architecture), a checkpoint whose tensors do not have
// the spec's names and shapes, a tokenizer with more pieces than vocab_size, and bad targets.
StatusOr<HfExportSummary> export_hf(CheckpointReader& reader, const ModelSpec& spec, const std::string& tokenizer_path,
                                    const std::string& out_dir, bool force);

// The config.json text for `spec` (also used by the import's round trip).
std::string hf_config_json(const ModelSpec& spec, int32_t bos_id, int32_t eos_id);

}  // namespace tessera
