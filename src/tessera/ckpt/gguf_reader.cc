#include "tessera/ckpt/gguf_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "tessera/ckpt/safetensors_reader.h"  // f16_to_f32

namespace tessera {

namespace {

constexpr uint64_t kMaxNameBytes = 64;  // ggml's GGML_MAX_NAME, NUL included: names are shorter
constexpr uint32_t kMaxDims = 4;        // ggml's GGML_MAX_DIMS

// ggml's block layouts (ggml-common.h's block_* structs: elements per block, bytes per block).
constexpr GgmlTypeTraits kGgmlTypes[] = {
    {0, "f32", 1, 4},        {1, "f16", 1, 2},         {2, "q4_0", 32, 18},     {3, "q4_1", 32, 20},
    {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},      {8, "q8_0", 32, 34},     {9, "q8_1", 32, 36},
    {10, "q2_K", 256, 84},   {11, "q3_K", 256, 110},   {12, "q4_K", 256, 144},  {13, "q5_K", 256, 176},
    {14, "q6_K", 256, 210},  {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66}, {17, "iq2_xs", 256, 74},
    {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},  {20, "iq4_nl", 32, 18},  {21, "iq3_s", 256, 110},
    {22, "iq2_s", 256, 82},  {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},        {25, "i16", 1, 2},
    {26, "i32", 1, 4},       {27, "i64", 1, 8},        {28, "f64", 1, 8},       {29, "iq1_m", 256, 56},
    {30, "bf16", 1, 2},
};

// Reads little-endian values from the map, never past its end; every failure names the file, what was
// being read and where.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, const std::string& path) : base_(base), size_(size), path_(path) {}
  uint64_t position() const { return position_; }
  uint64_t left() const { return size_ - position_; }

  template <typename T>
  StatusOr<T> read(std::string_view what) {
    if (left() < sizeof(T)) {
      return data_loss_error("GGUF '{}': {}: expected {} bytes at byte {}, found the end of the file ({} bytes)", path_,
                             what, sizeof(T), position_, size_);
    }
    T value;
    std::memcpy(&value, base_ + position_, sizeof(T));  // x86-64 is little-endian, as GGUF
    position_ += sizeof(T);
    return value;
  }

  StatusOr<std::string> read_string(std::string_view what) {
    TESSERA_ASSIGN_OR_RETURN(const uint64_t length, read<uint64_t>(what));
    if (length > left()) {
      return data_loss_error("GGUF '{}': {}: a string of {} bytes at byte {}, but only {} bytes are left", path_, what,
                             length, position_, left());
    }
    std::string text(reinterpret_cast<const char*>(base_ + position_), length);
    position_ += length;
    return text;
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t position_ = 0;
  const std::string& path_;
};

// Bytes one element of `type` takes at least in the file (a string: its length field).
uint64_t min_element_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kBool: return 1;
    case GgufValueType::kU16: case GgufValueType::kI16: return 2;
    case GgufValueType::kU32: case GgufValueType::kI32: case GgufValueType::kF32: return 4;
    case GgufValueType::kU64: case GgufValueType::kI64: case GgufValueType::kF64: case GgufValueType::kString: return 8;
    case GgufValueType::kArray: break;
  }
  return 8;
}

