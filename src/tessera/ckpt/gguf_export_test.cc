#include "tessera/ckpt/gguf_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gpt2_test_util.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

// A minimal GGUF reader for the test: enough to check what the exporter wrote.
struct GgufFile {
  std::map<std::string, std::string> strings;
  std::map<std::string, uint64_t> ints;  // u32 and bool values
  std::map<std::string, float> floats;
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  struct Tensor {
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
  };
  std::map<std::string, Tensor> tensors;
  size_t data_start = 0;
};

GgufFile parse_gguf(const std::string& bytes) {
  size_t pos = 0;
  const auto get = [&]<typename T>(T) {
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  };
  const auto get_string = [&] {
    const auto n = get(uint64_t{});
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  };
  GgufFile file;
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  pos = 4;
  EXPECT_EQ(get(uint32_t{}), 3u);
  const auto n_tensors = get(uint64_t{});
  const auto n_kv = get(uint64_t{});
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = get_string();
    const auto type = get(uint32_t{});
    if (type == 4) file.ints[key] = get(uint32_t{});
    else if (type == 7) file.ints[key] = get(uint8_t{});
    else if (type == 6) file.floats[key] = get(float{});
    else if (type == 8) file.strings[key] = get_string();
    else if (type == 9) {
      const auto element = get(uint32_t{});
      const auto count = get(uint64_t{});
      for (uint64_t j = 0; j < count; ++j) {
        if (element == 8) file.tokens.push_back(get_string());
        else if (element == 5) file.token_types.push_back(get(int32_t{}));
        else get(float{});
      }
    } else {
      ADD_FAILURE() << "unexpected type " << type << " of " << key;
      return file;
    }
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string name = get_string();
    GgufFile::Tensor t;
    const auto dims = get(uint32_t{});
    for (uint32_t d = 0; d < dims; ++d) t.ne.push_back(get(uint64_t{}));
    t.type = get(uint32_t{});
    t.offset = get(uint64_t{});
    file.tensors[name] = t;
  }
  file.data_start = (pos + 31) / 32 * 32;
  return file;
}

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
    const GgufFile file = parse_gguf(bytes);
    EXPECT_EQ(file.strings.at("general.architecture"), "gpt2");
    EXPECT_EQ(file.strings.at("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(file.ints.at("gpt2.context_length"), 6u);
    EXPECT_EQ(file.ints.at("gpt2.block_count"), 2u);
    EXPECT_EQ(file.ints.at("gpt2.feed_forward_length"), 32u);
    EXPECT_EQ(file.ints.at("tokenizer.ggml.eos_token_id"), 2u);
    EXPECT_EQ(file.ints.at("tokenizer.ggml.add_space_prefix"), 0u);
    EXPECT_EQ(file.floats.at("gpt2.attention.layer_norm_epsilon"), 1e-5f);
    EXPECT_EQ(file.ints.at("general.file_type"), type == GgufTensorType::kF32 ? 0u : type == GgufTensorType::kF16 ? 1u : 32u);
    // Padded to vocab_size 300: the 20 pieces past the tokenizer's 280 are UNUSED.
    ASSERT_EQ(file.tokens.size(), 300u);
    EXPECT_EQ(file.tokens[3 + 255], "<0xFF>");
    EXPECT_EQ(file.token_types[3 + 255], 6);
    EXPECT_EQ(file.tokens[290], "[PAD290]");
    EXPECT_EQ(file.token_types[290], 5);
    EXPECT_EQ(file.tensors.size(), 2u + 12u * 2u + 2u);
    EXPECT_EQ(file.tensors.count("output.weight"), 0u);
    const GgufFile::Tensor& qkv = file.tensors.at("blk.1.attn_qkv.weight");
    EXPECT_EQ(qkv.ne, (std::vector<uint64_t>{8, 24}));  // innermost first: [3C, C] row-major
    EXPECT_EQ(qkv.type, type == GgufTensorType::kF32 ? 0u : type == GgufTensorType::kF16 ? 1u : 30u);
    EXPECT_EQ(qkv.offset % 32, 0u);
    EXPECT_EQ(file.tensors.at("blk.1.attn_qkv.bias").type, 0u);  // 1-D: always f32
    // Tensor k = 2 + 12 + 2 (blk.1.attn_qkv.weight), element 9 = 16 + 9/4096.
    const char* data = bytes.data() + file.data_start + qkv.offset;
    const float expected = 16.0f + 9.0f / 4096.0f;
    if (type == GgufTensorType::kF32) {
      float v;
      std::memcpy(&v, data + 9 * 4, 4);
      EXPECT_EQ(v, expected);
    } else {
      uint16_t v;
      std::memcpy(&v, data + 9 * 2, 2);
      EXPECT_EQ(v, type == GgufTensorType::kF16 ? f32_to_f16(expected) : f32_to_bf16(expected));
    }
    const GgufFile::Tensor& lnf = file.tensors.at("output_norm.bias");
    float last;
    std::memcpy(&last, bytes.data() + file.data_start + lnf.offset + 7 * 4, 4);
    EXPECT_EQ(last, 27.0f + 7.0f / 4096.0f);
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
