#include "tessera/ckpt/hf_export.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/ckpt/export_file.h"
#include "tessera/ckpt/gpt2_names.h"
#include "tessera/ckpt/safetensors_export.h"
#include "tessera/ckpt/sentencepiece_vocab.h"
#include "tessera/core/file.h"

namespace tessera {

namespace {

Status write_text_file(const std::string& path, const std::string& text, bool force) {
  TESSERA_RETURN_IF_ERROR(check_export_file_target(path, force));
  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile file, AtomicOutputFile::create(path));
  TESSERA_RETURN_IF_ERROR(file.write(text));
  return file.commit();
}

// The checkpoint's tensor `name` must exist as f32 of `shape` (a bf16 or reshaped model is not GPT-2's).
Status check_tensor(const CheckpointReader& reader, const std::vector<TensorInfo>& infos, const std::string& name,
                    const std::vector<int64_t>& shape) {
  for (const TensorInfo& info : infos) {
    if (info.name != name) continue;
    if (info.dtype != DType::kF32 || info.shape != shape) {
      return invalid_argument_error("export: checkpoint '{}' tensor '{}' is {} {}; the model config says f32 {}",
                                    reader.path(), name, dtype_name(info.dtype), fmt::format("{}", fmt::join(info.shape, "x")),
                                    fmt::format("{}", fmt::join(shape, "x")));
    }
    return Status();
  }
  return invalid_argument_error("export: checkpoint '{}' has no tensor '{}'", reader.path(), name);
}

// The four files of the directory (which exists), each written atomically.
StatusOr<HfExportSummary> write_hf_files(CheckpointReader& reader, const std::vector<Gpt2TensorName>& names,
                                         const std::vector<SafetensorsEntry>& entries, const SentencePieceVocab& vocab,
                                         const std::string& tokenizer_bytes, const ModelSpec& spec,
                                         const std::string& out_dir, bool force) {
  const std::string weights_path = out_dir + "/" + kHfWeightsFile;
  TESSERA_RETURN_IF_ERROR(check_export_file_target(weights_path, force));
  std::vector<float> staging;
  TESSERA_ASSIGN_OR_RETURN(
      const SafetensorsExportSummary summary,
      write_safetensors(weights_path, entries, {{"format", "pt"}}, [&](size_t i, char* buffer) -> Status {
        const Gpt2TensorName& n = names[i];
        float* out = reinterpret_cast<float*>(buffer);
        if (!n.hf_transposed) return reader.read_tensor(TensorView{"model." + n.tessera, DType::kF32, n.shape, out});
        staging.resize(static_cast<size_t>(shape_numel(n.shape)));
        TESSERA_RETURN_IF_ERROR(reader.read_tensor(TensorView{"model." + n.tessera, DType::kF32, n.shape, staging.data()}));
        transpose_f32(staging.data(), n.shape[0], n.shape[1], out);  // [out, in] → Conv1D's [in, out]
        return Status();
      }));

  const int32_t bos = vocab.find("<s>", PieceType::kControl), eos = vocab.find("</s>", PieceType::kControl);
  TESSERA_RETURN_IF_ERROR(write_text_file(out_dir + "/" + kHfConfigFile, hf_config_json(spec, bos, eos), force));
  TESSERA_RETURN_IF_ERROR(write_text_file(out_dir + "/" + kHfTokenizerFile, tokenizer_bytes, force));
  const auto piece_or_null = [&](int32_t id) -> nlohmann::ordered_json {
    return id >= 0 ? nlohmann::ordered_json(vocab.pieces[static_cast<size_t>(id)]) : nlohmann::ordered_json(nullptr);
  };
  const nlohmann::ordered_json tokenizer_config = {
      {"tokenizer_class", "LlamaTokenizer"},
      {"legacy", true},
      {"add_bos_token", false},
      {"add_eos_token", false},
      {"bos_token", piece_or_null(bos)},
      {"eos_token", piece_or_null(eos)},
      {"unk_token", piece_or_null(vocab.find("<unk>", PieceType::kUnknown))},
      {"pad_token", nullptr},
      {"model_max_length", spec.seq_len},
      {"clean_up_tokenization_spaces", false},
  };
  TESSERA_RETURN_IF_ERROR(
      write_text_file(out_dir + "/" + kHfTokenizerConfigFile, tokenizer_config.dump(2) + "\n", force));
  return HfExportSummary{summary.tensors, summary.bytes};
}

}  // namespace

std::string hf_config_json(const ModelSpec& spec, int32_t bos_id, int32_t eos_id) {
  nlohmann::ordered_json config = {
      {"architectures", {"GPT2LMHeadModel"}},
      {"model_type", "gpt2"},
      {"vocab_size", spec.vocab_size},
      {"n_positions", spec.seq_len},
      {"n_ctx", spec.seq_len},
      {"n_embd", spec.n_embd},
      {"n_layer", spec.n_layer},
      {"n_head", spec.n_head},
      {"n_inner", nullptr},  // 4 * n_embd
      {"activation_function", "gelu_new"},
      {"layer_norm_epsilon", 1e-5},
      {"resid_pdrop", 0.0},
      {"embd_pdrop", 0.0},
      {"attn_pdrop", 0.0},
      {"initializer_range", 0.02},
      {"scale_attn_weights", true},
      {"tie_word_embeddings", true},
      {"use_cache", true},
      {"bos_token_id", bos_id},
      {"eos_token_id", eos_id},
      {"torch_dtype", "float32"},
  };
  return config.dump(2) + "\n";
}

StatusOr<HfExportSummary> export_hf(CheckpointReader& reader, const ModelSpec& spec, const std::string& tokenizer_path,
                                    const std::string& out_dir, bool force) {
  TESSERA_RETURN_IF_ERROR(check_gpt2_architecture(spec).with_context("export --format hf"));
  TESSERA_RETURN_IF_ERROR(check_export_dir_target(out_dir, force));
  TESSERA_ASSIGN_OR_RETURN(const std::string tokenizer_bytes, read_file(tokenizer_path));
  TESSERA_ASSIGN_OR_RETURN(const SentencePieceVocab vocab, parse_sentencepiece_vocab(tokenizer_bytes, tokenizer_path));
  if (vocab.size() > spec.vocab_size) {
    return invalid_argument_error("export: tokenizer '{}' has {} pieces, more than the model's vocab_size {}",
                                  tokenizer_path, vocab.size(), spec.vocab_size);
  }
  const std::vector<Gpt2TensorName> names = gpt2_tensor_names(spec);
  const std::vector<TensorInfo> infos = reader.tensors();
  std::vector<SafetensorsEntry> entries;
  for (const Gpt2TensorName& n : names) {
    TESSERA_RETURN_IF_ERROR(check_tensor(reader, infos, "model." + n.tessera, n.shape));
    std::vector<int64_t> shape = n.shape;
    if (n.hf_transposed) std::swap(shape[0], shape[1]);
    entries.push_back({n.hf, DType::kF32, shape, static_cast<uint64_t>(shape_numel(shape)) * 4});
  }

  // A directory this export creates is removed again if the export fails: nothing half-written remains.
  const bool created = !path_exists(out_dir);
  TESSERA_RETURN_IF_ERROR(make_directories(out_dir));
  auto summary = write_hf_files(reader, names, entries, vocab, tokenizer_bytes, spec, out_dir, force);
  if (!summary.ok() && created) {
    std::error_code ignored;
    std::filesystem::remove_all(out_dir, ignored);
  }
  return summary;
}

}  // namespace tessera
