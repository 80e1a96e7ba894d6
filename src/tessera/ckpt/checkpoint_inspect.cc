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

}  // namespace tessera
