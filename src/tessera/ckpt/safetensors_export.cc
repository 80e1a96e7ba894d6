#include "tessera/ckpt/safetensors_export.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"

namespace tessera {

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kU16: return "U16";
    case DType::kU32: return "U32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
  }
  return "?";
}

StatusOr<SafetensorsExportSummary> export_safetensors(CheckpointReader& reader, const std::string& out_path,
                                                      const std::string& name_prefix) {
  std::vector<TensorInfo> selected;
  for (TensorInfo& info : reader.tensors()) {
    if (info.name.rfind(name_prefix, 0) == 0) selected.push_back(std::move(info));
  }
  if (selected.empty()) {
    return invalid_argument_error("export: checkpoint '{}' has no tensor whose name starts with '{}'", reader.path(),
                                  name_prefix);
  }
  nlohmann::ordered_json header;
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  for (const auto& [key, value] : reader.metadata()) metadata[key] = value;
  metadata["tessera.step"] = std::to_string(reader.step());
  header["__metadata__"] = std::move(metadata);
  uint64_t offset = 0;
  for (const TensorInfo& info : selected) {
    header[info.name] = {{"dtype", safetensors_dtype_name(info.dtype)},
                         {"shape", info.shape},
                         {"data_offsets", {offset, offset + info.bytes}}};
    offset += info.bytes;
  }
  std::string header_text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  const std::string tmp_path = out_path + ".tmp";
  std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("export: cannot create '{}'", tmp_path);
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((header_text.size() >> (8 * i)) & 0xff);
  out.write(length, 8);
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const TensorInfo& info : selected) {
    auto buffer = std::make_unique_for_overwrite<char[]>(info.bytes);
    Status status = reader.read_tensor(TensorView{info.name, info.dtype, info.shape, buffer.get()});
    if (!status.ok()) {
      out.close();
      std::remove(tmp_path.c_str());
      return status.with_context("export");
    }
    out.write(buffer.get(), static_cast<std::streamsize>(info.bytes));
  }
  out.close();
  if (!out) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp_path.c_str());
    return io_error("export: cannot write '{}': {}", tmp_path, reason);
  }
  // Durable like every other write (core/file.h): the bytes reach the disk before the name does.
  if (Status synced = fsync_file(tmp_path); !synced.ok()) {
    std::remove(tmp_path.c_str());
    return synced.with_context("export");
  }
  if (std::rename(tmp_path.c_str(), out_path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp_path.c_str());
    return io_error("export: cannot rename '{}' to '{}': {}", tmp_path, out_path, reason);
  }
  TESSERA_RETURN_IF_ERROR(fsync_directory(std::filesystem::path(out_path).parent_path().string()).with_context("export"));
  return SafetensorsExportSummary{selected.size(), offset};
}

}  // namespace tessera
