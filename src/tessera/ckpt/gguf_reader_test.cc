#include "tessera/ckpt/gguf_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "tessera/ckpt/ckpt_test_util.h"
#include "tessera/ckpt/gguf_export.h"  // f32_to_f16, f32_to_bf16

namespace tessera {
namespace {

using ::testing::HasSubstr;

// Writes GGUF bytes by hand (little-endian), independently of gguf_export.cc, so that the reader is
// checked against the layout and not against the exporter's reading of it.
struct GgufBytes {
  std::string bytes;
  template <typename T>
  GgufBytes& put(T value) {
    char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    bytes.append(raw, sizeof(T));
    return *this;
  }
  GgufBytes& str(std::string_view s) {
    put<uint64_t>(s.size());
    bytes.append(s);
    return *this;
  }
  GgufBytes& pad_to(size_t alignment) {
    bytes.append((alignment - bytes.size() % alignment) % alignment, '\0');
    return *this;
  }
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;
  uint64_t offset;
};

// "GGUF" v3 with the given metadata bytes (already encoded, `n_kv` entries) and tensor infos, then the
// data section `data` at the 32-byte aligned end of the header.
std::string gguf_file(uint64_t n_kv, const std::string& kv, const std::vector<TensorSpec>& tensors,
                      const std::string& data, uint32_t version = 3) {
  GgufBytes b;
  b.bytes = "GGUF";
  b.put<uint32_t>(version).put<uint64_t>(tensors.size()).put<uint64_t>(n_kv);
  b.bytes += kv;
  for (const TensorSpec& t : tensors) {
    b.str(t.name).put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (const uint64_t d : t.ne) b.put<uint64_t>(d);
    b.put<uint32_t>(t.type).put<uint64_t>(t.offset);
  }
  b.pad_to(32);
  return b.bytes + data;
}

// The metadata of the well-formed file: one entry of every value type, arrays of strings and of i32.
std::string every_kind_of_metadata() {
  GgufBytes kv;
  kv.str("a.u8").put<uint32_t>(0).put<uint8_t>(200);
  kv.str("a.i8").put<uint32_t>(1).put<int8_t>(-5);
  kv.str("a.u16").put<uint32_t>(2).put<uint16_t>(60000);
  kv.str("a.i16").put<uint32_t>(3).put<int16_t>(-300);
  kv.str("a.u32").put<uint32_t>(4).put<uint32_t>(4000000000u);
  kv.str("a.i32").put<uint32_t>(5).put<int32_t>(-7);
  kv.str("a.f32").put<uint32_t>(6).put<float>(0.5f);
  kv.str("a.bool").put<uint32_t>(7).put<uint8_t>(1);
  kv.str("general.architecture").put<uint32_t>(8).str("gpt2");
  kv.str("a.tokens").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(3).str("<unk>").str("").str("\xe2\x96\x81the");
  kv.str("a.types").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(2).put<int32_t>(1).put<int32_t>(-6);
  kv.str("a.u64").put<uint32_t>(10).put<uint64_t>(~uint64_t{0});
  kv.str("a.i64").put<uint32_t>(11).put<int64_t>(-(int64_t{1} << 40));
  kv.str("a.f64").put<uint32_t>(12).put<double>(0.125);
  return kv.bytes;
}
constexpr uint64_t kEveryKindCount = 14;

// Data: an f32 [2, 3] at 0, an f16 {4} at 32, a bf16 {2} at 64, a q8_0 row of 32 at 96 (34 bytes).
std::string tensor_data() {
  GgufBytes d;
  for (int i = 0; i < 6; ++i) d.put<float>(static_cast<float>(i) + 0.5f);
  d.pad_to(32);
  for (const float v : {1.0f, -2.0f, 0.000061035156f, 65504.0f}) d.put<uint16_t>(f32_to_f16(v));
  d.pad_to(32);
  d.put<uint16_t>(f32_to_bf16(3.0f)).put<uint16_t>(f32_to_bf16(-0.375f));
  d.pad_to(32);
  d.bytes.append(34, '\x01');
  return d.bytes;
}
std::vector<TensorSpec> tensor_infos() {
  return {{"w", {3, 2}, 0, 0}, {"h", {4}, 1, 32}, {"b", {2}, 30, 64}, {"q", {32}, 8, 96}};
}

class GgufReaderTest : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string path = temp_dir_.path() + "/f" + std::to_string(count_++) + ".gguf";
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  // The message of the refusal of `bytes`; fails the test if they are accepted.
  std::string refusal(const std::string& bytes) {
    auto reader = GgufReader::open(write(bytes));
    EXPECT_FALSE(reader.ok()) << "accepted";
    if (reader.ok()) return "";
    EXPECT_EQ(reader.status().message().find('\n'), std::string::npos) << "a one-line message";
    return reader.status().message();
  }
  testing_util::TempDir temp_dir_;
  int count_ = 0;
};

TEST_F(GgufReaderTest, ReadsEveryValueTypeAndTensorType) {
  const std::string bytes = gguf_file(kEveryKindCount, every_kind_of_metadata(), tensor_infos(), tensor_data());
  auto reader = GgufReader::open(write(bytes));
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  EXPECT_EQ(reader->version(), 3u);
  EXPECT_EQ(reader->alignment(), 32u);
  EXPECT_EQ(reader->data_offset() % 32, 0u);
  EXPECT_EQ(reader->data_offset() + 96 + 34, bytes.size());
  ASSERT_EQ(reader->metadata().size(), kEveryKindCount);
  EXPECT_EQ(reader->metadata()[0].first, "a.u8");  // file order
  EXPECT_EQ(*reader->get_uint("a.u8"), 200u);
  EXPECT_EQ(reader->find("a.i8")->integers[0], -5);
  EXPECT_EQ(*reader->get_uint("a.u16"), 60000u);
  EXPECT_EQ(reader->find("a.i16")->integers[0], -300);
  EXPECT_EQ(*reader->get_uint("a.u32"), 4000000000u);
  EXPECT_EQ(*reader->get_float("a.f32"), 0.5);
  EXPECT_TRUE(*reader->get_bool("a.bool"));
  EXPECT_EQ(*reader->get_string("general.architecture"), "gpt2");
  EXPECT_EQ(*reader->get_uint("a.u64"), ~uint64_t{0});
  EXPECT_EQ(reader->find("a.i64")->integers[0], -(int64_t{1} << 40));
  EXPECT_EQ(*reader->get_float("a.f64"), 0.125);
  const GgufValue* tokens = reader->find("a.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_TRUE(tokens->is_array);
  EXPECT_EQ(tokens->element_type, GgufValueType::kString);
  EXPECT_EQ(tokens->strings, (std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the"}));
  EXPECT_EQ(reader->find("a.types")->integers, (std::vector<int64_t>{1, -6}));
  // Typed lookups name the key and what they found.
  EXPECT_THAT(reader->get_uint("a.i32").status().message(), HasSubstr("key 'a.i32': expected a non-negative integer, found type i32"));
  EXPECT_THAT(reader->get_string("a.tokens").status().message(), HasSubstr("expected a string, found an array of 3 string"));
  EXPECT_THAT(reader->get_uint("no.such").status().message(), HasSubstr("no key 'no.such'"));
  EXPECT_THAT(reader->get_bool("a.u8").status().message(), HasSubstr("expected a bool, found type u8"));

  ASSERT_EQ(reader->tensors().size(), 4u);
  EXPECT_EQ(reader->find_tensor("w")->ne, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(*reader->read_f32("w"), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}));
  EXPECT_EQ(*reader->read_f32("h"), (std::vector<float>{1.0f, -2.0f, 0.000061035156f, 65504.0f}));
  EXPECT_EQ(*reader->read_f32("b"), (std::vector<float>{3.0f, -0.375f}));
  EXPECT_EQ(reader->find_tensor("q")->bytes, 34u);
  EXPECT_STREQ(reader->find_tensor("q")->traits->name, "q8_0");
  EXPECT_THAT(reader->read_f32("q").status().message(), HasSubstr("tensor 'q' is q8_0; expected f32, f16 or bf16"));
  EXPECT_THAT(reader->read_f32("x").status().message(), HasSubstr("no tensor 'x'"));
}

TEST_F(GgufReaderTest, EveryTruncationIsRefusedWithoutReadingPastTheEnd) {
  const std::string bytes = gguf_file(kEveryKindCount, every_kind_of_metadata(), tensor_infos(), tensor_data());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto reader = GgufReader::open(write(bytes.substr(0, n)));
    EXPECT_FALSE(reader.ok()) << "a file cut to " << n << " of " << bytes.size() << " bytes was accepted";
  }
}

TEST_F(GgufReaderTest, RefusesMalformedHeadersByName) {
  const std::string kv = every_kind_of_metadata();
  const auto file = [&](const std::vector<TensorSpec>& tensors, const std::string& data = tensor_data()) {
    return gguf_file(kEveryKindCount, kv, tensors, data);
  };
  EXPECT_THAT(refusal("GGML and more bytes"), HasSubstr("expected the magic 'GGUF' (47475546), found bytes 47474d4c"));
  EXPECT_THAT(refusal(""), HasSubstr("found an empty file"));
  EXPECT_THAT(refusal(gguf_file(0, "", {}, "", 1)), HasSubstr("version 1 is not supported; expected 2 or 3"));
  EXPECT_TRUE(GgufReader::open(write(gguf_file(0, "", {}, "", 2))).ok());  // version 2: same layout

  GgufBytes huge_count;
  huge_count.bytes = "GGUF";
  huge_count.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(uint64_t{1} << 60);
  EXPECT_THAT(refusal(huge_count.bytes), HasSubstr("metadata entries cannot fit"));
  GgufBytes long_string;
  long_string.str("k").put<uint32_t>(8).put<uint64_t>(1000).bytes += "short";
  EXPECT_THAT(refusal(gguf_file(1, long_string.bytes, {}, "")), HasSubstr("key 'k': a string of 1000 bytes"));
  GgufBytes twice;
  twice.str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2);
  EXPECT_THAT(refusal(gguf_file(2, twice.bytes, {}, "")), HasSubstr("key 'k' appears twice"));
  GgufBytes newline;  // a name from the file is escaped: the message stays on one line
  newline.str("a\nb").put<uint32_t>(4).put<uint32_t>(1).str("a\nb").put<uint32_t>(4).put<uint32_t>(2);
  EXPECT_THAT(refusal(gguf_file(2, newline.bytes, {}, "")), HasSubstr("key 'a\\x0ab' appears twice"));
  GgufBytes bad_type;
  bad_type.str("k").put<uint32_t>(13).put<uint32_t>(1);
  EXPECT_THAT(refusal(gguf_file(1, bad_type.bytes, {}, "")), HasSubstr("key 'k': expected a value type 0..12, found 13"));
  GgufBytes nested;
  nested.str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(0);
  EXPECT_THAT(refusal(gguf_file(1, nested.bytes, {}, "")), HasSubstr("other than 9 (array), found 9"));
  GgufBytes big_array;
  big_array.str("k").put<uint32_t>(9).put<uint32_t>(12).put<uint64_t>(1000).put<double>(1.0);
  EXPECT_THAT(refusal(gguf_file(1, big_array.bytes, {}, "")), HasSubstr("an array of 1000 f64 elements does not fit"));
  GgufBytes alignment;
  alignment.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  EXPECT_THAT(refusal(gguf_file(1, alignment.bytes, {}, "")),
              HasSubstr("general.alignment: expected a u32 power of two, found a u32 48"));
  GgufBytes alignment_type;
  alignment_type.str("general.alignment").put<uint32_t>(8).str("32");
  EXPECT_THAT(refusal(gguf_file(1, alignment_type.bytes, {}, "")), HasSubstr("found a string value"));

  EXPECT_THAT(refusal(file({{"w", {3, 2, 1, 1, 1}, 0, 0}})), HasSubstr("tensor 'w': expected 1..4 dims, found 5"));
  EXPECT_THAT(refusal(file({{"w", {3, 0}, 0, 0}})), HasSubstr("tensor 'w': dim 1 is 0"));
  EXPECT_THAT(refusal(file({{"w", {3, 2}, 31, 0}})), HasSubstr("ggml type 31 is not one Tessera knows"));
  EXPECT_THAT(refusal(file({{"q", {16}, 8, 0}})), HasSubstr("rows of 16 elements are not whole q8_0 blocks of 32"));
  EXPECT_THAT(refusal(file({{"w", {3, 2}, 0, 8}})), HasSubstr("offset 8 is not a multiple of the alignment 32"));
  EXPECT_THAT(refusal(file({{"w", {3, 2}, 0, 128}})), HasSubstr("tensor 'w': 24 bytes of f32 at data offset 128 end past"));
  EXPECT_THAT(refusal(file({{"w", {1u << 20, 1u << 20}, 0, 0}})), HasSubstr("end past the 130 data bytes"));
  EXPECT_THAT(refusal(file({{"w", {1u << 31, 1u << 31}, 0, 0}})), HasSubstr("overflow a 64-bit size"));
  EXPECT_THAT(refusal(file({{"v", {4}, 0, 64}, {"w", {16}, 0, 32}})), HasSubstr("tensors 'w' and 'v' overlap"));
  EXPECT_THAT(refusal(file({{"w", {3, 2}, 0, 0}, {"w", {4}, 1, 32}})), HasSubstr("tensor 'w' appears twice"));
  EXPECT_THAT(refusal(file({{std::string(64, 'n'), {4}, 0, 0}})), HasSubstr("expected a name of 1..63 bytes, found 64"));
}

TEST_F(GgufReaderTest, VerifyDecodesEveryFloatTensorAndNamesANonFiniteValue) {
  std::string data = tensor_data();
  auto reader = GgufReader::open(write(gguf_file(kEveryKindCount, every_kind_of_metadata(), tensor_infos(), data)));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*verify_gguf_values(*reader), 3u);  // w, h, b; q (q8_0) is not decoded
  const uint16_t half_inf = 0x7c00;
  std::memcpy(data.data() + 32 + 2 * 2, &half_inf, 2);  // h[2] = +inf
  reader = GgufReader::open(write(gguf_file(kEveryKindCount, every_kind_of_metadata(), tensor_infos(), data)));
  ASSERT_TRUE(reader.ok());
  EXPECT_THAT(verify_gguf_values(*reader).status().message(),
              HasSubstr("tensor 'h' (f16) element 2 is inf; expected a finite value"));
}

TEST_F(GgufReaderTest, KnowsGgmlBlockLayouts) {
  EXPECT_EQ(ggml_type_traits(0)->block_bytes, 4u);
  EXPECT_EQ(ggml_type_traits(30)->block_bytes, 2u);
  EXPECT_EQ(ggml_type_traits(12)->block_elements, 256u);  // q4_K: 2 halves + 12 scale bytes + 128 nibble bytes
  EXPECT_EQ(ggml_type_traits(12)->block_bytes, 144u);
  EXPECT_EQ(ggml_type_traits(2)->block_bytes, 18u);  // q4_0: 1 half + 16 bytes of nibbles
  EXPECT_EQ(ggml_type_traits(4), nullptr);  // removed from ggml (q4_2)
}

}  // namespace
}  // namespace tessera
