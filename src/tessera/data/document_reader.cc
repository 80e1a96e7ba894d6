#include "tessera/data/document_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tessera {

namespace {

// A line that is empty, only whitespace, or "%" (possibly with whitespace around it) ends a document.
bool is_separator(std::string_view line) {
  const size_t first = line.find_first_not_of(" \t\r\f\v");
  if (first == std::string_view::npos) return true;
  const size_t last = line.find_last_not_of(" \t\r\f\v");
  return line.substr(first, last - first + 1) == "%";
}

}  // namespace

StatusOr<DocumentReader> DocumentReader::open(const std::string& path, size_t chunk_bytes) {
  if (chunk_bytes < 1) return invalid_argument_error("input '{}': chunk size 0", path);
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return io_error("input '{}': cannot open: {}", path, std::strerror(errno));
  return DocumentReader(path, fd, chunk_bytes);
}

DocumentReader::DocumentReader(std::string path, int fd, size_t chunk_bytes)
    : path_(std::move(path)), fd_(fd), chunk_bytes_(chunk_bytes), hash_(std::make_unique<StreamingHash>()) {}

DocumentReader::DocumentReader(std::string_view text)
    : chunk_(text), at_end_(true), bytes_read_(static_cast<int64_t>(text.size())),
      hash_(std::make_unique<StreamingHash>()) {
  hash_->update(text.data(), text.size());
}

DocumentReader::DocumentReader(DocumentReader&& other) noexcept { *this = std::move(other); }

DocumentReader& DocumentReader::operator=(DocumentReader&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  // chunk_ may point into other.buffer_; keep its offset across the move of the storage.
  const bool in_buffer = !other.buffer_.empty() && other.chunk_.data() >= other.buffer_.data() &&
                         other.chunk_.data() <= other.buffer_.data() + other.buffer_.size();
  const size_t offset = in_buffer ? static_cast<size_t>(other.chunk_.data() - other.buffer_.data()) : 0;
  path_ = std::move(other.path_);
  fd_ = std::exchange(other.fd_, -1);
  chunk_bytes_ = other.chunk_bytes_;
  buffer_ = std::move(other.buffer_);
  chunk_ = in_buffer ? std::string_view(buffer_).substr(offset, other.chunk_.size()) : other.chunk_;
  other.chunk_ = {};
  at_end_ = other.at_end_;
  line_ = std::move(other.line_);
  current_ = std::move(other.current_);
  bytes_read_ = other.bytes_read_;
  hash_ = std::move(other.hash_);
  return *this;
}

DocumentReader::~DocumentReader() {
  if (fd_ >= 0) ::close(fd_);
}

Status DocumentReader::read_chunk() {
  buffer_.resize(chunk_bytes_);
  size_t filled = 0;
  // Fills the whole chunk unless the file ends first, so a short read() is not taken for the end.
  while (filled < chunk_bytes_) {
    const ssize_t n = ::read(fd_, buffer_.data() + filled, chunk_bytes_ - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("input '{}': read failed after {} bytes: {}", path_, bytes_read_ + filled, std::strerror(errno));
    }
    if (n == 0) {
      at_end_ = true;
      break;
    }
    filled += static_cast<size_t>(n);
  }
  hash_->update(buffer_.data(), filled);
  bytes_read_ += static_cast<int64_t>(filled);
  chunk_ = std::string_view(buffer_.data(), filled);
  if (at_end_) {
    ::close(fd_);
    fd_ = -1;
  }
  return Status();
}

bool DocumentReader::take_line(std::string_view line, std::string* document) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (is_separator(line)) {
    if (current_.empty()) return false;
    *document = std::move(current_);
    current_.clear();
    return true;
  }
  if (!current_.empty()) current_ += '\n';
  current_ += line;
  return false;
}

StatusOr<bool> DocumentReader::next(std::string* document) {
  document->clear();
  for (;;) {
    while (!chunk_.empty()) {
      const size_t end = chunk_.find('\n');
      if (end == std::string_view::npos) {  // the line goes on in the next chunk
        line_.append(chunk_);
        chunk_ = {};
        break;
      }
      bool done;
      if (line_.empty()) {
        done = take_line(chunk_.substr(0, end), document);
      } else {
        line_.append(chunk_.substr(0, end));
        done = take_line(line_, document);
        line_.clear();
      }
      chunk_.remove_prefix(end + 1);
      if (done) return true;
    }
    if (!at_end_) {
      TESSERA_RETURN_IF_ERROR(read_chunk());
      continue;
    }
    // End of input: a last line without '\n', then the last document.
    if (!line_.empty()) {
      const bool done = take_line(line_, document);
      line_.clear();
      if (done) return true;
    }
    if (current_.empty()) return false;
    *document = std::move(current_);
    current_.clear();
    return true;
  }
}

}  // namespace tessera
