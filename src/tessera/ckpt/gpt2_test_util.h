// Helpers for the exporter/importer tests: a tiny GPT-2 checkpoint with distinct values in every tensor,
// and a hand-built SentencePiece model file (protobuf bytes) with control, byte and normal pieces.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/ckpt/gpt2_names.h"
#include "tessera/spec/model_spec.h"

namespace tessera::testing_util {

inline ModelSpec tiny_gpt2_spec() {
  ModelSpec spec;
  spec.n_layer = 2;
  spec.n_head = 2;
  spec.n_embd = 8;
  spec.seq_len = 6;
  spec.vocab_size = 300;
  return spec;
}

// Writes a checkpoint of `spec`'s parameters, tensor k element i = k + i / 4096 (distinct, exact in f32),
// under checkpoints_dir; returns the step directory.
inline std::string write_gpt2_checkpoint(const ModelSpec& spec, const std::string& checkpoints_dir, int64_t step = 5) {
  SnapshotWriter writer;
  std::vector<std::vector<float>> values;
  const auto names = gpt2_tensor_names(spec);
  values.reserve(names.size());
  for (size_t k = 0; k < names.size(); ++k) {
    values.emplace_back(static_cast<size_t>(shape_numel(names[k].shape)));
    for (size_t i = 0; i < values.back().size(); ++i) values.back()[i] = static_cast<float>(k) + static_cast<float>(i) / 4096.0f;
    writer.write_tensor(TensorView{"model." + names[k].tessera, DType::kF32, names[k].shape, values.back().data()});
  }
  std::vector<float> moment(4, 1.0f);
  writer.write_tensor(TensorView{"optim.m.wte", DType::kF32, {4}, moment.data()});
  auto path = write_checkpoint(writer, step, checkpoints_dir);
  EXPECT_TRUE(path.ok()) << path.status().to_string();
  return path.ok() ? *path : "";
}

inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

inline void put_bytes_field(std::string& out, int field, const std::string& bytes) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// A SentencePiece ModelProto: <unk> (type 2), <s> and </s> (3), the 256 byte pieces (6), then normal pieces
// "▁a0", "▁a1", ... up to `size` pieces (score -i), and a trainer spec (skipped by the reader) and a
// normalizer spec with add_dummy_prefix = false. `with_bytes` = false leaves the byte pieces out.
inline std::string sentencepiece_model_bytes(int size, bool with_bytes = true) {
  std::string model;
  const auto add_piece = [&](const std::string& text, float score, int type) {
    std::string piece;
    put_bytes_field(piece, 1, text);
    put_varint(piece, (2 << 3) | 5);
    char raw[4];
    std::memcpy(raw, &score, 4);
    piece.append(raw, 4);
    if (type != 1) {
      put_varint(piece, 3 << 3);
      put_varint(piece, static_cast<uint64_t>(type));
    }
    put_bytes_field(model, 1, piece);
  };
  add_piece("<unk>", 0, 2);
  add_piece("<s>", 0, 3);
  add_piece("</s>", 0, 3);
  int count = 3;
  if (with_bytes) {
    for (int b = 0; b < 256; ++b, ++count) add_piece(fmt::format("<0x{:02X}>", b), 0, 6);
  }
  for (int i = 0; count < size; ++i, ++count) add_piece("\xe2\x96\x81" "a" + std::to_string(i), -static_cast<float>(i), 1);
  std::string trainer;  // TrainerSpec { model_type = BPE (field 3) }
  put_varint(trainer, 3 << 3);
  put_varint(trainer, 2);
  put_bytes_field(model, 2, trainer);
  std::string normalizer;  // NormalizerSpec { name = "identity", add_dummy_prefix = false }
  put_bytes_field(normalizer, 1, "identity");
  put_varint(normalizer, 3 << 3);
  put_varint(normalizer, 0);
  put_bytes_field(model, 3, normalizer);
  return model;
}

}  // namespace tessera::testing_util
