#include "tessera/data/token_shard.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "tessera/core/check.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

// Little-endian stores and loads, independent of the host's byte order.
void put_u32(uint8_t* p, uint32_t v) {
  for (int b = 0; b < 4; ++b) p[b] = static_cast<uint8_t>(v >> (8 * b));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int b = 0; b < 8; ++b) p[b] = static_cast<uint8_t>(v >> (8 * b));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int b = 0; b < 4; ++b) v |= static_cast<uint32_t>(p[b]) << (8 * b);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(p[b]) << (8 * b);
  return v;
}
uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

constexpr int64_t kMaxVocab = int64_t{1} << 31;  // ids are int32_t in memory

Status check_vocab(int64_t vocab_size) {
  if (vocab_size < 1 || vocab_size >= kMaxVocab) {
    return invalid_argument_error("vocab size {} is outside [1, 2^31)", vocab_size);
  }
  return Status();
}

// The largest of `count` little-endian Word values at `bytes`. On a little-endian host, blocks are
// copied into an aligned array whose max loop the compiler vectorises (several times faster than
// assembling each value from bytes, measured); elsewhere, and for the tail, value by value.
template <typename Word>
uint32_t max_token(const uint8_t* bytes, uint64_t count) {
  const auto load = [](const uint8_t* p) {
    Word v = 0;
    for (size_t b = 0; b < sizeof(Word); ++b) v = static_cast<Word>(v | static_cast<Word>(p[b]) << (8 * b));
    return v;
  };
  Word max_id = 0;
  uint64_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kBlock = 4096 / sizeof(Word);
    alignas(64) Word block[kBlock];
    for (; i + kBlock <= count; i += kBlock) {
      std::memcpy(block, bytes + i * sizeof(Word), sizeof(block));
      Word block_max = 0;
      for (uint64_t j = 0; j < kBlock; ++j) block_max = block[j] > block_max ? block[j] : block_max;
      max_id = std::max(max_id, block_max);
    }
  }
  for (; i < count; ++i) max_id = std::max(max_id, load(bytes + i * sizeof(Word)));
  return max_id;
}

// The payload of a shard whose header passed: its checksum equals the header's, and every token is
// < vocab. Reads every byte.
Status check_payload(const std::string& path, const uint8_t* payload, uint64_t count, DType dtype, uint64_t vocab,
                     uint64_t checksum_expected) {
  const uint64_t payload_bytes = count * dtype_size(dtype);
  const uint64_t checksum_found = hash_bytes(payload, payload_bytes);
  if (checksum_expected != checksum_found) {
    return data_loss_error("shard '{}': payload checksum mismatch (expected {}, found {})", path,
                           hash_to_hex(checksum_expected), hash_to_hex(checksum_found));
  }
  // Max first, position second: the scan is a branch-free reduction; only a bad shard pays the search.
  const uint32_t max_id = dtype == DType::kU16 ? max_token<uint16_t>(payload, count) : max_token<uint32_t>(payload, count);
  if (count > 0 && max_id >= vocab) {
    for (uint64_t i = 0; i < count; ++i) {
      const uint32_t id = dtype == DType::kU16 ? get_u16(payload + 2 * i) : get_u32(payload + 4 * i);
      if (id >= vocab) {
        return data_loss_error("shard '{}': token {} at position {} is >= vocab size {}", path, id, i, vocab);
      }
    }
  }
  return Status();
}

}  // namespace

uint64_t token_shard_sample_checksum(const uint8_t* file_bytes, size_t size) {
  const size_t head = std::min(size, kTokenShardSampleBytes);
  const size_t tail_start = std::max(head, size > kTokenShardSampleBytes ? size - kTokenShardSampleBytes : 0);
  StreamingHash hash;
  hash.update(file_bytes, head);
  hash.update(file_bytes + tail_start, size - tail_start);
  return hash.digest();
}

DType token_dtype_for_vocab(int64_t vocab_size) {
  return vocab_size <= 65536 ? DType::kU16 : DType::kU32;
}

