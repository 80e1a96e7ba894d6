// tessera ckpt: read, check, convert and import checkpoints.
//   tessera ckpt inspect PATH                                   step, format, metadata, tensors, scalars
//   tessera ckpt inspect FILE.gguf | FILE.safetensors           metadata (every GGUF key) and tensors
//   tessera ckpt verify PATH                                    every chunk checksum: exit 0 "OK: ..." or 1
//   tessera ckpt verify FILE.gguf                               its structure and every f32/f16/bf16 value finite
//   tessera ckpt export PATH --format safetensors --out FILE    the "model." tensors under Tessera's names
//   tessera ckpt export PATH --format hf --out DIR              a Hugging Face GPT-2 directory (hf_export.h)
//   tessera ckpt export PATH --format gguf --out FILE [--type f32|f16|bf16] [--name NAME]
//                                                               one GGUF file for llama.cpp (gguf_export.h)
//       export never writes over a device, FIFO, link or directory, nor inside a checkpoint, nor (without
//       --force) over an existing file; each file is written to a temporary name and renamed into place.
//   tessera ckpt import HF_DIR_OR_GGUF CONFIG.toml --data DIR --out RUN_DIR [--set key=value]...
//       a Hugging Face GPT-2 directory (hf_import.h) or a gpt2 GGUF file (gguf_import.h) whose tokenizer is the
//       data's → RUN_DIR/checkpoints/step_00000000, a complete training state at
//       step 0 (the HF weights, fresh AdamW moments, the loader at sample 0) that
//       `tessera train RUN_DIR/config.toml --out RUN_DIR --resume` continues: a fine-tune. RUN_DIR/config.toml
//       is CONFIG with --data, --set and the model's shape (from config.json or the GGUF metadata) applied.
// PATH is a step directory, or a run directory / checkpoints directory (then its newest checkpoint).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_inspect.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/gguf_export.h"
#include "tessera/ckpt/gguf_import.h"
#include "tessera/ckpt/gguf_reader.h"
#include "tessera/ckpt/gpt2_names.h"
#include "tessera/ckpt/hf_export.h"
#include "tessera/ckpt/hf_import.h"
#include "tessera/ckpt/safetensors_export.h"
#include "tessera/ckpt/safetensors_reader.h"
#include "tessera/core/file.h"
#include "tessera/data/token_dataset.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/optim/adamw.h"
#include "tessera/spec/config_reader.h"
#include "tessera/train/dataset_source.h"
#include "tessera/train/train_config.h"

