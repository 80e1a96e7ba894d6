#include "tessera/ckpt/gguf_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gguf_reader.h"
#include "tessera/ckpt/gpt2_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(GgufExport, HalfAndBfloatConversionsRoundToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds up to infinity
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // a tie, to even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp: a tie, to even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie below: to even
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // tie above odd: up
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7c00, 0x7c00);
  EXPECT_NE(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x03ff, 0);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie to even
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(3.0f, -8)), 0x3f82);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_NE(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()) & 0x007f, 0);
}

TEST(GgufExport, WritesTheGpt2ArchitectureTokenizerAndAlignedTensors) {
  const testing_util::TempDir temp_dir;
  const ModelSpec spec = testing_util::tiny_gpt2_spec();
  const std::string step_dir = testing_util::write_gpt2_checkpoint(spec, temp_dir.path() + "/run/checkpoints");
  auto reader = CheckpointReader::open(step_dir);
  ASSERT_TRUE(reader.ok());
  auto vocab = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(280), "t.model");
  ASSERT_TRUE(vocab.ok());
  for (const GgufTensorType type : {GgufTensorType::kF32, GgufTensorType::kF16, GgufTensorType::kBF16}) {
    const std::string out = temp_dir.path() + "/m.gguf";
    auto summary = export_gguf(*reader, spec, *vocab, type, "tiny", out, /*force=*/true);
    ASSERT_TRUE(summary.ok()) << summary.status().to_string();
    const std::string bytes = *read_file(out);
    ASSERT_EQ(bytes.size(), summary->bytes);
    auto file = GgufReader::open(out);  // gguf_reader.h: every bound and offset checked
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    EXPECT_EQ(file->version(), 3u);
    EXPECT_EQ(*file->get_string("general.architecture"), "gpt2");
    EXPECT_EQ(*file->get_string("general.name"), "tiny");
    EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(*file->get_uint("gpt2.context_length"), 6u);
    EXPECT_EQ(*file->get_uint("gpt2.block_count"), 2u);
    EXPECT_EQ(*file->get_uint("gpt2.feed_forward_length"), 32u);
    EXPECT_EQ(*file->get_uint("tokenizer.ggml.eos_token_id"), 2u);
    EXPECT_FALSE(*file->get_bool("tokenizer.ggml.add_space_prefix"));
    EXPECT_FALSE(*file->get_bool("tokenizer.ggml.add_bos_token"));
    EXPECT_EQ(*file->get_float("gpt2.attention.layer_norm_epsilon"), 1e-5f);
    EXPECT_EQ(*file->get_uint("general.file_type"), type == GgufTensorType::kF32 ? 0u : type == GgufTensorType::kF16 ? 1u : 32u);
    // Padded to vocab_size 300: the 20 pieces past the tokenizer's 280 are UNUSED.
    const GgufValue& tokens = *file->find("tokenizer.ggml.tokens");
    const GgufValue& token_types = *file->find("tokenizer.ggml.token_type");
    ASSERT_EQ(tokens.strings.size(), 300u);
    ASSERT_EQ(token_types.integers.size(), 300u);
    EXPECT_EQ(file->find("tokenizer.ggml.scores")->floats.size(), 300u);
    EXPECT_EQ(tokens.strings[3 + 255], "<0xFF>");
    EXPECT_EQ(token_types.integers[3 + 255], 6);
    EXPECT_EQ(tokens.strings[290], "[PAD290]");
    EXPECT_EQ(token_types.integers[290], 5);
    EXPECT_EQ(file->tensors().size(), 2u + 12u * 2u + 2u);
    EXPECT_EQ(file->find_tensor("output.weight"), nullptr);
    const GgufTensor& qkv = *file->find_tensor("blk.1.attn_qkv.weight");
    EXPECT_EQ(qkv.ne, (std::vector<uint64_t>{8, 24}));  // innermost first: [3C, C] row-major
    EXPECT_EQ(qkv.ggml_type, type == GgufTensorType::kF32 ? 0u : type == GgufTensorType::kF16 ? 1u : 30u);
    EXPECT_EQ(file->find_tensor("blk.1.attn_qkv.bias")->ggml_type, 0u);  // 1-D: always f32
    // Tensor k = 2 + 12 + 2 (blk.1.attn_qkv.weight), element 9 = 16 + 9/4096: exact in f32, f16 and bf16
    // rounding as the exporter's converters do.
    const float expected = 16.0f + 9.0f / 4096.0f;
    const std::vector<float> values = *file->read_f32("blk.1.attn_qkv.weight");
    ASSERT_EQ(values.size(), 8u * 24u);
    if (type == GgufTensorType::kF32) {
      EXPECT_EQ(values[9], expected);
    } else {
      uint16_t half;
      std::memcpy(&half, qkv.data + 9 * 2, 2);
      EXPECT_EQ(half, type == GgufTensorType::kF16 ? f32_to_f16(expected) : f32_to_bf16(expected));
    }
    EXPECT_EQ(file->read_f32("output_norm.bias")->at(7), 27.0f + 7.0f / 4096.0f);
    // The last tensor ends the file, padded to the alignment.
    const GgufTensor& last = file->tensors().back();
    EXPECT_EQ((file->data_offset() + last.offset + last.bytes + 31) / 32 * 32, bytes.size());
  }
}

TEST(GgufExport, RefusesATokenizerWithoutBytePiecesAndBadTargets) {
  const testing_util::TempDir temp_dir;
  const ModelSpec spec = testing_util::tiny_gpt2_spec();
  const std::string step_dir = testing_util::write_gpt2_checkpoint(spec, temp_dir.path() + "/run/checkpoints");
  auto reader = CheckpointReader::open(step_dir);
  ASSERT_TRUE(reader.ok());
  auto no_bytes = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(40, false), "t.model");
  ASSERT_TRUE(no_bytes.ok());
  auto result = export_gguf(*reader, spec, *no_bytes, GgufTensorType::kF32, "x", temp_dir.path() + "/a.gguf", false);
  EXPECT_THAT(result.status().message(), HasSubstr("no byte piece <0x00>"));
  EXPECT_FALSE(path_exists(temp_dir.path() + "/a.gguf"));
  auto vocab = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(280), "t.model");
  result = export_gguf(*reader, spec, *vocab, GgufTensorType::kF16, "x", step_dir + "/rank_00000.bin", true);
  EXPECT_THAT(result.status().message(), HasSubstr("inside the checkpoint directory"));
  EXPECT_TRUE(reader->verify_all().ok());
  EXPECT_THAT(parse_gguf_tensor_type("q8_0").status().message(), HasSubstr("expected f32, f16 or bf16"));
}

}  // namespace
}  // namespace tessera
