// Human-readable summaries, as `tessera ckpt inspect` prints them: of a checkpoint (step, format, metadata
// keys, one line per tensor (name, dtype, shape, chunks, bytes) and per scalar), of a GGUF file (version,
// every metadata key with its type and value, arrays by count and first elements, one line per tensor) and
// of a safetensors file (metadata, one line per tensor). Kept here rather than in tools/ so they are tested.
#pragma once

#include <string>

#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/gguf_reader.h"
#include "tessera/ckpt/safetensors_reader.h"

namespace tessera {

// Multi-line text, ending in a newline. Long or binary string values are abbreviated.
std::string describe_checkpoint(const CheckpointReader& reader);
std::string describe_gguf(const GgufReader& reader);
std::string describe_safetensors(const SafetensorsReader& reader);

// "12.0 MiB", "512 B": sizes for people.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera
