#include "tessera/ckpt/gguf_import.h"

#include <fmt/format.h>

#include <cstring>
#include <set>

#include "tessera/ckpt/gguf_reader.h"
#include "tessera/ckpt/gpt2_names.h"

namespace tessera {

namespace {

constexpr uint64_t kMaxSize = uint64_t{1} << 31;  // any one model dimension

// A model dimension from the metadata: present, an integer in 1..2^31.
StatusOr<int64_t> read_size(const GgufReader& file, const std::string& key) {
  TESSERA_ASSIGN_OR_RETURN(const uint64_t value, file.get_uint(key));
  if (value < 1 || value > kMaxSize) {
    return invalid_argument_error("GGUF '{}': {} is {}; expected 1..{}", file.path(), key, value, kMaxSize);
  }
  return static_cast<int64_t>(value);
}

// The typed array `key` of exactly `count` elements.
StatusOr<const GgufValue*> read_array(const GgufReader& file, const std::string& key, GgufValueType type,
                                      uint64_t count) {
  const GgufValue* value = file.find(key);
  if (value == nullptr) return invalid_argument_error("GGUF '{}' has no {}", file.path(), key);
  if (!value->is_array || value->element_type != type || value->size() != count) {
    return invalid_argument_error("GGUF '{}': {}: expected an array of {} {}, found {}{} {}", file.path(), key, count,
                                  gguf_value_type_name(type), value->is_array ? "an array of " : "a ", value->size(),
                                  gguf_value_type_name(value->element_type));
  }
  return value;
}

StatusOr<SentencePieceVocab> read_vocab(const GgufReader& file, int64_t vocab_size) {
  TESSERA_ASSIGN_OR_RETURN(const std::string model, file.get_string("tokenizer.ggml.model"));
  if (model != "llama") {
    return invalid_argument_error("GGUF '{}': tokenizer.ggml.model is '{}'; expected 'llama' (a SentencePiece "
                                  "vocabulary, as Tessera's tokenizer is)",
                                  file.path(), model);
  }
  const auto n = static_cast<uint64_t>(vocab_size);
  TESSERA_ASSIGN_OR_RETURN(const GgufValue* tokens, read_array(file, "tokenizer.ggml.tokens", GgufValueType::kString, n));
  TESSERA_ASSIGN_OR_RETURN(const GgufValue* scores, read_array(file, "tokenizer.ggml.scores", GgufValueType::kF32, n));
  TESSERA_ASSIGN_OR_RETURN(const GgufValue* types, read_array(file, "tokenizer.ggml.token_type", GgufValueType::kI32, n));
  SentencePieceVocab vocab;
  vocab.pieces = tokens->strings;
  for (const double score : scores->floats) vocab.scores.push_back(static_cast<float>(score));
  for (size_t id = 0; id < n; ++id) {
    const int64_t type = types->integers[id];
    if (type < static_cast<int64_t>(PieceType::kNormal) || type > static_cast<int64_t>(PieceType::kByte)) {
      return invalid_argument_error("GGUF '{}': tokenizer.ggml.token_type[{}] is {}; expected 1..6", file.path(), id,
                                    type);
    }
    vocab.types.push_back(static_cast<PieceType>(type));
  }
  if (file.find("tokenizer.ggml.add_space_prefix") != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(vocab.add_dummy_prefix, file.get_bool("tokenizer.ggml.add_space_prefix"));
  }
  return vocab;
}

}  // namespace

StatusOr<GgufGpt2Model> read_gguf_gpt2(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const GgufReader file, GgufReader::open(path));
  TESSERA_ASSIGN_OR_RETURN(const std::string architecture, file.get_string("general.architecture"));
  if (architecture != "gpt2") {
    return invalid_argument_error("GGUF '{}': general.architecture is '{}'; expected 'gpt2' (Tessera's model)", path,
                                  architecture);
  }
  GgufGpt2Model model;
  ModelSpec& spec = model.spec;
  TESSERA_ASSIGN_OR_RETURN(spec.n_layer, read_size(file, "gpt2.block_count"));
  TESSERA_ASSIGN_OR_RETURN(spec.n_embd, read_size(file, "gpt2.embedding_length"));
  TESSERA_ASSIGN_OR_RETURN(spec.n_head, read_size(file, "gpt2.attention.head_count"));
  TESSERA_ASSIGN_OR_RETURN(spec.seq_len, read_size(file, "gpt2.context_length"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t ffn, read_size(file, "gpt2.feed_forward_length"));
  if (spec.n_embd % spec.n_head != 0) {
    return invalid_argument_error("GGUF '{}': embedding_length {} is not a multiple of head_count {}", path, spec.n_embd,
                                  spec.n_head);
  }
  if (ffn != 4 * spec.n_embd) {
    return invalid_argument_error("GGUF '{}': gpt2.feed_forward_length is {}; expected 4 * embedding_length = {}", path,
                                  ffn, 4 * spec.n_embd);
  }
  if (file.find("gpt2.attention.head_count_kv") != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(const int64_t kv_heads, read_size(file, "gpt2.attention.head_count_kv"));
    if (kv_heads != spec.n_head) {
      return invalid_argument_error("GGUF '{}': gpt2.attention.head_count_kv is {}; expected head_count {} (no "
                                    "grouped-query attention in GPT-2)",
                                    path, kv_heads, spec.n_head);
    }
  }
  TESSERA_ASSIGN_OR_RETURN(const double eps, file.get_float("gpt2.attention.layer_norm_epsilon"));
  if (static_cast<float>(eps) != 1e-5f) {
    return invalid_argument_error("GGUF '{}': gpt2.attention.layer_norm_epsilon is {}; expected 1e-05 (Tessera's)",
                                  path, eps);
  }
  const GgufTensor* embedding = file.find_tensor("token_embd.weight");
  if (embedding == nullptr) return invalid_argument_error("GGUF '{}' has no tensor 'token_embd.weight'", path);
  if (embedding->ne.size() != 2 || embedding->ne[1] > kMaxSize) {
    return invalid_argument_error("GGUF '{}': token_embd.weight has {} dims; expected {{C, V}}", path,
                                  embedding->ne.size());
  }
  spec.vocab_size = static_cast<int64_t>(embedding->ne[1]);
  TESSERA_RETURN_IF_ERROR(check_gpt2_architecture(spec).with_context(fmt::format("GGUF '{}'", path)));

  std::set<std::string> used;
  for (const Gpt2TensorName& n : gpt2_tensor_names(spec)) {
    const GgufTensor* tensor = file.find_tensor(n.gguf);
    if (tensor == nullptr) return invalid_argument_error("GGUF '{}' has no tensor '{}'", path, n.gguf);
    const std::vector<uint64_t> expected(n.shape.rbegin(), n.shape.rend());  // innermost first
    if (tensor->ne != expected) {
      return invalid_argument_error("GGUF '{}': tensor '{}' has dims {{{}}}; the metadata implies {{{}}}", path, n.gguf,
                                    fmt::join(tensor->ne, ", "), fmt::join(expected, ", "));
    }
    TESSERA_ASSIGN_OR_RETURN(std::vector<float> values, file.read_f32(n.gguf));
    model.tensors.emplace_back(n.tessera, std::move(values));
    used.insert(n.gguf);
  }
  for (const GgufTensor& tensor : file.tensors()) {
    if (used.count(tensor.name) != 0) continue;
    if (tensor.name == "output.weight") {
      if (tensor.ggml_type == embedding->ggml_type && tensor.ne == embedding->ne &&
          std::memcmp(tensor.data, embedding->data, tensor.bytes) == 0) {
        continue;
      }
      return invalid_argument_error("GGUF '{}': output.weight differs from token_embd.weight; Tessera ties the LM head "
                                    "to the token embedding",
                                    path);
    }
    return invalid_argument_error("GGUF '{}' has tensor '{}', which is not part of GPT-2", path, tensor.name);
  }
  TESSERA_ASSIGN_OR_RETURN(model.vocab, read_vocab(file, spec.vocab_size));
  return model;
}

Status check_gguf_vocab(const SentencePieceVocab& gguf, const std::string& gguf_path,
                        const SentencePieceVocab& tokenizer, const std::string& tokenizer_path) {
  if (gguf.size() < tokenizer.size()) {
    return invalid_argument_error("GGUF '{}' has {} tokens, fewer than the {} pieces of '{}'", gguf_path, gguf.size(),
                                  tokenizer.size(), tokenizer_path);
  }
  for (int64_t id = 0; id < gguf.size(); ++id) {
    const auto i = static_cast<size_t>(id);
    if (id >= tokenizer.size()) {
      if (gguf.types[i] != PieceType::kUnused) {
        return invalid_argument_error("GGUF '{}' token {} is type {}, past the {} pieces of '{}'; expected 5 (unused "
                                      "padding)",
                                      gguf_path, id, static_cast<int>(gguf.types[i]), tokenizer.size(), tokenizer_path);
      }
      continue;
    }
    if (gguf.pieces[i] != tokenizer.pieces[i] || gguf.types[i] != tokenizer.types[i] ||
        std::memcmp(&gguf.scores[i], &tokenizer.scores[i], sizeof(float)) != 0) {
      return invalid_argument_error("GGUF '{}' token {} is '{}' (type {}, score {}) but '{}' has '{}' (type {}, score "
                                    "{})",
                                    gguf_path, id, gguf.pieces[i], static_cast<int>(gguf.types[i]), gguf.scores[i],
                                    tokenizer_path, tokenizer.pieces[i], static_cast<int>(tokenizer.types[i]),
                                    tokenizer.scores[i]);
    }
  }
  if (gguf.add_dummy_prefix != tokenizer.add_dummy_prefix) {
    return invalid_argument_error("GGUF '{}': tokenizer.ggml.add_space_prefix is {} but '{}' has add_dummy_prefix {}",
                                  gguf_path, gguf.add_dummy_prefix, tokenizer_path, tokenizer.add_dummy_prefix);
  }
  return Status();
}

}  // namespace tessera
