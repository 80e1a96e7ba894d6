#include "tessera/ckpt/hf_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gpt2_test_util.h"
#include "tessera/ckpt/hf_import.h"
#include "tessera/ckpt/safetensors_export.h"
#include "tessera/ckpt/safetensors_reader.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

struct Fixture {
  testing_util::TempDir temp_dir;
  ModelSpec spec = testing_util::tiny_gpt2_spec();
  std::string step_dir = testing_util::write_gpt2_checkpoint(spec, temp_dir.path() + "/run/checkpoints");
  std::string tokenizer = temp_dir.path() + "/tokenizer.model";
  Fixture() { EXPECT_TRUE(write_file_atomic(tokenizer, testing_util::sentencepiece_model_bytes(280)).ok()); }
};

TEST(HfExport, WritesGpt2NamesConv1DLayoutsConfigAndTokenizer) {
  Fixture f;
  auto reader = CheckpointReader::open(f.step_dir);
  ASSERT_TRUE(reader.ok());
  const std::string out = f.temp_dir.path() + "/hf";
  auto summary = export_hf(*reader, f.spec, f.tokenizer, out, false);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->tensors, 2u + 12u * 2u + 2u);

  auto weights = SafetensorsReader::open(out + "/model.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  EXPECT_EQ(weights->metadata().at("format"), "pt");
  EXPECT_EQ(weights->tensors().count("optim.m.wte"), 0u);
  EXPECT_EQ(weights->tensors().count("lm_head.weight"), 0u);
  // c_attn of block 0 is Tessera tensor k = 4 ([3C, C] = [24, 8]), stored transposed as [8, 24]:
  // hf[i][j] = tessera[j][i] = 4 + (j * 8 + i) / 4096.
  const auto& c_attn = weights->tensors().at("transformer.h.0.attn.c_attn.weight");
  ASSERT_EQ(c_attn.shape, (std::vector<int64_t>{8, 24}));
  auto values = weights->read_f32("transformer.h.0.attn.c_attn.weight");
  ASSERT_TRUE(values.ok());
  EXPECT_EQ((*values)[1 * 24 + 5], 4.0f + static_cast<float>(5 * 8 + 1) / 4096.0f);
  // wte (k = 0) is not transposed.
  auto wte = weights->read_f32("transformer.wte.weight");
  EXPECT_EQ((*wte)[3 * 8 + 2], static_cast<float>(3 * 8 + 2) / 4096.0f);

  const auto config = nlohmann::json::parse(*read_file(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "gpt2");
  EXPECT_EQ(config["n_positions"], 6);
  EXPECT_EQ(config["vocab_size"], 300);
  EXPECT_EQ(config["activation_function"], "gelu_new");
  EXPECT_EQ(config["eos_token_id"], 2);
  EXPECT_EQ(*read_file(out + "/tokenizer.model"), *read_file(f.tokenizer));
  const auto tokenizer_config = nlohmann::json::parse(*read_file(out + "/tokenizer_config.json"));
  EXPECT_EQ(tokenizer_config["eos_token"], "</s>");
}

TEST(HfExport, ImportGivesTheSameTensorsAndReExportIsByteIdentical) {
  Fixture f;
  auto reader = CheckpointReader::open(f.step_dir);
  ASSERT_TRUE(reader.ok());
  const std::string first = f.temp_dir.path() + "/hf1";
  ASSERT_TRUE(export_hf(*reader, f.spec, f.tokenizer, first, false).ok());
  auto imported = read_hf_gpt2(first);
  ASSERT_TRUE(imported.ok()) << imported.status().to_string();
  EXPECT_EQ(imported->spec.n_layer, 2);
  EXPECT_EQ(imported->spec.seq_len, 6);
  EXPECT_EQ(imported->spec.vocab_size, 300);
  EXPECT_EQ(imported->tokenizer_path, first + "/tokenizer.model");
  const auto names = gpt2_tensor_names(f.spec);
  ASSERT_EQ(imported->tensors.size(), names.size());
  for (size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(imported->tensors[k].first, names[k].tessera);
    std::vector<float> original(static_cast<size_t>(shape_numel(names[k].shape)));
    ASSERT_TRUE(reader->read_tensor(TensorView{"model." + names[k].tessera, DType::kF32, names[k].shape, original.data()}).ok());
    EXPECT_EQ(imported->tensors[k].second, original) << names[k].tessera;
  }
  // Write the imported tensors as a checkpoint and export again: the same bytes.
  SnapshotWriter writer;
  for (size_t k = 0; k < names.size(); ++k) {
    writer.write_tensor(TensorView{"model." + names[k].tessera, DType::kF32, names[k].shape, imported->tensors[k].second.data()});
  }
  auto second_ckpt = write_checkpoint(writer, 0, f.temp_dir.path() + "/run2/checkpoints");
  ASSERT_TRUE(second_ckpt.ok());
  auto second_reader = CheckpointReader::open(*second_ckpt);
  ASSERT_TRUE(second_reader.ok());
  const std::string second = f.temp_dir.path() + "/hf2";
  ASSERT_TRUE(export_hf(*second_reader, imported->spec, imported->tokenizer_path, second, false).ok());
  for (const char* file : {kHfWeightsFile, kHfConfigFile, kHfTokenizerFile, kHfTokenizerConfigFile}) {
    EXPECT_EQ(*read_file(first + "/" + file), *read_file(second + "/" + file)) << file;
  }
}

TEST(HfImport, RefusesWhatTesseraCannotRun) {
  Fixture f;
  auto reader = CheckpointReader::open(f.step_dir);
  ASSERT_TRUE(reader.ok());
  const std::string dir = f.temp_dir.path() + "/hf";
  ASSERT_TRUE(export_hf(*reader, f.spec, f.tokenizer, dir, false).ok());
  const std::string config = *read_file(dir + "/config.json");
  const auto with_config = [&](const std::string& key, const nlohmann::json& value) {
    auto edited = nlohmann::json::parse(config);
    edited[key] = value;
    EXPECT_TRUE(write_file_atomic(dir + "/config.json", edited.dump()).ok());
    return read_hf_gpt2(dir).status().message();
  };
  EXPECT_THAT(with_config("activation_function", "relu"), HasSubstr("activation_function is \"relu\""));
  EXPECT_THAT(with_config("layer_norm_epsilon", 1e-6), HasSubstr("layer_norm_epsilon"));
  EXPECT_THAT(with_config("model_type", "llama"), HasSubstr("model_type"));
  EXPECT_THAT(with_config("n_layer", 3), HasSubstr("has no tensor 'transformer.h.2.ln_1.weight'"));
  EXPECT_THAT(with_config("n_embd", "8"), HasSubstr("n_embd is \"8\"; expected a positive integer"));
  EXPECT_THAT(with_config("tie_word_embeddings", false), HasSubstr("tie_word_embeddings"));
  EXPECT_THAT(with_config("n_positions", 7), HasSubstr("tensor 'transformer.wpe.weight' has shape [6, 8]; config.json implies [7, 8]"));
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", config).ok());
  ASSERT_TRUE(read_hf_gpt2(dir).ok());
  // A truncated weights file is refused by name.
  const std::string weights = *read_file(dir + "/model.safetensors");
  ASSERT_TRUE(write_file_atomic(dir + "/model.safetensors", weights.substr(0, weights.size() - 100)).ok());
  EXPECT_THAT(read_hf_gpt2(dir).status().message(), HasSubstr("outside the"));
}

TEST(HfImport, AcceptsUnprefixedNamesMaskBuffersAndATiedLmHeadButNotExtraTensors) {
  Fixture f;
  const auto names = gpt2_tensor_names(f.spec);
  std::vector<SafetensorsEntry> entries;
  for (const Gpt2TensorName& n : names) {
    std::vector<int64_t> shape = n.shape;
    if (n.hf_transposed) std::swap(shape[0], shape[1]);
    entries.push_back({n.hf.substr(12), DType::kBF16, shape, static_cast<uint64_t>(shape_numel(shape)) * 2});
  }
  entries.push_back({"h.0.attn.bias", DType::kBF16, {1, 1, 6, 6}, 72});
  entries.push_back({"lm_head.weight", DType::kBF16, {300, 8}, 300 * 8 * 2});
  const std::string dir = f.temp_dir.path() + "/hub";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", hf_config_json(f.spec, 1, 2)).ok());
  // bf16 1.5 (0x3fc0) everywhere, so lm_head equals wte.
  auto write = [&](const std::vector<SafetensorsEntry>& list) {
    return write_safetensors(dir + "/model.safetensors", list, {}, [&](size_t i, char* buffer) {
      for (uint64_t b = 0; b < list[i].bytes; b += 2) {
        buffer[b] = static_cast<char>(0xc0);
        buffer[b + 1] = 0x3f;
      }
      return Status();
    });
  };
  ASSERT_TRUE(write(entries).ok());
  auto imported = read_hf_gpt2(dir);
  ASSERT_TRUE(imported.ok()) << imported.status().to_string();
  EXPECT_EQ(imported->tensors[0].second[0], 1.5f);
  EXPECT_TRUE(imported->tokenizer_path.empty());
  entries.push_back({"h.0.attn.rotary", DType::kF32, {2}, 8});
  ASSERT_TRUE(write(entries).ok());
  EXPECT_THAT(read_hf_gpt2(dir).status().message(), HasSubstr("'h.0.attn.rotary', which is not part of GPT-2"));
}

TEST(HfExport, RefusesTargetsAndModelsGpt2CannotExpress) {
  Fixture f;
  auto reader = CheckpointReader::open(f.step_dir);
  ASSERT_TRUE(reader.ok());
  EXPECT_THAT(export_hf(*reader, f.spec, f.tokenizer, f.step_dir + "/hf", true).status().message(),
              HasSubstr("inside the checkpoint directory"));
  ModelSpec gated = f.spec;
  gated.gated_mlp = true;
  EXPECT_THAT(export_hf(*reader, gated, f.tokenizer, f.temp_dir.path() + "/g", false).status().message(),
              HasSubstr("gated MLP"));
  ModelSpec wider = f.spec;
  wider.n_embd = 16;
  EXPECT_THAT(export_hf(*reader, wider, f.tokenizer, f.temp_dir.path() + "/w", false).status().message(),
              HasSubstr("tensor 'model.wte' is f32 300x8; the model config says f32 300x16"));
  // A corrupt checkpoint: the export fails and the directory it created is gone again.
  testing_util::flip_byte(f.step_dir + "/rank_00000.bin", 100);
  auto corrupt = CheckpointReader::open(f.step_dir);
  ASSERT_TRUE(corrupt.ok());
  EXPECT_THAT(export_hf(*corrupt, f.spec, f.tokenizer, f.temp_dir.path() + "/c", false).status().message(),
              HasSubstr("checksum"));
  EXPECT_FALSE(path_exists(f.temp_dir.path() + "/c"));
  ASSERT_TRUE(write_file_atomic(f.tokenizer, testing_util::sentencepiece_model_bytes(400)).ok());
  EXPECT_THAT(export_hf(*reader, f.spec, f.tokenizer, f.temp_dir.path() + "/t", false).status().message(),
              HasSubstr("has 400 pieces, more than the model's vocab_size 300"));
}

}  // namespace
}  // namespace tessera
