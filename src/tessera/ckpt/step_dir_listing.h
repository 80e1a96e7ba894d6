// The listing of a committed step directory — its files' names and sizes — as bytes, so that the directory can
// be copied to another host's memory through comm/ file by file, each straight from its mapping into the
// receiver's (resilience/step_dir_transfer.h). The copy is byte-identical, so the checkpoint's own checksums
// verify it after the trip.
//
// Listing format (little-endian):
//   "TSRLIST1" | u32 file count | per file: u32 name length, name bytes, u64 size
// Names are plain file names (no '/', not "." or ".."; a step directory has no subdirectories).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct StepDirFile {
  std::string name;
  uint64_t size = 0;
};

// The regular files of `step_dir` in name order, which must include COMMIT (FailedPrecondition naming the
// directory otherwise).
StatusOr<std::vector<StepDirFile>> list_step_dir(const std::string& step_dir);

std::string encode_step_dir_listing(const std::vector<StepDirFile>& files);

// DataLoss naming the byte offset and what was expected for a truncated or malformed listing, trailing bytes,
// a name that is not a plain file name, or no COMMIT.
StatusOr<std::vector<StepDirFile>> decode_step_dir_listing(std::string_view bytes);

}  // namespace tessera