// Appends one element of `type` (not an array) to `value`.
Status read_element(Cursor& cursor, GgufValueType type, GgufValue& value, std::string_view what) {
  switch (type) {
#define TESSERA_GGUF_INTEGER(kind, T)                                   \
  case GgufValueType::kind: {                                           \
    TESSERA_ASSIGN_OR_RETURN(const T v, cursor.read<T>(what));          \
    value.integers.push_back(static_cast<int64_t>(v));                  \
    return Status();                                                    \
  }
    TESSERA_GGUF_INTEGER(kU8, uint8_t)
    TESSERA_GGUF_INTEGER(kI8, int8_t)
    TESSERA_GGUF_INTEGER(kU16, uint16_t)
    TESSERA_GGUF_INTEGER(kI16, int16_t)
    TESSERA_GGUF_INTEGER(kU32, uint32_t)
    TESSERA_GGUF_INTEGER(kI32, int32_t)
    TESSERA_GGUF_INTEGER(kU64, uint64_t)  // its bit pattern; get_uint casts it back
    TESSERA_GGUF_INTEGER(kI64, int64_t)
#undef TESSERA_GGUF_INTEGER
    case GgufValueType::kBool: {
      TESSERA_ASSIGN_OR_RETURN(const uint8_t v, cursor.read<uint8_t>(what));
      value.integers.push_back(v != 0 ? 1 : 0);
      return Status();
    }
    case GgufValueType::kF32: {
      TESSERA_ASSIGN_OR_RETURN(const float v, cursor.read<float>(what));
      value.floats.push_back(v);
      return Status();
    }
    case GgufValueType::kF64: {
      TESSERA_ASSIGN_OR_RETURN(const double v, cursor.read<double>(what));
      value.floats.push_back(v);
      return Status();
    }
    case GgufValueType::kString: {
      TESSERA_ASSIGN_OR_RETURN(std::string v, cursor.read_string(what));
      value.strings.push_back(std::move(v));
      return Status();
    }
    case GgufValueType::kArray: break;
  }
  return internal_error("GGUF: read_element of an array");
}

bool is_known_value_type(uint32_t type) { return type <= static_cast<uint32_t>(GgufValueType::kF64); }

// A key or tensor name from the file as it appears in a message: bytes outside printable ASCII (a newline
// would break the one-line message) as \xNN, at most 80 bytes of it.
std::string printable(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (name.size() > 80) out += fmt::format("... ({} bytes)", name.size());
  return out;
}

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8: return "u8";
    case GgufValueType::kI8: return "i8";
    case GgufValueType::kU16: return "u16";
    case GgufValueType::kI16: return "i16";
    case GgufValueType::kU32: return "u32";
    case GgufValueType::kI32: return "i32";
    case GgufValueType::kF32: return "f32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kU64: return "u64";
    case GgufValueType::kI64: return "i64";
    case GgufValueType::kF64: return "f64";
  }
  return "unknown";
}

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  for (const GgmlTypeTraits& traits : kGgmlTypes) {
    if (traits.id == id) return &traits;
  }
  return nullptr;
}

uint64_t GgufTensor::elements() const {
  uint64_t n = 1;
  for (const uint64_t d : ne) n *= d;
  return n;
}

