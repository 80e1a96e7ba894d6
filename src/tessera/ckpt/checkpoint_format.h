// The checkpoint format in one place: directory and file names, the manifest schema and its JSON
// (de)serialisation, the COMMIT marker, and the chunk-tiling rule. docs/checkpoint_format.md specifies
// the same thing byte by byte; change both together and bump kFormatVersion.
//
// A checkpoint is a directory `step_<8 digits>/` holding data files (raw little-endian, row-major
// chunk bytes), `manifest.json` (what every byte means) and `COMMIT` (written last; names the
// manifest's checksum). A tensor is stored as chunks, each a box [offset, offset + shape) of the
// tensor's GLOBAL shape, so that a save by any sharded layout loads under any other layout.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/core/tensor.h"

namespace tessera {

inline constexpr int kCheckpointFormatVersion = 1;
inline constexpr std::string_view kCheckpointFormatName = "tessera-checkpoint";
inline constexpr std::string_view kManifestFileName = "manifest.json";
inline constexpr std::string_view kCommitFileName = "COMMIT";
inline constexpr std::string_view kStepDirPrefix = "step_";
inline constexpr std::string_view kTmpDirSuffix = ".tmp";
// The first line of a COMMIT marker; the second is "manifest.json xxh3 0x<16 hex digits>".
inline constexpr std::string_view kCommitMagic = "tessera-checkpoint-commit 1";
// Every chunk starts at a multiple of this inside its data file (zero padding in between), so a
// chunk can be read with aligned vector loads or O_DIRECT-sized I/O later.
inline constexpr uint64_t kChunkAlignment = 64;

// "step_00000020". Steps past 8 digits keep all their digits (still sort by parsed step, not name).
std::string step_dir_name(int64_t step);
// Parses exactly "step_<digits>" (no suffix); nullopt for anything else (".tmp", "step_x", ...).
std::optional<int64_t> parse_step_dir_name(std::string_view name);
// "rank_00000.bin": the data file written by one rank.
std::string data_file_name(int rank);

// One box of a tensor, stored contiguously (row-major over `shape`) in `file`.
struct ChunkEntry {
  std::vector<int64_t> offset;  // global coordinates of the box's first element, one per dim
  std::vector<int64_t> shape;   // extent of the box, one per dim
  std::string file;             // data file name, relative to the step directory
  uint64_t byte_offset = 0;     // where the chunk starts in `file`
  uint64_t byte_length = 0;     // numel(shape) * dtype_size(dtype)
  uint64_t xxh3 = 0;            // XXH3-64 (seed 0) of the byte_length bytes
};

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // global shape
  std::vector<ChunkEntry> chunks;

  uint64_t nbytes() const;  // bytes of the whole tensor = sum of chunk byte lengths once tiled
};

// A scalar is stored in the manifest itself. Doubles are kept bit-exact (see docs).
using ScalarValue = std::variant<int64_t, double, std::string>;
std::string_view scalar_type_name(const ScalarValue& value);  // "i64", "f64", "string"

struct ScalarEntry {
  std::string name;
  ScalarValue value;
};

struct DataFileEntry {
  std::string name;  // relative to the step directory
  uint64_t bytes = 0;
};

struct Manifest {
  int format_version = kCheckpointFormatVersion;
  int64_t step = 0;
  double created_unix_s = 0;  // wall-clock time of the snapshot, seconds since the epoch (UTC)
  std::map<std::string, std::string> metadata;  // free-form, e.g. "config" → resolved TOML text
  std::vector<DataFileEntry> data_files;
  std::vector<TensorEntry> tensors;  // in the order they were written
  std::vector<ScalarEntry> scalars;
};

// Serialises to pretty JSON. Fails only if a string that must be text cannot be stored (never: bytes
// that are not UTF-8 are stored hex-encoded).
std::string manifest_to_json(const Manifest& manifest);
// What manifest_from_json checks. kCommitted: everything below. kPart: the same, except that a
// tensor's chunks need not tile it (one rank's part of a sharded save holds only its own boxes; the
// parts are tiled when rank 0 merges them, checkpoint_part.h).
enum class ManifestScope { kCommitted, kPart };

// Parses and validates the schema: every field present with the right type, known dtypes, each
// chunk's rank, bounds and byte_length consistent with its tensor, chunks that tile their tensor,
// chunk files listed in data_files and inside their recorded size. DataLoss on any violation.
StatusOr<Manifest> manifest_from_json(std::string_view text, ManifestScope scope = ManifestScope::kCommitted);

// Checks that `chunks` (offset/shape boxes) tile a tensor of `shape`: each box has the tensor's rank
// and lies inside it, no two boxes overlap, and together they cover every element. The boxes are
// pairwise disjoint and their sizes sum to numel(shape), which together imply full coverage.
// `what` names the tensor in the message.
Status check_chunks_tile(const std::string& what, const std::vector<int64_t>& shape,
                         const std::vector<std::vector<int64_t>>& offsets,
                         const std::vector<std::vector<int64_t>>& shapes);

// The COMMIT marker's text for a manifest whose bytes hash to `manifest_xxh3`.
std::string commit_marker_text(uint64_t manifest_xxh3);
// Parses a COMMIT marker; DataLoss if it is not one.
StatusOr<uint64_t> parse_commit_marker(std::string_view text);

}  // namespace tessera
