// For fuzz targets whose parser opens a path: the input written to one file in /dev/shm (or TMPDIR) per
// process, rewritten for each input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

inline std::string write_fuzz_input(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path = [suffix] {
    const char* dir = std::getenv("TESSERA_FUZZ_TMP");
    return std::string(dir ? dir : "/dev/shm") + "/tessera_fuzz_" + std::to_string(::getpid()) + suffix;
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}
