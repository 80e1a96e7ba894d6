// tessera generate RUN_DIR_OR_CKPT --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S]
//   Loads the newest checkpoint of a run (or the given step directory), its config and tokenizer, and samples
//   a continuation of the prompt with a KV cache.
#include <cstdio>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/core/rng.h"
#include "tessera/data/token_dataset.h"
#include "tessera/data/tokenizer.h"
#include "tessera/model/gpt_decoder.h"
#include "tessera/model/gpt_model.h"
#include "tessera/model/sampling.h"
#include "tessera/spec/config_reader.h"
#include "tessera/train/train_config.h"

namespace tessera::tools {

namespace {

struct GenerateArgs {
  std::string path;
  std::string prompt;
  std::string tokenizer;
  int64_t max_tokens = 64;
  double temperature = 0.8;
  int64_t top_k = 40;
  int64_t seed = 0;
};

Status generate(const GenerateArgs& args) {
  // A step directory, a run directory or its checkpoints/ directory → the step directory to load.
  TESSERA_ASSIGN_OR_RETURN(std::string step_dir, resolve_checkpoint_path(args.path));
  TESSERA_ASSIGN_OR_RETURN(CheckpointReader checkpoint, CheckpointReader::open(step_dir));
  TESSERA_ASSIGN_OR_RETURN(std::string config_text, checkpoint.read_string("train.config"));
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::from_string(config_text, step_dir + " (train.config)"));
  TESSERA_ASSIGN_OR_RETURN(TrainConfig config, read_train_config(reader));
  // The run's data directory's tokenizer only while it is still the one its shards (and so this
  // model) were made with; a --tokenizer given by hand is the user's call.
  if (args.tokenizer.empty()) TESSERA_RETURN_IF_ERROR(check_dataset_tokenizer(config.data_dir));
  const std::string tokenizer_path =
      !args.tokenizer.empty() ? args.tokenizer : config.data_dir + "/" + kDatasetTokenizerFile;
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load(tokenizer_path));
  TESSERA_ASSIGN_OR_RETURN(auto kernels, make_kernel_backend(config.backend));
  GptModel model(config.model, *kernels, 1, 1);
  TESSERA_RETURN_IF_ERROR(model.load_state(checkpoint).with_context("checkpoint '" + step_dir + "'"));

  std::vector<int32_t> tokens = tokenizer.encode(args.prompt);
  if (tokens.empty()) tokens.push_back(tokenizer.eos_id());
  if (static_cast<int64_t>(tokens.size()) >= config.model.seq_len) {
    return invalid_argument_error("generate: the prompt has {} tokens; the context holds {}", tokens.size(),
                                  config.model.seq_len);
  }
  if (tokenizer.vocab_size() > config.model.vocab_size) {
    return invalid_argument_error("generate: tokenizer '{}' has {} tokens, more than the model's vocab_size {}",
                                  tokenizer_path, tokenizer.vocab_size(), config.model.vocab_size);
  }
  const int64_t sampled_vocab = tokenizer.vocab_size();
  GptDecoder decoder(config.model, model.params(), *kernels);
  const SamplingOptions options{.temperature = static_cast<float>(args.temperature), .top_k = args.top_k};
  const float* logits = nullptr;
  for (int32_t token : tokens) {
    TESSERA_ASSIGN_OR_RETURN(logits, decoder.feed(token));
  }
  std::fputs(args.prompt.c_str(), stdout);
  std::vector<int32_t> generated;
  std::string printed;
  for (int64_t i = 0; i < args.max_tokens && decoder.position() < config.model.seq_len; ++i) {
    RngStream rng(static_cast<uint64_t>(args.seed), RngPurpose::kSampling, static_cast<uint64_t>(decoder.position()));
    // Sample among the ids the tokenizer can decode (a model may pad its vocabulary beyond them).
    const int32_t next = sample_token(logits, sampled_vocab, options, rng);
    if (next == tokenizer.eos_id()) break;
    generated.push_back(next);
    // Print what the new token adds to the decoded text (pieces may join across tokens).
    const std::string text = tokenizer.decode(generated);
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::fputs(text.c_str() + printed.size(), stdout);
      std::fflush(stdout);
      printed = text;
    }
    if (decoder.position() >= config.model.seq_len) break;
    TESSERA_ASSIGN_OR_RETURN(logits, decoder.feed(next));
  }
  std::fputs("\n", stdout);
  return Status();
}

}  // namespace

void register_generate_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "sample text from a trained checkpoint (KV cache)");
  cmd->add_option("path", args->path, "run directory, its checkpoints/ directory, or a step directory")->required();
  cmd->add_option("--prompt", args->prompt, "text to continue (empty: start from a document boundary)");
  cmd->add_option("--max-tokens", args->max_tokens, "tokens to generate")->check(positive_integer());
  cmd->add_option("--temperature", args->temperature, "softmax temperature; 0 = greedy")->check(number_in(0.0, 100.0));
  cmd->add_option("--top-k", args->top_k, "sample among the k most likely tokens; 0 = all")->check(non_negative_integer());
  cmd->add_option("--seed", args->seed, "sampling seed")->check(non_negative_integer());
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer model (default: data.dir/tokenizer.model of the run)");
  cmd->callback([args, &result] {
    const Status status = generate(*args);
    result.exit_code = status.ok() ? 0 : report_error("generate", status.message());
  });
}

}  // namespace tessera::tools
