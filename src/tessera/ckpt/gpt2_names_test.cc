#include "tessera/ckpt/gpt2_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(Gpt2Names, CoverEveryParameterOnceWithGpt2Layouts) {
  ModelSpec spec;
  spec.n_layer = 3;
  spec.n_embd = 16;
  spec.n_head = 2;
  const auto names = gpt2_tensor_names(spec);
  ASSERT_EQ(names.size(), 2u + 12u * 3u + 2u);
  std::set<std::string> hf, gguf;
  int64_t numel = 0;
  int transposed = 0;
  for (const auto& n : names) {
    hf.insert(n.hf);
    gguf.insert(n.gguf);
    numel += shape_numel(n.shape);
    transposed += n.hf_transposed ? 1 : 0;
  }
  EXPECT_EQ(hf.size(), names.size());
  EXPECT_EQ(gguf.size(), names.size());
  EXPECT_EQ(numel, spec.num_params());
  EXPECT_EQ(transposed, 4 * 3);  // c_attn, attn.c_proj, c_fc, mlp.c_proj per block
  EXPECT_EQ(names[2 + 12 + 10].hf, "transformer.h.1.mlp.c_proj.weight");
  EXPECT_EQ(names[2 + 12 + 10].gguf, "blk.1.ffn_down.weight");
  EXPECT_EQ(names[2 + 12 + 10].shape, (std::vector<int64_t>{16, 64}));
}

TEST(Gpt2Names, TransposeIsExactForAnyShape) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 70}, {33, 65}, {64, 32}}) {
    std::vector<float> in(static_cast<size_t>(rows * cols)), out(in.size()), back(in.size());
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.5f;
    transpose_f32(in.data(), rows, cols, out.data());
    EXPECT_EQ(out[static_cast<size_t>((cols - 1) * rows + 0)], in[static_cast<size_t>(cols - 1)]);
    transpose_f32(out.data(), cols, rows, back.data());
    EXPECT_EQ(back, in);
  }
}

TEST(Gpt2Names, RefusesArchitecturesGpt2CannotExpress) {
  ModelSpec spec;
  EXPECT_TRUE(check_gpt2_architecture(spec).ok());
  spec.n_kv_head = 2;
  EXPECT_THAT(check_gpt2_architecture(spec).message(), HasSubstr("grouped-query"));
  spec = ModelSpec();
  spec.ffn_hidden = 3 * spec.n_embd;
  EXPECT_THAT(check_gpt2_architecture(spec).message(), HasSubstr("needs 4 * n_embd"));
  spec = ModelSpec();
  spec.tied_embeddings = false;
  EXPECT_THAT(check_gpt2_architecture(spec).message(), HasSubstr("untied"));
}

}  // namespace
}  // namespace tessera