namespace tessera::tools {

namespace {

struct CkptOptions {
  std::string path;
  std::string format = "safetensors";
  std::string out;
  std::string prefix = "model.";
  std::string gguf_type = "f32";
  std::string tokenizer;
  std::string gguf_name;  // general.name; default "tessera step N"
  bool force = false;
  // import
  std::string config;
  std::string data;
  std::vector<std::string> overrides;
};

StatusOr<CheckpointReader> open_checkpoint(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string step_dir, resolve_checkpoint_path(path));
  return CheckpointReader::open(step_dir);
}

// A regular file that starts with GGUF's magic.
bool is_gguf_file(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return false;
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::string_view(magic, 4) == "GGUF";
}

// A file given to `ckpt inspect`: a GGUF (by its magic) or a safetensors file (by its name); nullopt for
// anything else (a directory: a checkpoint).
std::optional<StatusOr<std::string>> describe_model_file(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  if (is_gguf_file(path)) {
    auto reader = GgufReader::open(path);
    if (!reader.ok()) return StatusOr<std::string>(reader.status());
    return StatusOr<std::string>(describe_gguf(*reader));
  }
  if (path.size() >= 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) {
    auto reader = SafetensorsReader::open(path);
    if (!reader.ok()) return StatusOr<std::string>(reader.status());
    return StatusOr<std::string>(describe_safetensors(*reader));
  }
  return StatusOr<std::string>(invalid_argument_error(
      "'{}' is a file but neither GGUF (magic 'GGUF') nor *.safetensors; hint: pass a GGUF or safetensors file, or a "
      "checkpoint's step, run or checkpoints directory",
      path));
}

int run_inspect(const CkptOptions& options) {
  if (auto text = describe_model_file(options.path)) {
    if (!text->ok()) return report_error("ckpt inspect", text->status().message());
    std::fputs(text->value().c_str(), stdout);
    return 0;
  }
  auto reader = open_checkpoint(options.path);
  if (!reader.ok()) return report_error("ckpt inspect", reader.status().message());
  std::fputs(describe_checkpoint(*reader).c_str(), stdout);
  return 0;
}

// `ckpt verify FILE.gguf`: the structure (GgufReader::open) and every f32/f16/bf16 value finite.
int run_verify(const CkptOptions& options) {
  if (is_gguf_file(options.path)) {
    auto gguf = GgufReader::open(options.path);
    if (!gguf.ok()) return report_error("ckpt verify", gguf.status().message());
    auto decoded = verify_gguf_values(*gguf);
    if (!decoded.ok()) return report_error("ckpt verify", decoded.status().message());
    std::printf("OK: %zu tensors, %llu bytes, structure checked; %zu f32/f16/bf16 tensors decoded, every value finite "
                "(%s)\n",
                gguf->tensors().size(), static_cast<unsigned long long>(gguf->file_bytes()), *decoded,
                options.path.c_str());
    return 0;
  }
  auto reader = open_checkpoint(options.path);
  if (!reader.ok()) return report_error("ckpt verify", reader.status().message());
  const Status status = reader->verify_all();
  if (!status.ok()) return report_error("ckpt verify", status.message());
  std::printf("OK: %zu tensors, %llu bytes verified (%s)\n", reader->tensors().size(),
              static_cast<unsigned long long>(reader->tensor_bytes()), reader->path().c_str());
  return 0;
}

// The model a checkpoint was trained as (its train.config) and the tokenizer it was trained with.
struct CheckpointModel {
  ModelSpec spec;
  std::string tokenizer_path;
};

StatusOr<CheckpointModel> checkpoint_model(CheckpointReader& reader, const std::string& tokenizer_override) {
  TESSERA_ASSIGN_OR_RETURN(const std::string config_text, reader.read_string("train.config"));
  TESSERA_ASSIGN_OR_RETURN(ConfigReader config_reader,
                           ConfigReader::from_string(config_text, reader.path() + " (train.config)"));
  TESSERA_ASSIGN_OR_RETURN(const TrainConfig config, read_train_config(config_reader));
  CheckpointModel model{config.model, tokenizer_override};
  if (model.tokenizer_path.empty()) {
    // The run's data directory's tokenizer, only while it is still the one its shards were made with.
    TESSERA_RETURN_IF_ERROR(check_dataset_tokenizer(config.data_dir).with_context(
        "the checkpoint's tokenizer (hint: --tokenizer MODEL)"));
    model.tokenizer_path = config.data_dir + "/" + kDatasetTokenizerFile;
  }
  return model;
}

Status export_checkpoint(const CkptOptions& options) {
  if (options.format != "gguf" && options.gguf_type != "f32") {
    return invalid_argument_error("--type {} applies to --format gguf only", options.gguf_type);
  }
  if (options.format != "gguf" && !options.gguf_name.empty()) {
    return invalid_argument_error("--name applies to --format gguf only (its general.name)");
  }
  if (options.format != "safetensors" && options.prefix != "model.") {
    return invalid_argument_error("--prefix applies to --format safetensors only (hf and gguf export the model)");
  }
  if (options.format == "safetensors" && !options.tokenizer.empty()) {
    return invalid_argument_error("--tokenizer applies to --format hf and gguf only");
  }
  TESSERA_ASSIGN_OR_RETURN(CheckpointReader reader, open_checkpoint(options.path));
  if (options.format == "safetensors") {
    TESSERA_ASSIGN_OR_RETURN(const SafetensorsExportSummary summary,
                             export_safetensors(reader, options.out, options.prefix, options.force));
    std::printf("wrote %s: %zu tensors, %llu bytes (step %lld)\n", options.out.c_str(), summary.tensors,
                static_cast<unsigned long long>(summary.bytes), static_cast<long long>(reader.step()));
    return Status();
  }
  TESSERA_ASSIGN_OR_RETURN(const CheckpointModel model, checkpoint_model(reader, options.tokenizer));
  if (options.format == "hf") {
    TESSERA_ASSIGN_OR_RETURN(const HfExportSummary summary,
                             export_hf(reader, model.spec, model.tokenizer_path, options.out, options.force));
    std::printf("wrote %s/: %zu tensors, %llu bytes of weights, config.json, tokenizer (step %lld)\n",
                options.out.c_str(), summary.tensors, static_cast<unsigned long long>(summary.bytes),
                static_cast<long long>(reader.step()));
    return Status();
  }
  TESSERA_ASSIGN_OR_RETURN(const GgufTensorType type, parse_gguf_tensor_type(options.gguf_type));
  TESSERA_ASSIGN_OR_RETURN(const SentencePieceVocab vocab, read_sentencepiece_vocab(model.tokenizer_path));
  const std::string name = options.gguf_name.empty() ? fmt::format("tessera step {}", reader.step()) : options.gguf_name;
  TESSERA_ASSIGN_OR_RETURN(const GgufExportSummary summary,
                           export_gguf(reader, model.spec, vocab, type, name, options.out, options.force));
  std::printf("wrote %s: %zu tensors (%s), %llu bytes (step %lld)\n", options.out.c_str(), summary.tensors,
              options.gguf_type.c_str(), static_cast<unsigned long long>(summary.bytes),
              static_cast<long long>(reader.step()));
  return Status();
}

// TOML basic-string quoting of a path (backslashes and quotes stay themselves).
std::string toml_quoted(const std::string& text) {
  std::string quoted = "\"";
  for (const char ch : text) {
    if (ch == '\\' || ch == '"') quoted += '\\';
    quoted += ch;
  }
  return quoted + "\"";
}

// A model to import: a Hugging Face GPT-2 directory or a GGUF file, in Tessera's names and shapes.
struct ImportedModel {
  ModelSpec spec;
  std::vector<std::pair<std::string, std::vector<float>>> tensors;  // gpt2_tensor_names() order
  std::string hf_tokenizer_path;             // HF: DIR/tokenizer.model, or empty
  std::optional<SentencePieceVocab> vocab;   // GGUF: its tokenizer.ggml.* vocabulary
};

StatusOr<ImportedModel> read_imported_model(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    TESSERA_ASSIGN_OR_RETURN(GgufGpt2Model gguf, read_gguf_gpt2(path));
    return ImportedModel{gguf.spec, std::move(gguf.tensors), "", std::move(gguf.vocab)};
  }
  TESSERA_ASSIGN_OR_RETURN(HfGpt2Model hf, read_hf_gpt2(path));
  return ImportedModel{hf.spec, std::move(hf.tensors), hf.tokenizer_path, std::nullopt};
}

