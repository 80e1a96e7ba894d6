// tessera generate RUN_DIR_OR_CKPT --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S]
//                  [--precision auto|fp32|bf16]
//   Loads the newest checkpoint of a run (or the given step directory), its config and tokenizer, and samples
//   a continuation of the prompt with a KV cache. A run trained with parallel.precision = bf16 runs its
//   matmuls in bf16 (fp32 accumulation) unless --precision fp32.
#include <cstdio>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/core/rng.h"
#include "tessera/model/gpt_decoder.h"
#include "tessera/model/sampling.h"
#include "tessera/serve/served_model.h"

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
  std::string precision = "auto";
};

Status generate(const GenerateArgs& args) {
  InferencePrecision precision = InferencePrecision::kAuto;
  parse_inference_precision(args.precision, &precision);  // checked by the option's validator
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> served,
                           ServedModel::load(args.path, {.tokenizer = args.tokenizer, .precision = precision}));
  const ServedModel& m = *served;
  const TrainConfig& config = m.config();
  const Tokenizer& tokenizer = m.tokenizer();
  const std::vector<int32_t> tokens = m.encode_prompt(args.prompt);
  if (static_cast<int64_t>(tokens.size()) >= config.model.seq_len) {
    return invalid_argument_error("generate: the prompt has {} tokens; the context holds {}", tokens.size(),
                                  config.model.seq_len);
  }
  const int64_t sampled_vocab = tokenizer.vocab_size();
  GptDecoder decoder(config.model, m.params(), m.kernels());
  const SamplingOptions options{.temperature = static_cast<float>(args.temperature), .top_k = args.top_k};
  // The whole prompt in one decoder call, as `tessera serve` runs it (the same calls give the same bits).
  const DecoderInput prompt{.slot = 0, .tokens = tokens};
  TESSERA_ASSIGN_OR_RETURN(const float* logits, decoder.feed(std::span<const DecoderInput>(&prompt, 1)));
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
  cmd->add_option("--precision", args->precision,
                  "matmul precision: auto (as the run was trained: parallel.precision), fp32 or bf16")
      ->check(one_of({"auto", "fp32", "bf16"}));
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer model (default: data.dir/tokenizer.model of the run)");
  cmd->callback([args, &result] {
    const Status status = generate(*args);
    result.exit_code = status.ok() ? 0 : report_error("generate", status.message());
  });
}

}  // namespace tessera::tools
