// DocumentReader: the documents of one text file (or of text in memory), one at a time, read in
// fixed-size chunks, so that `tessera data prepare` never holds more than the current document and
// one chunk of a file. It is the only implementation of the document rule (split_documents in
// corpus.h is a loop over it): a line that is empty, only whitespace, or "%" ends the current
// document; a document is its lines joined by '\n' (no trailing newline; a '\r' before '\n' is
// dropped); empty documents are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/core/hash.h"
#include "tessera/core/status.h"

namespace tessera {

class DocumentReader {
 public:
  static constexpr size_t kDefaultChunkBytes = size_t{1} << 20;

  // Reads the file `path` in chunks of `chunk_bytes` (>= 1).
  static StatusOr<DocumentReader> open(const std::string& path, size_t chunk_bytes = kDefaultChunkBytes);
  // Reads `text` (which must outlive the reader) as if it were one chunk.
  explicit DocumentReader(std::string_view text);

  DocumentReader(DocumentReader&& other) noexcept;
  DocumentReader& operator=(DocumentReader&& other) noexcept;
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;
  ~DocumentReader();

  // The next document into *document: true, or false at the end of the input (then *document is
  // empty). Fails only on a read error, naming the file.
  StatusOr<bool> next(std::string* document);

  // Bytes read so far and their XXH3-64 (seed 0): after next() returned false, the whole input's
  // size and checksum (= hash_bytes of the file's bytes).
  int64_t bytes_read() const { return bytes_read_; }
  uint64_t checksum() const { return hash_->digest(); }

 private:
  DocumentReader(std::string path, int fd, size_t chunk_bytes);
  // Processes one complete line (without its '\n'); true when it completed a document, which then
  // sits in *document.
  bool take_line(std::string_view line, std::string* document);
  Status read_chunk();  // refills chunk_ from the file; leaves it empty at the end of the file

  std::string path_;  // empty for text in memory
  int fd_ = -1;
  size_t chunk_bytes_ = 0;
  std::string buffer_;     // storage of chunk_ when reading a file
  std::string_view chunk_;  // unread bytes of the current chunk
  bool at_end_ = false;     // no chunk after chunk_
  std::string line_;        // the start of a line that continues in the next chunk
  std::string current_;     // the document being built
  int64_t bytes_read_ = 0;
  std::unique_ptr<StreamingHash> hash_;
};

}  // namespace tessera