// The weights only mean something with the tokenizer they were trained with: the data's must be it.
Status check_import_tokenizer(const ImportedModel& model, const std::string& source, const std::string& data_dir) {
  TESSERA_RETURN_IF_ERROR(check_dataset_tokenizer(data_dir));
  const std::string data_tokenizer = data_dir + "/" + kDatasetTokenizerFile;
  if (model.vocab) {  // GGUF: the vocabulary, piece by piece
    TESSERA_ASSIGN_OR_RETURN(const SentencePieceVocab data_vocab, read_sentencepiece_vocab(data_tokenizer));
    return check_gguf_vocab(*model.vocab, source, data_vocab, data_tokenizer)
        .with_context(fmt::format("data '{}' was tokenized with another tokenizer", data_dir));
  }
  if (model.hf_tokenizer_path.empty()) {
    return invalid_argument_error("'{}' has no {}; Tessera trains with the SentencePiece model the weights were "
                                  "trained with",
                                  source, kHfTokenizerFile);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string hf_tokenizer_bytes, read_file(model.hf_tokenizer_path));
  TESSERA_ASSIGN_OR_RETURN(const std::string data_tokenizer_bytes, read_file(data_tokenizer));
  if (hf_tokenizer_bytes != data_tokenizer_bytes) {
    return invalid_argument_error("data '{}' was tokenized with another tokenizer than '{}'; hint: tessera data "
                                  "prepare --tokenizer {} ...",
                                  data_dir, model.hf_tokenizer_path, model.hf_tokenizer_path);
  }
  return Status();
}

