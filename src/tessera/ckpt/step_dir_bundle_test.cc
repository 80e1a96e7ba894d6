// A committed step directory packs into one byte string and unpacks byte-identical; malformed bundles are
// refused whole, leaving nothing behind.
#include "tessera/ckpt/step_dir_bundle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "tessera/core/file.h"

namespace tessera {
namespace {

class StepDirBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / fmt::format("bundle_test_{}", ::getpid())).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/step_00000003");
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/rank_00000.bin", std::string("\0\1\2binary", 9)).ok());
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/manifest.json", "{}").ok());
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/COMMIT", "abc\n").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StepDirBundleTest, RoundTripIsByteIdentical) {
  auto bundle = pack_step_dir(dir_ + "/step_00000003");
  ASSERT_TRUE(bundle.ok()) << bundle.status().message();
  ASSERT_TRUE(unpack_step_dir(*bundle, dir_ + "/copy").ok());
  for (const char* file : {"rank_00000.bin", "manifest.json", "COMMIT"}) {
    EXPECT_EQ(*read_file(dir_ + "/copy/" + file), *read_file(dir_ + "/step_00000003/" + file)) << file;
  }
  EXPECT_EQ(unpack_step_dir(*bundle, dir_ + "/copy").code(), StatusCode::kFailedPrecondition) << "never overwrites";
}

TEST_F(StepDirBundleTest, AnUncommittedDirectoryIsNotPacked) {
  std::filesystem::remove(dir_ + "/step_00000003/COMMIT");
  EXPECT_EQ(pack_step_dir(dir_ + "/step_00000003").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(StepDirBundleTest, MalformedBundlesAreRefusedAndLeaveNothing) {
  const std::string bundle = *pack_step_dir(dir_ + "/step_00000003");
  for (size_t cut : {size_t{3}, size_t{12}, bundle.size() / 2, bundle.size() - 1}) {
    const Status status = unpack_step_dir(std::string_view(bundle).substr(0, cut), dir_ + "/cut");
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << "cut at " << cut << ": " << status.message();
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/cut")) << "cut at " << cut;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/cut.tmp")) << "cut at " << cut;
  }
  std::string trailing = bundle + "x";
  EXPECT_EQ(unpack_step_dir(trailing, dir_ + "/t").code(), StatusCode::kDataLoss);
  std::string escaping = bundle;
  const size_t at = escaping.find("COMMIT");
  escaping.replace(at, 6, "../../");  // a name that would leave the directory
  const Status status = unpack_step_dir(escaping, dir_ + "/escape");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.message();
  EXPECT_NE(status.message().find("plain file name"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace tessera
