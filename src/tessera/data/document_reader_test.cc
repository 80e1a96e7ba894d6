#include "tessera/data/document_reader.h"

#include <gtest/gtest.h>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/core/rng.h"
#include "tessera/data/corpus.h"
#include "tessera/data/data_test_util.h"

namespace tessera {
namespace {

using testing_util::ScopedTempDir;
using Docs = std::vector<std::string>;

// The document rule as split_documents implemented it before it became a loop over DocumentReader:
// an independent oracle for the chunked reader.
Docs reference_split(std::string_view text) {
  const auto is_separator = [](std::string_view line) {
    const size_t first = line.find_first_not_of(" \t\r\f\v");
    if (first == std::string_view::npos) return true;
    const size_t last = line.find_last_not_of(" \t\r\f\v");
    return line.substr(first, last - first + 1) == "%";
  };
  Docs documents;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (is_separator(line)) {
      if (!current.empty()) documents.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (!current.empty()) current += '\n';
    current += line;
  }
  if (!current.empty()) documents.push_back(std::move(current));
  return documents;
}

Docs read_all(DocumentReader& reader) {
  Docs documents;
  std::string document;
  for (;;) {
    auto more = reader.next(&document);
    EXPECT_TRUE(more.ok()) << more.status().message();
    if (!more.ok() || !*more) break;
    EXPECT_FALSE(document.empty());
    documents.push_back(document);
  }
  EXPECT_TRUE(document.empty());
  return documents;
}

// Random text over an alphabet rich in separators, so that every boundary case lands on every
// chunk offset somewhere.
std::string random_text(uint64_t seed, size_t size) {
  static constexpr char kAlphabet[] = {'a', 'b', ' ', '\t', '%', '%', '\r', '\n', '\n', '\n', 'x', '\v'};
  std::string text;
  for (size_t i = 0; i < size; ++i) {
    text += kAlphabet[RngStream(seed, RngPurpose::kTest, i).below(sizeof(kAlphabet))];
  }
  return text;
}

std::vector<std::string> varied_texts() {
  std::vector<std::string> texts = {
      "",
      "\n",
      "one line without newline",
      "one\ntwo\n%\nthree\n\nfour\r\n  \nfive",
      "crlf\r\ndocument\r\n%\r\nnext\r\n\r\nlast\r\n",
      "%\n%\n\n",
      "100% sure\n  indented\t tab\n % \nnext",
      "trailing cr at the end\r",
      "a\r\r\nb\n\r\n\r\nc",                      // only the '\r' right before '\n' is dropped
      " \t \n%%\n%x\n\v\f\nz\n",                  // "%%" and "%x" are text, "\v\f" a separator
      "\n\n\nlate start\n",
      std::string(200, 'L') + "\n%\n" + std::string(300, 'M') + "\r\n" + std::string(5, 'N'),  // > small chunks
  };
  texts.push_back(testing_util::make_corpus(30, 3));
  for (uint64_t seed = 1; seed <= 6; ++seed) texts.push_back(random_text(seed, 700));
  return texts;
}

TEST(DocumentReader, HandWrittenCases) {
  const std::string text = "one\ntwo\n%\nthree\n\nfour\r\n  \nfive";
  DocumentReader reader(text);
  EXPECT_EQ(read_all(reader), (Docs{"one\ntwo", "three", "four", "five"}));
  DocumentReader crlf("a\r\nb\r\n%\r\nc\r");
  EXPECT_EQ(read_all(crlf), (Docs{"a\nb", "c"}));
}

TEST(DocumentReader, ChunkedFileYieldsExactlyWhatSplitDocumentsYields) {
  const ScopedTempDir temp;
  const std::vector<std::string> texts = varied_texts();
  for (size_t t = 0; t < texts.size(); ++t) {
    const std::string& text = texts[t];
    const Docs expected = reference_split(text);
    ASSERT_EQ(split_documents(text), expected) << "text " << t;
    const std::string path = temp.path() + "/text" + std::to_string(t);
    ASSERT_TRUE(write_file_atomic(path, text).ok());
    for (const size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, DocumentReader::kDefaultChunkBytes}) {
      auto reader = DocumentReader::open(path, chunk);
      ASSERT_TRUE(reader.ok()) << reader.status().message();
      EXPECT_EQ(read_all(*reader), expected) << "text " << t << ", chunk " << chunk;
      EXPECT_EQ(reader->bytes_read(), static_cast<int64_t>(text.size()));
      EXPECT_EQ(reader->checksum(), hash_bytes(text)) << "text " << t << ", chunk " << chunk;
      // Past the end it stays at the end.
      std::string document = "stale";
      auto more = reader->next(&document);
      ASSERT_TRUE(more.ok());
      EXPECT_FALSE(*more);
      EXPECT_TRUE(document.empty());
    }
  }
}

TEST(DocumentReader, SurvivesAMoveMidChunk) {
  const ScopedTempDir temp;
  const std::string text = "a\n%\nb\n%\nc\n%\nd";
  const std::string path = temp.path() + "/t";
  ASSERT_TRUE(write_file_atomic(path, text).ok());
  auto opened = DocumentReader::open(path, 64);
  ASSERT_TRUE(opened.ok());
  std::string document;
  ASSERT_TRUE(*opened->next(&document));
  EXPECT_EQ(document, "a");
  DocumentReader moved = std::move(*opened);
  EXPECT_EQ(read_all(moved), (Docs{"b", "c", "d"}));
}

TEST(DocumentReader, MissingFileIsAnError) {
  auto reader = DocumentReader::open("/nonexistent/tessera/file");
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("/nonexistent/tessera/file"), std::string::npos);
}

}  // namespace
}  // namespace tessera