Status import_model(const CkptOptions& options) {
  for (const std::string& assignment : options.overrides) {
    if (assignment.rfind("model.", 0) == 0) {
      return invalid_argument_error("--set {}: the model's shape comes from '{}'", assignment, options.path);
    }
  }
  TESSERA_ASSIGN_OR_RETURN(const ImportedModel model, read_imported_model(options.path));
  std::vector<std::string> overrides = options.overrides;
  if (!options.data.empty()) {
    overrides.push_back("data.dir=" + toml_quoted(std::filesystem::absolute(options.data).lexically_normal().string()));
  }
  overrides.push_back("model.n_layer=" + std::to_string(model.spec.n_layer));
  overrides.push_back("model.n_head=" + std::to_string(model.spec.n_head));
  overrides.push_back("model.n_embd=" + std::to_string(model.spec.n_embd));
  overrides.push_back("model.seq_len=" + std::to_string(model.spec.seq_len));
  overrides.push_back("model.vocab_size=" + std::to_string(model.spec.vocab_size));
  TESSERA_ASSIGN_OR_RETURN(const TrainConfig config, load_train_config(options.config, overrides));
  if (config.data_dir.empty()) return invalid_argument_error("no data; hint: pass --data DIR (made by `tessera data prepare`)");
  TESSERA_RETURN_IF_ERROR(check_import_tokenizer(model, options.path, config.data_dir));
  const std::string checkpoints = options.out + "/checkpoints";
  if (!list_checkpoints(checkpoints).empty()) {
    return failed_precondition_error("run directory '{}' already has checkpoints; hint: --out NEW_DIR", options.out);
  }

  // The state a fresh run saves at step 0, with the imported weights: the same components write it as in
  // Trainer::save_checkpoint, so `train --resume` reads it back through their own load_state.
  SnapshotWriter snapshot;
  snapshot.set_metadata("config", config.resolved_toml);
  snapshot.set_metadata("imported_from", std::filesystem::absolute(options.path).lexically_normal().string());
  snapshot.write_int("train.step", 0);
  snapshot.write_string("train.config", config.resolved_toml);
  std::vector<OptimizedTensor> optimized;
  int64_t offset = 0;
  for (const auto& [name, values] : model.tensors) {
    std::vector<int64_t> shape;
    for (const Gpt2TensorName& n : gpt2_tensor_names(model.spec)) {
      if (n.tessera == name) shape = n.shape;
    }
    snapshot.write_tensor(TensorView{"model." + name, DType::kF32, shape, const_cast<float*>(values.data())});
    optimized.push_back({.name = name, .shape = shape, .offset = offset, .numel = shape_numel(shape),
                         .decay = config.decay_all || shape.size() == 2});
    offset += shape_numel(shape);
  }
  TESSERA_ASSIGN_OR_RETURN(auto kernels, make_kernel_backend(config.backend));
  const AdamWConfig adamw{.beta1 = static_cast<float>(config.beta1), .beta2 = static_cast<float>(config.beta2),
                          .eps = static_cast<float>(config.eps), .weight_decay = static_cast<float>(config.weight_decay)};
  AdamW(adamw, std::move(optimized), *kernels).save_state(snapshot);
  TESSERA_ASSIGN_OR_RETURN(auto loader, open_dataset_source(config.data_dir, "train", config.model, config.seed, true));
  loader->save_state(snapshot);
  TESSERA_RETURN_IF_ERROR(snapshot.finish());
  TESSERA_ASSIGN_OR_RETURN(const std::string step_dir, write_checkpoint(snapshot, 0, checkpoints));
  // The resolved config beside it, as train writes it: the one config that resumes this run.
  const std::string config_path = options.out + "/config.toml";
  TESSERA_RETURN_IF_ERROR(write_file_atomic(config_path, config.resolved_toml));
  std::printf("wrote %s: %zu tensors from %s (L=%lld NH=%lld C=%lld T=%lld V=%lld); fine-tune with: tessera train %s "
              "--out %s --resume\n",
              step_dir.c_str(), model.tensors.size(), options.path.c_str(), static_cast<long long>(model.spec.n_layer),
              static_cast<long long>(model.spec.n_head), static_cast<long long>(model.spec.n_embd),
              static_cast<long long>(model.spec.seq_len), static_cast<long long>(model.spec.vocab_size),
              config_path.c_str(), options.out.c_str());
  return Status();
}

}  // namespace

