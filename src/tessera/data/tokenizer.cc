#include "tessera/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "tessera/core/check.h"
#include "tessera/core/file.h"

namespace tessera {

namespace {

// Fixed ids of the special pieces: <unk> 0, <s> 1, </s> 2 (the document separator); no <pad>.
constexpr int kUnkId = 0;
constexpr int kBosId = 1;
constexpr int kEosId = 2;
// SentencePiece's own seed for the (rare) randomised steps of training.
constexpr unsigned kTrainerSeed = 0x7e55e7a;
// SentencePiece's max_sentence_length (its default, set explicitly): longer lines do not train.
constexpr int64_t kMaxSentenceBytes = 4192;

// Feeds lines from texts to the trainer without writing a temporary file. Holds views into `texts`,
// which the caller keeps alive for the whole training run.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& texts) : texts_(texts) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  // Moves to the next non-empty line (a trailing '\r' is dropped).
  void advance() {
    while (text_ < texts_.size()) {
      const std::string& text = texts_[text_];
      if (pos_ >= text.size()) {
        ++text_;
        pos_ = 0;
        continue;
      }
      size_t end = text.find('\n', pos_);
      if (end == std::string::npos) end = text.size();
      size_t stop = end;
      if (stop > pos_ && text[stop - 1] == '\r') --stop;
      line_.assign(text, pos_, stop - pos_);
      pos_ = end + 1;
      if (!line_.empty()) return;
    }
    done_ = true;
  }

  const std::vector<std::string>& texts_;
  size_t text_ = 0;
  size_t pos_ = 0;
  std::string line_;
  bool done_ = false;
};

// SentencePiece's status text without its source location and failed condition: "Internal:
// ./src/x.cc(660) [cond] What went wrong." -> "What went wrong.".
std::string without_internals(std::string_view message) {
  if (const size_t close = message.find("] "); message.find(".cc(") != std::string_view::npos &&
                                               close != std::string_view::npos) {
    message.remove_prefix(close + 2);
  }
  while (!message.empty() && (message.back() == ' ' || message.back() == '\n')) message.remove_suffix(1);
  return std::string(message);
}

// The integer after `marker` in `text`, or -1.
int64_t number_after(std::string_view text, std::string_view marker) {
  const size_t at = text.find(marker);
  if (at == std::string_view::npos) return -1;
  int64_t value = -1;
  for (size_t i = at + marker.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = (value < 0 ? 0 : value * 10) + (text[i] - '0');
    if (value > (int64_t{1} << 40)) return -1;
  }
  return value;
}

// A failed SentencePiece training run in Tessera's words: the vocab size the corpus cannot fill, the
// vocab size too small for the corpus's characters, or (otherwise) SentencePiece's own sentence
// without its source location.
Status training_failure(const std::string& model_path, int64_t vocab_size, std::string_view message) {
  const std::string reason = without_internals(message);
  if (reason.find("Vocabulary size too high") != std::string::npos) {
    const int64_t most = number_after(reason, "<= ");
    return invalid_argument_error(
        "tokenizer '{}': vocab size {} is more than this text can make{}; hint: {}or prepare from more text",
        model_path, vocab_size, most > 0 ? fmt::format(" (at most {} pieces)", most) : "",
        most > 0 ? fmt::format("use --vocab-size {} or less, ", most) : "use a smaller --vocab-size, ");
  }
  if (reason.find("smaller than required_chars") != std::string::npos) {
    const int64_t needed = number_after(reason, " vs ");
    return invalid_argument_error(
        "tokenizer '{}': vocab size {} is too small for this text{}; hint: {}",
        model_path, vocab_size,
        needed > 0 ? fmt::format(" (it needs at least {}: 256 byte pieces, 3 special tokens and each character "
                                 "of the text)", needed)
                   : "",
        needed > 0 ? fmt::format("use --vocab-size {} or more", needed) : "use a larger --vocab-size");
  }
  if (reason.empty()) {  // sentences_.empty(): every line was over SentencePiece's max_sentence_length
    return invalid_argument_error("tokenizer '{}': no line of the text is short enough to train a tokenizer on "
                                  "(lines over {} bytes are skipped); hint: prepare from text with line breaks",
                                  model_path, kMaxSentenceBytes);
  }
  return invalid_argument_error("tokenizer '{}': tokenizer training failed: {}", model_path, reason);
}

}  // namespace

