#include "tessera/data/tokenizer.h"

#include <gtest/gtest.h>

#include "tessera/core/file.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;
using testing_util::make_corpus;

// Trains one small tokenizer (vocab 400 on ~10 KB) for the tests below.
std::string train_small(const std::string& dir, int64_t vocab = 400) {
  const std::string corpus = dir + "/corpus.txt";
  EXPECT_TRUE(write_file_atomic(corpus, make_corpus(150)).ok());
  const Status status = Tokenizer::train({corpus}, dir + "/tok", vocab);
  EXPECT_TRUE(status.ok()) << status.message();
  return dir + "/tok.model";
}

TEST(Tokenizer, TrainLoadRoundTripsAnyText) {
  const ScopedTempDir temp;
  const std::string& dir = temp.path();
  auto tokenizer = Tokenizer::load(train_small(dir));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  EXPECT_EQ(tokenizer->vocab_size(), 400);
  ASSERT_GE(tokenizer->eos_id(), 0);
  EXPECT_EQ(tokenizer->piece(tokenizer->eos_id()), "</s>");
  // Known words, unseen characters (byte fallback), newlines, tabs, repeated and leading spaces.
  for (const std::string text :
       {"the computer said what the fortune cookie said.", "Zebra quux\twith  two  spaces\nand a newline",
        "  leading spaces and trailing ones  ", "unicode: na\xc3\xafve caf\xc3\xa9 \xe2\x82\xac 100", "42"}) {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    ASSERT_FALSE(ids.empty());
    for (int32_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, tokenizer->vocab_size());
      EXPECT_NE(id, 0) << "no <unk> with byte fallback: " << text;
    }
    EXPECT_EQ(tokenizer->decode(ids), text);
  }
  // BPE merged frequent words: well under one token per byte.
  const std::string common = "the computer fortune cookie";
  EXPECT_LT(tokenizer->encode(common).size(), common.size() / 2);
}

TEST(Tokenizer, EosDecodesToNothingBetweenDocuments) {
  const ScopedTempDir temp;
  const std::string& dir = temp.path();
  auto tokenizer = Tokenizer::load(train_small(dir));
  ASSERT_TRUE(tokenizer.ok());
  std::vector<int32_t> ids = tokenizer->encode("one");
  ids.push_back(tokenizer->eos_id());
  const std::vector<int32_t> two = tokenizer->encode("two");
  ids.insert(ids.end(), two.begin(), two.end());
  EXPECT_EQ(tokenizer->decode(ids), "onetwo");
}

TEST(Tokenizer, TrainingIsDeterministic) {
  const ScopedTempDir temp;
  const std::string& dir = temp.path();
  const std::string a = train_small(dir, 380);
  auto first = read_file(a);
  ASSERT_TRUE(first.ok());
  const std::string b = train_small(dir, 380);
  auto second = read_file(b);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(Tokenizer, MovedTokenizerStillWorks) {
  const ScopedTempDir temp;
  const std::string& dir = temp.path();
  auto loaded = Tokenizer::load(train_small(dir));
  ASSERT_TRUE(loaded.ok());
  Tokenizer moved = std::move(*loaded);
  EXPECT_EQ(moved.decode(moved.encode("the day")), "the day");
}

TEST(Tokenizer, BadInputsAreErrorsNamingThePath) {
  const ScopedTempDir temp;
  const std::string& dir = temp.path();
  auto missing = Tokenizer::load(dir + "/missing.model");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir + "/missing.model"), std::string::npos);

  ASSERT_TRUE(write_file_atomic(dir + "/junk.model", "this is not a protobuf").ok());
  auto junk = Tokenizer::load(dir + "/junk.model");
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("junk.model"), std::string::npos);

  const Status no_file = Tokenizer::train({dir + "/nope.txt"}, dir + "/t", 400);
  ASSERT_FALSE(no_file.ok());
  EXPECT_NE(no_file.message().find("nope.txt"), std::string::npos);

  ASSERT_TRUE(write_file_atomic(dir + "/c.txt", make_corpus(20)).ok());
  const Status tiny = Tokenizer::train({dir + "/c.txt"}, dir + "/t", 100);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.message().find("vocab size 100"), std::string::npos) << tiny.message();

  // SentencePiece's failures in Tessera's words: no source file, line or condition of its own.
  const auto expect_own_words = [](const Status& status, const std::string& want) {
    ASSERT_FALSE(status.ok()) << want;
    EXPECT_NE(status.message().find(want), std::string::npos) << status.message();
    for (const char* internal : {".cc(", "Internal", "required_chars", "trainer_spec", "\n"}) {
      EXPECT_EQ(status.message().find(internal), std::string::npos) << status.message();
    }
  };
  const Status too_big = Tokenizer::train({dir + "/c.txt"}, dir + "/t", 5000);
  expect_own_words(too_big, "tokenizer '" + dir + "/t.model': vocab size 5000 is more than this text can make (at most ");
  EXPECT_NE(too_big.message().find("; hint: use --vocab-size "), std::string::npos) << too_big.message();
  std::string many_characters;  // 150 distinct CJK characters: more pieces than a vocab of 300 leaves
  for (int line = 0; line < 200; ++line) {
    for (int c = 0; c < 20; ++c) {
      const int code = 0x4e00 + (line * 20 + c) * 7 % 150;
      many_characters += static_cast<char>(0xe0 | (code >> 12));
      many_characters += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      many_characters += static_cast<char>(0x80 | (code & 0x3f));
    }
    many_characters += '\n';
  }
  ASSERT_TRUE(write_file_atomic(dir + "/cjk.txt", many_characters).ok());
  const Status too_small = Tokenizer::train({dir + "/cjk.txt"}, dir + "/t", 300);
  expect_own_words(too_small, "vocab size 300 is too small for this text (it needs at least ");
  EXPECT_NE(too_small.message().find("; hint: use --vocab-size "), std::string::npos) << too_small.message();
  ASSERT_TRUE(write_file_atomic(dir + "/long.txt", std::string(5000, 'a') + "\n").ok());
  expect_own_words(Tokenizer::train({dir + "/long.txt"}, dir + "/t", 300),
                   "no line of the text is short enough to train a tokenizer on (lines over 4192 bytes are skipped)");
  EXPECT_EQ(junk.status().message(), "tokenizer '" + dir + "/junk.model': not a tokenizer model (22 bytes that do "
                                     "not parse as a SentencePiece model); hint: use a tokenizer.model written by "
                                     "tessera data prepare");

  ASSERT_TRUE(write_file_atomic(dir + "/empty.txt", "\n\n").ok());
  const Status empty = Tokenizer::train({dir + "/empty.txt"}, dir + "/t", 400);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("no training text"), std::string::npos) << empty.message();
  EXPECT_FALSE(path_exists(dir + "/t.model"));
}

}  // namespace
}  // namespace tessera
