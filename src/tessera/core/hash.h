// Checksums for files and tensors: XXH3-64 (xxhash). Fast enough to checksum every checkpoint chunk
// and token shard (> 10 GB/s), not cryptographic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0) {
  return hash_bytes(bytes.data(), bytes.size(), seed);
}
// "0x0123456789abcdef": how checksums appear in manifests and error messages.
std::string hash_to_hex(uint64_t hash);

// Incremental XXH3-64 over several pieces; equals hash_bytes of their concatenation.
class StreamingHash {
 public:
  explicit StreamingHash(uint64_t seed = 0);
  ~StreamingHash();
  StreamingHash(const StreamingHash&) = delete;
  StreamingHash& operator=(const StreamingHash&) = delete;
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t*, owned
};

}  // namespace tessera