Tokenizer::Tokenizer() : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Status Tokenizer::train(const std::vector<std::string>& input_files, const std::string& model_prefix,
                        int64_t vocab_size) {
  std::vector<std::string> texts;
  texts.reserve(input_files.size());
  for (const std::string& path : input_files) {
    auto text = read_file(path);
    if (!text.ok()) return text.status().with_context("tokenizer training input");
    texts.push_back(std::move(*text));
  }
  return train_on_texts(texts, model_prefix, vocab_size);
}

Status Tokenizer::train_on_texts(const std::vector<std::string>& texts, const std::string& model_prefix,
                                 int64_t vocab_size) {
  const std::string model_path = model_prefix + ".model";
  // 256 byte pieces + 3 specials is the floor; SentencePiece adds the corpus characters on top and
  // says so itself when the vocabulary still cannot hold them.
  constexpr int64_t kMinVocab = 256 + 3 + 1;
  constexpr int64_t kMaxVocab = 1 << 20;
  if (vocab_size < kMinVocab || vocab_size > kMaxVocab) {
    return invalid_argument_error(
        "tokenizer '{}': vocab size {} is outside [{}, {}]; hint: byte fallback needs 256 byte pieces + "
        "3 special tokens + the corpus characters",
        model_path, vocab_size, kMinVocab, kMaxVocab);
  }
  LineIterator lines(texts);
  if (lines.done()) return invalid_argument_error("tokenizer '{}': no training text (all inputs are empty)", model_path);

  // Identity normalisation and kept whitespace make decode(encode(x)) == x; no dummy prefix makes
  // decode(encode(a) + encode(b)) == a + b, so documents concatenate cleanly in the token stream;
  // byte fallback makes every byte sequence encodable; one thread and no shuffling make the model a function of the input.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"split_digits", "true"},
      {"unk_id", std::to_string(kUnkId)},
      {"bos_id", std::to_string(kBosId)},
      {"eos_id", std::to_string(kEosId)},
      {"pad_id", "-1"},
      {"num_threads", "1"},
      {"shuffle_input_sentence", "false"},
      {"input_sentence_size", std::to_string(kMaxTrainingSentences)},
      {"hard_vocab_limit", "true"},
      {"max_sentence_length", std::to_string(kMaxSentenceBytes)},
      {"minloglevel", "2"},
  };
  sentencepiece::SetRandomGeneratorSeed(kTrainerSeed);
  std::string serialized;
  const auto trained = sentencepiece::SentencePieceTrainer::Train(args, &lines, &serialized);
  if (!trained.ok()) return training_failure(model_path, vocab_size, trained.message());
  return write_file_atomic(model_path, serialized);
}

StatusOr<Tokenizer> Tokenizer::load(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  Tokenizer tokenizer;
  const auto loaded = tokenizer.processor_->LoadFromSerializedProto(bytes);
  if (!loaded.ok()) {
    return data_loss_error("tokenizer '{}': not a tokenizer model ({} bytes that do not parse as a SentencePiece "
                           "model); hint: use a tokenizer.model written by tessera data prepare",
                           path, bytes.size());
  }
  if (tokenizer.processor_->eos_id() < 0) {
    return invalid_argument_error("tokenizer '{}': model has no eos token (expected one to separate documents); "
                                  "hint: train it with tessera data prepare, or with --eos_id",
                                  path);
  }
  tokenizer.path_ = path;
  return tokenizer;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  TESSERA_CHECK(status.ok(), "tokenizer '{}': encode failed: {}", path_, status.message());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int64_t vocab = vocab_size();
  for (const int32_t id : ids) {
    TESSERA_CHECK(id >= 0 && id < vocab, "tokenizer '{}': token {} outside the vocab [0, {})", path_, id, vocab);
  }
  std::string text;
  const std::vector<int> pieces(ids.begin(), ids.end());
  const auto status = processor_->Decode(pieces, &text);
  TESSERA_CHECK(status.ok(), "tokenizer '{}': decode failed: {}", path_, status.message());
  return text;
}

std::string Tokenizer::piece(int32_t id) const {
  TESSERA_CHECK(id >= 0 && id < vocab_size(), "token {} outside vocab [0, {})", id, vocab_size());
  return processor_->IdToPiece(id);
}

int64_t Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int32_t Tokenizer::eos_id() const { return processor_->eos_id(); }

}  // namespace tessera
