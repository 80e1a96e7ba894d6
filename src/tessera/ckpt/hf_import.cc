#include "tessera/ckpt/hf_import.h"

#include <fmt/ranges.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "tessera/ckpt/gpt2_names.h"
#include "tessera/ckpt/hf_export.h"
#include "tessera/ckpt/safetensors_reader.h"
#include "tessera/core/file.h"

namespace tessera {

namespace {

StatusOr<ModelSpec> read_hf_config(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  const auto config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return invalid_argument_error("'{}' is not a JSON object", path);
  const auto refuse = [&](const std::string& key, std::string_view expected, const nlohmann::json& found) {
    return invalid_argument_error("'{}': {} is {}; expected {}", path, key, found.dump(), expected);
  };
  const std::string model_type = config.value("model_type", "");
  if (model_type != "gpt2") return refuse("model_type", "\"gpt2\"", config.value("model_type", nlohmann::json()));
  ModelSpec spec;
  const auto get_size = [&](const std::string& key, int64_t& out) -> Status {
    if (!config.contains(key)) return invalid_argument_error("'{}' has no {}", path, key);
    const auto& v = config[key];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t{1} << 31)) {
      return refuse(key, "a positive integer", v);
    }
    out = v.get<int64_t>();
    return Status();
  };
  TESSERA_RETURN_IF_ERROR(get_size("n_layer", spec.n_layer));
  TESSERA_RETURN_IF_ERROR(get_size("n_head", spec.n_head));
  TESSERA_RETURN_IF_ERROR(get_size("n_embd", spec.n_embd));
  TESSERA_RETURN_IF_ERROR(get_size("n_positions", spec.seq_len));
  TESSERA_RETURN_IF_ERROR(get_size("vocab_size", spec.vocab_size));
  if (spec.n_embd % spec.n_head != 0) {
    return invalid_argument_error("'{}': n_embd {} is not a multiple of n_head {}", path, spec.n_embd,
                                  spec.n_head);
  }
  const nlohmann::json activation = config.value("activation_function", nlohmann::json("gelu_new"));
  if (activation != "gelu_new" && activation != "gelu_pytorch_tanh") {
    return refuse("activation_function", "\"gelu_new\" (GELU, tanh form: Tessera's)", activation);
  }
  const nlohmann::json eps = config.value("layer_norm_epsilon", nlohmann::json(1e-5));
  if (!eps.is_number() || eps.get<double>() != 1e-5) return refuse("layer_norm_epsilon", "1e-05 (Tessera's)", eps);
  const nlohmann::json inner = config.value("n_inner", nlohmann::json());
  if (!inner.is_null() && inner != 4 * spec.n_embd) return refuse("n_inner", "null or 4 * n_embd", inner);
  const nlohmann::json tied = config.value("tie_word_embeddings", nlohmann::json(true));
  if (tied != true) return refuse("tie_word_embeddings", "true (Tessera ties the LM head to wte)", tied);
  return spec;
}

bool is_mask_buffer(const std::string& name) {
  const auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias");
}

}  // namespace

StatusOr<HfGpt2Model> read_hf_gpt2(const std::string& dir) {
  HfGpt2Model model;
  TESSERA_ASSIGN_OR_RETURN(model.spec, read_hf_config(dir + "/" + kHfConfigFile));
  TESSERA_ASSIGN_OR_RETURN(const SafetensorsReader weights, SafetensorsReader::open(dir + "/" + kHfWeightsFile));
  const auto& stored = weights.tensors();
  const bool prefixed = stored.count("transformer.wte.weight") != 0;
  std::set<std::string> used;
  for (const Gpt2TensorName& n : gpt2_tensor_names(model.spec)) {
    const std::string name = prefixed ? n.hf : n.hf.substr(std::strlen("transformer."));
    const auto it = stored.find(name);
    if (it == stored.end()) return invalid_argument_error("'{}' has no tensor '{}'", weights.path(), name);
    std::vector<int64_t> expected = n.shape;
    if (n.hf_transposed) std::swap(expected[0], expected[1]);
    if (it->second.shape != expected) {
      return invalid_argument_error("'{}' tensor '{}' has shape [{}]; config.json implies [{}]", weights.path(),
                                    name, fmt::join(it->second.shape, ", "), fmt::join(expected, ", "));
    }
    TESSERA_ASSIGN_OR_RETURN(std::vector<float> values, weights.read_f32(name));
    if (n.hf_transposed) {
      std::vector<float> transposed(values.size());
      transpose_f32(values.data(), expected[0], expected[1], transposed.data());  // [in, out] → [out, in]
      values = std::move(transposed);
    }
    model.tensors.emplace_back(n.tessera, std::move(values));
    used.insert(name);
  }
  for (const auto& [name, tensor] : stored) {
    if (used.count(name) != 0 || is_mask_buffer(name)) continue;
    if (name == "lm_head.weight") {
      const SafetensorsTensor& wte = stored.at(prefixed ? "transformer.wte.weight" : "wte.weight");
      if (tensor.dtype_name == wte.dtype_name && tensor.bytes == wte.bytes &&
          std::memcmp(tensor.data, wte.data, wte.bytes) == 0) {
        continue;
      }
      return invalid_argument_error("'{}': lm_head.weight differs from wte; Tessera ties the LM head to the "
                                    "token embedding",
                                    weights.path());
    }
    return invalid_argument_error("'{}' has tensor '{}', which is not part of GPT-2", weights.path(), name);
  }
  if (path_exists(dir + "/" + kHfTokenizerFile)) model.tokenizer_path = dir + "/" + kHfTokenizerFile;
  return model;
}

}  // namespace tessera
