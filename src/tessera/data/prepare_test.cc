#include "tessera/data/prepare.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"
#include "tessera/data/data_loader.h"
#include "tessera/data/data_test_util.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/tokenizer.h"

namespace tessera {
namespace {

using testing_util::make_corpus;
using testing_util::ScopedTempDir;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Two corpus files (fortune style) plus an index file that must be skipped.
std::string write_corpus(const std::string& dir) {
  const std::string corpus = dir + "/corpus";
  std::filesystem::create_directories(corpus);
  EXPECT_TRUE(write_file_atomic(corpus + "/part1", make_corpus(120, 1)).ok());
  EXPECT_TRUE(write_file_atomic(corpus + "/part2", make_corpus(80, 2)).ok());
  EXPECT_TRUE(write_file_atomic(corpus + "/part1.dat", std::string("\0\0\0\2binary", 10)).ok());
  return corpus;
}

PrepareOptions small_options(const std::string& corpus, const std::string& out) {
  PrepareOptions options;
  options.inputs = {corpus};
  options.out_dir = out;
  options.vocab_size = 400;
  options.val_fraction = 0.1;
  options.shard_tokens = 1000;  // several train shards
  return options;
}

std::string file_bytes(const std::string& path) {
  auto bytes = read_file(path);
  EXPECT_TRUE(bytes.ok()) << path;
  return bytes.ok() ? *bytes : "";
}

TEST(Prepare, EndToEndTinyCorpusIsReadableAndDeterministic) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  auto first = prepare_dataset(small_options(corpus, temp.path() + "/a"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = prepare_dataset(small_options(corpus, temp.path() + "/b"));
  ASSERT_TRUE(second.ok()) << second.status().message();

  EXPECT_EQ(first->input_files, (std::vector<std::string>{corpus + "/part1", corpus + "/part2"}));
  EXPECT_EQ(first->vocab_size, 400);
  EXPECT_TRUE(first->trained_tokenizer);
  EXPECT_EQ(first->train.documents + first->val.documents, 200);
  EXPECT_GT(first->val.documents, 5);   // ~10% of 200
  EXPECT_LT(first->val.documents, 40);
  EXPECT_GT(first->train.shards.size(), 1u);
  EXPECT_EQ(first->val.shards, std::vector<std::string>{"val_000.bin"});

  // Identical bytes across the two runs: tokenizer, every shard, manifest up to the input paths.
  EXPECT_EQ(file_bytes(temp.path() + "/a/tokenizer.model"), file_bytes(temp.path() + "/b/tokenizer.model"));
  ASSERT_EQ(first->train.shards, second->train.shards);
  for (const auto& file : first->train.shards) {
    EXPECT_EQ(file_bytes(temp.path() + "/a/" + file), file_bytes(temp.path() + "/b/" + file)) << file;
  }
  EXPECT_EQ(file_bytes(temp.path() + "/a/val_000.bin"), file_bytes(temp.path() + "/b/val_000.bin"));
  EXPECT_EQ(file_bytes(temp.path() + "/a/dataset.json"), file_bytes(temp.path() + "/b/dataset.json"));

  // The shards read back as a dataset whose token count matches the summary and the manifest, and
  // whose stream decodes to the documents with eos between them.
  auto train = TokenDataset::open(temp.path() + "/a", "train", 400);
  ASSERT_TRUE(train.ok()) << train.status().message();
  EXPECT_EQ(train->num_tokens(), first->train.tokens);
  auto val = TokenDataset::open(temp.path() + "/a", "val", 400);
  ASSERT_TRUE(val.ok()) << val.status().message();
  EXPECT_EQ(val->num_tokens(), first->val.tokens);
  const auto manifest = nlohmann::json::parse(file_bytes(temp.path() + "/a/dataset.json"));
  EXPECT_EQ(manifest["splits"]["train"]["tokens"].get<int64_t>(), first->train.tokens);
  EXPECT_EQ(manifest["vocab_size"].get<int64_t>(), 400);
  EXPECT_EQ(manifest["inputs"].size(), 2u);
  EXPECT_TRUE(check_dataset_tokenizer(temp.path() + "/a").ok());

  auto tokenizer = Tokenizer::load(temp.path() + "/a/tokenizer.model");
  ASSERT_TRUE(tokenizer.ok());
  std::vector<int32_t> stream(static_cast<size_t>(train->num_tokens()));
  train->copy_tokens(0, train->num_tokens(), stream.data());
  EXPECT_EQ(std::count(stream.begin(), stream.end(), tokenizer->eos_id()), first->train.documents);
  EXPECT_EQ(stream.back(), tokenizer->eos_id());
  std::vector<int32_t> first_doc(stream.begin(), std::find(stream.begin(), stream.end(), tokenizer->eos_id()));
  const std::string text = make_corpus(1, 1);  // the first document of part1 and its "%" line
  const std::string expected_first = text.substr(0, text.size() - 3);
  const std::string decoded = tokenizer->decode(first_doc);
  // The first document is in train unless the split hash sent it to val.
  if (decoded != expected_first) {
    std::vector<int32_t> val_stream(static_cast<size_t>(val->num_tokens()));
    val->copy_tokens(0, val->num_tokens(), val_stream.data());
    std::vector<int32_t> val_first(val_stream.begin(),
                                   std::find(val_stream.begin(), val_stream.end(), tokenizer->eos_id()));
    EXPECT_EQ(tokenizer->decode(val_first), expected_first);
  }

  // A loader over the prepared train split works end to end.
  auto loader = DataLoader::create(std::move(*train), 32, 1, true, "loader");
  ASSERT_TRUE(loader.ok()) << loader.status().message();
}

TEST(Prepare, ReusesATokenizerAndReplacesStaleShards) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  auto trained = prepare_dataset(small_options(corpus, temp.path() + "/a"));
  ASSERT_TRUE(trained.ok()) << trained.status().message();
  // Re-prepare into the same directory with bigger shards and the existing tokenizer: fewer shards,
  // no left-over train_NNN.bin, same tokens.
  PrepareOptions options = small_options(corpus, temp.path() + "/a");
  options.tokenizer = temp.path() + "/a/tokenizer.model";
  options.vocab_size = 12345;  // ignored with a tokenizer
  options.shard_tokens = 1 << 20;
  auto reused = prepare_dataset(options);
  ASSERT_TRUE(reused.ok()) << reused.status().message();
  EXPECT_FALSE(reused->trained_tokenizer);
  EXPECT_EQ(reused->vocab_size, 400);
  EXPECT_EQ(reused->train.shards, std::vector<std::string>{"train_000.bin"});
  EXPECT_EQ(reused->train.tokens, trained->train.tokens);
  EXPECT_FALSE(path_exists(temp.path() + "/a/train_001.bin"));
  auto dataset = TokenDataset::open(temp.path() + "/a", "train", 0);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  EXPECT_EQ(dataset->num_tokens(), trained->train.tokens);
}

// A re-prepare that stops after it started changing the directory (here: tokenizer training fails;
// likewise Ctrl-C or a full disk) leaves no dataset.json, so the old shards beside a possibly new
// tokenizer are refused rather than trained on; the next complete prepare makes it usable again.
TEST(Prepare, InterruptedReprepareLeavesNoManifest) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  const std::string dir = temp.path() + "/a";
  ASSERT_TRUE(prepare_dataset(small_options(corpus, dir)).ok());
  PrepareOptions failing = small_options(corpus, dir);
  failing.vocab_size = 50;  // fails in tokenizer training, after the manifest is removed
  ASSERT_FALSE(prepare_dataset(failing).ok());
  EXPECT_FALSE(path_exists(dir + "/dataset.json"));
  EXPECT_TRUE(path_exists(dir + "/train_000.bin"));
  auto refused = TokenDataset::open(dir, "train", 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.status().message(), "dataset.json is missing, so the directory was not completely "
                                                   "prepared"))
      << refused.status().message();
  EXPECT_FALSE(check_dataset_tokenizer(dir).ok());