StatusOr<GgufReader> GgufReader::open(const std::string& path) {
  GgufReader reader;
  reader.path_ = path;
  TESSERA_ASSIGN_OR_RETURN(reader.file_, MappedFile::open(path));
  const uint64_t size = reader.file_.size();
  Cursor cursor(reader.file_.data(), size, reader.path_);

  // Header: magic, version, counts.
  if (size < 4 || std::memcmp(reader.file_.data(), "GGUF", 4) != 0) {
    std::string found;
    for (uint64_t i = 0; i < std::min<uint64_t>(size, 4); ++i) found += fmt::format("{:02x}", reader.file_.data()[i]);
    return data_loss_error("GGUF '{}': expected the magic 'GGUF' (47475546), found {}", path,
                           found.empty() ? "an empty file" : "bytes " + found);
  }
  TESSERA_ASSIGN_OR_RETURN(const uint32_t magic, cursor.read<uint32_t>("magic"));
  (void)magic;
  TESSERA_ASSIGN_OR_RETURN(reader.version_, cursor.read<uint32_t>("version"));
  if (reader.version_ != 2 && reader.version_ != 3) {
    return data_loss_error("GGUF '{}': version {} is not supported; expected 2 or 3", path, reader.version_);
  }
  TESSERA_ASSIGN_OR_RETURN(const uint64_t n_tensors, cursor.read<uint64_t>("tensor count"));
  TESSERA_ASSIGN_OR_RETURN(const uint64_t n_kv, cursor.read<uint64_t>("metadata count"));
  // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 8 + 4 + 8 + 4 + 8.
  if (n_kv > cursor.left() / 13) {
    return data_loss_error("GGUF '{}': {} metadata entries cannot fit in the {} bytes after the header", path, n_kv,
                           cursor.left());
  }
  if (n_tensors > cursor.left() / 32) {
    return data_loss_error("GGUF '{}': {} tensor infos cannot fit in the {} bytes after the header", path, n_tensors,
                           cursor.left());
  }

  // Metadata.
  reader.metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string where = fmt::format("metadata entry {}", i);
    TESSERA_ASSIGN_OR_RETURN(std::string key, cursor.read_string(where + " key"));
    if (key.empty()) return data_loss_error("GGUF '{}': {} has an empty key", path, where);
    if (reader.metadata_index_.count(key) != 0) {
      return data_loss_error("GGUF '{}': key '{}' appears twice", path, printable(key));
    }
    const std::string what = fmt::format("key '{}'", printable(key));
    TESSERA_ASSIGN_OR_RETURN(const uint32_t type, cursor.read<uint32_t>(what + " type"));
    if (!is_known_value_type(type)) {
      return data_loss_error("GGUF '{}': {}: expected a value type 0..12, found {}", path, what, type);
    }
    GgufValue value;
    if (static_cast<GgufValueType>(type) == GgufValueType::kArray) {
      value.is_array = true;
      TESSERA_ASSIGN_OR_RETURN(const uint32_t element, cursor.read<uint32_t>(what + " element type"));
      if (!is_known_value_type(element) || static_cast<GgufValueType>(element) == GgufValueType::kArray) {
        return data_loss_error("GGUF '{}': {}: expected an array element type 0..12 other than 9 (array), found {}",
                               path, what, element);
      }
      value.element_type = static_cast<GgufValueType>(element);
      TESSERA_ASSIGN_OR_RETURN(const uint64_t count, cursor.read<uint64_t>(what + " element count"));
      if (count > kGgufMaxArrayElements || count > cursor.left() / min_element_bytes(value.element_type)) {
        return data_loss_error("GGUF '{}': {}: an array of {} {} elements does not fit the {} bytes left (or the "
                               "limit of {} elements)",
                               path, what, count, gguf_value_type_name(value.element_type), cursor.left(),
                               kGgufMaxArrayElements);
      }
      const auto n = static_cast<size_t>(count);
      if (value.element_type == GgufValueType::kString) value.strings.reserve(n);
      else if (value.element_type == GgufValueType::kF32 || value.element_type == GgufValueType::kF64) value.floats.reserve(n);
      else value.integers.reserve(n);
      for (uint64_t j = 0; j < count; ++j) {
        TESSERA_RETURN_IF_ERROR(read_element(cursor, value.element_type, value, what));
      }
    } else {
      value.element_type = static_cast<GgufValueType>(type);
      TESSERA_RETURN_IF_ERROR(read_element(cursor, value.element_type, value, what));
    }
    reader.metadata_index_.emplace(key, reader.metadata_.size());
    reader.metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (const GgufValue* alignment = reader.find("general.alignment")) {
    if (alignment->is_array || alignment->element_type != GgufValueType::kU32 || alignment->integers[0] == 0 ||
        (alignment->integers[0] & (alignment->integers[0] - 1)) != 0) {
      return data_loss_error("GGUF '{}': general.alignment: expected a u32 power of two, found {}{} {}", path,
                             alignment->is_array ? "an array of " : "a ", gguf_value_type_name(alignment->element_type),
                             alignment->integers.empty() ? std::string("value") : std::to_string(alignment->integers[0]));
    }
    reader.alignment_ = static_cast<uint64_t>(alignment->integers[0]);
  }

  // Tensor infos.
  reader.tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor tensor;
    TESSERA_ASSIGN_OR_RETURN(tensor.name, cursor.read_string(fmt::format("tensor info {} name", i)));
    if (tensor.name.empty() || tensor.name.size() >= kMaxNameBytes) {
      return data_loss_error("GGUF '{}': tensor info {}: expected a name of 1..{} bytes, found {} bytes", path, i,
                             kMaxNameBytes - 1, tensor.name.size());
    }
    if (reader.tensor_index_.count(tensor.name) != 0) {
      return data_loss_error("GGUF '{}': tensor '{}' appears twice", path, printable(tensor.name));
    }
    const std::string what = fmt::format("tensor '{}'", printable(tensor.name));
    TESSERA_ASSIGN_OR_RETURN(const uint32_t n_dims, cursor.read<uint32_t>(what + " dim count"));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return data_loss_error("GGUF '{}': {}: expected 1..{} dims, found {}", path, what, kMaxDims, n_dims);
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      TESSERA_ASSIGN_OR_RETURN(const uint64_t dim, cursor.read<uint64_t>(what + " dim"));
      if (dim < 1 || dim > (uint64_t{1} << 62) / elements) {
        return data_loss_error("GGUF '{}': {}: dim {} is {}; expected ≥ 1 and at most 2^62 elements in all", path,
                               what, d, dim);
      }
      elements *= dim;
      tensor.ne.push_back(dim);
    }
    TESSERA_ASSIGN_OR_RETURN(tensor.ggml_type, cursor.read<uint32_t>(what + " type"));
    tensor.traits = ggml_type_traits(tensor.ggml_type);
    if (tensor.traits == nullptr) {
      return data_loss_error("GGUF '{}': {}: ggml type {} is not one Tessera knows the layout of (f32, f16, bf16, "
                             "q4_0 ... q8_K, iq*, i8 ... f64)",
                             path, what, tensor.ggml_type);
    }
    if (tensor.ne[0] % tensor.traits->block_elements != 0) {
      return data_loss_error("GGUF '{}': {}: its rows of {} elements are not whole {} blocks of {}", path, what,
                             tensor.ne[0], tensor.traits->name, tensor.traits->block_elements);
    }
    const uint64_t blocks = elements / tensor.traits->block_elements;
    if (blocks > std::numeric_limits<uint64_t>::max() / tensor.traits->block_bytes) {
      return data_loss_error("GGUF '{}': {}: {} elements of {} overflow a 64-bit size", path, what, elements,
                             tensor.traits->name);
    }
    tensor.bytes = blocks * tensor.traits->block_bytes;
    TESSERA_ASSIGN_OR_RETURN(tensor.offset, cursor.read<uint64_t>(what + " offset"));
    if (tensor.offset % reader.alignment_ != 0) {
      return data_loss_error("GGUF '{}': {}: offset {} is not a multiple of the alignment {}", path, what, tensor.offset,
                             reader.alignment_);
    }
    reader.tensor_index_.emplace(tensor.name, reader.tensors_.size());
    reader.tensors_.push_back(std::move(tensor));
  }

  // The data section: the header's end rounded up to the alignment; every tensor inside it, none overlapping.
  const uint64_t header_end = cursor.position();
  reader.data_offset_ = (header_end + reader.alignment_ - 1) / reader.alignment_ * reader.alignment_;
  if (reader.data_offset_ < header_end) return data_loss_error("GGUF '{}': the alignment overflows the offset", path);
  const uint64_t data_bytes = reader.data_offset_ <= size ? size - reader.data_offset_ : 0;
  for (GgufTensor& tensor : reader.tensors_) {
    if (tensor.offset > data_bytes || tensor.bytes > data_bytes - tensor.offset) {
      return data_loss_error("GGUF '{}': tensor '{}': {} bytes of {} at data offset {} end past the {} data bytes "
                             "(file of {} bytes, data from byte {})",
                             path, printable(tensor.name), tensor.bytes, tensor.traits->name, tensor.offset, data_bytes, size,
                             reader.data_offset_);
    }
    tensor.data = reader.file_.data() + reader.data_offset_ + tensor.offset;
  }
  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& tensor : reader.tensors_) by_offset.push_back(&tensor);
  std::sort(by_offset.begin(), by_offset.end(), [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset) {
      return data_loss_error("GGUF '{}': tensors '{}' and '{}' overlap (data offsets {} + {} bytes > {})", path,
                             printable(by_offset[i - 1]->name), printable(by_offset[i]->name), by_offset[i - 1]->offset,
                             by_offset[i - 1]->bytes, by_offset[i]->offset);
    }
  }
  return reader;
}

