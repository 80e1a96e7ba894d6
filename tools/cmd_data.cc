// tessera data prepare --input PATH... --out DIR [--vocab-size N] [--tokenizer MODEL] [--val-fraction F]
//                      [--shard-tokens N] [--tokenizer-sample-mb MB]
// tessera data inspect DIR_OR_SHARD [--tokens N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/data/prepare.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/token_shard.h"
#include "tessera/data/tokenizer.h"

namespace tessera::tools {

namespace {

struct PrepareArgs {
  PrepareOptions options;
  bool vocab_given = false;
  double tokenizer_sample_mb = 256;  // MiB of documents that train the tokenizer at most
};

int run_prepare(const PrepareArgs& args) {
  PrepareOptions options = args.options;
  // The comparison is written so that NaN fails it too.
  if (!(args.tokenizer_sample_mb > 0) || args.tokenizer_sample_mb > 1e12) {
    return report_error("data prepare", fmt::format("--tokenizer-sample-mb {} is not a positive size in MiB; hint: "
                                                    "e.g. --tokenizer-sample-mb 256",
                                                    args.tokenizer_sample_mb));
  }
  options.tokenizer_sample_bytes =
      std::max<int64_t>(1, static_cast<int64_t>(args.tokenizer_sample_mb * static_cast<double>(1 << 20)));
  if (args.vocab_given && !options.tokenizer.empty()) {
    return report_error("data prepare", "--vocab-size and --tokenizer exclude each other; hint: the vocab size "
                                        "of a reused tokenizer is its own");
  }
  const auto start = std::chrono::steady_clock::now();
  auto summary = prepare_dataset(options);
  if (!summary.ok()) return report_error("data prepare", summary.status().message());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t tokens = summary->train.tokens + summary->val.tokens;
  std::printf("prepared %s in %.1f s from %zu file(s), %.2f MB of text\n", options.out_dir.c_str(), seconds,
              summary->input_files.size(), static_cast<double>(summary->input_bytes) / 1e6);
  std::printf("  tokenizer  %s (%s, vocab %lld, eos %d)\n", summary->tokenizer_path.c_str(),
              summary->trained_tokenizer ? "trained" : "reused", static_cast<long long>(summary->vocab_size),
              summary->eos_id);
  if (summary->trained_tokenizer) {
    std::printf("  sample     trained on %lld of %lld documents, %.2f of %.2f MB of document text\n",
                static_cast<long long>(summary->tokenizer_sample_documents),
                static_cast<long long>(summary->documents),
                static_cast<double>(summary->tokenizer_sample_bytes) / 1e6,
                static_cast<double>(summary->document_bytes) / 1e6);
  }
  for (const auto& [name, split] : {std::pair<const char*, const SplitSummary*>{"train", &summary->train},
                                    std::pair<const char*, const SplitSummary*>{"val", &summary->val}}) {
    std::printf("  %-5s      %lld tokens, %lld documents, %zu shard(s)\n", name,
                static_cast<long long>(split->tokens), static_cast<long long>(split->documents),
                split->shards.size());
  }
  if (tokens > 0) {
    std::printf("  %.2f bytes/token, %.0f tokens/s\n", static_cast<double>(summary->input_bytes) / tokens,
                seconds > 0 ? tokens / seconds : 0.0);
  }
  return 0;
}

// The first `count` tokens of a stream as ids and, with a tokenizer, as pieces and text.
void print_tokens(const std::vector<int32_t>& ids, const Tokenizer* tokenizer) {
  std::printf("first %zu tokens:", ids.size());
  for (const int32_t id : ids) std::printf(" %d", id);
  std::printf("\n");
  if (tokenizer == nullptr) {
    std::printf("(no usable tokenizer.model beside it: ids only)\n");
    return;
  }
  // Decoded a document at a time (byte-fallback pieces of one character must decode together);
  // eos shows as "<eos>".
  std::string text;
  std::vector<int32_t> piece_run;
  for (const int32_t id : ids) {
    if (id < 0 || id >= tokenizer->vocab_size()) break;
    if (id == tokenizer->eos_id()) {
      text += tokenizer->decode(piece_run) + "<eos>";
      piece_run.clear();
    } else {
      piece_run.push_back(id);
    }
  }
  text += tokenizer->decode(piece_run);
  std::printf("decoded (%s): \"", tokenizer->path().c_str());
  for (const char c : text) {
    if (c == '\n') {
      std::printf("\\n");
    } else if (c == '\t') {
      std::printf("\\t");
    } else {
      std::putchar(c);
    }
  }
  std::printf("\"\n");
}

// The tokenizer of the data directory `dir`, only if dataset.json vouches for it (see
// check_dataset_tokenizer); otherwise says why and returns null (ids only).
std::unique_ptr<Tokenizer> tokenizer_beside(const std::filesystem::path& dir) {
  const std::string path = (dir / kDatasetTokenizerFile).string();
  if (!path_exists(path)) return nullptr;
  if (const Status checked = check_dataset_tokenizer(dir.string()); !checked.ok()) {
    std::printf("tokenizer: %s\n", checked.message().c_str());
    return nullptr;
  }
  auto tokenizer = Tokenizer::load(path);
  if (!tokenizer.ok()) {
    std::printf("tokenizer: %s\n", tokenizer.status().message().c_str());
    return nullptr;
  }
  return std::make_unique<Tokenizer>(std::move(*tokenizer));
}

int inspect_shard(const std::string& path, int64_t show) {
  auto header = read_token_shard_header(path);
  if (!header.ok()) return report_error("data inspect", header.status().message());
  std::string magic;
  for (const char c : header->magic) magic += (c >= 0x20 && c < 0x7f) ? c : '.';
  std::printf("shard %s\n", path.c_str());
  std::printf("  magic             \"%s\"\n", magic.c_str());
  std::printf("  version           %u\n", header->version);
  std::printf("  dtype             %u (%s)\n", header->dtype_code,
              header->dtype_code == 2 ? "u16" : header->dtype_code == 3 ? "u32" : "unknown");
  std::printf("  vocab size        %llu\n", static_cast<unsigned long long>(header->vocab_size));
  std::printf("  tokens            %llu\n", static_cast<unsigned long long>(header->token_count));
  std::printf("  payload checksum  %s\n", hash_to_hex(header->payload_checksum).c_str());
  std::printf("  header checksum   %s\n", hash_to_hex(header->header_checksum).c_str());
  std::printf("  file size         %llu bytes\n", static_cast<unsigned long long>(header->file_size));
  auto shard = TokenShard::open(path);
  if (!shard.ok()) {
    std::printf("validation: FAILED\n");
    return report_error("data inspect", shard.status().message());
  }
  std::printf("validation: ok\n");
  std::vector<int32_t> ids(static_cast<size_t>(std::min(show, shard->size())));
  shard->copy_tokens(0, static_cast<int64_t>(ids.size()), ids.data());
  const auto tokenizer = tokenizer_beside(std::filesystem::path(path).parent_path());
  print_tokens(ids, tokenizer.get());
  return 0;
}

int inspect_dir(const std::string& dir, int64_t show) {
  std::printf("data %s\n", dir.c_str());
  const std::string manifest = dir + "/dataset.json";
  std::printf("  manifest  %s\n", path_exists(manifest) ? "dataset.json" : "(none)");
  int failures = 0;
  std::string first_error;
  std::vector<int32_t> ids;
  for (const std::string split : {"train", "val"}) {
    auto dataset = TokenDataset::open(dir, split, 0);
    if (!dataset.ok()) {
      std::printf("  %-5s     FAILED: %s\n", split.c_str(), dataset.status().message().c_str());
      if (failures++ == 0) first_error = dataset.status().message();
      continue;
    }
    std::printf("  %-5s     %lld tokens in %zu shard(s), vocab %lld, dtype %s: ok\n", split.c_str(),
                static_cast<long long>(dataset->num_tokens()), dataset->shards().size(),
                static_cast<long long>(dataset->vocab_size()),
                std::string(dtype_name(dataset->shards().front().dtype())).c_str());
    if (split == "train") {
      ids.resize(static_cast<size_t>(std::min(show, dataset->num_tokens())));
      dataset->copy_tokens(0, static_cast<int64_t>(ids.size()), ids.data());
    }
  }
  if (!ids.empty()) {
    const auto tokenizer = tokenizer_beside(dir);
    print_tokens(ids, tokenizer.get());
  }
  std::printf("validation: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : report_error("data inspect", first_error);
}

}  // namespace

void register_data_command(CLI::App& app, CommandResult& result) {
  CLI::App* data = app.add_subcommand("data", "prepare and inspect tokenized datasets");
  data->require_subcommand(1);

  auto prepare = std::make_shared<PrepareArgs>();
  CLI::App* prep = data->add_subcommand("prepare", "text files -> tokenizer + token shards + dataset.json");
  prep->add_option("--input", prepare->options.inputs, "text files or directories (walked recursively)")
      ->required()
      ->expected(1, -1);
  prep->add_option("--out", prepare->options.out_dir, "output directory")->required();
  prep->add_option("--vocab-size", prepare->options.vocab_size, "vocab size of the tokenizer trained here")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->each([prepare](const std::string&) { prepare->vocab_given = true; });
  prep->add_option("--tokenizer", prepare->options.tokenizer, "reuse this SentencePiece .model");
  prep->add_option("--val-fraction", prepare->options.val_fraction, "share of documents held out for val")
      ->capture_default_str();
  prep->add_option("--shard-tokens", prepare->options.shard_tokens, "tokens per shard file")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  prep->add_option("--tokenizer-sample-mb", prepare->tokenizer_sample_mb,
                   "MiB of documents the tokenizer trains on at most: all documents if they fit, else a "
                   "deterministic sample (bounds memory; inputs are streamed, never held whole)")
      ->capture_default_str();
  prep->callback([prepare, &result] { result.exit_code = run_prepare(*prepare); });

  auto target = std::make_shared<std::string>();
  auto show = std::make_shared<int64_t>(32);
  CLI::App* inspect = data->add_subcommand("inspect", "print a shard's header or a data directory, validate it");
  inspect->add_option("path", *target, "a prepared data directory or one .bin shard")->required();
  inspect->add_option("--tokens", *show, "how many leading tokens to print")->capture_default_str();
  inspect->callback([target, show, &result] {
    std::error_code error;
    result.exit_code = std::filesystem::is_directory(*target, error) ? inspect_dir(*target, std::max<int64_t>(*show, 0))
                                                                     : inspect_shard(*target, std::max<int64_t>(*show, 0));
  });
}

}  // namespace tessera::tools
