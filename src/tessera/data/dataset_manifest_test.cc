#include "tessera/data/dataset_manifest.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using nlohmann::json;
using testing_util::ScopedTempDir;

// A consistent manifest: vocab 1000 (u16), shard_tokens 10, train = shards of 10 and 4 tokens
// (3 documents), val = one shard of 5 tokens (1 document).
DatasetManifest valid_manifest() {
  DatasetManifest manifest;
  manifest.vocab_size = 1000;
  manifest.eos_id = 2;
  manifest.tokenizer_checksum = 0x1234;
  manifest.val_fraction = 0.1;
  manifest.shard_tokens = 10;
  manifest.inputs.push_back({"/corpus/a.txt", 300, 0xabc});
  manifest.tokenizer_sample = TokenizerSampleEntry{4, 250, 1 << 20};
  manifest.train.documents = 3;
  manifest.train.tokens = 14;
  manifest.train.shards = {{"train_000.bin", 64 + 20, 10, 0x11, 0x12}, {"train_001.bin", 64 + 8, 4, 0x21, 0x22}};
  manifest.val.documents = 1;
  manifest.val.tokens = 5;
  manifest.val.shards = {{"val_000.bin", 64 + 10, 5, 0x31, 0x32}};
  return manifest;
}

TEST(DatasetManifest, RoundTripsThroughJson) {
  const DatasetManifest manifest = valid_manifest();
  const std::string text = dataset_manifest_json(manifest);
  auto parsed = parse_dataset_manifest(text, "d");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(dataset_manifest_json(*parsed), text);
  EXPECT_EQ(parsed->train.shards[1].sample_checksum, 0x22u);
  EXPECT_EQ(parsed->val.shards[0].bytes, 74);
  const json root = json::parse(text);
  EXPECT_EQ(root["version"], kDatasetManifestVersion);
  EXPECT_EQ(root["dtype"], "u16");
  EXPECT_EQ(root["splits"]["train"]["shards"][0]["checksum"], "0x0000000000000011");
}

