#include "tessera/data/prepare.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/data/corpus.h"
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

// Every token of a split, shards concatenated.
std::vector<int32_t> split_tokens(const std::string& dir, const std::string& split) {
  auto dataset = TokenDataset::open(dir, split, 0);
  EXPECT_TRUE(dataset.ok()) << dataset.status().message();
  if (!dataset.ok()) return {};
  std::vector<int32_t> tokens(static_cast<size_t>(dataset->num_tokens()));
  dataset->copy_tokens(0, dataset->num_tokens(), tokens.data());
  return tokens;
}

// Every file of a prepared directory, by name.
std::map<std::string, std::string> directory_bytes(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files[entry.path().filename().string()] = file_bytes(entry.path().string());
  }
  return files;
}

TEST(Prepare, TokenizerTrainsOnADeterministicSampleWhenTheCorpusExceedsTheBudget) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  auto full = prepare_dataset(small_options(corpus, temp.path() + "/full"));
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->documents, 200);
  EXPECT_EQ(full->tokenizer_sample_documents, 200);  // everything fits the default budget
  EXPECT_EQ(full->tokenizer_sample_bytes, full->document_bytes);

  // A budget of exactly the document bytes still takes every document.
  PrepareOptions exact = small_options(corpus, temp.path() + "/exact");
  exact.tokenizer_sample_bytes = full->document_bytes;
  auto all = prepare_dataset(exact);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->tokenizer_sample_documents, 200);
  auto exact_files = directory_bytes(temp.path() + "/exact");
  auto full_files = directory_bytes(temp.path() + "/full");
  auto exact_manifest = nlohmann::json::parse(exact_files["dataset.json"]);
  auto full_manifest = nlohmann::json::parse(full_files["dataset.json"]);
  exact_files.erase("dataset.json");
  full_files.erase("dataset.json");
  EXPECT_EQ(exact_files, full_files);  // the same tokenizer and shards
  exact_manifest["tokenizer_sample"].erase("budget_bytes");
  full_manifest["tokenizer_sample"].erase("budget_bytes");
  EXPECT_EQ(exact_manifest.dump(), full_manifest.dump());

  PrepareOptions sampled = small_options(corpus, temp.path() + "/a");
  sampled.tokenizer_sample_bytes = full->document_bytes * 6 / 10;
  auto first = prepare_dataset(sampled);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_GT(first->tokenizer_sample_documents, 0);
  EXPECT_LT(first->tokenizer_sample_documents, 200);
  EXPECT_GT(first->tokenizer_sample_bytes, 0);
  EXPECT_LE(first->tokenizer_sample_bytes, sampled.tokenizer_sample_bytes);
  EXPECT_EQ(first->document_bytes, full->document_bytes);
  // Every document is still encoded, and the split is the same as with the full sample.
  EXPECT_EQ(first->train.documents + first->val.documents, 200);
  EXPECT_EQ(first->val.documents, full->val.documents);
  const auto manifest = nlohmann::json::parse(file_bytes(temp.path() + "/a/dataset.json"));
  EXPECT_EQ(manifest["tokenizer_sample"]["documents"].get<int64_t>(), first->tokenizer_sample_documents);
  EXPECT_EQ(manifest["tokenizer_sample"]["bytes"].get<int64_t>(), first->tokenizer_sample_bytes);
  EXPECT_EQ(manifest["tokenizer_sample"]["budget_bytes"].get<int64_t>(), sampled.tokenizer_sample_bytes);

  // Deterministic: a second run (with another read chunk size) gives the same bytes.
  sampled.out_dir = temp.path() + "/b";
  sampled.read_chunk_bytes = 5;
  auto second = prepare_dataset(sampled);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->tokenizer_sample_documents, first->tokenizer_sample_documents);
  EXPECT_EQ(directory_bytes(temp.path() + "/a"), directory_bytes(temp.path() + "/b"));

  PrepareOptions zero = small_options(corpus, temp.path() + "/z");
  zero.tokenizer_sample_bytes = 0;
  auto refused = prepare_dataset(zero);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.status().message(), "tokenizer sample budget")) << refused.status().message();
}

