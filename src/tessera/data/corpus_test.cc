#include "tessera/data/corpus.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tessera/core/file.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;
using Docs = std::vector<std::string>;

TEST(Corpus, SplitsOnPercentAndBlankLines) {
  EXPECT_EQ(split_documents("one\ntwo\n%\nthree\n\nfour\r\n  \nfive"), (Docs{"one\ntwo", "three", "four", "five"}));
  EXPECT_EQ(split_documents("%\n%\n\n"), Docs{});
  EXPECT_EQ(split_documents(""), Docs{});
  // "%" only counts alone on its line (surrounding whitespace allowed); inner spacing is kept.
  EXPECT_EQ(split_documents("100% sure\n  indented\t tab\n % \nnext"), (Docs{"100% sure\n  indented\t tab", "next"}));
}

TEST(Corpus, BinaryDetection) {
  EXPECT_FALSE(looks_binary("plain text\nwith lines\tand tabs\n"));
  EXPECT_FALSE(looks_binary("overstrike_\b_ and \x1b[1mbold\x1b[0m"));
  EXPECT_TRUE(looks_binary(std::string("TSRTOKS\0\1\0\0\0", 12)));
  EXPECT_TRUE(looks_binary("\x01\x02\x03\x04 ab"));
  EXPECT_FALSE(looks_binary(""));
}

TEST(Corpus, WalksDirectoriesSortedSkippingIndexesAndBinaries) {
  const ScopedTempDir temp;
  const std::string d = temp.path();
  std::filesystem::create_directories(d + "/sub");
  ASSERT_TRUE(write_file_atomic(d + "/b", "bee\n").ok());
  ASSERT_TRUE(write_file_atomic(d + "/a", "ay\n").ok());
  ASSERT_TRUE(write_file_atomic(d + "/sub/c.txt", "sea\n").ok());
  ASSERT_TRUE(write_file_atomic(d + "/a.dat", "index").ok());
  ASSERT_TRUE(write_file_atomic(d + "/x.gz", "gz").ok());
  ASSERT_TRUE(write_file_atomic(d + "/shard", std::string("\0\0\0\0", 4)).ok());
  std::filesystem::create_symlink(d + "/a", d + "/a.link");
  ASSERT_TRUE(write_file_atomic(d + "/../tessera_corpus_extra.txt", "extra\n").ok());
  auto files = list_corpus_files({d, d + "/../tessera_corpus_extra.txt"});
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(*files, (Docs{d + "/a", d + "/b", d + "/sub/c.txt", d + "/../tessera_corpus_extra.txt"}));
  std::filesystem::remove(d + "/../tessera_corpus_extra.txt");
}

TEST(Corpus, InputErrors) {
  const ScopedTempDir temp;
  auto missing = list_corpus_files({temp.path() + "/nope"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "input '" + temp.path() + "/nope': no such file or directory");
  auto empty_dir = list_corpus_files({temp.path()});
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_NE(empty_dir.status().message().find("empty corpus"), std::string::npos);
  ASSERT_TRUE(write_file_atomic(temp.path() + "/bin", std::string("a\0b", 3)).ok());
  auto binary = list_corpus_files({temp.path() + "/bin"});
  ASSERT_FALSE(binary.ok());
  EXPECT_NE(binary.status().message().find("looks binary"), std::string::npos);
  EXPECT_FALSE(list_corpus_files({}).ok());
}

}  // namespace
}  // namespace tessera
