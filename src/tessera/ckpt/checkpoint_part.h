// A checkpoint part: what one rank of a sharded save (sharded_commit.h) publishes in the step's tmp
// directory once its own data file is durable, and how rank 0 merges every rank's part into the one
// manifest it commits.
//
// A part file `rank_<5 digits>.part.json` is a manifest (checkpoint_format.h) of that rank's data file
// alone — its chunks (which need not tile their tensors), its scalars and metadata — plus one field
// "part": {"save_id", "rank", "world_size"} and, for a rank whose write failed, "error" and "code". The
// save_id is the same on every rank of one run, so a part left by a crashed earlier run is never merged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/core/status.h"

namespace tessera {

struct CheckpointPart {
  uint64_t save_id = 0;
  int rank = 0;
  int world_size = 1;
  // Set for a failure marker: the rank's write failed with this status (never OK then); `manifest`
  // then holds only the step.
  std::optional<Status> failure;
  // This rank's data file (data_files has exactly it), its chunks, scalars and metadata.
  Manifest manifest;
};

// "rank_00003.part.json".
std::string part_file_name(int rank);

std::string part_to_json(const CheckpointPart& part);
// Parses a part file. DataLoss naming the field on a malformed one.
StatusOr<CheckpointPart> part_from_json(std::string_view text);

// Merges the parts of one save into the manifest rank 0 commits. parts[r] must be rank r's part, all
// with the same save_id, step and world_size == parts.size(). The result lists every rank's data file
// in rank order, each tensor once with the chunks of all ranks (in rank order), each scalar and
// metadata key once, and rank 0's creation time. InvalidArgument, naming the tensor (or scalar) and
// the ranks, when ranks disagree on a tensor's dtype or global shape, when two ranks' chunks overlap,
// when the chunks leave elements of a tensor unsaved, or when a scalar or metadata value written by
// several ranks differs.
StatusOr<Manifest> merge_parts(const std::vector<CheckpointPart>& parts);

}  // namespace tessera
