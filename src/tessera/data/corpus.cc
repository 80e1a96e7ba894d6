#include "tessera/data/corpus.h"

#include <algorithm>
#include <filesystem>

#include <fmt/ranges.h>

#include "tessera/core/file.h"
#include "tessera/data/document_reader.h"

namespace fs = std::filesystem;

namespace tessera {

namespace {

bool skipped_extension(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".dat" || ext == ".u8" || ext == ".gz";
}

// Reads at most the first 8 KiB of a file, for looks_binary.
StatusOr<std::string> read_head(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  const size_t n = std::min<size_t>(file.size(), 8192);
  return std::string(reinterpret_cast<const char*>(file.data()), n);
}

}  // namespace

bool looks_binary(std::string_view bytes) {
  const std::string_view head = bytes.substr(0, 8192);
  size_t control = 0;
  for (const char ch : head) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) return true;
    const bool allowed = c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\b' || c == 0x1b;
    if ((c < 0x20 && !allowed) || c == 0x7f) ++control;
  }
  return control * 10 > head.size() * 3;
}

StatusOr<std::vector<std::string>> list_corpus_files(const std::vector<std::string>& inputs) {
  if (inputs.empty()) return invalid_argument_error("no input given; hint: --input FILE_OR_DIR");
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code error;
    const fs::file_status status = fs::status(input, error);
    if (error || !fs::exists(status)) {
      return not_found_error("input '{}': no such file or directory", input);
    }
    if (fs::is_regular_file(status)) {
      TESSERA_ASSIGN_OR_RETURN(std::string head, read_head(input));
      if (looks_binary(head)) {
        return invalid_argument_error("input '{}' looks binary (NUL or control bytes); hint: pass text files", input);
      }
      files.push_back(input);
      continue;
    }
    if (!fs::is_directory(status)) return invalid_argument_error("input '{}' is neither a file nor a directory", input);
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(input, error); !error && it != fs::recursive_directory_iterator();
         it.increment(error)) {
      if (it->is_symlink() || !it->is_regular_file() || skipped_extension(it->path())) continue;
      TESSERA_ASSIGN_OR_RETURN(std::string head, read_head(it->path().string()));
      if (!looks_binary(head)) found.push_back(it->path().string());
    }
    if (error) return io_error("input '{}': cannot list the directory: {}", input, error.message());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.empty()) {
    return invalid_argument_error("empty corpus: no text file under {} (skipped .dat/.u8/.gz and binary files)",
                                  fmt::join(inputs, ", "));
  }
  return files;
}

std::vector<std::string> split_documents(std::string_view text) {
  std::vector<std::string> documents;
  DocumentReader reader(text);
  std::string document;
  // Text in memory cannot fail to read.
  while (*reader.next(&document)) documents.push_back(std::move(document));
  return documents;
}

}  // namespace tessera
