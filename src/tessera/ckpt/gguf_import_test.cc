#include "tessera/ckpt/gguf_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gguf_export.h"
#include "tessera/ckpt/gpt2_test_util.h"
#include "tessera/ckpt/safetensors_reader.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

class GgufImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    step_dir_ = testing_util::write_gpt2_checkpoint(spec_, temp_dir_.path() + "/run/checkpoints");
    auto vocab = parse_sentencepiece_vocab(testing_util::sentencepiece_model_bytes(280), "t.model");
    ASSERT_TRUE(vocab.ok());
    vocab_ = *vocab;
  }
  // Exports the checkpoint in `step_dir` as GGUF of `type` named "tiny"; returns the file's path.
  std::string export_to(const std::string& step_dir, GgufTensorType type, const std::string& name) {
    auto reader = CheckpointReader::open(step_dir);
    EXPECT_TRUE(reader.ok());
    const std::string path = temp_dir_.path() + "/" + name;
    auto summary = export_gguf(*reader, spec_, vocab_, type, "tiny", path, /*force=*/true);
    EXPECT_TRUE(summary.ok()) << summary.status().to_string();
    return path;
  }
  std::string patched(const std::string& path, const std::string& from, const std::string& to) {
    std::string bytes = *read_file(path);
    const size_t at = bytes.find(from);
    EXPECT_NE(at, std::string::npos);
    bytes.replace(at, from.size(), to);
    const std::string out = path + ".patched";
    EXPECT_TRUE(write_file_atomic(out, bytes).ok());
    return out;
  }

  testing_util::TempDir temp_dir_;
  ModelSpec spec_ = testing_util::tiny_gpt2_spec();  // L=2, NH=2, C=8, T=6, V=300
  std::string step_dir_;
  SentencePieceVocab vocab_;
};

TEST_F(GgufImportTest, ReadsBackWhatExportWroteAndReExportsItByteForByte) {
  for (const GgufTensorType type : {GgufTensorType::kF32, GgufTensorType::kF16}) {
    const std::string first = export_to(step_dir_, type, "first.gguf");
    auto model = read_gguf_gpt2(first);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    EXPECT_EQ(model->spec.n_layer, 2);
    EXPECT_EQ(model->spec.n_head, 2);
    EXPECT_EQ(model->spec.n_embd, 8);
    EXPECT_EQ(model->spec.seq_len, 6);
    EXPECT_EQ(model->spec.vocab_size, 300);
    const auto names = gpt2_tensor_names(spec_);
    ASSERT_EQ(model->tensors.size(), names.size());
    // Tensor k element i = k + i/4096 (gpt2_test_util.h): exact in f32; in f16 the 2-D matrices are rounded.
    for (size_t k = 0; k < names.size(); ++k) {
      EXPECT_EQ(model->tensors[k].first, names[k].tessera);
      const std::vector<float>& values = model->tensors[k].second;
      ASSERT_EQ(values.size(), static_cast<size_t>(shape_numel(names[k].shape)));
      const float expected = static_cast<float>(k) + static_cast<float>(values.size() - 1) / 4096.0f;
      if (type == GgufTensorType::kF32 || names[k].shape.size() == 1) {
        EXPECT_EQ(values.back(), expected) << names[k].tessera;
      } else {
        EXPECT_EQ(values.back(), f16_to_f32(f32_to_f16(expected))) << names[k].tessera;
      }
    }
    EXPECT_EQ(model->vocab.pieces, [&] {
      std::vector<std::string> padded = vocab_.pieces;
      for (int id = 280; id < 300; ++id) padded.push_back("[PAD" + std::to_string(id) + "]");
      return padded;
    }());
    EXPECT_TRUE(check_gguf_vocab(model->vocab, first, vocab_, "t.model").ok());

    // The imported tensors written as a checkpoint and exported again: the same file, byte for byte.
    SnapshotWriter writer;
    for (auto& [name, values] : model->tensors) {
      std::vector<int64_t> shape;
      for (const auto& n : names) {
        if (n.tessera == name) shape = n.shape;
      }
      writer.write_tensor(TensorView{"model." + name, DType::kF32, shape, values.data()});
    }
    auto again_dir = write_checkpoint(writer, 0, temp_dir_.path() + "/imported/checkpoints");
    ASSERT_TRUE(again_dir.ok());
    const std::string second = export_to(*again_dir, type, "second.gguf");
    EXPECT_EQ(*read_file(second), *read_file(first));
    std::filesystem::remove_all(temp_dir_.path() + "/imported");
  }
}

TEST_F(GgufImportTest, RefusesOtherArchitecturesAndTokenizersByName) {
  const std::string file = export_to(step_dir_, GgufTensorType::kF32, "m.gguf");
  // The first "gpt2" in the file is general.architecture's value; the first "llama" tokenizer.ggml.model's.
  EXPECT_THAT(read_gguf_gpt2(patched(file, "gpt2", "gptj")).status().message(),
              HasSubstr("general.architecture is 'gptj'; expected 'gpt2'"));
  EXPECT_THAT(read_gguf_gpt2(patched(file, "llama", "gpt2x")).status().message(),
              HasSubstr("tokenizer.ggml.model is 'gpt2x'; expected 'llama'"));
  EXPECT_THAT(read_gguf_gpt2(patched(file, "blk.1.ffn_up.bias", "blk.1.ffn_up.bia2")).status().message(),
              HasSubstr("has no tensor 'blk.1.ffn_up.bias'"));

  auto model = read_gguf_gpt2(file);
  ASSERT_TRUE(model.ok());
  SentencePieceVocab other = vocab_;
  other.pieces[100] = "\xe2\x96\x81zz";
  EXPECT_THAT(check_gguf_vocab(model->vocab, "m.gguf", other, "other.model").message(),
              HasSubstr("GGUF 'm.gguf' token 100 is '<0x61>' (type 6, score 0) but 'other.model' has "));
  SentencePieceVocab larger = vocab_;
  larger.pieces.resize(290, "x");
  larger.scores.resize(290, 0.0f);
  larger.types.resize(290, PieceType::kNormal);
  EXPECT_THAT(check_gguf_vocab(model->vocab, "m.gguf", larger, "larger.model").message(), HasSubstr("token 280 is '[PAD280]'"));
  SentencePieceVocab prefixed = vocab_;
  prefixed.add_dummy_prefix = true;
  EXPECT_THAT(check_gguf_vocab(model->vocab, "m.gguf", prefixed, "p.model").message(),
              HasSubstr("add_space_prefix is false but 'p.model' has add_dummy_prefix true"));
}

}  // namespace
}  // namespace tessera
