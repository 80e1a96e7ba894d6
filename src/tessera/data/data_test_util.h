// Helpers shared by the data module's tests: a fresh temporary directory per test and a small,
// deterministic pseudo-English corpus (a few KB) to train tiny tokenizers on quickly.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "tessera/core/rng.h"

namespace tessera::testing_util {

// An empty directory unique to the running test, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& tag = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("tessera_data_" + std::string(info->test_suite_name()) + "_" + info->name() + tag + "_" +
              std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `documents` fortune-style entries separated by "%" lines, words drawn from a fixed list by the
// counter-based RNG keyed by `seed`: the same arguments give the same bytes.
inline std::string make_corpus(int documents, uint64_t seed = 1) {
  static constexpr const char* kWords[] = {
      "the",   "a",      "of",     "and",    "to",      "in",     "is",    "it",     "that",  "was",
      "for",   "on",     "are",    "with",   "as",      "his",    "they",  "be",     "at",    "one",
      "have",  "this",   "from",   "by",     "hot",     "word",   "but",   "what",   "some",  "we",
      "can",   "out",    "other",  "were",   "all",     "there",  "when",  "up",     "use",   "your",
      "how",   "said",   "an",     "each",   "she",     "which",  "do",    "their",  "time",  "if",
      "will",  "way",    "about",  "many",   "then",    "them",   "write", "would",  "like",  "so",
      "these", "her",    "long",   "make",   "thing",   "see",    "him",   "two",    "has",   "look",
      "more",  "day",    "could",  "go",     "come",    "did",    "number", "sound", "no",    "most",
      "people", "my",    "over",   "know",   "water",   "than",   "call",  "first",  "who",   "may",
      "down",  "side",   "been",   "now",    "find",    "computer", "fortune", "cookie", "Linux", "42"};
  constexpr uint64_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
  std::string text;
  for (int d = 0; d < documents; ++d) {
    RngStream rng(seed, RngPurpose::kTest, static_cast<uint64_t>(d));
    const int lines = 1 + static_cast<int>(rng.below(3));
    for (int l = 0; l < lines; ++l) {
      const int words = 4 + static_cast<int>(rng.below(8));
      for (int w = 0; w < words; ++w) {
        if (w > 0) text += ' ';
        text += kWords[rng.below(kNumWords)];
      }
      text += rng.below(4) == 0 ? "!\n" : ".\n";
    }
    text += "%\n";
  }
  return text;
}

}  // namespace tessera::testing_util