const GgufValue* GgufReader::find(const std::string& key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufReader::find_tensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

std::string describe_type(const GgufValue& value) {
  return value.is_array ? fmt::format("an array of {} {}", value.size(), gguf_value_type_name(value.element_type))
                        : fmt::format("type {}", gguf_value_type_name(value.element_type));
}

}  // namespace

StatusOr<uint64_t> GgufReader::get_uint(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return not_found_error("GGUF '{}': no key '{}'", path_, printable(key));
  if (value->is_array || value->integers.empty() || value->element_type == GgufValueType::kBool ||
      (value->element_type != GgufValueType::kU64 && value->integers[0] < 0)) {
    return invalid_argument_error("GGUF '{}': key '{}': expected a non-negative integer, found {}", path_, printable(key),
                                  describe_type(*value));
  }
  return static_cast<uint64_t>(value->integers[0]);
}

StatusOr<double> GgufReader::get_float(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return not_found_error("GGUF '{}': no key '{}'", path_, printable(key));
  if (value->is_array || value->floats.empty()) {
    return invalid_argument_error("GGUF '{}': key '{}': expected an f32 or f64, found {}", path_, printable(key), describe_type(*value));
  }
  return value->floats[0];
}

StatusOr<std::string> GgufReader::get_string(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return not_found_error("GGUF '{}': no key '{}'", path_, printable(key));
  if (value->is_array || value->strings.empty()) {
    return invalid_argument_error("GGUF '{}': key '{}': expected a string, found {}", path_, printable(key), describe_type(*value));
  }
  return value->strings[0];
}

