#include "tessera/ckpt/checkpoint_inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

namespace tessera {

namespace {

// A string value on one line: printable ASCII kept, the rest escaped, at most kMax characters.
std::string abbreviate(const std::string& text) {
  constexpr size_t kMax = 48;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && out.size() < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += "\"";
  if (out.size() >= kMax) out += fmt::format(" ({} bytes)", text.size());
  return out;
}

std::string scalar_text(const ScalarValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  return abbreviate(std::get<std::string>(value));
}

std::string utc_time(double unix_s) {
  const std::time_t seconds = static_cast<std::time_t>(unix_s);
  std::tm utc;
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d} UTC", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string describe_checkpoint(const CheckpointReader& reader) {
  std::string out;
  out += fmt::format("checkpoint  {}\n", reader.path());
  out += fmt::format("step        {}\n", reader.step());
  out += fmt::format("format      {} v{}\n", kCheckpointFormatName, reader.format_version());
  out += fmt::format("created     {}\n", utc_time(reader.created_unix_s()));
  std::vector<std::string> keys;
  for (const auto& [key, value] : reader.metadata()) keys.push_back(fmt::format("{} ({})", key, format_bytes(value.size())));
  out += fmt::format("metadata    {}\n", keys.empty() ? "(none)" : fmt::format("{}", fmt::join(keys, ", ")));

  // One data file per rank that saved (a sharded save), each with its length.
  const auto& files = reader.manifest().data_files;
  out += fmt::format("data files  {}\n", files.size());
  size_t file_width = 4;
  for (const DataFileEntry& file : files) file_width = std::max(file_width, file.name.size());
  for (const DataFileEntry& file : files) {
    out += fmt::format("  {:<{}}  {:>12} bytes\n", file.name, file_width, file.bytes);
  }

  const auto tensors = reader.tensors();
  out += fmt::format("tensors     {} ({})\n", tensors.size(), format_bytes(reader.tensor_bytes()));
  size_t name_width = 4, shape_width = 5;
  for (const TensorInfo& info : tensors) {
    name_width = std::max(name_width, info.name.size());
    shape_width = std::max(shape_width, shape_to_string(info.shape).size());
  }
  for (const TensorInfo& info : tensors) {
    out += fmt::format("  {:<{}}  {:<4}  {:<{}}  {:>4} chunk{}  {:>12} bytes\n", info.name, name_width,
                       dtype_name(info.dtype), shape_to_string(info.shape), shape_width, info.chunk_count,
                       info.chunk_count == 1 ? " " : "s", info.bytes);
  }
  out += fmt::format("scalars     {}\n", reader.scalars().size());
  name_width = 4;
  for (const ScalarEntry& scalar : reader.scalars()) name_width = std::max(name_width, scalar.name.size());
  for (const ScalarEntry& scalar : reader.scalars()) {
    out += fmt::format("  {:<{}}  {:<6}  {}\n", scalar.name, name_width, scalar_type_name(scalar.value),
                       scalar_text(scalar.value));
  }
  return out;
}

namespace {

// One element of a GGUF value, as text (strings abbreviated, u64 as unsigned).
std::string gguf_element_text(const GgufValue& value, size_t i) {
  if (!value.strings.empty()) return abbreviate(value.strings[i]);
  if (!value.floats.empty()) {  // an f32 printed as the shortest text that reads back as that float
    return value.element_type == GgufValueType::kF32 ? fmt::format("{}", static_cast<float>(value.floats[i]))
                                                      : fmt::format("{}", value.floats[i]);
  }
  if (value.element_type == GgufValueType::kBool) return value.integers[i] != 0 ? "true" : "false";
  if (value.element_type == GgufValueType::kU64) return std::to_string(static_cast<uint64_t>(value.integers[i]));
  return std::to_string(value.integers[i]);
}

// "{C, V}": GGUF dims, innermost first, as llama.cpp prints them.
std::string gguf_dims(const std::vector<uint64_t>& ne) { return fmt::format("{{{}}}", fmt::join(ne, ", ")); }

}  // namespace

std::string describe_gguf(const GgufReader& reader) {
  std::string out;
  out += fmt::format("gguf        {} ({})\n", reader.path(), format_bytes(reader.file_bytes()));
  out += fmt::format("version     {}, alignment {}, data from byte {}\n", reader.version(), reader.alignment(),
                     reader.data_offset());
  out += fmt::format("metadata    {} keys\n", reader.metadata().size());
  size_t key_width = 4;
  for (const auto& [key, value] : reader.metadata()) key_width = std::max(key_width, key.size());
  for (const auto& [key, value] : reader.metadata()) {
    const std::string type = value.is_array ? fmt::format("[{}]", gguf_value_type_name(value.element_type))
                                            : gguf_value_type_name(value.element_type);
    std::string text;
    if (!value.is_array) {
      text = gguf_element_text(value, 0);
    } else {
      constexpr size_t kShown = 4;  // a vocabulary has tens of thousands: the count and the first few
      std::vector<std::string> first;
      for (size_t i = 0; i < std::min(kShown, value.size()); ++i) first.push_back(gguf_element_text(value, i));
      text = fmt::format("{} elements{}{}{}", value.size(), first.empty() ? "" : ": ", fmt::join(first, ", "),
                         value.size() > kShown ? ", ..." : "");
    }
    out += fmt::format("  {:<{}}  {:<8}  {}\n", key, key_width, type, text);
  }
  uint64_t tensor_bytes = 0;
  size_t name_width = 4, dims_width = 4;
  for (const GgufTensor& t : reader.tensors()) {
    tensor_bytes += t.bytes;
    name_width = std::max(name_width, t.name.size());
    dims_width = std::max(dims_width, gguf_dims(t.ne).size());
  }
  out += fmt::format("tensors     {} ({})\n", reader.tensors().size(), format_bytes(tensor_bytes));
  for (const GgufTensor& t : reader.tensors()) {
    out += fmt::format("  {:<{}}  {:<7}  {:<{}}  {:>12} bytes at +{}\n", t.name, name_width, t.traits->name,
                       gguf_dims(t.ne), dims_width, t.bytes, t.offset);
  }
  return out;
}

std::string describe_safetensors(const SafetensorsReader& reader) {
  std::string out;
  out += fmt::format("safetensors {}\n", reader.path());
  std::vector<std::string> keys;
  for (const auto& [key, value] : reader.metadata()) keys.push_back(fmt::format("{}={}", key, abbreviate(value)));
  out += fmt::format("metadata    {}\n", keys.empty() ? "(none)" : fmt::format("{}", fmt::join(keys, ", ")));
  uint64_t bytes = 0;
  size_t name_width = 4, shape_width = 5;
  for (const auto& [name, t] : reader.tensors()) {
    bytes += t.bytes;
    name_width = std::max(name_width, name.size());
    shape_width = std::max(shape_width, shape_to_string(t.shape).size());
  }
  out += fmt::format("tensors     {} ({})\n", reader.tensors().size(), format_bytes(bytes));
  for (const auto& [name, t] : reader.tensors()) {
    out += fmt::format("  {:<{}}  {:<4}  {:<{}}  {:>12} bytes\n", name, name_width, t.dtype_name,
                       shape_to_string(t.shape), shape_width, t.bytes);
  }
  return out;
}

}  // namespace tessera
