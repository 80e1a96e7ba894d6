// A committed step directory as one byte string, to copy a checkpoint into another host's memory through
// comm/ (resilience/memory_checkpoints.h) and back. The copy is byte-identical, so the checkpoint's own
// checksums verify it after the trip.
//
// Bundle format (little-endian):
//   "TSRBNDL1" | u32 file count | per file: u32 name length, name bytes, u64 size, size bytes
// Only the directory's regular files are carried (a step directory has no subdirectories); names are plain
// file names (no '/', not "." or "..").
#pragma once

#include <string>
#include <string_view>

#include "tessera/core/status.h"

namespace tessera {

// The files of `step_dir`, which must hold a COMMIT marker (FailedPrecondition naming it otherwise).
StatusOr<std::string> pack_step_dir(const std::string& step_dir);

// Writes the bundle's files into `step_dir` (which must not exist): first into `step_dir`.tmp (removed first
// if a crash left one), then renamed, so `step_dir` appears whole or not at all. A malformed or truncated
// bundle, or one without COMMIT, is a DataLoss naming the byte offset and what was expected; nothing is
// left behind then.
Status unpack_step_dir(std::string_view bundle, const std::string& step_dir);

}  // namespace tessera
