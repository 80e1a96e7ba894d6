// The vocabulary of a SentencePiece model file (tokenizer.model), read without SentencePiece (which stays
// inside data/): exporters need each piece's text, score and type to describe the tokenizer to other
// tools (GGUF's tokenizer.ggml.* arrays, Hugging Face's bos/eos ids).
//
// A .model file is a serialized protobuf `ModelProto`; only these fields are read (proto2 wire format):
//   ModelProto      1: repeated SentencePiece pieces     3: NormalizerSpec normalizer_spec
//   SentencePiece   1: string piece   2: float score   3: enum Type (default NORMAL)
//   NormalizerSpec  3: bool add_dummy_prefix (default true)
// Type values: 1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED, 6 BYTE — the same numbers as
// llama.cpp's token types. Every other field is skipped by its wire type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

enum class PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct SentencePieceVocab {
  std::vector<std::string> pieces;  // by id
  std::vector<float> scores;        // by id
  std::vector<PieceType> types;     // by id
  bool add_dummy_prefix = true;

  int64_t size() const { return static_cast<int64_t>(pieces.size()); }
  // The id of the first piece of `type` whose text is `piece`, or -1.
  int32_t find(std::string_view piece, PieceType type) const;
};

// Parses the bytes of a .model file; DataLoss naming `origin` if they are not a ModelProto with pieces.
StatusOr<SentencePieceVocab> parse_sentencepiece_vocab(std::string_view bytes, const std::string& origin);
StatusOr<SentencePieceVocab> read_sentencepiece_vocab(const std::string& path);

}  // namespace tessera
