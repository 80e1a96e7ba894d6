// libFuzzer target: the checkpoint manifest parser (manifest.json text → Manifest, both scopes).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tessera/ckpt/checkpoint_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tessera::manifest_from_json(text, tessera::ManifestScope::kCommitted);
  (void)tessera::manifest_from_json(text, tessera::ManifestScope::kPart);
  return 0;
}