TEST(Prepare, ChunkedReadingGivesTheDatasetOfSplitDocuments) {
  const ScopedTempDir temp;
  const std::string corpus = temp.path() + "/corpus";
  std::filesystem::create_directories(corpus);
  // CRLF line ends, whitespace-only separators, documents far longer than the chunk, no final newline.
  std::string crlf;
  for (const char c : make_corpus(60, 5)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  std::string long_docs = make_corpus(40, 6);
  long_docs += " \t \n" + make_corpus(3, 7) + make_corpus(3, 8) + "\n\n" + std::string(100, 'z') + " end";
  for (size_t i = 0; i < long_docs.size(); i += 97) {
    if (long_docs[i] == ' ') long_docs[i] = '\n';  // long multi-line documents
  }
  ASSERT_TRUE(write_file_atomic(corpus + "/a.txt", crlf).ok());
  ASSERT_TRUE(write_file_atomic(corpus + "/b.txt", long_docs).ok());

  PrepareOptions options = small_options(corpus, temp.path() + "/chunked");
  options.val_fraction = 0.3;
  options.read_chunk_bytes = 13;
  auto chunked = prepare_dataset(options);
  ASSERT_TRUE(chunked.ok()) << chunked.status().message();
  options.out_dir = temp.path() + "/whole";
  options.read_chunk_bytes = int64_t{1} << 20;  // each file in one chunk
  auto whole = prepare_dataset(options);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  EXPECT_EQ(directory_bytes(temp.path() + "/chunked"), directory_bytes(temp.path() + "/whole"));

  // The streams are split_documents of each file, in order, encoded with eos after each, each
  // document in the split its hash picks.
  auto tokenizer = Tokenizer::load(temp.path() + "/chunked/tokenizer.model");
  ASSERT_TRUE(tokenizer.ok());
  std::vector<int32_t> expected_train, expected_val;
  int64_t documents = 0;
  for (const std::string file : {"/a.txt", "/b.txt"}) {
    for (const std::string& document : split_documents(file_bytes(corpus + file))) {
      ++documents;
      const double u = static_cast<double>(hash_bytes(document, 0x7e55e7a5) >> 11) * 0x1.0p-53;
      std::vector<int32_t>& stream = u < options.val_fraction ? expected_val : expected_train;
      const std::vector<int32_t> ids = tokenizer->encode(document);
      stream.insert(stream.end(), ids.begin(), ids.end());
      stream.push_back(tokenizer->eos_id());
    }
  }
  EXPECT_EQ(chunked->documents, documents);
  EXPECT_GT(chunked->train.shards.size(), 1u);
  EXPECT_FALSE(expected_val.empty());
  EXPECT_EQ(split_tokens(temp.path() + "/chunked", "train"), expected_train);
  EXPECT_EQ(split_tokens(temp.path() + "/chunked", "val"), expected_val);
}

TEST(Prepare, InputChangedBetweenPassesIsRefusedAndLeavesNoManifest) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  const std::string out = temp.path() + "/out";
  ASSERT_TRUE(prepare_dataset(small_options(corpus, out)).ok());
  ASSERT_TRUE(path_exists(out + "/dataset.json"));
  // With the default budget the change is caught by the encoding pass; with a small one by the
  // tokenizer sample pass.
  for (const int64_t budget : {int64_t{256} << 20, int64_t{3000}}) {
    ASSERT_TRUE(write_file_atomic(corpus + "/part2", make_corpus(80, 2)).ok());
    PrepareOptions options = small_options(corpus, out);
    options.tokenizer_sample_bytes = budget;
    options.read_chunk_bytes = 100;
    options.after_first_pass = [&] {
      EXPECT_TRUE(write_file_atomic(corpus + "/part2", make_corpus(80, 2) + "appended\n").ok());
    };
    auto changed = prepare_dataset(options);
    ASSERT_FALSE(changed.ok()) << "budget " << budget;
    const std::string message = changed.status().message();
    EXPECT_TRUE(contains(message, "input '" + corpus + "/part2' changed while tessera data prepare was reading it"))
        << message;
    EXPECT_TRUE(contains(message, "hint:")) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_FALSE(path_exists(out + "/dataset.json")) << "budget " << budget;
  }
}

