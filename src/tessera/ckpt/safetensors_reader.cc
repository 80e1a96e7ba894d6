#include "tessera/ckpt/safetensors_reader.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace tessera {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// dtype name → (kind, element size in bytes); size 0 = unknown name.
std::pair<SafetensorsDType, uint64_t> parse_dtype(const std::string& name) {
  if (name == "F32") return {SafetensorsDType::kF32, 4};
  if (name == "F16") return {SafetensorsDType::kF16, 2};
  if (name == "BF16") return {SafetensorsDType::kBF16, 2};
  if (name == "F64" || name == "I64" || name == "U64") return {SafetensorsDType::kOther, 8};
  if (name == "I32" || name == "U32") return {SafetensorsDType::kOther, 4};
  if (name == "I16" || name == "U16") return {SafetensorsDType::kOther, 2};
  if (name == "I8" || name == "U8" || name == "BOOL" || name == "F8_E4M3" || name == "F8_E5M2") {
    return {SafetensorsDType::kOther, 1};
  }
  return {SafetensorsDType::kOther, 0};
}

}  // namespace

float f16_to_f32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // ±0
  } else {  // subnormal: normalise
    int32_t e = 113;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

StatusOr<SafetensorsReader> SafetensorsReader::open(const std::string& path) {
  SafetensorsReader reader;
  reader.path_ = path;
  TESSERA_ASSIGN_OR_RETURN(reader.file_, MappedFile::open(path));
  const uint8_t* base = reader.file_.data();
  const uint64_t size = reader.file_.size();
  if (size < 8) return data_loss_error("safetensors '{}': {} bytes, shorter than the 8-byte header length", path, size);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | base[i];
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8) {
    return data_loss_error("safetensors '{}': header length {} does not fit the file of {} bytes", path, header_bytes,
                           size);
  }
  const auto header = nlohmann::json::parse(base + 8, base + 8 + header_bytes, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return data_loss_error("safetensors '{}': the header is not a JSON object", path);
  const uint8_t* data = base + 8 + header_bytes;
  const uint64_t data_bytes = size - 8 - header_bytes;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return data_loss_error("safetensors '{}': __metadata__ is not an object", path);
      for (const auto& [key, value] : entry.items()) {
        if (value.is_string()) reader.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    // `name` by init-capture: clang 14 (scripts/fuzz.sh) cannot capture a structured binding.
    const auto bad = [&, name = std::string_view(name)](std::string_view what) {
      return data_loss_error("safetensors '{}': tensor '{}': {}", path, name, what);
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
      return bad("expected an object with dtype, shape and data_offsets");
    }
    if (!entry["dtype"].is_string()) return bad("dtype is not a string");
    SafetensorsTensor tensor;
    tensor.dtype_name = entry["dtype"].get<std::string>();
    const auto [kind, element_bytes] = parse_dtype(tensor.dtype_name);
    if (element_bytes == 0) return bad("unknown dtype '" + tensor.dtype_name + "'");
    tensor.dtype = kind;
    if (!entry["shape"].is_array()) return bad("shape is not an array");
    uint64_t numel = 1;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > (uint64_t{1} << 40)) return bad("a dim is not a size");
      tensor.shape.push_back(dim.get<int64_t>());
      numel *= dim.get<uint64_t>();
      if (numel > (uint64_t{1} << 44)) return bad("too many elements");
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return bad("data_offsets is not [begin, end]");
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_bytes) {
      return bad(fmt::format("data_offsets [{}, {}) outside the {} data bytes", begin, end, data_bytes));
    }
    if (end - begin != numel * element_bytes) {
      return bad(fmt::format("{} bytes for {} elements of {}", end - begin, numel, tensor.dtype_name));
    }
    tensor.data = data + begin;
    tensor.bytes = end - begin;
    reader.tensors_.emplace(name, std::move(tensor));
  }
  return reader;
}

StatusOr<std::vector<float>> SafetensorsReader::read_f32(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) return not_found_error("safetensors '{}': no tensor '{}'", path_, name);
  const SafetensorsTensor& t = it->second;
  std::vector<float> out;
  switch (t.dtype) {
    case SafetensorsDType::kF32:
      out.resize(t.bytes / 4);
      std::memcpy(out.data(), t.data, t.bytes);
      return out;
    case SafetensorsDType::kF16:
    case SafetensorsDType::kBF16:
      out.resize(t.bytes / 2);
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        if (t.dtype == SafetensorsDType::kF16) {
          out[i] = f16_to_f32(h);
        } else {
          const uint32_t bits = static_cast<uint32_t>(h) << 16;
          std::memcpy(&out[i], &bits, 4);
        }
      }
      return out;
    case SafetensorsDType::kOther: break;
  }
  return invalid_argument_error("safetensors '{}': tensor '{}' is {}; expected F32, F16 or BF16", path_, name,
                                t.dtype_name);
}

}  // namespace tessera
