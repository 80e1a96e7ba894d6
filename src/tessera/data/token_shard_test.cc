#include "tessera/data/token_shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "tessera/core/hash.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;

std::vector<int32_t> ramp(int64_t n, int64_t vocab) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % vocab);
  return tokens;
}

// A plain (not fsynced) overwrite: the corruption tests rewrite files many times.
void overwrite(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Reads a shard, lets `mutate` change its bytes, writes it back.
void corrupt(const std::string& path, const std::function<void(std::string&)>& mutate) {
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok());
  mutate(*bytes);
  overwrite(path, *bytes);
}

// Re-seals the header checksum after a deliberate header edit (docs/data_format.md: XXH3-64 of [0, 56)).
void reseal_header(std::string& bytes) {
  const uint64_t h = hash_bytes(bytes.data(), kTokenShardHeaderChecksumOffset);
  std::memcpy(bytes.data() + kTokenShardHeaderChecksumOffset, &h, 8);
}

std::string open_error(const std::string& path) {
  auto shard = TokenShard::open(path);
  EXPECT_FALSE(shard.ok());
  return shard.ok() ? "" : shard.status().message();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(TokenShard, WriteReadRoundTripU16AndU32) {
  const ScopedTempDir temp;
  for (const int64_t vocab : {int64_t{1000}, int64_t{65536}, int64_t{65537}, int64_t{100000}}) {
    const std::string path = temp.path() + "/s.bin";
    const std::vector<int32_t> tokens = ramp(5000, vocab);
    ASSERT_TRUE(write_token_shard(path, tokens, vocab).ok());
    auto shard = TokenShard::open(path);
    ASSERT_TRUE(shard.ok()) << shard.status().message();
    EXPECT_EQ(shard->size(), 5000);
    EXPECT_EQ(shard->vocab_size(), vocab);
    EXPECT_EQ(shard->dtype(), vocab <= 65536 ? DType::kU16 : DType::kU32);
    EXPECT_EQ(std::filesystem::file_size(path), 64 + 5000 * dtype_size(shard->dtype()));
    for (int64_t i = 0; i < 5000; ++i) ASSERT_EQ(shard->token(i), tokens[static_cast<size_t>(i)]);
    std::vector<int32_t> window(100);
    shard->copy_tokens(4900, 100, window.data());
    EXPECT_TRUE(std::equal(window.begin(), window.end(), tokens.begin() + 4900));
  }
}

TEST(TokenShard, HeaderIsLittleEndianAsDocumented) {
  const ScopedTempDir temp;
  const std::string path = temp.path() + "/s.bin";
  ASSERT_TRUE(write_token_shard(path, {1, 2, 258}, 300).ok());
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), 64u + 6u);
  const auto* b = reinterpret_cast<const uint8_t*>(bytes->data());
  EXPECT_EQ(std::string(bytes->data(), 7), "TSRTOKS");
  EXPECT_EQ(b[7], 0);
  EXPECT_EQ(b[8], 1);    // version
  EXPECT_EQ(b[12], 2);   // u16
  EXPECT_EQ(b[16], 44);  // vocab 300 = 0x012c
  EXPECT_EQ(b[17], 1);
  EXPECT_EQ(b[24], 3);  // count
  uint64_t payload_checksum = 0;
  std::memcpy(&payload_checksum, b + 32, 8);
  EXPECT_EQ(payload_checksum, hash_bytes(b + 64, 6));
  for (int i = 40; i < 56; ++i) EXPECT_EQ(b[i], 0) << "reserved byte " << i;
  EXPECT_EQ(b[64 + 4], 2);  // 258 = 0x0102, low byte first
  EXPECT_EQ(b[64 + 5], 1);
}

TEST(TokenShard, RawHeaderReadsWithoutValidation) {
  const ScopedTempDir temp;
  const std::string path = temp.path() + "/s.bin";
  ASSERT_TRUE(write_token_shard(path, {5, 6, 7}, 100000).ok());
  corrupt(path, [](std::string& b) { b += "junk"; });
  auto header = read_token_shard_header(path);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->magic, kTokenShardMagic);
  EXPECT_EQ(header->version, 1u);
  EXPECT_EQ(header->dtype_code, 3u);
  EXPECT_EQ(header->vocab_size, 100000u);
  EXPECT_EQ(header->token_count, 3u);
  EXPECT_EQ(header->file_size, 64u + 12u + 4u);
  EXPECT_FALSE(TokenShard::open(path).ok());
  corrupt(path, [](std::string& b) { b.resize(63); });
  EXPECT_FALSE(read_token_shard_header(path).ok());
}

TEST(TokenShard, EmptyShardIsValid) {
  const ScopedTempDir temp;
  ASSERT_TRUE(write_token_shard(temp.path() + "/e.bin", {}, 10).ok());
  auto shard = TokenShard::open(temp.path() + "/e.bin");
  ASSERT_TRUE(shard.ok()) << shard.status().message();
  EXPECT_EQ(shard->size(), 0);
}

TEST(TokenShard, WriterRejectsOutOfVocabTokens) {
  const ScopedTempDir temp;
  const std::string path = temp.path() + "/w.bin";
  const Status status = write_token_shard(path, {1, 2, 10}, 10);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "token 10 at position 2")) << status.message();
  EXPECT_TRUE(contains(status.message(), path));
  EXPECT_FALSE(write_token_shard(path, {-1}, 10).ok());
  EXPECT_FALSE(write_token_shard(path, {0}, 0).ok());
  EXPECT_FALSE(path_exists(path));
}

class TokenShardCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = temp_.path() + "/train_000.bin";
    ASSERT_TRUE(write_token_shard(path_, ramp(1000, 1000), 1000).ok());
  }
  ScopedTempDir temp_;
  std::string path_;
};

TEST_F(TokenShardCorruption, MissingFile) {
  const std::string message = open_error(temp_.path() + "/nope.bin");
  EXPECT_TRUE(contains(message, "nope.bin")) << message;
}

TEST_F(TokenShardCorruption, ShorterThanHeader) {
  corrupt(path_, [](std::string& b) { b.resize(10); });
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, path_) && contains(message, "10 bytes") && contains(message, "64-byte header"))
      << message;
  corrupt(path_, [](std::string& b) { b.clear(); });
  EXPECT_TRUE(contains(open_error(path_), "0 bytes"));
}

TEST_F(TokenShardCorruption, Truncated) {
  corrupt(path_, [](std::string& b) { b.resize(b.size() - 3); });
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, path_) && contains(message, "file is 2061 bytes, expected 2064") &&
              contains(message, "truncated"))
      << message;
}

TEST_F(TokenShardCorruption, TrailingBytes) {
  corrupt(path_, [](std::string& b) { b += "xy"; });
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, "file is 2066 bytes, expected 2064") && contains(message, "trailing bytes"))
      << message;
}

TEST_F(TokenShardCorruption, FlippedPayloadByte) {
  corrupt(path_, [](std::string& b) { b[64 + 777] ^= 0x01; });
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, path_) && contains(message, "payload checksum mismatch (expected 0x") &&
              contains(message, ", found 0x"))
      << message;
}

TEST_F(TokenShardCorruption, FlippedHeaderByte) {
  corrupt(path_, [](std::string& b) { b[24] ^= 0x04; });  // the token count
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, "header checksum mismatch")) << message;
}

TEST_F(TokenShardCorruption, BadMagic) {
  corrupt(path_, [](std::string& b) { b[0] = 'X'; });
  const std::string message = open_error(path_);
  EXPECT_TRUE(contains(message, path_) && contains(message, "bad magic") && contains(message, "TSRTOKS"))
      << message;
}

TEST_F(TokenShardCorruption, UnknownVersionAndDtype) {
  corrupt(path_, [](std::string& b) { b[8] = 9; reseal_header(b); });
  EXPECT_TRUE(contains(open_error(path_), "unknown format version 9 (expected 1)"));
  ASSERT_TRUE(write_token_shard(path_, ramp(1000, 1000), 1000).ok());
  corrupt(path_, [](std::string& b) { b[12] = 0; reseal_header(b); });
  EXPECT_TRUE(contains(open_error(path_), "unknown dtype code 0"));
}

TEST_F(TokenShardCorruption, TokenAtLeastVocabSize) {
  // A shard whose checksums are intact but whose header promises a smaller vocabulary than its ids
  // use: vocab 1000 → 500; the first id >= 500 is 7919 % 1000 = 919 at position 1.
  corrupt(path_, [](std::string& b) {
    b[16] = static_cast<char>(500 & 0xff);
    b[17] = static_cast<char>(500 >> 8);
    reseal_header(b);
  });
  const std::string message = open_error(path_);
  EXPECT_EQ(message, "shard '" + path_ + "': token 919 at position 1 is >= vocab size 500");
}

// The range scan reads blocks on little-endian hosts and value by value for the tail: one token >= the
// header's vocab size is found wherever it sits, for both widths, by the full check only.
TEST(TokenShard, OneOutOfVocabTokenIsFoundAnywhere) {
  const ScopedTempDir temp;
  const std::string path = temp.path() + "/s.bin";
  for (const int64_t vocab : {int64_t{60000}, int64_t{200000}}) {
    const int64_t bad = vocab - 100;  // stored with the header's vocab lowered to `bad`
    for (const int64_t position : {int64_t{0}, int64_t{1023}, int64_t{1024}, int64_t{2048}, int64_t{5000},
                                   int64_t{9999}}) {
      std::vector<int32_t> tokens = ramp(10000, 1000);
      tokens[static_cast<size_t>(position)] = static_cast<int32_t>(bad);
      ASSERT_TRUE(write_token_shard(path, tokens, vocab).ok());
      ASSERT_TRUE(TokenShard::open(path).ok());
      corrupt(path, [bad](std::string& b) {
        for (int i = 0; i < 8; ++i) b[16 + i] = static_cast<char>(static_cast<uint64_t>(bad) >> (8 * i));
        reseal_header(b);
      });
      EXPECT_EQ(open_error(path), fmt::format("shard '{}': token {} at position {} is >= vocab size {}", path, bad,
                                              position, bad));
      auto quick = TokenShard::open(path, ShardCheck::kQuick);
      ASSERT_TRUE(quick.ok()) << quick.status().message();
      EXPECT_FALSE(quick->verify_payload().ok());
    }
  }
}

TEST_F(TokenShardCorruption, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = read_file(path_);
  ASSERT_TRUE(bytes.ok());
  for (size_t keep = 0; keep < bytes->size(); keep += 37) {
    overwrite(path_, bytes->substr(0, keep));
    EXPECT_FALSE(TokenShard::open(path_).ok()) << "kept " << keep << " bytes";
  }
}

}  // namespace
}  // namespace tessera