  ASSERT_TRUE(prepare_dataset(small_options(corpus, dir)).ok());
  EXPECT_TRUE(TokenDataset::open(dir, "train", 0).ok());
  EXPECT_TRUE(check_dataset_tokenizer(dir).ok());
}

// tokenizer.model with other bytes than the manifest's checksum (e.g. written by an interrupted
// re-prepare, or copied over by hand) is refused, naming both files.
TEST(Prepare, ReplacedTokenizerIsRefused) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  const std::string dir = temp.path() + "/a";
  ASSERT_TRUE(prepare_dataset(small_options(corpus, dir)).ok());
  // Another valid tokenizer (a different vocab size) in place of the one the shards were made with.
  PrepareOptions other = small_options(corpus, temp.path() + "/b");
  other.vocab_size = 350;
  ASSERT_TRUE(prepare_dataset(other).ok());
  ASSERT_TRUE(write_file_atomic(dir + "/tokenizer.model", file_bytes(temp.path() + "/b/tokenizer.model")).ok());
  auto refused = TokenDataset::open(dir, "train", 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.status().message(),
                       "tokenizer.model does not match the tokenizer the shards were made with (dataset.json "
                       "tokenizer_checksum "))
      << refused.status().message();
  const Status checked = check_dataset_tokenizer(dir);
  EXPECT_EQ(checked.message(), refused.status().message());
}

