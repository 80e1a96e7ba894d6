#include "tessera/ckpt/step_dir_bundle.h"

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "tessera/core/file.h"

namespace tessera {

namespace {

constexpr std::string_view kMagic = "TSRBNDL1";

template <typename T>
void append_integer(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

// Reads the bundle front to back; every read is bounds-checked against what is left.
class BundleCursor {
 public:
  explicit BundleCursor(std::string_view bundle) : bundle_(bundle) {}
  template <typename T>
  Status read_integer(const char* what, T* value) {
    TESSERA_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(value, bundle_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return Status();
  }
  Status read_bytes(uint64_t n, const char* what, std::string_view* bytes) {
    TESSERA_RETURN_IF_ERROR(need(n, what));
    *bytes = bundle_.substr(at_, n);
    at_ += n;
    return Status();
  }
  size_t at() const { return at_; }
  bool done() const { return at_ == bundle_.size(); }

 private:
  Status need(uint64_t n, const char* what) const {
    if (n <= bundle_.size() - at_) return Status();
    return data_loss_error("step directory bundle: {} at byte {} needs {} bytes but {} are left", what, at_, n,
                           bundle_.size() - at_);
  }
  std::string_view bundle_;
  size_t at_ = 0;
};

bool plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

}  // namespace

StatusOr<std::string> pack_step_dir(const std::string& step_dir) {
  if (!path_exists(step_dir + "/COMMIT")) {
    return failed_precondition_error("pack '{}': not a committed step directory (no COMMIT)", step_dir);
  }
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(step_dir, ec)) {
    if (entry.is_regular_file(ec)) files.push_back(entry.path());
  }
  if (ec) return internal_error("pack '{}': cannot list it: {}", step_dir, ec.message());
  std::sort(files.begin(), files.end());  // the same directory packs to the same bytes
  std::string bundle(kMagic);
  append_integer<uint32_t>(&bundle, static_cast<uint32_t>(files.size()));
  for (const auto& path : files) {
    TESSERA_ASSIGN_OR_RETURN(const std::string bytes, read_file(path.string()));
    const std::string name = path.filename().string();
    append_integer<uint32_t>(&bundle, static_cast<uint32_t>(name.size()));
    bundle += name;
    append_integer<uint64_t>(&bundle, bytes.size());
    bundle += bytes;
  }
  return bundle;
}

Status unpack_step_dir(std::string_view bundle, const std::string& step_dir) {
  if (path_exists(step_dir)) return failed_precondition_error("unpack into '{}': it exists already", step_dir);
  BundleCursor cursor(bundle);
  std::string_view magic;
  TESSERA_RETURN_IF_ERROR(cursor.read_bytes(kMagic.size(), "the magic", &magic));
  if (magic != kMagic) return data_loss_error("step directory bundle: starts with '{}', expected '{}'", magic, kMagic);
  uint32_t count = 0;
  TESSERA_RETURN_IF_ERROR(cursor.read_integer("the file count", &count));
  // Parsed whole before anything is written: a malformed bundle leaves nothing behind.
  std::vector<std::pair<std::string_view, std::string_view>> files;
  bool committed = false;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_size = 0;
    uint64_t size = 0;
    std::string_view name, bytes;
    TESSERA_RETURN_IF_ERROR(cursor.read_integer("a file name's length", &name_size));
    const size_t name_at = cursor.at();
    TESSERA_RETURN_IF_ERROR(cursor.read_bytes(name_size, "a file name", &name));
    if (!plain_file_name(name)) {
      return data_loss_error("step directory bundle: file {} at byte {} is named '{}', expected a plain file name", i,
                             name_at, name);
    }
    TESSERA_RETURN_IF_ERROR(cursor.read_integer("a file's size", &size));
    TESSERA_RETURN_IF_ERROR(cursor.read_bytes(size, "a file's bytes", &bytes));
    committed = committed || name == "COMMIT";
    files.emplace_back(name, bytes);
  }
  if (!cursor.done()) {
    return data_loss_error("step directory bundle: {} bytes follow its {} files at byte {}, expected none",
                           bundle.size() - cursor.at(), count, cursor.at());
  }
  if (!committed) return data_loss_error("step directory bundle: no COMMIT among its {} files", count);
  const std::string tmp = step_dir + ".tmp";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  TESSERA_RETURN_IF_ERROR(make_directories(tmp));
  for (const auto& [name, bytes] : files) {
    const Status written = write_file_atomic(tmp + "/" + std::string(name), bytes);
    if (!written.ok()) {
      std::filesystem::remove_all(tmp, ec);
      return written;
    }
  }
  std::filesystem::rename(tmp, step_dir, ec);
  if (ec) {
    std::filesystem::remove_all(tmp, ec);
    return internal_error("unpack: cannot rename '{}' to '{}': {}", tmp, step_dir, ec.message());
  }
  return Status();
}

}  // namespace tessera
