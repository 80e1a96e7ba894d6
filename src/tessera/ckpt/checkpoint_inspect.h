// Human-readable summary of a checkpoint, as `tessera ckpt inspect` prints it: step, format, metadata
// keys, one line per tensor (name, dtype, shape, chunks, bytes) and per scalar. Kept here rather than
// in tools/ so that it is tested.
#pragma once

#include <string>

#include "tessera/ckpt/checkpoint_reader.h"

namespace tessera {

// Multi-line text, ending in a newline. Long or binary string values are abbreviated.
std::string describe_checkpoint(const CheckpointReader& reader);

// "12.0 MiB", "512 B": sizes for people.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera
