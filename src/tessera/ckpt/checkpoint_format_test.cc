#include "tessera/ckpt/checkpoint_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "tessera/core/hash.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

Manifest sample_manifest() {
  Manifest manifest;
  manifest.step = 20;
  manifest.created_unix_s = 1700000000.5;
  manifest.metadata = {{"config", "[model]\nn_layer = 2\n"}, {"binary", std::string("\xff\x00\x01", 3)}};
  manifest.data_files = {{"rank_00000.bin", 256}};
  TensorEntry tensor{"model.wte", DType::kF32, {4, 8}, {}};
  tensor.chunks.push_back({{0, 0}, {2, 8}, "rank_00000.bin", 0, 64, 0x0123456789abcdefULL});
  tensor.chunks.push_back({{2, 0}, {2, 8}, "rank_00000.bin", 64, 64, 0xfedcba9876543210ULL});
  manifest.tensors.push_back(tensor);
  manifest.tensors.push_back(TensorEntry{"optim.count", DType::kI64, {}, {{{}, {}, "rank_00000.bin", 128, 8, 7}}});
  manifest.scalars = {{"loader.next_sample", int64_t{-5}},
                      {"lr.last", 3e-4},
                      {"nan", std::numeric_limits<double>::quiet_NaN()},
                      {"negzero", -0.0},
                      {"rng.name", std::string("philox\0x", 8)}};
  return manifest;
}

// Parses sample_manifest() after `edit` changed its JSON.
StatusOr<Manifest> parse_edited(const std::function<void(nlohmann::ordered_json&)>& edit) {
  auto json = nlohmann::ordered_json::parse(manifest_to_json(sample_manifest()));
  edit(json);
  return manifest_from_json(json.dump());
}

TEST(CheckpointFormat, StepDirNamesRoundTripAndRejectOthers) {
  EXPECT_EQ(step_dir_name(20), "step_00000020");
  EXPECT_EQ(step_dir_name(123456789), "step_123456789");
  EXPECT_EQ(parse_step_dir_name("step_00000020"), 20);
  EXPECT_EQ(parse_step_dir_name("step_123456789"), 123456789);
  for (const char* bad : {"step_00000020.tmp", "step_", "step_x1", "step_-1", "stepp_1", "step_1 ", ""}) {
    EXPECT_FALSE(parse_step_dir_name(bad).has_value()) << bad;
  }
  EXPECT_EQ(data_file_name(3), "rank_00003.bin");
}

TEST(CheckpointFormat, ManifestRoundTripsExactly) {
  const Manifest original = sample_manifest();
  auto parsed = manifest_from_json(manifest_to_json(original));
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->step, 20);
  EXPECT_EQ(parsed->format_version, kCheckpointFormatVersion);
  EXPECT_EQ(parsed->created_unix_s, 1700000000.5);
  EXPECT_EQ(parsed->metadata, original.metadata);
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "model.wte");
  EXPECT_EQ(parsed->tensors[0].shape, (std::vector<int64_t>{4, 8}));
  ASSERT_EQ(parsed->tensors[0].chunks.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].chunks[1].offset, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(parsed->tensors[0].chunks[1].byte_offset, 64u);
  EXPECT_EQ(parsed->tensors[0].chunks[1].xxh3, 0xfedcba9876543210ULL);
  EXPECT_EQ(parsed->tensors[1].dtype, DType::kI64);
  EXPECT_TRUE(parsed->tensors[1].shape.empty());
  ASSERT_EQ(parsed->scalars.size(), 5u);
  EXPECT_EQ(std::get<int64_t>(parsed->scalars[0].value), -5);
  EXPECT_EQ(std::get<double>(parsed->scalars[1].value), 3e-4);
  EXPECT_TRUE(std::isnan(std::get<double>(parsed->scalars[2].value)));
  EXPECT_EQ(std::bit_cast<uint64_t>(std::get<double>(parsed->scalars[3].value)), std::bit_cast<uint64_t>(-0.0));
  EXPECT_EQ(std::get<std::string>(parsed->scalars[4].value), std::string("philox\0x", 8));
}

TEST(CheckpointFormat, RejectsInvalidJsonAndMissingFields) {
  auto not_json = manifest_from_json("{\"format\": ");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(not_json.status().message(), HasSubstr("not valid JSON"));

  for (const char* field : {"format", "format_version", "step", "created_unix_s", "metadata", "data_files",
                            "tensors", "scalars"}) {
    auto parsed = parse_edited([&](auto& json) { json.erase(field); });
    ASSERT_FALSE(parsed.ok()) << field;
    EXPECT_THAT(parsed.status().message(), HasSubstr(std::string("'") + field + "' missing"));
  }
  auto no_hash = parse_edited([](auto& json) { json["tensors"][0]["chunks"][1].erase("xxh3"); });
  ASSERT_FALSE(no_hash.ok());
  EXPECT_THAT(no_hash.status().message(), HasSubstr("tensors[0] ('model.wte').chunks[1]: field 'xxh3' missing"));
}