// The defect of issue 7: --out inside an --input directory read its own output (dataset.json is
// text) and, having removed the old manifest first, left the former dataset unusable. Every overlap
// of --out and an input, symlinks resolved, is refused before anything is created or removed.
TEST(Prepare, OutputOverlappingAnInputIsRefusedBeforeAnythingChanges) {
  const ScopedTempDir temp;
  const std::string corpus = write_corpus(temp.path());
  ASSERT_TRUE(prepare_dataset(small_options(corpus, temp.path() + "/elsewhere")).ok());
  std::filesystem::copy(temp.path() + "/elsewhere", corpus + "/data");
  const auto before = directory_bytes(corpus + "/data");
  std::filesystem::create_directory_symlink(corpus, temp.path() + "/link");
  std::filesystem::create_directories(temp.path() + "/outer/texts");
  ASSERT_TRUE(write_file_atomic(temp.path() + "/outer/texts/t.txt", make_corpus(50, 3)).ok());
  struct Case {
    std::vector<std::string> inputs;
    std::string out;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{corpus}, corpus + "/data", "--out '" + corpus + "/data' (" + corpus + "/data) is inside the input '" + corpus +
                                       "': prepare would read its own output; hint: write the dataset to a directory "
                                       "outside every --input"},
      {{corpus + "/"}, corpus + "/data/", "is inside the input"},
      {{corpus + "/part1", corpus}, corpus + "/new/sub", "--out '" + corpus + "/new/sub' (" + corpus +
                                                             "/new/sub) is inside the input '" + corpus + "'"},
      {{temp.path() + "/link"}, corpus + "/data", "is inside the input '" + temp.path() + "/link'"},
      {{corpus}, temp.path() + "/link/other", "--out '" + temp.path() + "/link/other' (" + corpus +
                                                  "/other) is inside the input"},
      {{corpus}, corpus, "--out '" + corpus + "' is the input '" + corpus + "'"},
      {{corpus + "/part1"}, corpus + "/part1", "is the input '" + corpus + "/part1'"},
      {{temp.path() + "/outer/texts"}, temp.path() + "/outer",
       "the input '" + temp.path() + "/outer/texts' (" + temp.path() + "/outer/texts) is inside --out '" +
           temp.path() + "/outer', whose files prepare replaces"},
  };
  for (const Case& c : cases) {
    PrepareOptions options = small_options(c.inputs.front(), c.out);
    options.inputs = c.inputs;
    auto refused = prepare_dataset(options);
    ASSERT_FALSE(refused.ok()) << c.out;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(refused.status().message(), c.message)) << refused.status().message();
  }
  // Nothing was touched: the former dataset is byte for byte as it was and still opens; no directory
  // was created.
  EXPECT_EQ(directory_bytes(corpus + "/data"), before);
  EXPECT_TRUE(TokenDataset::open(corpus + "/data", "train", 0).ok());
  EXPECT_FALSE(path_exists(corpus + "/new"));
  EXPECT_FALSE(path_exists(corpus + "/other"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(temp.path() + "/outer"),
                          std::filesystem::directory_iterator()),
            1);  // only texts/
  // A sibling whose name merely starts with the input's is not inside it.
  PrepareOptions sibling = small_options(corpus + "/part1", corpus + "/part1x");
  auto prepared = prepare_dataset(sibling);
  EXPECT_TRUE(prepared.ok()) << prepared.status().message();
}

}  // namespace
}  // namespace tessera