// Each edit of a valid manifest is refused with one line naming the field, expected and found.
TEST(DatasetManifest, EveryFieldIsChecked) {
  struct Case {
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](json& m) { m["format"] = "other"; }, "dataset.json format: expected \"tessera.token_dataset\", found \"other\""},
      {[](json& m) { m["version"] = 7; },
       "dataset.json version: expected 2, found 7: the directory was prepared by a newer tessera"},
      {[](json& m) { m["version"] = 1; },
       "dataset.json version: expected 2, found 1: the directory was prepared by an older tessera"},
      {[](json& m) { m["version"] = "2"; }, "dataset.json version: expected 2, found string \"2\""},
      {[](json& m) { m["version"] = 0; }, "dataset.json version: expected 2, found 0"},
      {[](json& m) { m.erase("vocab_size"); }, "dataset.json vocab_size: missing"},
      {[](json& m) { m["vocab_size"] = 0; }, "dataset.json vocab_size: expected 1..2147483647, found 0"},
      {[](json& m) { m["vocab_size"] = 1.5; }, "dataset.json vocab_size: expected an integer, found number 1.5"},
      {[](json& m) { m["eos_id"] = 1000; }, "dataset.json eos_id: expected 0..999, found 1000"},
      {[](json& m) { m["dtype"] = "u32"; }, "dataset.json dtype: expected \"u16\", found \"u32\""},
      {[](json& m) { m["vocab_size"] = 70000; }, "dataset.json dtype: expected \"u32\", found \"u16\""},
      {[](json& m) { m["shard_format_version"] = 2; }, "dataset.json shard_format_version: expected 1..1, found 2"},
      {[](json& m) { m["tokenizer"] = "t.model"; }, "dataset.json tokenizer: expected \"tokenizer.model\""},
      {[](json& m) { m["tokenizer_checksum"] = "0x12"; },
       "dataset.json tokenizer_checksum: expected a checksum \"0x\" + 16 hex digits, found \"0x12\""},
      {[](json& m) { m["val_fraction"] = 1.5; }, "dataset.json val_fraction: expected a number in [0, 1), found number 1.5"},
      {[](json& m) { m["shard_tokens"] = 0; }, "dataset.json shard_tokens: expected 1..9223372036854775807, found 0"},
      {[](json& m) { m["inputs"] = json::array(); }, "dataset.json inputs: expected at least one input file, found none"},
      {[](json& m) { m["inputs"][0]["bytes"] = -1; }, "dataset.json inputs[0].bytes: expected 0..9223372036854775807, found -1"},
      {[](json& m) { m["extra"] = 1; }, "dataset.json extra: unknown field (dataset.json version 2 has no such field)"},
      {[](json& m) { m["splits"]["test"] = m["splits"]["val"]; },
       "dataset.json splits.test: unknown split (expected only \"train\" and \"val\")"},
      {[](json& m) { m["splits"].erase("val"); }, "dataset.json splits.val: missing"},
      {[](json& m) { m["splits"]["train"]["shards"][1]["file"] = "train_002.bin"; },
       "dataset.json splits.train.shards[1].file: expected \"train_001.bin\" (shards are numbered from 000 without "
       "gaps), found \"train_002.bin\""},
      {[](json& m) { m["splits"]["train"]["shards"][0]["sha"] = "x"; },
       "dataset.json splits.train.shards[0].sha: unknown field"},
      {[](json& m) { m["splits"]["train"]["shards"][0].erase("sample_checksum"); },
       "dataset.json splits.train.shards[0].sample_checksum: missing"},
      {[](json& m) {
         m["splits"]["train"]["shards"][0]["tokens"] = 9;
         m["splits"]["train"]["shards"][0]["bytes"] = 82;
       },
       "dataset.json splits.train.shards[0].tokens: expected 10 (shard_tokens), found 9"},
      {[](json& m) { m["splits"]["train"]["shards"][1]["tokens"] = 11; },
       "dataset.json splits.train.shards[1].tokens: expected 1..10 (shard_tokens, the last shard may hold fewer), "
       "found 11"},
      {[](json& m) { m["splits"]["train"]["shards"][1]["tokens"] = 5; },
       "dataset.json splits.train.shards[1].bytes: expected 74 (64-byte header + 5 tokens x 2 bytes), found 72"},
      {[](json& m) { m["splits"]["train"]["tokens"] = 15; },
       "dataset.json splits.train.tokens: expected 14 (the sum of the tokens of its 2 shard(s)), found 15"},
      {[](json& m) { m["splits"]["train"]["documents"] = 15; },
       "dataset.json splits.train.documents: expected 1..14 (each document ends with an eos token), found 15"},
      {[](json& m) { m["val_fraction"] = 0; }, "dataset.json splits.val.documents: expected 0 (val_fraction is 0), found 1"},
      {[](json& m) {
         m["splits"]["val"] = {{"documents", 0}, {"tokens", 0}, {"shards", json::array()}};
       },
       "dataset.json splits.val.documents: expected at least 1 (val_fraction 0.1 and 3 documents), found 0"},
      {[](json& m) { m["tokenizer_sample"]["bytes"] = (1 << 20) + 1; },
       "dataset.json tokenizer_sample.bytes: expected 1..1048576, found 1048577"},
      {[](json& m) { m["tokenizer_sample"]["documents"] = 5; },
       "dataset.json tokenizer_sample.documents: expected 1..4, found 5"},
  };
  const json valid = json::parse(dataset_manifest_json(valid_manifest()));
  for (const Case& c : cases) {
    json edited = valid;
    c.edit(edited);
    auto parsed = parse_dataset_manifest(edited.dump(), "d");
    ASSERT_FALSE(parsed.ok()) << "accepted; expected: " << c.message;
    EXPECT_EQ(parsed.status().code(), StatusCode::kDataLoss);
    const std::string message = parsed.status().message();
    EXPECT_NE(message.find("data 'd': " + c.message), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("hint: "), std::string::npos) << message;
  }
  // Not JSON, or not an object.
  EXPECT_NE(parse_dataset_manifest("{not json", "d").status().message().find("dataset.json text: not valid JSON"),
            std::string::npos);
  EXPECT_NE(parse_dataset_manifest("[1]", "d").status().message().find("expected an object, found array [1]"),
            std::string::npos);
}

TEST(DatasetManifest, VersionOneIsRefusedWithAHintToPrepareAgain) {
  json old = json::parse(dataset_manifest_json(valid_manifest()));
  old["version"] = 1;
  const Status status = parse_dataset_manifest(old.dump(), "data/x").status();
  EXPECT_NE(status.message().find("hint: run tessera data prepare --out data/x again"), std::string::npos)
      << status.message();
}