TEST(CheckpointFormat, RejectsInconsistentContent) {
  struct Case {
    const char* expect;
    std::function<void(nlohmann::ordered_json&)> edit;
  };
  const std::vector<Case> cases = {
      {"format_version 2 != 1", [](auto& j) { j["format_version"] = 2; }},
      {"unknown dtype 'f8'", [](auto& j) { j["tensors"][0]["dtype"] = "f8"; }},
      {"byte_length 60 != 64", [](auto& j) { j["tensors"][0]["chunks"][0]["byte_length"] = 60; }},
      {"cover 16 of 32 elements", [](auto& j) { j["tensors"][0]["chunks"].erase(1); }},
      {"overlap", [](auto& j) { j["tensors"][0]["chunks"][1]["offset"] = {1, 0}; }},
      {"outside the tensor", [](auto& j) { j["tensors"][0]["chunks"][1]["offset"] = {3, 0}; }},
      {"lie past the end of 'rank_00000.bin' (256 bytes)",
       [](auto& j) { j["tensors"][0]["chunks"][1]["byte_offset"] = 250; }},
      {"not listed in data_files", [](auto& j) { j["tensors"][0]["chunks"][1]["file"] = "rank_00001.bin"; }},
      {"not a plain file name", [](auto& j) { j["data_files"][0]["name"] = "../escape.bin"; }},
      {"not 0x followed by 16 hex digits", [](auto& j) { j["tensors"][0]["chunks"][0]["xxh3"] = "0x12"; }},
      {"tensor 'model.wte' listed twice", [](auto& j) { j["tensors"][1] = j["tensors"][0]; }},
      {"unknown scalar type 'f32'", [](auto& j) { j["scalars"][0]["type"] = "f32"; }},
      {"must be an integer", [](auto& j) { j["step"] = "20"; }},
      {"field 'bits' missing", [](auto& j) { j["scalars"][1].erase("bits"); }},
  };
  for (const Case& c : cases) {
    auto parsed = parse_edited(c.edit);
    ASSERT_FALSE(parsed.ok()) << c.expect;
    EXPECT_EQ(parsed.status().code(), StatusCode::kDataLoss) << c.expect;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.expect));
  }
}

TEST(CheckpointFormat, ChunksTileChecksCoverageOverlapAndRank) {
  const std::vector<int64_t> shape{4, 6};
  EXPECT_TRUE(check_chunks_tile("t", shape, {{0, 0}, {0, 3}, {2, 0}, {2, 3}}, {{2, 3}, {2, 3}, {2, 3}, {2, 3}}).ok());
  EXPECT_TRUE(check_chunks_tile("t", {0, 5}, {}, {}).ok());  // a tensor with no elements needs no chunk
  EXPECT_TRUE(check_chunks_tile("t", {}, {{}}, {{}}).ok());  // a 0-d tensor is one chunk
  EXPECT_FALSE(check_chunks_tile("t", {}, {}, {}).ok());
  EXPECT_FALSE(check_chunks_tile("t", shape, {{0, 0}, {0, 2}}, {{4, 3}, {4, 4}}).ok());  // overlap, excess
  EXPECT_FALSE(check_chunks_tile("t", shape, {{0, 0}}, {{4, 5}}).ok());                 // a gap
  EXPECT_FALSE(check_chunks_tile("t", shape, {{0}}, {{4}}).ok());                       // rank
  auto overlap = check_chunks_tile("t", shape, {{0, 0}, {1, 1}, {0, 0}}, {{2, 3}, {1, 1}, {0, 0}});
  ASSERT_FALSE(overlap.ok());
  EXPECT_THAT(overlap.message(), HasSubstr("chunks 0 (offset [0, 0]) and 1 (offset [1, 1]) overlap"));
}

TEST(CheckpointFormat, CommitMarkerRoundTripsAndRejectsGarbage) {
  const std::string text = commit_marker_text(0xabcdef0123456789ULL);
  EXPECT_EQ(text, "tessera-checkpoint-commit 1\nmanifest.json xxh3 0xabcdef0123456789\n");
  auto hash = parse_commit_marker(text);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, 0xabcdef0123456789ULL);
  for (const std::string& bad : {std::string(""), text.substr(0, text.size() - 1), text + "x",
                                std::string("tessera-checkpoint-commit 1\nmanifest.json xxh3 0xabcdef012345678g\n")}) {
    auto parsed = parse_commit_marker(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace tessera
