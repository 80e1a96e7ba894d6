#include "tessera/ckpt/checkpoint_part.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera {
namespace {

using ::testing::HasSubstr;

// Rank `rank`'s part of a save of world `world` (no files: merge_parts reads only the manifests).
CheckpointPart part_of(int rank, int world, uint64_t save_id = 0xabcdef0123456789) {
  CheckpointPart part;
  part.save_id = save_id;
  part.rank = rank;
  part.world_size = world;
  part.manifest.step = 20;
  part.manifest.created_unix_s = 1000.0 + rank;
  part.manifest.data_files.push_back(DataFileEntry{data_file_name(rank), 4096});
  return part;
}

// Appends to `part` a chunk of tensor `name` (f32, global `shape`) at `offset` of `box`.
void add_chunk(CheckpointPart& part, const std::string& name, std::vector<int64_t> shape,
               std::vector<int64_t> offset, std::vector<int64_t> box) {
  TensorEntry* tensor = nullptr;
  for (TensorEntry& t : part.manifest.tensors) {
    if (t.name == name) tensor = &t;
  }
  if (tensor == nullptr) {
    part.manifest.tensors.push_back(TensorEntry{name, DType::kF32, shape, {}});
    tensor = &part.manifest.tensors.back();
  }
  const uint64_t bytes = static_cast<uint64_t>(shape_numel(box)) * 4;
  tensor->chunks.push_back(ChunkEntry{std::move(offset), std::move(box), data_file_name(part.rank), 64, bytes, 0x1234});
}

TEST(CheckpointPart, RoundTripsThroughJsonWithChunksThatDoNotTileAlone) {
  CheckpointPart part = part_of(1, 4);
  add_chunk(part, "model.w", {8, 2}, {2, 0}, {2, 2});
  part.manifest.scalars.push_back(ScalarEntry{"optim.step", int64_t{20}});
  part.manifest.metadata["config"] = "dp = 4";
  EXPECT_EQ(part_file_name(1), "rank_00001.part.json");

  const std::string text = part_to_json(part);
  EXPECT_THAT(text, HasSubstr("\"part\": {\"save_id\":\"0xabcdef0123456789\",\"rank\":1,\"world_size\":4}"));
  auto parsed = part_from_json(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->save_id, part.save_id);
  EXPECT_EQ(parsed->rank, 1);
  EXPECT_EQ(parsed->world_size, 4);
  EXPECT_FALSE(parsed->failure.has_value());
  EXPECT_EQ(manifest_to_json(parsed->manifest), manifest_to_json(part.manifest));
  // The same text is not a committed manifest: its tensor is not tiled.
  EXPECT_EQ(manifest_from_json(text).status().code(), StatusCode::kDataLoss);
}

TEST(CheckpointPart, AFailureMarkerCarriesTheCodeAndMessage) {
  CheckpointPart marker = part_of(3, 4);
  marker.manifest.data_files.clear();
  marker.failure = io_error("cannot write 'rank_00003.bin': No space left on device");
  auto parsed = part_from_json(part_to_json(marker));
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  ASSERT_TRUE(parsed->failure.has_value());
  EXPECT_EQ(parsed->failure->code(), StatusCode::kIoError);
  EXPECT_EQ(parsed->failure->message(), "cannot write 'rank_00003.bin': No space left on device");
}

TEST(CheckpointPart, MalformedPartsAreDataLossNamingTheField) {
  CheckpointPart part = part_of(1, 2);
  std::string text = part_to_json(part);
  std::string bad_id = text;
  bad_id.replace(bad_id.find("0xabcdef"), 4, "zz12");
  EXPECT_THAT(part_from_json(bad_id).status().message(), HasSubstr("part.save_id must be \"0x\" + 16 hex digits"));
  std::string bad_rank = text;
  bad_rank.replace(bad_rank.find("\"rank\":1"), 8, "\"rank\":5");
  EXPECT_THAT(part_from_json(bad_rank).status().message(), HasSubstr("rank 5 is outside world size 2"));
  EXPECT_THAT(part_from_json(text.substr(text.find('\n'))).status().message(), HasSubstr("not valid JSON"));
  CheckpointPart foreign = part_of(1, 2);
  foreign.manifest.data_files[0].name = data_file_name(0);
  EXPECT_THAT(part_from_json(part_to_json(foreign)).status().message(),
              HasSubstr("data_files must be exactly ['rank_00001.bin']"));
}

TEST(CheckpointPart, MergeListsEveryRanksFileAndChunksInRankOrder) {
  std::vector<CheckpointPart> parts = {part_of(0, 3), part_of(1, 3), part_of(2, 3)};
  add_chunk(parts[0], "model.w", {6, 2}, {0, 0}, {2, 2});
  add_chunk(parts[1], "model.w", {6, 2}, {2, 0}, {2, 2});
  add_chunk(parts[2], "model.w", {6, 2}, {4, 0}, {2, 2});
  add_chunk(parts[2], "optim.m", {5}, {0}, {5});  // owned whole by one rank
  add_chunk(parts[1], "model.b", {0}, {0}, {0});  // no elements
  parts[0].manifest.scalars.push_back(ScalarEntry{"train.step", int64_t{20}});
  for (CheckpointPart& part : parts) part.manifest.scalars.push_back(ScalarEntry{"lr", 0.5});
  parts[0].manifest.metadata["config"] = "dp = 3";
  parts[2].manifest.metadata["config"] = "dp = 3";

  auto merged = merge_parts(parts);
  ASSERT_TRUE(merged.ok()) << merged.status().to_string();
  EXPECT_EQ(merged->step, 20);
  EXPECT_EQ(merged->created_unix_s, 1000.0);
  ASSERT_EQ(merged->data_files.size(), 3u);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(merged->data_files[r].name, data_file_name(r));
  ASSERT_EQ(merged->tensors.size(), 3u);
  EXPECT_EQ(merged->tensors[0].name, "model.w");
  EXPECT_EQ(merged->tensors[1].name, "model.b");
  EXPECT_EQ(merged->tensors[2].name, "optim.m");
  ASSERT_EQ(merged->tensors[0].chunks.size(), 3u);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(merged->tensors[0].chunks[r].file, data_file_name(r));
  ASSERT_EQ(merged->scalars.size(), 2u);
  EXPECT_EQ(merged->metadata.at("config"), "dp = 3");
  // What merge_parts returns is a committable manifest: it parses with the full checks.
  EXPECT_TRUE(manifest_from_json(manifest_to_json(*merged)).ok());
}

TEST(CheckpointPart, MergeNamesTheTensorAndRanksOfAnOverlap) {
  std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2)};
  add_chunk(parts[0], "optim.v", {10}, {0}, {6});
  add_chunk(parts[1], "optim.v", {10}, {5}, {5});
  EXPECT_EQ(merge_parts(parts).status().message(),
            "tensor 'optim.v' f32 [10]: rank 0's chunk (offset [0], shape [6]) overlaps rank 1's chunk (offset [5], "
            "shape [5]); hint: every element must be saved by exactly one rank");
}

