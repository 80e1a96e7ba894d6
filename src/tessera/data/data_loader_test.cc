#include "tessera/data/data_loader.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;

// Ints only: all a DataLoader saves.
class MapState : public StateWriter, public StateReader {
 public:
  void write_tensor(const TensorView&) override { FAIL(); }
  void write_tensor_shard(const TensorView&, const std::vector<int64_t>&, const std::vector<int64_t>&) override {
    FAIL();
  }
  void write_int(const std::string& name, int64_t value) override { ints[name] = value; }
  void write_double(const std::string&, double) override { FAIL(); }
  void write_string(const std::string&, const std::string&) override { FAIL(); }
  Status read_tensor(const TensorView&) override { return internal_error("unused"); }
  Status read_tensor_shard(const TensorView&, const std::vector<int64_t>&, const std::vector<int64_t>&) override {
    return internal_error("unused");
  }
  StatusOr<int64_t> read_int(const std::string& name) override {
    auto it = ints.find(name);
    if (it == ints.end()) return not_found_error("no int '{}'", name);
    return it->second;
  }
  StatusOr<double> read_double(const std::string&) override { return internal_error("unused"); }
  StatusOr<std::string> read_string(const std::string&) override { return internal_error("unused"); }
  std::map<std::string, int64_t> ints;
};

// A dataset whose token at stream position p is p mod vocab, over three shards, so a window's
// content tells where it starts.
class DataLoaderTest : public ::testing::Test {
 protected:
  static constexpr int64_t kVocab = 60000;
  void SetUp() override {
    int64_t next = 0;
    for (int s = 0; s < 3; ++s) {
      std::vector<int32_t> tokens(s < 2 ? 1011 : 999);  // shard_tokens 1011, the last one shorter
      for (auto& t : tokens) t = static_cast<int32_t>(next++ % kVocab);
      ASSERT_TRUE(write_token_shard(temp_.path() + "/" + token_shard_file_name("train", s), tokens, kVocab).ok());
    }
    num_tokens_ = next;
    testing_util::write_manifest(temp_.path());
  }
  DataLoader loader(int64_t T, uint64_t seed, bool shuffle) {
    auto dataset = TokenDataset::open(temp_.path(), "train", kVocab);
    EXPECT_TRUE(dataset.ok()) << dataset.status().message();
    auto made = DataLoader::create(std::move(*dataset), T, seed, shuffle, "loader");
    EXPECT_TRUE(made.ok()) << made.status().message();
    return std::move(*made);
  }
  // Reads `batches` batches of B samples through next_batch; returns all inputs then all targets.
  static std::vector<int32_t> run(DataLoader& loader, int batches, int64_t B) {
    std::vector<int32_t> all;
    std::vector<int32_t> inputs(static_cast<size_t>(B * loader.T())), targets(inputs.size());
    for (int b = 0; b < batches; ++b) {
      loader.next_batch(B, inputs.data(), targets.data());
      all.insert(all.end(), inputs.begin(), inputs.end());
      all.insert(all.end(), targets.begin(), targets.end());
    }
    return all;
  }
  ScopedTempDir temp_;
  int64_t num_tokens_ = 0;
};

TEST_F(DataLoaderTest, TargetsAreInputsShiftedByOneAndWindowsAreContiguous) {
  for (const bool shuffle : {false, true}) {
    DataLoader l = loader(64, 7, shuffle);
    const int64_t B = 16;
    std::vector<int32_t> inputs(B * 64), targets(B * 64);
    l.read_samples(100, B, inputs.data(), targets.data());
    for (int64_t b = 0; b < B; ++b) {
      const int64_t start = l.window_start(100 + b);
      ASSERT_GE(start, 0);
      ASSERT_LE(start + 64, num_tokens_ - 1);
      for (int64_t t = 0; t < 64; ++t) {
        EXPECT_EQ(inputs[b * 64 + t], start + t);
        EXPECT_EQ(targets[b * 64 + t], start + t + 1);
      }
    }
  }
}

