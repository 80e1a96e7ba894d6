// tessera data prepare --input PATH... --out DIR [--vocab-size N] [--tokenizer MODEL] [--val-fraction F]
//                      [--shard-tokens N] [--tokenizer-sample-mb MB]
// tessera data inspect DIR_OR_SHARD [--tokens N] [--verify]
#include <algorithm>
#include <charconv>
#include <cmath>
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

// The options as typed: numbers are parsed here so that each bad value gets one line in Tessera's
// words (not CLI11's), naming the option, what was expected and what was found.
struct PrepareArgs {
  std::vector<std::string> inputs;
  std::string out_dir;
  std::string vocab_size;           // empty: not given
  std::string tokenizer;
  std::string val_fraction = "0.05";
  std::string shard_tokens = "16777216";
  std::string tokenizer_sample_mb = "256";  // MiB of documents that train the tokenizer at most
};

// `text` as a whole number in [min, max], or one line saying why not.
StatusOr<int64_t> integer_option(const std::string& name, const std::string& text, int64_t min, int64_t max,
                                 const std::string& example) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data(), end, value);
  if (error == std::errc::result_out_of_range || (error == std::errc() && at == end && (value < min || value > max))) {
    return invalid_argument_error("{} {} is outside {}..{}; hint: e.g. {} {}", name, text, min, max, name, example);
  }
  if (error != std::errc() || at != end) {
    return invalid_argument_error("{} '{}' is not a whole number; hint: e.g. {} {}", name, text, name, example);
  }
  return value;
}

// `text` as a finite number, or one line saying why not.
StatusOr<double> number_option(const std::string& name, const std::string& text, const std::string& example) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || at != end || !std::isfinite(value)) {
    return invalid_argument_error("{} '{}' is not a number; hint: e.g. {} {}", name, text, name, example);
  }
  return value;
}

StatusOr<PrepareOptions> prepare_options(const PrepareArgs& args) {
  PrepareOptions options;
  if (args.inputs.empty()) {
    return invalid_argument_error("no input; hint: --input FILE_OR_DIRECTORY (text files; directories are walked)");
  }
  if (args.out_dir.empty()) return invalid_argument_error("no output directory; hint: --out DIR");
  options.inputs = args.inputs;
  options.out_dir = args.out_dir;
  options.tokenizer = args.tokenizer;
  if (!args.vocab_size.empty()) {
    if (!options.tokenizer.empty()) {
      return invalid_argument_error("--vocab-size and --tokenizer exclude each other; hint: the vocab size of a "
                                    "reused tokenizer is its own");
    }
    // The tokenizer's own range: 256 byte pieces + 3 special tokens + at least one more piece.
    TESSERA_ASSIGN_OR_RETURN(options.vocab_size,
                             integer_option("--vocab-size", args.vocab_size, 260, 1 << 20, "8192"));
  }
  TESSERA_ASSIGN_OR_RETURN(options.val_fraction, number_option("--val-fraction", args.val_fraction, "0.05"));
  if (!(options.val_fraction >= 0 && options.val_fraction < 1)) {
    return invalid_argument_error("--val-fraction {} is outside [0, 1); hint: e.g. --val-fraction 0.05 (0: no val "
                                  "split)",
                                  args.val_fraction);
  }
  TESSERA_ASSIGN_OR_RETURN(options.shard_tokens,
                           integer_option("--shard-tokens", args.shard_tokens, 1, int64_t{1} << 40, "16777216"));
  TESSERA_ASSIGN_OR_RETURN(const double sample_mb,
                           number_option("--tokenizer-sample-mb", args.tokenizer_sample_mb, "256"));
  if (!(sample_mb > 0) || sample_mb > 1e12) {
    return invalid_argument_error("--tokenizer-sample-mb {} is not a positive size in MiB; hint: e.g. "
                                  "--tokenizer-sample-mb 256",
                                  args.tokenizer_sample_mb);
  }
  options.tokenizer_sample_bytes = std::max<int64_t>(1, static_cast<int64_t>(sample_mb * static_cast<double>(1 << 20)));
  return options;
}

