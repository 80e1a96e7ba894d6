// Test helpers: the catalog of this source tree (TESSERA_SOURCE_DIR is set by ctest).
#pragma once

#include <cstdio>
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

// A model of the test catalog; aborts the test binary if the catalog lacks it.
inline ModelSpec catalog_model(const char* name) {
  auto model = load_test_catalog().model(name);
  if (!model.ok()) {
    std::fprintf(stderr, "test catalog: %s\n", model.status().message().c_str());
    std::abort();
  }
  return *model;
}

}  // namespace tessera::plan::testing