TEST_F(DataLoaderTest, SequentialOrderWithoutShuffle) {
  DataLoader l = loader(100, 7, false);
  const int64_t M = num_tokens_ - 100;
  for (int64_t i = 0; i < 200; ++i) EXPECT_EQ(l.window_start(i), (i * 100) % M);
  EXPECT_EQ(l.window_start(int64_t{1} << 62), static_cast<int64_t>((static_cast<unsigned __int128>(1) << 62) * 100 % M));
}

TEST_F(DataLoaderTest, SameSeedSameSamplesDifferentSeedsDiffer) {
  DataLoader a = loader(32, 1234, true);
  DataLoader b = loader(32, 1234, true);
  DataLoader c = loader(32, 1235, true);
  EXPECT_EQ(run(a, 5, 8), run(b, 5, 8));
  std::set<int64_t> starts;
  int differ = 0;
  for (int64_t i = 0; i < 100; ++i) {
    differ += a.window_start(i) != c.window_start(i);
    starts.insert(a.window_start(i));
  }
  EXPECT_GT(differ, 95);
  EXPECT_GT(starts.size(), 90u);  // spread over the stream, not stuck
}

TEST_F(DataLoaderTest, ResumeThroughStateEqualsUninterruptedRun) {
  DataLoader uninterrupted = loader(48, 99, true);
  const std::vector<int32_t> expected = run(uninterrupted, 6, 4);

  DataLoader first = loader(48, 99, true);
  std::vector<int32_t> got = run(first, 2, 4);
  MapState state;
  first.save_state(state);
  EXPECT_EQ(state.ints.at("loader.next_sample"), 8);
  EXPECT_EQ(state.ints.at("loader.seed"), 99);
  DataLoader resumed = loader(48, 99, true);
  ASSERT_TRUE(resumed.load_state(state).ok());
  EXPECT_EQ(resumed.next_sample(), 8);
  const std::vector<int32_t> rest = run(resumed, 4, 4);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
}

TEST_F(DataLoaderTest, DataParallelSlicesEqualTheGlobalBatch) {
  // Two ranks each reading half of a global batch of 8 see the samples of one rank reading all 8.
  DataLoader single = loader(16, 5, true);
  std::vector<int32_t> inputs(8 * 16), targets(8 * 16);
  single.read_samples(40, 8, inputs.data(), targets.data());
  DataLoader rank1 = loader(16, 5, true);
  std::vector<int32_t> half(4 * 16), half_targets(4 * 16);
  rank1.read_samples(40 + 4, 4, half.data(), half_targets.data());
  EXPECT_TRUE(std::equal(half.begin(), half.end(), inputs.begin() + 4 * 16));
}

TEST_F(DataLoaderTest, ResumingWithOtherSettingsIsAnError) {
  DataLoader l = loader(32, 1, true);
  l.set_next_sample(10);
  MapState state;
  l.save_state(state);
  DataLoader other_seed = loader(32, 2, true);
  const Status seed = other_seed.load_state(state);
  ASSERT_FALSE(seed.ok());
  EXPECT_NE(seed.message().find("data seed 1, this run uses 2"), std::string::npos) << seed.message();
  EXPECT_EQ(other_seed.next_sample(), 0);
  EXPECT_FALSE(loader(16, 1, true).load_state(state).ok());
  EXPECT_FALSE(loader(32, 1, false).load_state(state).ok());
  MapState empty;
  EXPECT_FALSE(loader(32, 1, true).load_state(empty).ok());
}

TEST_F(DataLoaderTest, TooFewTokensForOneWindow) {
  auto dataset = TokenDataset::open(temp_.path(), "train", 0);
  ASSERT_TRUE(dataset.ok());
  auto made = DataLoader::create(std::move(*dataset), num_tokens_, 1, true, "loader");
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("fewer than T + 1"), std::string::npos) << made.status().message();
  // Exactly T + 1 tokens: one window, sample i always starts at 0.
  auto again = TokenDataset::open(temp_.path(), "train", 0);
  ASSERT_TRUE(again.ok());
  auto exact = DataLoader::create(std::move(*again), num_tokens_ - 1, 1, true, "loader");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->window_start(12345), 0);
}

}  // namespace
}  // namespace tessera