StatusOr<std::string> encode_token_shard(const std::vector<int32_t>& tokens, int64_t vocab_size) {
  TESSERA_RETURN_IF_ERROR(check_vocab(vocab_size));
  const DType dtype = token_dtype_for_vocab(vocab_size);
  const size_t width = dtype_size(dtype);
  std::string bytes(kTokenShardHeaderSize + tokens.size() * width, '\0');
  auto* out = reinterpret_cast<uint8_t*>(bytes.data());
  uint8_t* payload = out + kTokenShardHeaderSize;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t id = tokens[i];
    if (id < 0 || id >= vocab_size) {
      return invalid_argument_error("token {} at position {} is outside [0, vocab size {})", id, i,
                                    vocab_size);
    }
    const auto v = static_cast<uint32_t>(id);
    for (size_t b = 0; b < width; ++b) payload[i * width + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  std::memcpy(out, kTokenShardMagic.data(), kTokenShardMagic.size());
  put_u32(out + 8, kTokenShardVersion);
  put_u32(out + 12, static_cast<uint32_t>(dtype));
  put_u64(out + 16, static_cast<uint64_t>(vocab_size));
  put_u64(out + 24, tokens.size());
  put_u64(out + 32, hash_bytes(payload, tokens.size() * width));
  put_u64(out + kTokenShardHeaderChecksumOffset, hash_bytes(out, kTokenShardHeaderChecksumOffset));
  return bytes;
}

Status write_token_shard(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size) {
  auto bytes = encode_token_shard(tokens, vocab_size);
  if (!bytes.ok()) return bytes.status().with_context(fmt::format("shard '{}'", path));
  return write_file_atomic(path, *bytes);
}

StatusOr<TokenShardHeader> read_token_shard_header(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  if (file.size() < kTokenShardHeaderSize) {
    return data_loss_error("shard '{}': file is {} bytes, shorter than the {}-byte header", path, file.size(),
                           kTokenShardHeaderSize);
  }
  const uint8_t* p = file.data();
  TokenShardHeader header;
  header.magic.assign(reinterpret_cast<const char*>(p), kTokenShardMagic.size());
  header.version = get_u32(p + 8);
  header.dtype_code = get_u32(p + 12);
  header.vocab_size = get_u64(p + 16);
  header.token_count = get_u64(p + 24);
  header.payload_checksum = get_u64(p + 32);
  header.header_checksum = get_u64(p + kTokenShardHeaderChecksumOffset);
  header.file_size = file.size();
  return header;
}

StatusOr<TokenShard> TokenShard::open(const std::string& path, ShardCheck check) {
  TESSERA_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  const uint8_t* p = file.data();
  const size_t file_size = file.size();
  if (file_size < kTokenShardHeaderSize) {
    return data_loss_error("shard '{}': file is {} bytes, shorter than the {}-byte header", path, file_size,
                           kTokenShardHeaderSize);
  }
  if (std::memcmp(p, kTokenShardMagic.data(), kTokenShardMagic.size()) != 0) {
    return data_loss_error("shard '{}': bad magic (expected \"TSRTOKS\", found 0x{:016x}); not a token shard",
                           path, get_u64(p));
  }
  const uint32_t version = get_u32(p + 8);
  if (version != kTokenShardVersion) {
    return data_loss_error("shard '{}': unknown format version {} (expected {})", path, version,
                           kTokenShardVersion);
  }
  const uint64_t header_expected = get_u64(p + kTokenShardHeaderChecksumOffset);
  const uint64_t header_found = hash_bytes(p, kTokenShardHeaderChecksumOffset);
  if (header_expected != header_found) {
    return data_loss_error("shard '{}': header checksum mismatch (expected {}, found {})", path,
                           hash_to_hex(header_expected), hash_to_hex(header_found));
  }
  const uint32_t dtype_code = get_u32(p + 12);
  if (dtype_code != static_cast<uint32_t>(DType::kU16) && dtype_code != static_cast<uint32_t>(DType::kU32)) {
    return data_loss_error("shard '{}': unknown dtype code {} (expected 2 = u16 or 3 = u32)", path, dtype_code);
  }
  const auto dtype = static_cast<DType>(dtype_code);
  const uint64_t vocab = get_u64(p + 16);
  if (vocab < 1 || vocab >= static_cast<uint64_t>(kMaxVocab) ||
      (dtype == DType::kU16 && vocab > 65536)) {
    return data_loss_error("shard '{}': vocab size {} does not fit dtype {} (expected 1..{})", path, vocab,
                           dtype_name(dtype), dtype == DType::kU16 ? 65536 : kMaxVocab - 1);
  }
  const uint64_t count = get_u64(p + 24);
  const size_t width = dtype_size(dtype);
  const uint64_t payload_bytes = file_size - kTokenShardHeaderSize;
  if (count > payload_bytes / width || count * width != payload_bytes) {
    return data_loss_error(
        "shard '{}': file is {} bytes, expected {} (64-byte header + {} tokens x {} bytes); {}", path,
        file_size, count > (UINT64_MAX - kTokenShardHeaderSize) / width ? 0 : kTokenShardHeaderSize + count * width,
        count, width, count * width > payload_bytes ? "truncated" : "trailing bytes");
  }
  TokenShard shard;
  shard.file_ = std::move(file);
  shard.payload_ = shard.file_.data() + kTokenShardHeaderSize;
  shard.size_ = static_cast<int64_t>(count);
  shard.vocab_size_ = static_cast<int64_t>(vocab);
  shard.dtype_ = dtype;
  shard.checksum_ = get_u64(p + 32);
  if (check == ShardCheck::kFull) TESSERA_RETURN_IF_ERROR(shard.verify_payload());
  return shard;
}

Status TokenShard::verify_payload() const {
  return check_payload(path(), payload_, static_cast<uint64_t>(size_), dtype_, static_cast<uint64_t>(vocab_size_),
                       checksum_);
}

int32_t TokenShard::token(int64_t i) const {
  TESSERA_CHECK(i >= 0 && i < size_, "token index {} outside [0, {}) of '{}'", i, size_, path());
  return dtype_ == DType::kU16 ? static_cast<int32_t>(get_u16(payload_ + 2 * i))
                               : static_cast<int32_t>(get_u32(payload_ + 4 * i));
}

void TokenShard::copy_tokens(int64_t start, int64_t count, int32_t* out) const {
  TESSERA_CHECK(start >= 0 && count >= 0 && start + count <= size_, "range [{}, {}) outside [0, {}) of '{}'",
                start, start + count, size_, path());
  if (dtype_ == DType::kU16) {
    const uint8_t* p = payload_ + 2 * start;
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(get_u16(p + 2 * i));
  } else {
    const uint8_t* p = payload_ + 4 * start;
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(get_u32(p + 4 * i));
  }
}

}  // namespace tessera
