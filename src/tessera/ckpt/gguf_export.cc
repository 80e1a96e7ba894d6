#include "tessera/ckpt/gguf_export.h"

#include <fmt/format.h>

#include <cstring>

#include "tessera/ckpt/export_file.h"
#include "tessera/ckpt/gpt2_names.h"

namespace tessera {

namespace {

constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kAlignment = 32;
// GGUF value types.
constexpr uint32_t kU32 = 4, kI32 = 5, kF32Value = 6, kBool = 7, kString = 8, kArray = 9;
// ggml tensor types.
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlBF16 = 30;

// Appends little-endian encodings to a byte string (the header is built in memory: it is small).
class ByteSink {
 public:
  template <typename T>
  void put(T value) {
    char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));  // x86-64 is little-endian, as GGUF
    bytes_.append(raw, sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes_.append(s);
  }
  void key(std::string_view k, uint32_t type) {
    put_string(k);
    put<uint32_t>(type);
    ++kv_count_;
  }
  void kv_u32(std::string_view k, uint32_t v) { key(k, kU32), put(v); }
  void kv_f32(std::string_view k, float v) { key(k, kF32Value), put(v); }
  void kv_bool(std::string_view k, bool v) { key(k, kBool), put<uint8_t>(v ? 1 : 0); }
  void kv_string(std::string_view k, std::string_view v) { key(k, kString), put_string(v); }
  std::string& bytes() { return bytes_; }
  uint64_t kv_count() const { return kv_count_; }

 private:
  std::string bytes_;
  uint64_t kv_count_ = 0;
};

uint64_t align_up(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // ≥ 65520 rounds to infinity
  if (abs < 0x38800000u) {                       // below the smallest normal half, 2^-14: subnormal or 0
    if (abs < 0x33000000u) return sign;          // < 2^-25 rounds to 0
    // value = mantissa · 2^(exponent - 150) with the implicit bit; a half subnormal is k · 2^-24, so
    // k = mantissa · 2^(exponent - 126) = mantissa >> shift, rounded.
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - exponent;  // 14..24 here
    uint32_t result = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (result & 1))) ++result;  // may carry into the normals
    return sign | static_cast<uint16_t>(result);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 → 15
  const uint32_t remainder = abs & 0x1fff;
  if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1))) ++half;
  return sign | static_cast<uint16_t>(half);
}

StatusOr<GgufTensorType> parse_gguf_tensor_type(const std::string& name) {
  if (name == "f32") return GgufTensorType::kF32;
  if (name == "f16") return GgufTensorType::kF16;
  if (name == "bf16") return GgufTensorType::kBF16;
  return invalid_argument_error("export: GGUF tensor type '{}' is not supported; expected f32, f16 or bf16", name);
}

