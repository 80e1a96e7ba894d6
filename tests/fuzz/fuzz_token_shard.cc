// libFuzzer target: the token shard reader (64-byte header, its checksum, sizes, the full data check),
// then the first and last tokens of a shard it accepts.
#include <cstddef>
#include <cstdint>

#include "fuzz_file_input.h"
#include "tessera/data/token_shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = write_fuzz_input(data, size, ".bin");
  for (auto check : {tessera::ShardCheck::kQuick, tessera::ShardCheck::kFull}) {
    auto shard = tessera::TokenShard::open(path, check);
    if (!shard.ok()) continue;
    (void)shard->sample_checksum();
    if (check == tessera::ShardCheck::kQuick) (void)shard->verify_payload();
    if (shard->size() == 0) continue;
    volatile int64_t sum = shard->token(0) + shard->token(shard->size() - 1);
    (void)sum;
  }
  return 0;
}
