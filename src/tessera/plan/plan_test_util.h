// Test helpers: the catalog of this source tree (TESSERA_SOURCE_DIR is set by ctest).
#pragma once

#include <cstdlib>
#include <string>

#include "tessera/plan/catalog.h"

namespace tessera::plan::testing {

inline std::string source_dir() {
  const char* dir = std::getenv("TESSERA_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

inline Catalog load_test_catalog() {
  auto catalog = Catalog::load(source_dir() + "/catalog");
  if (!catalog.ok()) std::abort();
  return std::move(catalog).value();
}

}  // namespace tessera::plan::testing