StatusOr<GgufExportSummary> export_gguf(CheckpointReader& reader, const ModelSpec& spec,
                                        const SentencePieceVocab& vocab, GgufTensorType type,
                                        const std::string& name, const std::string& out_path, bool force) {
  TESSERA_RETURN_IF_ERROR(check_gpt2_architecture(spec).with_context("export --format gguf"));
  TESSERA_RETURN_IF_ERROR(check_export_file_target(out_path, force));
  if (vocab.size() > spec.vocab_size) {
    return invalid_argument_error("export: the tokenizer has {} pieces, more than the model's vocab_size {}",
                                  vocab.size(), spec.vocab_size);
  }
  for (int byte = 0; byte < 256; ++byte) {
    const std::string piece = fmt::format("<0x{:02X}>", byte);
    if (vocab.find(piece, PieceType::kByte) < 0) {
      return invalid_argument_error("export: the tokenizer has no byte piece {}; llama.cpp needs all 256 byte pieces "
                                    "of a byte-fallback SentencePiece model",
                                    piece);
    }
  }
  const int32_t bos = vocab.find("<s>", PieceType::kControl), eos = vocab.find("</s>", PieceType::kControl);
  const int32_t unk = vocab.find("<unk>", PieceType::kUnknown);
  if (eos < 0) return invalid_argument_error("export: the tokenizer has no </s> control piece");

  ByteSink kv;
  kv.kv_string("general.architecture", "gpt2");
  kv.kv_string("general.name", name);
  kv.kv_u32("general.file_type", type == GgufTensorType::kF32 ? 0 : type == GgufTensorType::kF16 ? 1 : 32);
  kv.kv_u32("general.alignment", static_cast<uint32_t>(kAlignment));
  kv.kv_u32("gpt2.context_length", static_cast<uint32_t>(spec.seq_len));
  kv.kv_u32("gpt2.embedding_length", static_cast<uint32_t>(spec.n_embd));
  kv.kv_u32("gpt2.feed_forward_length", static_cast<uint32_t>(spec.ffn()));
  kv.kv_u32("gpt2.block_count", static_cast<uint32_t>(spec.n_layer));
  kv.kv_u32("gpt2.attention.head_count", static_cast<uint32_t>(spec.n_head));
  kv.kv_f32("gpt2.attention.layer_norm_epsilon", 1e-5f);
  kv.kv_string("tokenizer.ggml.model", "llama");
  const auto V = static_cast<uint64_t>(spec.vocab_size);
  kv.key("tokenizer.ggml.tokens", kArray);
  kv.put<uint32_t>(kString);
  kv.put<uint64_t>(V);
  for (uint64_t id = 0; id < V; ++id) {
    kv.put_string(id < vocab.pieces.size() ? vocab.pieces[id] : fmt::format("[PAD{}]", id));
  }
  kv.key("tokenizer.ggml.scores", kArray);
  kv.put<uint32_t>(kF32Value);
  kv.put<uint64_t>(V);
  for (uint64_t id = 0; id < V; ++id) kv.put<float>(id < vocab.scores.size() ? vocab.scores[id] : -1e9f);
  kv.key("tokenizer.ggml.token_type", kArray);
  kv.put<uint32_t>(kI32);
  kv.put<uint64_t>(V);
  for (uint64_t id = 0; id < V; ++id) {
    kv.put<int32_t>(static_cast<int32_t>(id < vocab.types.size() ? vocab.types[id] : PieceType::kUnused));
  }
  if (bos >= 0) kv.kv_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  kv.kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (unk >= 0) kv.kv_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk));
  kv.kv_bool("tokenizer.ggml.add_bos_token", false);
  kv.kv_bool("tokenizer.ggml.add_eos_token", false);
  kv.kv_bool("tokenizer.ggml.add_space_prefix", vocab.add_dummy_prefix);

  // Tensor infos, and where each tensor's bytes go.
  const std::vector<Gpt2TensorName> names = gpt2_tensor_names(spec);
  const std::vector<TensorInfo> infos = reader.tensors();
  ByteSink tensor_infos;
  std::vector<uint32_t> ggml_types;
  std::vector<uint64_t> offsets;
  uint64_t data_bytes = 0;
  for (const Gpt2TensorName& n : names) {
    bool found = false;
    for (const TensorInfo& info : infos) {
      if (info.name != "model." + n.tessera) continue;
      if (info.dtype != DType::kF32 || info.shape != n.shape) {
        return invalid_argument_error("export: checkpoint '{}' tensor '{}' does not have the model config's f32 shape",
                                      reader.path(), info.name);
      }
      found = true;
    }
    if (!found) return invalid_argument_error("export: checkpoint '{}' has no tensor 'model.{}'", reader.path(), n.tessera);
    const uint32_t ggml_type = n.shape.size() == 1 || type == GgufTensorType::kF32 ? kGgmlF32
                               : type == GgufTensorType::kF16                       ? kGgmlF16
                                                                                    : kGgmlBF16;
    tensor_infos.put_string(n.gguf);
    tensor_infos.put<uint32_t>(static_cast<uint32_t>(n.shape.size()));
    for (size_t d = n.shape.size(); d-- > 0;) tensor_infos.put<uint64_t>(static_cast<uint64_t>(n.shape[d]));
    tensor_infos.put<uint32_t>(ggml_type);
    tensor_infos.put<uint64_t>(data_bytes);
    ggml_types.push_back(ggml_type);
    offsets.push_back(data_bytes);
    data_bytes = align_up(data_bytes + static_cast<uint64_t>(shape_numel(n.shape)) * (ggml_type == kGgmlF32 ? 4 : 2));
  }

  ByteSink header;
  header.bytes() = "GGUF";
  header.put<uint32_t>(kGgufVersion);
  header.put<uint64_t>(names.size());
  header.put<uint64_t>(kv.kv_count());
  header.bytes() += kv.bytes();
  header.bytes() += tensor_infos.bytes();
  header.bytes().append(align_up(header.bytes().size()) - header.bytes().size(), '\0');

  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile out, AtomicOutputFile::create(out_path));
  TESSERA_RETURN_IF_ERROR(out.write(header.bytes()));
  const uint64_t data_start = out.bytes_written();
  std::vector<float> values;
  std::vector<uint16_t> halves;
  for (size_t i = 0; i < names.size(); ++i) {
    const Gpt2TensorName& n = names[i];
    // Padding up to this tensor's aligned offset.
    const uint64_t position = out.bytes_written() - data_start;
    TESSERA_RETURN_IF_ERROR(out.write(std::string(offsets[i] - position, '\0')));
    values.resize(static_cast<size_t>(shape_numel(n.shape)));
    TESSERA_RETURN_IF_ERROR(
        reader.read_tensor(TensorView{"model." + n.tessera, DType::kF32, n.shape, values.data()}).with_context("export"));
    if (ggml_types[i] == kGgmlF32) {
      TESSERA_RETURN_IF_ERROR(out.write(values.data(), values.size() * 4));
      continue;
    }
    halves.resize(values.size());
    for (size_t j = 0; j < values.size(); ++j) {
      halves[j] = ggml_types[i] == kGgmlF16 ? f32_to_f16(values[j]) : f32_to_bf16(values[j]);
    }
    TESSERA_RETURN_IF_ERROR(out.write(halves.data(), halves.size() * 2));
  }
  TESSERA_RETURN_IF_ERROR(out.write(std::string(data_bytes - (out.bytes_written() - data_start), '\0')));
  const uint64_t total = out.bytes_written();
  TESSERA_RETURN_IF_ERROR(out.commit());
  return GgufExportSummary{names.size(), total};
}

}  // namespace tessera
