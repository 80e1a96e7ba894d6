// Helpers shared by the ckpt tests: a fresh temp directory per test, and tensors whose values encode
// their global coordinates so that any misplaced byte shows up.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/core/file.h"
#include "tessera/core/tensor.h"

namespace tessera::testing_util {

// An empty directory unique to the running test, removed again when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             (std::string("tessera_ckpt_") + info->test_suite_name() + "_" + info->name() + "_" +
              std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Row-major f32 values v[i] = 1000 * i + 0.25 (exact in f32 for small i): distinct per element.
inline std::vector<float> iota_values(int64_t numel, float base = 0.25f) {
  std::vector<float> values(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) values[static_cast<size_t>(i)] = 1000.0f * static_cast<float>(i) + base;
  return values;
}

// The box [offset, offset + shape) of a row-major tensor of `global` shape, copied out.
template <typename T>
std::vector<T> extract_box(const std::vector<T>& whole, const std::vector<int64_t>& global,
                           const std::vector<int64_t>& offset, const std::vector<int64_t>& shape) {
  std::vector<T> out;
  const size_t rank = global.size();
  std::vector<int64_t> index(rank, 0);
  const int64_t numel = shape_numel(shape);
  for (int64_t n = 0; n < numel; ++n) {
    int64_t flat = 0;
    for (size_t d = 0; d < rank; ++d) flat = flat * global[d] + offset[d] + index[d];
    out.push_back(whole[static_cast<size_t>(flat)]);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

// Flips one bit of the byte at `offset` of the file at `path`.
inline void flip_byte(const std::string& path, size_t offset) {
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  ASSERT_LT(offset, bytes->size());
  (*bytes)[offset] ^= 0x10;
  ASSERT_TRUE(write_file_atomic(path, *bytes).ok());
}

}  // namespace tessera::testing_util
