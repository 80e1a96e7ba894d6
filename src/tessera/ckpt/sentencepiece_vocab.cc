#include "tessera/ckpt/sentencepiece_vocab.h"

#include <cstring>

#include "tessera/core/file.h"

namespace tessera {

namespace {

// A cursor over protobuf wire-format bytes. Every read checks the bounds; a malformed message sets
// `error` and reads stop.
struct WireReader {
  std::string_view bytes;
  size_t pos = 0;
  std::string error;

  bool done() const { return pos >= bytes.size() || !error.empty(); }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= bytes.size()) {
        error = "truncated varint";
        return 0;
      }
      const auto byte = static_cast<uint8_t>(bytes[pos++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    error = "varint longer than 10 bytes";
    return 0;
  }

  std::string_view take(uint64_t n) {
    if (n > bytes.size() - pos) {
      error = "field of " + std::to_string(n) + " bytes runs past the end";
      pos = bytes.size();
      return {};
    }
    std::string_view out = bytes.substr(pos, n);
    pos += n;
    return out;
  }

  // Skips a field of `wire_type` (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: take(8); break;
      case 2: take(varint()); break;
      case 5: take(4); break;
      default: error = "unsupported wire type " + std::to_string(wire_type);
    }
  }
};

}  // namespace

int32_t SentencePieceVocab::find(std::string_view piece, PieceType type) const {
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (types[i] == type && pieces[i] == piece) return static_cast<int32_t>(i);
  }
  return -1;
}

StatusOr<SentencePieceVocab> parse_sentencepiece_vocab(std::string_view bytes, const std::string& origin) {
  SentencePieceVocab vocab;
  WireReader model{bytes};
  while (!model.done()) {
    const uint64_t key = model.varint();
    const auto field = key >> 3;
    const auto wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == 2) {  // SentencePiece
      WireReader piece{model.take(model.varint())};
      std::string text;
      float score = 0.0f;
      int64_t type = 1;
      while (!piece.done()) {
        const uint64_t piece_key = piece.varint();
        const auto piece_field = piece_key >> 3;
        const auto piece_wire = static_cast<uint32_t>(piece_key & 7);
        if (piece_field == 1 && piece_wire == 2) {
          text = std::string(piece.take(piece.varint()));
        } else if (piece_field == 2 && piece_wire == 5) {
          const std::string_view raw = piece.take(4);
          if (raw.size() == 4) std::memcpy(&score, raw.data(), 4);  // little-endian float, as x86 stores it
        } else if (piece_field == 3 && piece_wire == 0) {
          type = static_cast<int64_t>(piece.varint());
        } else {
          piece.skip(piece_wire);
        }
      }
      if (!piece.error.empty()) model.error = "piece " + std::to_string(vocab.pieces.size()) + ": " + piece.error;
      if (type < 1 || type > 6) {
        return data_loss_error("tokenizer '{}': piece {} has type {}; expected 1..6", origin, vocab.pieces.size(), type);
      }
      vocab.pieces.push_back(std::move(text));
      vocab.scores.push_back(score);
      vocab.types.push_back(static_cast<PieceType>(type));
    } else if (field == 3 && wire == 2) {  // NormalizerSpec
      WireReader spec{model.take(model.varint())};
      while (!spec.done()) {
        const uint64_t spec_key = spec.varint();
        if ((spec_key >> 3) == 3 && (spec_key & 7) == 0) {
          vocab.add_dummy_prefix = spec.varint() != 0;
        } else {
          spec.skip(static_cast<uint32_t>(spec_key & 7));
        }
      }
      if (!spec.error.empty()) model.error = "normalizer_spec: " + spec.error;
    } else {
      model.skip(wire);
    }
  }
  if (!model.error.empty()) {
    return data_loss_error("tokenizer '{}' is not a SentencePiece model: {} at byte {}", origin, model.error, model.pos);
  }
  if (vocab.pieces.empty()) {
    return data_loss_error("tokenizer '{}' is not a SentencePiece model: it has no pieces", origin);
  }
  return vocab;
}

StatusOr<SentencePieceVocab> read_sentencepiece_vocab(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string bytes, read_file(path));
  return parse_sentencepiece_vocab(bytes, path);
}

}  // namespace tessera
