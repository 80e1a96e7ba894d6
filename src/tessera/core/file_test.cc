#include "tessera/core/file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tessera/core/hash.h"

namespace tessera {
namespace {

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("tessera_file_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

TEST(File, AtomicWriteReplacesAndLeavesNoTemporary) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/x.txt";
  ASSERT_TRUE(write_file_atomic(path, "first").ok());
  ASSERT_TRUE(write_file_atomic(path, "second").ok());
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "second");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(File, MissingFileIsNotFoundWithThePath) {
  auto bytes = read_file("/nonexistent/tessera/file");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kNotFound);
  EXPECT_NE(bytes.status().message().find("/nonexistent/tessera/file"), std::string::npos);
  EXPECT_FALSE(MappedFile::open("/nonexistent/tessera/file").ok());
}

TEST(File, MappedFileSeesTheBytes) {
  const std::string path = temp_dir() + "/m.bin";
  ASSERT_TRUE(write_file_atomic(path, "hello mmap").ok());
  auto mapped = MappedFile::open(path);
  ASSERT_TRUE(mapped.ok());
  MappedFile moved = std::move(*mapped);
  ASSERT_EQ(moved.size(), 10u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(moved.data()), moved.size()), "hello mmap");
  EXPECT_EQ(hash_bytes(moved.data(), moved.size()), hash_bytes("hello mmap"));
}

TEST(Hash, StreamingEqualsOneShotAndDetectsAFlippedBit) {
  std::string data(100000, 'a');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  StreamingHash stream;
  stream.update(data.data(), 1234);
  stream.update(data.data() + 1234, data.size() - 1234);
  EXPECT_EQ(stream.digest(), hash_bytes(data));
  const uint64_t before = hash_bytes(data);
  data[777] ^= 1;
  EXPECT_NE(hash_bytes(data), before);
  EXPECT_EQ(hash_to_hex(0x1f), "0x000000000000001f");
}

}  // namespace
}  // namespace tessera
