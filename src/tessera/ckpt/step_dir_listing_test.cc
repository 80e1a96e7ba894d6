// A committed step directory's listing round-trips; malformed listings are refused with the offset named.
#include "tessera/ckpt/step_dir_listing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "tessera/core/file.h"

namespace tessera {
namespace {

class StepDirListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / fmt::format("listing_test_{}", ::getpid())).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/step_00000003");
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/rank_00000.bin", std::string("\0\1\2binary", 9)).ok());
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/manifest.json", "{}").ok());
    ASSERT_TRUE(write_file_atomic(dir_ + "/step_00000003/COMMIT", "abc\n").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StepDirListingTest, ListsTheFilesInNameOrderAndRoundTrips) {
  auto files = list_step_dir(dir_ + "/step_00000003");
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].name, "COMMIT");
  EXPECT_EQ((*files)[0].size, 4u);
  EXPECT_EQ((*files)[2].name, "rank_00000.bin");
  EXPECT_EQ((*files)[2].size, 9u);
  auto decoded = decode_step_dir_listing(encode_step_dir_listing(*files));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*decoded)[i].name, (*files)[i].name);
    EXPECT_EQ((*decoded)[i].size, (*files)[i].size);
  }
}

TEST_F(StepDirListingTest, AnUncommittedDirectoryIsNotListed) {
  std::filesystem::remove(dir_ + "/step_00000003/COMMIT");
  EXPECT_EQ(list_step_dir(dir_ + "/step_00000003").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(StepDirListingTest, MalformedListingsAreRefused) {
  const std::string bytes = encode_step_dir_listing(*list_step_dir(dir_ + "/step_00000003"));
  for (size_t cut : {size_t{3}, size_t{12}, bytes.size() / 2, bytes.size() - 1}) {
    const auto decoded = decode_step_dir_listing(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss) << "cut at " << cut;
  }
  EXPECT_EQ(decode_step_dir_listing(bytes + "x").status().code(), StatusCode::kDataLoss) << "trailing bytes";
  std::string escaping = bytes;
  escaping.replace(escaping.find("COMMIT"), 6, "../../");  // a name that would leave the directory
  const auto decoded = decode_step_dir_listing(escaping);
  EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(decoded.status().message().find("plain file name"), std::string::npos) << decoded.status().message();
  const auto uncommitted = decode_step_dir_listing(encode_step_dir_listing({{.name = "manifest.json", .size = 2}}));
  EXPECT_NE(uncommitted.status().message().find("no COMMIT"), std::string::npos) << uncommitted.status().message();
}

}  // namespace
}  // namespace tessera