StatusOr<bool> GgufReader::get_bool(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return not_found_error("GGUF '{}': no key '{}'", path_, printable(key));
  if (value->is_array || value->element_type != GgufValueType::kBool) {
    return invalid_argument_error("GGUF '{}': key '{}': expected a bool, found {}", path_, printable(key), describe_type(*value));
  }
  return value->integers[0] != 0;
}

StatusOr<std::vector<float>> GgufReader::read_f32(const std::string& name) const {
  const GgufTensor* tensor = find_tensor(name);
  if (tensor == nullptr) return not_found_error("GGUF '{}': no tensor '{}'", path_, printable(name));
  if (tensor->ggml_type != 0 && tensor->ggml_type != 1 && tensor->ggml_type != 30) {
    return invalid_argument_error("GGUF '{}': tensor '{}' is {}; expected f32, f16 or bf16 (quantized tensors are "
                                  "not read)",
                                  path_, printable(name), tensor->traits->name);
  }
  std::vector<float> out(static_cast<size_t>(tensor->elements()));  // backed by the file: bytes were checked
  switch (tensor->ggml_type) {
    case 0:  // f32
      std::memcpy(out.data(), tensor->data, out.size() * 4);
      return out;
    case 1:   // f16
    case 30:  // bf16
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t half;
        std::memcpy(&half, tensor->data + 2 * i, 2);
        if (tensor->ggml_type == 1) {
          out[i] = f16_to_f32(half);
        } else {
          const uint32_t bits = static_cast<uint32_t>(half) << 16;
          std::memcpy(&out[i], &bits, 4);
        }
      }
      return out;
    default: break;
  }
  return internal_error("GGUF: unreachable tensor type {}", tensor->ggml_type);
}

StatusOr<size_t> verify_gguf_values(const GgufReader& reader) {
  size_t decoded = 0;
  for (const GgufTensor& tensor : reader.tensors()) {
    if (tensor.ggml_type != 0 && tensor.ggml_type != 1 && tensor.ggml_type != 30) continue;  // f32, f16, bf16
    TESSERA_ASSIGN_OR_RETURN(const std::vector<float> values, reader.read_f32(tensor.name));
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        return data_loss_error("GGUF '{}': tensor '{}' ({}) element {} is {}; expected a finite value", reader.path(),
                               printable(tensor.name), tensor.traits->name, i, values[i]);
      }
    }
    ++decoded;
  }
  return decoded;
}

}  // namespace tessera
