// Tokenizer: a SentencePiece BPE model with byte fallback, so that any UTF-8 (or arbitrary byte) text
// encodes without <unk>, and decode(encode(text)) == text (identity normalisation, whitespace kept).
// The model always has an end-of-sequence token (eos_id) that separates documents in the token stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace tessera {

class Tokenizer {
 public:
  // Trains a BPE model on the lines of `input_files` and writes it atomically to
  // "<model_prefix>.model". Deterministic: one thread, no sentence shuffling, a fixed seed; at most
  // kMaxTrainingSentences lines are used (the first ones). Errors name the file or the vocab problem.
  static Status train(const std::vector<std::string>& input_files, const std::string& model_prefix,
                      int64_t vocab_size);
  // The same, from texts in memory (each text is split into lines; a line is one training sentence).
  static Status train_on_texts(const std::vector<std::string>& texts, const std::string& model_prefix,
                               int64_t vocab_size);

  // Loads a .model file; errors if it is missing, not a SentencePiece model, or has no eos token.
  static StatusOr<Tokenizer> load(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Thread-safe (SentencePieceProcessor's encode/decode are const).
  std::vector<int32_t> encode(std::string_view text) const;
  // Control tokens (eos, bos) decode to nothing. Every id must be in [0, vocab_size()) (CHECKed: a
  // model whose vocab is padded beyond the tokenizer's must not sample the padding ids).
  std::string decode(const std::vector<int32_t>& ids) const;
  // The text of one piece, e.g. "▁the", "<0x0A>", "</s>" (for inspection output).
  std::string piece(int32_t id) const;

  int64_t vocab_size() const;
  int32_t eos_id() const;
  const std::string& path() const { return path_; }

  // Lines beyond this many are not used for training (SentencePiece's input_sentence_size).
  static constexpr int64_t kMaxTrainingSentences = 2'000'000;

 private:
  Tokenizer();

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string path_;
};

}  // namespace tessera
