#include "tessera/ckpt/step_dir_listing.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "tessera/core/file.h"

namespace tessera {

namespace {

constexpr std::string_view kMagic = "TSRLIST1";

template <typename T>
void append_integer(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

// Reads the listing front to back; every read is bounds-checked against what is left.
class ListingCursor {
 public:
  explicit ListingCursor(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  Status read_integer(const char* what, T* value) {
    TESSERA_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return Status();
  }
  Status read_bytes(uint64_t n, const char* what, std::string_view* out) {
    TESSERA_RETURN_IF_ERROR(need(n, what));
    *out = bytes_.substr(at_, n);
    at_ += n;
    return Status();
  }
  size_t at() const { return at_; }
  size_t left() const { return bytes_.size() - at_; }

 private:
  Status need(uint64_t n, const char* what) const {
    if (n <= left()) return Status();
    return data_loss_error("step directory listing: {} at byte {} needs {} bytes but {} are left", what, at_, n, left());
  }
  std::string_view bytes_;
  size_t at_ = 0;
};

bool plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

}  // namespace

StatusOr<std::vector<StepDirFile>> list_step_dir(const std::string& step_dir) {
  if (!path_exists(step_dir + "/COMMIT")) {
    return failed_precondition_error("'{}' is not a committed step directory (no COMMIT)", step_dir);
  }
  std::vector<StepDirFile> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(step_dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    files.push_back({.name = entry.path().filename().string(), .size = entry.file_size(ec)});
  }
  if (ec) return io_error("cannot list '{}': {}", step_dir, ec.message());
  std::sort(files.begin(), files.end(), [](const StepDirFile& a, const StepDirFile& b) { return a.name < b.name; });
  return files;
}

std::string encode_step_dir_listing(const std::vector<StepDirFile>& files) {
  std::string bytes(kMagic);
  append_integer<uint32_t>(&bytes, static_cast<uint32_t>(files.size()));
  for (const StepDirFile& file : files) {
    append_integer<uint32_t>(&bytes, static_cast<uint32_t>(file.name.size()));
    bytes += file.name;
    append_integer<uint64_t>(&bytes, file.size);
  }
  return bytes;
}

StatusOr<std::vector<StepDirFile>> decode_step_dir_listing(std::string_view bytes) {
  ListingCursor cursor(bytes);
  std::string_view magic;
  TESSERA_RETURN_IF_ERROR(cursor.read_bytes(kMagic.size(), "the magic", &magic));
  if (magic != kMagic) return data_loss_error("step directory listing: starts with '{}', expected '{}'", magic, kMagic);
  uint32_t count = 0;
  TESSERA_RETURN_IF_ERROR(cursor.read_integer("the file count", &count));
  std::vector<StepDirFile> files;
  bool committed = false;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_size = 0;
    std::string_view name;
    StepDirFile file;
    TESSERA_RETURN_IF_ERROR(cursor.read_integer("a file name's length", &name_size));
    const size_t name_at = cursor.at();
    TESSERA_RETURN_IF_ERROR(cursor.read_bytes(name_size, "a file name", &name));
    if (!plain_file_name(name)) {
      return data_loss_error("step directory listing: file {} at byte {} is named '{}', expected a plain file name", i,
                             name_at, name);
    }
    TESSERA_RETURN_IF_ERROR(cursor.read_integer("a file's size", &file.size));
    file.name = std::string(name);
    committed = committed || file.name == "COMMIT";
    files.push_back(std::move(file));
  }
  if (cursor.left() != 0) {
    return data_loss_error("step directory listing: {} bytes follow its {} files at byte {}, expected none",
                           cursor.left(), count, cursor.at());
  }
  if (!committed) return data_loss_error("step directory listing: no COMMIT among its {} files", count);
  return files;
}

}  // namespace tessera