TEST(Prepare, BothSplitsExistEvenForTinyCorpora) {
  const ScopedTempDir temp;
  ASSERT_TRUE(write_file_atomic(temp.path() + "/c.txt", make_corpus(30, 3)).ok());
  PrepareOptions options = small_options(temp.path() + "/c.txt", temp.path() + "/out");
  options.val_fraction = 0.001;
  auto summary = prepare_dataset(options);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->val.documents, 1);
  EXPECT_EQ(summary->train.documents, 29);
  options.val_fraction = 0.999;
  summary = prepare_dataset(options);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->train.documents, 1);
}

TEST(Prepare, ClearErrors) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  auto missing = prepare_dataset(small_options(temp.path() + "/nope", temp.path() + "/out"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.status().message(), "nope")) << missing.status().message();

  ASSERT_TRUE(write_file_atomic(temp.path() + "/blank.txt", "\n%\n  \n%\n").ok());
  auto empty = prepare_dataset(small_options(temp.path() + "/blank.txt", temp.path() + "/out"));
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(contains(empty.status().message(), "empty corpus")) << empty.status().message();

  PrepareOptions small_vocab = small_options(corpus, temp.path() + "/out");
  small_vocab.vocab_size = 50;
  auto too_small = prepare_dataset(small_vocab);
  ASSERT_FALSE(too_small.ok());
  EXPECT_TRUE(contains(too_small.status().message(), "vocab size 50")) << too_small.status().message();

  PrepareOptions big_vocab = small_options(corpus, temp.path() + "/out");
  big_vocab.vocab_size = 5000;  // far more pieces than a few KB of text can make
  auto too_big = prepare_dataset(big_vocab);
  ASSERT_FALSE(too_big.ok());
  EXPECT_TRUE(contains(too_big.status().message(), "vocab")) << too_big.status().message();

  ASSERT_TRUE(write_file_atomic(temp.path() + "/file", "x").ok());
  auto unwritable = prepare_dataset(small_options(corpus, temp.path() + "/file/sub"));
  ASSERT_FALSE(unwritable.ok());
  EXPECT_TRUE(contains(unwritable.status().message(), temp.path() + "/file/sub")) << unwritable.status().message();

  PrepareOptions bad_fraction = small_options(corpus, temp.path() + "/out");
  bad_fraction.val_fraction = 1.0;
  EXPECT_FALSE(prepare_dataset(bad_fraction).ok());

  PrepareOptions bad_tokenizer = small_options(corpus, temp.path() + "/out");
  bad_tokenizer.tokenizer = temp.path() + "/file";
  auto junk = prepare_dataset(bad_tokenizer);
  ASSERT_FALSE(junk.ok());
  EXPECT_TRUE(contains(junk.status().message(), temp.path() + "/file")) << junk.status().message();
}

}  // namespace
}  // namespace tessera
