#include "tessera/serve/served_model.h"

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/data/token_dataset.h"
#include "tessera/spec/config_reader.h"

namespace tessera {

bool parse_inference_precision(const std::string& text, InferencePrecision* out) {
  if (text == "auto") *out = InferencePrecision::kAuto;
  else if (text == "fp32") *out = InferencePrecision::kFp32;
  else if (text == "bf16") *out = InferencePrecision::kBf16;
  else return false;
  return true;
}

StatusOr<std::unique_ptr<ServedModel>> ServedModel::load(const std::string& path, const ServedModelOptions& options) {
  std::unique_ptr<ServedModel> m(new ServedModel());
  // A step directory, a run directory or its checkpoints/ directory → the step directory to load.
  TESSERA_ASSIGN_OR_RETURN(m->step_dir_, resolve_checkpoint_path(path));
  TESSERA_ASSIGN_OR_RETURN(CheckpointReader checkpoint, CheckpointReader::open(m->step_dir_));
  m->step_ = checkpoint.step();
  TESSERA_ASSIGN_OR_RETURN(std::string config_text, checkpoint.read_string("train.config"));
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::from_string(config_text, m->step_dir_ + " (train.config)"));
  TESSERA_ASSIGN_OR_RETURN(m->config_, read_train_config(reader));
  const TrainConfig& config = m->config_;
  // The run's data directory's tokenizer only while it is still the one its shards (and so this model)
  // were made with; a tokenizer given by hand is the user's call.
  if (options.tokenizer.empty()) TESSERA_RETURN_IF_ERROR(check_dataset_tokenizer(config.data_dir));
  const std::string tokenizer_path =
      !options.tokenizer.empty() ? options.tokenizer : config.data_dir + "/" + kDatasetTokenizerFile;
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load(tokenizer_path));
  if (tokenizer.vocab_size() > config.model.vocab_size) {
    return invalid_argument_error("tokenizer '{}' has {} tokens, more than the model's vocab_size {}", tokenizer_path,
                                  tokenizer.vocab_size(), config.model.vocab_size);
  }
  m->tokenizer_ = std::make_unique<Tokenizer>(std::move(tokenizer));
  const bool bf16 = options.precision == InferencePrecision::kBf16 ||
                    (options.precision == InferencePrecision::kAuto && config.parallel.precision == Precision::kBf16);
  m->precision_ = bf16 ? MatmulPrecision::kBf16 : MatmulPrecision::kFp32;
  TESSERA_ASSIGN_OR_RETURN(m->kernels_, make_kernel_backend(config.backend, {.matmul_precision = m->precision_}));
  m->model_ = std::make_unique<GptModel>(config.model, *m->kernels_, 1, 1);
  TESSERA_RETURN_IF_ERROR(m->model_->load_state(checkpoint).with_context("checkpoint '" + m->step_dir_ + "'"));
  // The weights never change from here on: a bf16 backend rounds them to bf16 once instead of per matmul.
  m->kernels_->set_matmul_weights(m->model_->params(), m->model_->num_params());
  return m;
}

std::vector<int32_t> ServedModel::encode_prompt(std::string_view prompt) const {
  std::vector<int32_t> tokens = tokenizer_->encode(prompt);
  if (tokens.empty()) tokens.push_back(tokenizer_->eos_id());
  return tokens;
}

}  // namespace tessera