TEST(CheckpointPart, MergeNamesTheTensorAndRanksOfAGap) {
  std::vector<CheckpointPart> parts = {part_of(0, 3), part_of(1, 3), part_of(2, 3)};
  add_chunk(parts[0], "model.w", {5, 4}, {0, 0}, {2, 4});
  add_chunk(parts[1], "model.w", {5, 4}, {3, 0}, {2, 4});
  const Status status = merge_parts(parts).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tensor 'model.w' f32 [5, 4]: the chunks of ranks 0, 1 cover 16 of its 20 "
                                          "elements"));
}

TEST(CheckpointPart, MergeRejectsRanksThatDisagree) {
  {
    std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2)};
    add_chunk(parts[0], "model.w", {4, 2}, {0, 0}, {2, 2});
    add_chunk(parts[1], "model.w", {4, 3}, {2, 0}, {2, 3});
    EXPECT_EQ(merge_parts(parts).status().message(),
              "tensor 'model.w': rank 0 saved it as f32 [4, 2], but rank 1 as f32 [4, 3]");
  }
  {
    std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2)};
    parts[0].manifest.scalars.push_back(ScalarEntry{"optim.step", int64_t{20}});
    parts[1].manifest.scalars.push_back(ScalarEntry{"optim.step", int64_t{21}});
    EXPECT_EQ(merge_parts(parts).status().message(),
              "scalar 'optim.step' differs between ranks: rank 0 wrote i64 20, rank 1 wrote i64 21");
  }
  {
    std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2)};
    parts[0].manifest.scalars.push_back(ScalarEntry{"loss.scale", 0.0});
    parts[1].manifest.scalars.push_back(ScalarEntry{"loss.scale", -0.0});  // equal as doubles, not as bits
    EXPECT_THAT(merge_parts(parts).status().message(), HasSubstr("scalar 'loss.scale' differs between ranks"));
  }
  {
    std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2)};
    parts[0].manifest.metadata["config"] = "dp = 2";
    parts[1].manifest.metadata["config"] = "dp = 4";
    EXPECT_THAT(merge_parts(parts).status().message(), HasSubstr("metadata 'config' differs between ranks"));
  }
  {
    std::vector<CheckpointPart> parts = {part_of(0, 2), part_of(1, 2, /*save_id=*/7)};
    EXPECT_THAT(merge_parts(parts).status().message(),
                HasSubstr("checkpoint part 1: expected rank 1 of 2, save 0xabcdef0123456789, step 20; found rank 1 "
                          "of 2, save 0x0000000000000007"));
  }
}

}  // namespace
}  // namespace tessera