int run_prepare(const PrepareArgs& args) {
  auto parsed = prepare_options(args);
  if (!parsed.ok()) return report_error("data prepare", parsed.status().message());
  const PrepareOptions& options = *parsed;
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
  if (const Status fits = check_tokenizer_fits_dataset(dir.string(), tokenizer->vocab_size(), tokenizer->eos_id());
      !fits.ok()) {
    std::printf("tokenizer: %s\n", fits.message().c_str());
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
  // Inside a prepared directory the shard must also be the one dataset.json describes (a valid shard
  // copied over another is valid on its own).
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (path_exists(dir + "/" + kDatasetManifestFile)) {
    auto manifest = read_dataset_manifest(dir);
    const Status listed =
        manifest.ok() ? check_shard_listed(dir, *manifest, std::filesystem::path(path).filename().string(), *shard)
                      : manifest.status();
    if (!listed.ok()) {
      std::printf("validation: FAILED against %s/dataset.json\n", dir.c_str());
      return report_error("data inspect", listed.message());
    }
    std::printf("validation: ok (every byte; matches %s/dataset.json)\n", dir.c_str());
  } else {
    std::printf("validation: ok (every byte; no dataset.json beside it)\n");
  }
  std::vector<int32_t> ids(static_cast<size_t>(std::min(show, shard->size())));
  shard->copy_tokens(0, static_cast<int64_t>(ids.size()), ids.data());
  const auto tokenizer = tokenizer_beside(std::filesystem::path(path).parent_path());
  print_tokens(ids, tokenizer.get());
  return 0;
}

// Without --verify: dataset.json, the file list, the tokenizer checksum, each shard's header, size and
// sample checksum against dataset.json (at most 128 KiB read per shard). With it: every byte.
int inspect_dir(const std::string& dir, int64_t show, bool verify) {
  std::printf("data %s\n", dir.c_str());
  const std::string manifest = dir + "/dataset.json";
  std::printf("  manifest  %s\n", path_exists(manifest) ? "dataset.json" : "(none)");
  int failures = 0;
  std::string first_error;
  std::vector<int32_t> ids;
  for (const std::string split : {"train", "val"}) {
    auto dataset = TokenDataset::open(dir, split, 0, verify ? ShardCheck::kFull : ShardCheck::kQuick);
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
  std::printf("validation: %s (%s)\n", failures == 0 ? "ok" : "FAILED",
              verify ? "--verify: every byte of every shard checksummed, every token < vocab size"
                     : "quick: dataset.json, file list, tokenizer, each shard's header, size and first/last 64 KiB; "
                       "--verify reads every byte");
  return failures == 0 ? 0 : report_error("data inspect", first_error);
}

}  // namespace

void register_data_command(CLI::App& app, CommandResult& result) {
  CLI::App* data = app.add_subcommand("data", "prepare and inspect tokenized datasets");
  data->require_subcommand(1);

  auto prepare = std::make_shared<PrepareArgs>();
  CLI::App* prep = data->add_subcommand("prepare", "text files -> tokenizer + token shards + dataset.json");
  prep->add_option("--input", prepare->inputs, "text files or directories (walked recursively); required")
      ->expected(1, -1);
  prep->add_option("--out", prepare->out_dir, "output directory, outside every --input; required");
  prep->add_option("--vocab-size", prepare->vocab_size, "vocab size of the tokenizer trained here [8192]");
  prep->add_option("--tokenizer", prepare->tokenizer, "reuse this SentencePiece .model");
  prep->add_option("--val-fraction", prepare->val_fraction, "share of documents held out for val")
      ->capture_default_str();
  prep->add_option("--shard-tokens", prepare->shard_tokens, "tokens per shard file")->capture_default_str();
  prep->add_option("--tokenizer-sample-mb", prepare->tokenizer_sample_mb,
                   "MiB of documents the tokenizer trains on at most: all documents if they fit, else a "
                   "deterministic sample (bounds memory; inputs are streamed, never held whole)")
      ->capture_default_str();
  prep->callback([prepare, &result] { result.exit_code = run_prepare(*prepare); });

  auto target = std::make_shared<std::string>();
  auto show = std::make_shared<std::string>("32");
  auto verify = std::make_shared<bool>(false);
  CLI::App* inspect = data->add_subcommand("inspect", "print a shard's header or a data directory, validate it");
  inspect->add_option("path", *target, "a prepared data directory or one .bin shard; required");
  inspect->add_option("--tokens", *show, "how many leading tokens to print")->capture_default_str();
  inspect->add_flag("--verify", *verify,
                    "read every byte of a data directory's shards (checksums, token range); without it the "
                    "check reads each shard's header and first/last 64 KiB. A single shard is always read whole");
  inspect->callback([target, show, verify, &result] {
    auto tokens = integer_option("--tokens", *show, 0, int64_t{1} << 30, "32");
    if (!tokens.ok()) {
      result.exit_code = report_error("data inspect", tokens.status().message());
      return;
    }
    if (target->empty()) {
      result.exit_code = report_error("data inspect", "no path; hint: tessera data inspect DIR_OR_SHARD");
      return;
    }
    std::error_code error;
    if (!std::filesystem::exists(*target, error)) {
      result.exit_code = report_error("data inspect", fmt::format("'{}': no such file or directory; hint: a data "
                                                                  "directory made by tessera data prepare, or one "
                                                                  "of its .bin shards",
                                                                  *target));
      return;
    }
    result.exit_code = std::filesystem::is_directory(*target, error) ? inspect_dir(*target, *tokens, *verify)
                                                                     : inspect_shard(*target, *tokens);
  });
}

}  // namespace tessera::tools
