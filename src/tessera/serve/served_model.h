// ServedModel: what inference needs from a run — the newest checkpoint's weights (or a given step's), its
// config, the tokenizer its data was made with, and kernels in the precision it was trained in. Used by
// `tessera generate` and `tessera serve`. Immutable after load(), so any thread may read it.
#pragma once

#include <memory>
#include <string>

#include "tessera/data/tokenizer.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/gpt_model.h"
#include "tessera/train/train_config.h"

namespace tessera {

// Which matmul precision inference runs in. kAuto: the run's parallel.precision (bf16 weights trained with
// bf16 matmuls are served with bf16 matmuls, fp32 otherwise).
enum class InferencePrecision { kAuto, kFp32, kBf16 };

// "auto" | "fp32" | "bf16" → the precision; false for anything else.
bool parse_inference_precision(const std::string& text, InferencePrecision* out);

struct ServedModelOptions {
  std::string tokenizer;  // a tokenizer model given by hand; empty = data.dir/tokenizer.model of the run
  InferencePrecision precision = InferencePrecision::kAuto;
};

class ServedModel {
 public:
  // `path`: a run directory, its checkpoints/ directory or a step directory. Errors name the file and what
  // is wrong (a corrupt checkpoint, a tokenizer that no longer matches the run's shards, a tokenizer larger
  // than the model's vocabulary, bf16 on a CPU without it).
  static StatusOr<std::unique_ptr<ServedModel>> load(const std::string& path, const ServedModelOptions& options);

  const TrainConfig& config() const { return config_; }
  const ModelSpec& spec() const { return config_.model; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& step_dir() const { return step_dir_; }
  int64_t step() const { return step_; }
  MatmulPrecision matmul_precision() const { return precision_; }
  // The kernels and weights a GptDecoder runs on. The kernel backend keeps per-call scratch: one thread at
  // a time may decode with it.
  KernelBackend& kernels() const { return *kernels_; }
  const float* params() const { return model_->params(); }

  // The prompt's token ids: the tokenizer's encoding, or [eos] for an empty prompt (a document boundary).
  std::vector<int32_t> encode_prompt(std::string_view prompt) const;

 private:
  ServedModel() = default;
  TrainConfig config_;
  std::string step_dir_;
  int64_t step_ = 0;
  MatmulPrecision precision_ = MatmulPrecision::kFp32;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<KernelBackend> kernels_;
  std::unique_ptr<GptModel> model_;
};

}  // namespace tessera