TEST(DatasetManifest, FilesMustBeExactlyTheListedShards) {
  const ScopedTempDir temp;
  const std::string dir = temp.path();
  ASSERT_TRUE(write_token_shard(dir + "/train_000.bin", {1, 2, 3}, 10).ok());
  ASSERT_TRUE(write_token_shard(dir + "/train_001.bin", {1}, 10).ok());
  DatasetManifest manifest;
  for (const std::string file : {"train_000.bin", "train_001.bin"}) {
    auto shard = TokenShard::open(dir + "/" + file);
    ASSERT_TRUE(shard.ok());
    manifest.train.shards.push_back(dataset_shard_entry(file, *shard));
  }
  EXPECT_TRUE(check_dataset_files(dir, manifest).ok());
  // A stray shard after a gap in the numbering.
  ASSERT_TRUE(write_token_shard(dir + "/train_003.bin", {1}, 10).ok());
  Status stray = check_dataset_files(dir, manifest);
  EXPECT_EQ(stray.message(), "data '" + dir + "': train_003.bin is not a shard dataset.json lists (1 .bin file(s) "
                             "not listed; the train split has 2 shard(s), val 0): a stray or left-over shard; hint: "
                             "remove it, or run tessera data prepare --out " + dir + " again");
  ASSERT_TRUE(std::filesystem::remove(dir + "/train_003.bin"));
  // A listed shard that is gone.
  ASSERT_TRUE(std::filesystem::remove(dir + "/train_001.bin"));
  const Status missing = check_dataset_files(dir, manifest);
  EXPECT_EQ(missing.message(), "data '" + dir + "': train_001.bin is missing (dataset.json lists it as "
                               "splits.train.shards[1]); hint: run tessera data prepare --out " + dir + " again");
}

TEST(DatasetManifest, ALoneShardMustBeListedAndMatchItsEntry) {
  const ScopedTempDir temp;
  const std::string dir = temp.path();
  ASSERT_TRUE(write_token_shard(dir + "/train_000.bin", {1, 2, 3}, 10).ok());
  ASSERT_TRUE(write_token_shard(dir + "/val_000.bin", {4, 5, 6}, 10).ok());
  DatasetManifest manifest;
  manifest.vocab_size = 10;
  for (const std::string file : {"train_000.bin", "val_000.bin"}) {
    auto shard = TokenShard::open(dir + "/" + file);
    ASSERT_TRUE(shard.ok());
    (file[0] == 't' ? manifest.train : manifest.val).shards.push_back(dataset_shard_entry(file, *shard));
  }
  auto val = TokenShard::open(dir + "/val_000.bin");
  ASSERT_TRUE(val.ok());
  EXPECT_TRUE(check_shard_listed(dir, manifest, "val_000.bin", *val).ok());
  // The val shard under the train shard's name: same size, other payload.
  const Status copied = check_shard_listed(dir, manifest, "train_000.bin", *val);
  EXPECT_NE(copied.message().find("train_000.bin: payload checksum " + hash_to_hex(val->checksum()) +
                                  " in the file, dataset.json splits.train.shards[0].checksum expects"),
            std::string::npos)
      << copied.message();
  const Status stray = check_shard_listed(dir, manifest, "train_007.bin", *val);
  EXPECT_NE(stray.message().find("train_007.bin is not a shard dataset.json lists"), std::string::npos)
      << stray.message();
}

TEST(DatasetManifest, SampleChecksumCoversHeadAndTail) {
  std::string bytes(300000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint64_t base = token_shard_sample_checksum(data, bytes.size());
  // Head and tail bytes change it; a byte in the middle does not (what the quick check cannot see).
  for (const size_t position : {size_t{0}, size_t{65535}, bytes.size() - 65536, bytes.size() - 1}) {
    std::string edited = bytes;
    edited[position] ^= 1;
    EXPECT_NE(token_shard_sample_checksum(reinterpret_cast<const uint8_t*>(edited.data()), edited.size()), base)
        << position;
  }
  std::string middle = bytes;
  middle[150000] ^= 1;
  EXPECT_EQ(token_shard_sample_checksum(reinterpret_cast<const uint8_t*>(middle.data()), middle.size()), base);
  // Short files are hashed whole.
  EXPECT_EQ(token_shard_sample_checksum(data, 1000), hash_bytes(data, 1000));
  EXPECT_EQ(token_shard_sample_checksum(data, 100000), hash_bytes(data, 100000));
  EXPECT_EQ(token_shard_sample_checksum(data, 131072), hash_bytes(data, 131072));
}

}  // namespace
}  // namespace tessera
