#include "tessera/ckpt/sentencepiece_vocab.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/ckpt/gpt2_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(SentencePieceVocab, ReadsPiecesScoresTypesAndTheNormalizer) {
  auto vocab = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(270), "t.model");
  ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
  ASSERT_EQ(vocab->size(), 270);
  EXPECT_EQ(vocab->pieces[0], "<unk>");
  EXPECT_EQ(vocab->types[0], PieceType::kUnknown);
  EXPECT_EQ(vocab->types[2], PieceType::kControl);
  EXPECT_EQ(vocab->pieces[3 + 0x41], "<0x41>");
  EXPECT_EQ(vocab->types[3 + 0x41], PieceType::kByte);
  EXPECT_EQ(vocab->pieces[261], "\xe2\x96\x81" "a2");
  EXPECT_EQ(vocab->types[261], PieceType::kNormal);  // type absent: NORMAL
  EXPECT_EQ(vocab->scores[261], -2.0f);
  EXPECT_FALSE(vocab->add_dummy_prefix);
  EXPECT_EQ(vocab->find("</s>", PieceType::kControl), 2);
  EXPECT_EQ(vocab->find("</s>", PieceType::kNormal), -1);
}

TEST(SentencePieceVocab, RefusesWhatIsNotAModel) {
  std::string bytes = testing_util::sentencepiece_model_bytes(270);
  auto truncated = parse_sentencepiece_vocab(bytes.substr(0, bytes.size() / 2), "t.model");
  EXPECT_THAT(truncated.status().message(), HasSubstr("tokenizer 't.model' is not a SentencePiece model"));
  auto text = parse_sentencepiece_vocab("[model]\nn_layer = 2\n", "c.toml");
  EXPECT_FALSE(text.ok());
  auto empty = parse_sentencepiece_vocab("", "e.model");
  EXPECT_THAT(empty.status().message(), HasSubstr("no pieces"));
}

}  // namespace
}  // namespace tessera
