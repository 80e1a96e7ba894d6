// libFuzzer target: the safetensors reader (header JSON, dtypes, shapes, offsets against the file size),
// then every tensor it accepts read as f32.
#include <cstddef>
#include <cstdint>

#include "fuzz_file_input.h"
#include "tessera/ckpt/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reader = tessera::SafetensorsReader::open(write_fuzz_input(data, size, ".safetensors"));
  if (!reader.ok()) return 0;
  for (const auto& [name, tensor] : reader->tensors()) (void)reader->read_f32(name);
  return 0;
}
