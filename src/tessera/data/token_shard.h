// The on-disk token shard (docs/data_format.md): a fixed 64-byte little-endian header followed by the
// token ids, u16 when the vocabulary fits in 16 bits, else u32.
//
//   offset size  field
//        0    8  magic "TSRTOKS\0"
//        8    4  format version (kTokenShardVersion)
//       12    4  dtype code: 2 = u16, 3 = u32 (the DType values of core/tensor.h)
//       16    8  vocab size V (every token id is < V)
//       24    8  token count N
//       32    8  payload checksum: XXH3-64 (seed 0) of the N·dtype_size payload bytes
//       40   16  reserved, zero
//       56    8  header checksum: XXH3-64 (seed 0) of header bytes [0, 56)
//       64  ...  payload
//
// TokenShard::open validates the header and the file size always, and with ShardCheck::kFull also every
// payload byte (checksum) and every token (< vocab size), before handing the shard out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/file.h"
#include "tessera/core/status.h"
#include "tessera/core/tensor.h"

namespace tessera {

inline constexpr std::string_view kTokenShardMagic{"TSRTOKS\0", 8};
inline constexpr uint32_t kTokenShardVersion = 1;
inline constexpr size_t kTokenShardHeaderSize = 64;
inline constexpr size_t kTokenShardHeaderChecksumOffset = 56;
// The sample checksum covers the first and the last this many bytes of a shard file.
inline constexpr size_t kTokenShardSampleBytes = 65536;

// How much of a shard TokenShard::open reads.
enum class ShardCheck {
  kQuick,  // the header and the file size: O(1), touches one page
  kFull,   // also the payload checksum and every token < vocab size: reads every byte
};

// XXH3-64 (seed 0) of file[0, min(S, K)) followed by file[max(K, S - K), S), where S = size and
// K = kTokenShardSampleBytes: the header, the first and the last 64 KiB of a shard (the whole file when
// S <= 2K). A cheap content check: it reads at most 128 KiB whatever the shard's size.
uint64_t token_shard_sample_checksum(const uint8_t* file_bytes, size_t size);

// The header fields as stored, before any validation (for `tessera data inspect`).
struct TokenShardHeader {
  std::string magic;  // the 8 magic bytes
  uint32_t version = 0;
  uint32_t dtype_code = 0;
  uint64_t vocab_size = 0;
  uint64_t token_count = 0;
  uint64_t payload_checksum = 0;
  uint64_t header_checksum = 0;
  uint64_t file_size = 0;
};
// Errors only if the file cannot be read or is shorter than the header.
StatusOr<TokenShardHeader> read_token_shard_header(const std::string& path);

// u16 when every id < vocab_size fits in 16 bits, else u32.
DType token_dtype_for_vocab(int64_t vocab_size);

// The shard file bytes (header + payload) for `tokens`; errors if vocab_size is not in [1, 2^31) or a
// token is outside [0, vocab_size).
StatusOr<std::string> encode_token_shard(const std::vector<int32_t>& tokens, int64_t vocab_size);

// encode_token_shard, written to `path` atomically (write_file_atomic). Errors name the path.
Status write_token_shard(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size);

// A validated, read-only, memory-mapped token shard. Move-only owner of the mapping. All const
// methods are safe to call from several threads at once.
class TokenShard {
 public:
  // Maps `path` and checks, in this order: header present, magic, version, header checksum, dtype,
  // vocab size, file size = header + count·dtype size; with kFull also the payload checksum and that
  // every token < vocab size. Each failure is one line naming the file, the expected and the found
  // value. A kQuick shard may hold a corrupt payload (tokens >= vocab size included): use it only to
  // describe the shard, or after another check of its content (TokenDataset::open).
  static StatusOr<TokenShard> open(const std::string& path, ShardCheck check = ShardCheck::kFull);

  TokenShard(TokenShard&&) noexcept = default;
  TokenShard& operator=(TokenShard&&) noexcept = default;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;

  const std::string& path() const { return file_.path(); }
  int64_t size() const { return size_; }  // number of tokens
  int64_t vocab_size() const { return vocab_size_; }
  DType dtype() const { return dtype_; }
  uint64_t checksum() const { return checksum_; }  // payload checksum from the header
  int64_t file_size() const { return static_cast<int64_t>(file_.size()); }
  // token_shard_sample_checksum of the file (reads at most 128 KiB).
  uint64_t sample_checksum() const { return token_shard_sample_checksum(file_.data(), file_.size()); }
  // The part of open's kFull check that kQuick skips: the payload hashes to checksum() and every token
  // is < vocab_size(). Reads every byte; one line naming the file on failure.
  Status verify_payload() const;
  int32_t token(int64_t i) const;
  // out[0, count) = tokens [start, start + count); the range must lie inside the shard (CHECKed).
  void copy_tokens(int64_t start, int64_t count, int32_t* out) const;

 private:
  TokenShard() = default;

  MappedFile file_;
  const uint8_t* payload_ = nullptr;  // points into file_
  int64_t size_ = 0;
  int64_t vocab_size_ = 0;
  DType dtype_ = DType::kU16;
  uint64_t checksum_ = 0;
};

}  // namespace tessera
