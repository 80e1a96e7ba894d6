#include "tessera/ckpt/safetensors_export.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "tessera/ckpt/export_file.h"

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

StatusOr<SafetensorsExportSummary> write_safetensors(const std::string& out_path,
                                                     const std::vector<SafetensorsEntry>& entries,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const SafetensorsFill& fill) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const SafetensorsEntry& entry : entries) {
    header[entry.name] = {{"dtype", safetensors_dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.bytes}}};
    offset += entry.bytes;
  }
  std::string header_text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile out, AtomicOutputFile::create(out_path));
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((header_text.size() >> (8 * i)) & 0xff);
  TESSERA_RETURN_IF_ERROR(out.write(length, 8));
  TESSERA_RETURN_IF_ERROR(out.write(header_text));
  for (size_t i = 0; i < entries.size(); ++i) {
    auto buffer = std::make_unique_for_overwrite<char[]>(entries[i].bytes);
    TESSERA_RETURN_IF_ERROR(fill(i, buffer.get()).with_context("export"));
    TESSERA_RETURN_IF_ERROR(out.write(buffer.get(), entries[i].bytes));
  }
  TESSERA_RETURN_IF_ERROR(out.commit());  // an error before here leaves out_path untouched
  return SafetensorsExportSummary{entries.size(), offset};
}

StatusOr<SafetensorsExportSummary> export_safetensors(CheckpointReader& reader, const std::string& out_path,
                                                      const std::string& name_prefix, bool force) {
  TESSERA_RETURN_IF_ERROR(check_export_file_target(out_path, force));
  std::vector<SafetensorsEntry> entries;
  for (const TensorInfo& info : reader.tensors()) {
    if (info.name.rfind(name_prefix, 0) == 0) entries.push_back({info.name, info.dtype, info.shape, info.bytes});
  }
  if (entries.empty()) {
    return invalid_argument_error("export: checkpoint '{}' has no tensor whose name starts with '{}'", reader.path(),
                                  name_prefix);
  }
  std::map<std::string, std::string> metadata = reader.metadata();
  metadata["tessera.step"] = std::to_string(reader.step());
  return write_safetensors(out_path, entries, metadata, [&](size_t i, char* buffer) {
    const SafetensorsEntry& e = entries[i];
    return reader.read_tensor(TensorView{e.name, e.dtype, e.shape, buffer});
  });
}

}  // namespace tessera