void register_ckpt_command(CLI::App& app, CommandResult& result) {
  // Shared by the callbacks, which run after parsing, when this function has long returned.
  auto options = std::make_shared<CkptOptions>();
  CLI::App* ckpt = app.add_subcommand("ckpt", "inspect, verify, export and import checkpoints");
  ckpt->require_subcommand(1);
  const char* path_help = "a step directory, or a run/checkpoints directory (its newest checkpoint)";

  CLI::App* inspect = ckpt->add_subcommand("inspect", "print step, metadata, tensors and scalars (or a GGUF/safetensors file's)");
  inspect->add_option("PATH", options->path, std::string(path_help) + "; or a .gguf or .safetensors file")->required();
  inspect->callback([options, &result] { result.exit_code = run_inspect(*options); });

  CLI::App* verify = ckpt->add_subcommand("verify", "check every chunk checksum (a GGUF file: every value finite)");
  verify->add_option("PATH", options->path, std::string(path_help) + "; or a .gguf file")->required();
  verify->callback([options, &result] { result.exit_code = run_verify(*options); });

  CLI::App* export_cmd = ckpt->add_subcommand("export", "write the model to safetensors, a Hugging Face directory or GGUF");
  export_cmd->add_option("PATH", options->path, path_help)->required();
  export_cmd->add_option("--format", options->format, "safetensors (Tessera's names), hf (GPT-2 directory), gguf")
      ->check(one_of({"safetensors", "hf", "gguf"}));
  export_cmd->add_option("--out", options->out, "output file (a directory for --format hf)")->required();
  export_cmd->add_option("--prefix", options->prefix, "safetensors: export tensors whose name starts with this");
  export_cmd->add_option("--type", options->gguf_type, "gguf: type of the weight matrices (f32, f16, bf16)")
      ->check(one_of({"f32", "f16", "bf16"}));
  export_cmd->add_option("--tokenizer", options->tokenizer, "hf/gguf: tokenizer model (default: the run's data.dir/tokenizer.model)");
  export_cmd->add_option("--name", options->gguf_name, "gguf: the model's general.name (default: 'tessera step N')");
  export_cmd->add_flag("--force", options->force, "replace existing output files");
  export_cmd->callback([options, &result] {
    const Status status = export_checkpoint(*options);
    result.exit_code = status.ok() ? 0 : report_error("ckpt export", status.message());
  });

  CLI::App* import_cmd =
      ckpt->add_subcommand("import", "a Hugging Face GPT-2 directory or a gpt2 GGUF file → a run at step 0 to fine-tune");
  import_cmd->add_option("HF_DIR_OR_GGUF", options->path,
                         "directory with config.json, model.safetensors, tokenizer.model; or a GGUF file")
      ->required();
  import_cmd->add_option("CONFIG", options->config, "training config (its [model] shape is taken from the model)")->required();
  import_cmd->add_option("--data", options->data, "directory made by `tessera data prepare` with the same tokenizer");
  import_cmd->add_option("--set", options->overrides, "override a config key (not model.*), repeatable");
  import_cmd->add_option("--out", options->out, "run directory to create")->required();
  import_cmd->callback([options, &result] {
    const Status status = import_model(*options);
    result.exit_code = status.ok() ? 0 : report_error("ckpt import", status.message());
  });
}

}  // namespace tessera::tools
