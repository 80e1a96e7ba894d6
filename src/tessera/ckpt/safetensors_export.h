// Export of a checkpoint's tensors to safetensors (https://github.com/huggingface/safetensors), so that
// other tools can load Tessera weights:
//   bytes [0, 8)       N, u64 little-endian: the header's length
//   bytes [8, 8 + N)   JSON: {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end)}, ...,
//                      "__metadata__": {"<key>": "<text>"}}, padded with spaces to a multiple of 8
//   bytes [8 + N, ...) the tensors' bytes back to back (row-major, little-endian), offsets relative here
// Every tensor is read (and so checksum-verified) through CheckpointReader, whatever its chunking.
#pragma once

#include <string>

#include "tessera/ckpt/checkpoint_reader.h"

namespace tessera {

struct SafetensorsExportSummary {
  size_t tensors = 0;
  uint64_t bytes = 0;  // tensor bytes written (excluding the header)
};

// Writes every tensor whose name starts with `name_prefix` (names kept whole) to `out_path`, via a
// temporary file renamed into place. Metadata: the checkpoint's metadata plus "tessera.step".
// InvalidArgument if no tensor matches.
StatusOr<SafetensorsExportSummary> export_safetensors(CheckpointReader& reader, const std::string& out_path,
                                                      const std::string& name_prefix = "model.");

// The safetensors dtype name ("F32", "BF16", "U16", "U32", "I64", "U8").
std::string safetensors_dtype_name(DType dtype);

}  // namespace tessera
