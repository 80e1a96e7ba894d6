#include "tessera/ckpt/checkpoint_inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gguf_export.h"
#include "tessera/ckpt/gpt2_test_util.h"
#include "tessera/ckpt/safetensors_export.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(CheckpointInspect, ListsStepMetadataTensorsAndScalars) {
  const testing_util::TempDir temp_dir;
  const std::string dir = temp_dir.path();
  std::vector<float> wte(6 * 4, 1.0f);
  SnapshotWriter writer;
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, wte.data()}, {6, 4}, {0, 0});
  writer.write_tensor_shard(TensorView{"model.wte", DType::kF32, {3, 4}, wte.data()}, {6, 4}, {3, 0});
  writer.write_tensor(TensorView{"optim.m", DType::kBF16, {8}, wte.data()});
  writer.write_int("train.step", 42);
  writer.write_double("lr", 0.5);
  writer.write_string("note", std::string("a\nb\x01", 4));
  writer.set_metadata("config", std::string(2048, 'x'));
  auto path = write_checkpoint(writer, 42, dir);
  ASSERT_TRUE(path.ok());
  auto reader = CheckpointReader::open(*path);
  ASSERT_TRUE(reader.ok());
  const std::string text = describe_checkpoint(*reader);
  EXPECT_THAT(text, HasSubstr("step        42\n"));
  EXPECT_THAT(text, HasSubstr("format      tessera-checkpoint v1\n"));
  EXPECT_THAT(text, HasSubstr("metadata    config (2.0 KiB)\n"));
  EXPECT_THAT(text, HasSubstr("data files  1\n  rank_00000.bin           144 bytes\n"));  // 48 + pad 16 + 48 + pad 16 + 16
  EXPECT_THAT(text, HasSubstr("tensors     2 (112 B)\n"));
  EXPECT_THAT(text, HasSubstr("  model.wte  f32   [6, 4]     2 chunks            96 bytes\n"));
  EXPECT_THAT(text, HasSubstr("  optim.m    bf16  [8]        1 chunk             16 bytes\n"));
  EXPECT_THAT(text, HasSubstr("scalars     3\n"));
  EXPECT_THAT(text, HasSubstr("  train.step  i64     42\n"));
  EXPECT_THAT(text, HasSubstr("  lr          f64     0.5\n"));
  EXPECT_THAT(text, HasSubstr("  note        string  \"a\\nb\\x01\"\n"));
}

TEST(CheckpointInspect, DescribesGgufAndSafetensorsExports) {
  const testing_util::TempDir temp_dir;
  const ModelSpec spec = testing_util::tiny_gpt2_spec();  // L=2, C=8, T=6, V=300
  auto reader = CheckpointReader::open(testing_util::write_gpt2_checkpoint(spec, temp_dir.path() + "/run/checkpoints"));
  ASSERT_TRUE(reader.ok());
  auto vocab = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(280), "t.model");
  ASSERT_TRUE(vocab.ok());
  const std::string gguf_path = temp_dir.path() + "/m.gguf";
  ASSERT_TRUE(export_gguf(*reader, spec, *vocab, GgufTensorType::kF16, "tiny", gguf_path, false).ok());
  auto gguf = GgufReader::open(gguf_path);
  ASSERT_TRUE(gguf.ok()) << gguf.status().to_string();
  const std::string text = describe_gguf(*gguf);
  EXPECT_THAT(text, HasSubstr("version     3, alignment 32, data from byte "));
  EXPECT_THAT(text, HasSubstr("  general.architecture               string    \"gpt2\"\n"));
  EXPECT_THAT(text, HasSubstr("  gpt2.context_length                u32       6\n"));
  EXPECT_THAT(text, HasSubstr("  tokenizer.ggml.add_bos_token       bool      false\n"));
  EXPECT_THAT(text, HasSubstr("  tokenizer.ggml.tokens              [string]  300 elements: \"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", ...\n"));
  EXPECT_THAT(text, HasSubstr("  tokenizer.ggml.token_type          [i32]     300 elements: 2, 3, 3, 6, ...\n"));
  EXPECT_THAT(text, HasSubstr("  gpt2.attention.layer_norm_epsilon  f32       1e-05\n"));
  EXPECT_THAT(text, HasSubstr("tensors     28 ("));
  // token_embd {C, V} = {8, 300} in f16: 4800 bytes at the start of the data.
  EXPECT_THAT(text, HasSubstr("  token_embd.weight         f16      {8, 300}          4800 bytes at +0\n"));
  EXPECT_THAT(text, HasSubstr("  blk.0.attn_norm.bias      f32      {8}                 32 bytes at +4928\n"));

  const std::string st_path = temp_dir.path() + "/m.safetensors";
  ASSERT_TRUE(export_safetensors(*reader, st_path, "model.", false).ok());
  auto st = SafetensorsReader::open(st_path);
  ASSERT_TRUE(st.ok());
  const std::string st_text = describe_safetensors(*st);
  EXPECT_THAT(st_text, HasSubstr("tensors     28 ("));
  EXPECT_THAT(st_text, HasSubstr("  model.wte  "));
  EXPECT_THAT(st_text, HasSubstr("F32   [300, 8]  "));
}

TEST(CheckpointInspect, FormatsBytesForPeople) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
}

}  // namespace
}  // namespace tessera
