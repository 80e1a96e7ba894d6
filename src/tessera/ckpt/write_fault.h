// Storage fault injection for checkpoint saves (tests and demos only): make one file of a save fail
// with ENOSPC or EIO part-way, as a full or failing disk would, to show that the previous checkpoint
// stays committed and valid and that nothing half-written is ever loaded.
//
// Two ways to arm it:
//   * CheckpointWriteOptions::write_fault (unit tests), or
//   * the environment variable TESSERA_FAULT (CLI tests, demos), a ';'-separated list of faults of the
//     form KIND:key=value,...; this module reads the entries of kind `ckpt_write` and ignores the
//     others (other kinds belong to other fault injectors):
//       TESSERA_FAULT='ckpt_write:file=rank_00000.bin,after=4096,errno=ENOSPC,step=20'
//     keys: file (required: a file name inside the step directory: rank_<r>.bin, manifest.json,
//     COMMIT), after (bytes written before the failure; default 0), errno (ENOSPC | EIO; default
//     ENOSPC), op (write | fsync; default write), step (only the save of this step; default every step).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/core/status.h"

namespace tessera {

inline constexpr const char* kFaultEnvVar = "TESSERA_FAULT";

struct WriteFault {
  enum class Op { kWrite, kFsync };
  std::string file;          // file name (no directory) the fault hits
  uint64_t after_bytes = 0;  // kWrite: the first write that would go past this many bytes writes up to
                             // it and then fails
  int error = 0;             // errno reported: ENOSPC or EIO (0 → ENOSPC)
  Op op = Op::kWrite;
  int64_t step = -1;         // only saves of this step (the step directory's name); -1 = every save

  // Whether the fault applies to `path` (…/step_<N>[.tmp]/<file>).
  bool matches(const std::string& path) const;
  int error_number() const;
};

// Parses the `ckpt_write` entry of a TESSERA_FAULT value; nullopt if there is none. InvalidArgument
// naming TESSERA_FAULT, the key and what was expected for a malformed entry.
StatusOr<std::optional<WriteFault>> parse_write_fault(std::string_view spec);

// parse_write_fault of the environment's TESSERA_FAULT (nullopt when unset or empty).
StatusOr<std::optional<WriteFault>> write_fault_from_env();

}  // namespace tessera
