// Export of a checkpoint's tensors to safetensors (https://github.com/huggingface/safetensors), so that
// other tools can load Tessera weights:
//   bytes [0, 8)       N, u64 little-endian: the header's length
//   bytes [8, 8 + N)   JSON: {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end)}, ...,
//                      "__metadata__": {"<key>": "<text>"}}, padded with spaces to a multiple of 8
//   bytes [8 + N, ...) the tensors' bytes back to back (row-major, little-endian), offsets relative here
// Every tensor is read (and so checksum-verified) through CheckpointReader, whatever its chunking.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_reader.h"

namespace tessera {

struct SafetensorsExportSummary {
  size_t tensors = 0;
  uint64_t bytes = 0;  // tensor bytes written (excluding the header)
};

// Writes every tensor whose name starts with `name_prefix` (names kept whole) to `out_path`, atomically
// (export_file.h). The target is checked first by check_export_file_target(out_path, force): devices,
// FIFOs, directories, links, anything inside a checkpoint, and (without `force`) an existing file are
// refused before anything is written. Metadata: the checkpoint's metadata plus "tessera.step".
// InvalidArgument if no tensor matches.
StatusOr<SafetensorsExportSummary> export_safetensors(CheckpointReader& reader, const std::string& out_path,
                                                      const std::string& name_prefix = "model.", bool force = false);

// One tensor of a safetensors file being written: `bytes` = numel(shape) × size of dtype.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
};

// Fills `buffer` (entries[index].bytes long) with the bytes of tensor `index`.
using SafetensorsFill = std::function<Status(size_t index, char* buffer)>;

// The writer under every safetensors export: header (entries in the given order, then `metadata` as
// "__metadata__" if not empty), then each tensor's bytes from `fill`, one tensor in memory at a time,
// to `out_path` atomically. Does not check the target (callers do). The same inputs give the same bytes.
StatusOr<SafetensorsExportSummary> write_safetensors(const std::string& out_path,
                                                     const std::vector<SafetensorsEntry>& entries,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const SafetensorsFill& fill);

// The safetensors dtype name ("F32", "BF16", "U16", "U32", "I64", "U8").
std::string safetensors_dtype_name(DType dtype);

}  // namespace tessera
