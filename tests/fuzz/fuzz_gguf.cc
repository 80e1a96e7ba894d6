// libFuzzer target: the GGUF reader (header, metadata of every value type, tensor infos, alignment and
// data bounds), then every accepted f32/f16/bf16 tensor read as f32 and the typed lookups the exporter's
// tests and `ckpt inspect` use. Promises asserted: an accepted tensor's bytes lie inside the file, and
// every refusal carries a one-line message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_file_input.h"
#include "tessera/ckpt/gguf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reader = tessera::GgufReader::open(write_fuzz_input(data, size, ".gguf"));
  if (!reader.ok()) {
    const std::string message = reader.status().message();
    if (message.empty() || message.find('\n') != std::string::npos) std::abort();
    return 0;
  }
  for (const tessera::GgufTensor& tensor : reader->tensors()) {
    if (reader->data_offset() + tensor.offset + tensor.bytes > reader->file_bytes()) std::abort();
    auto values = reader->read_f32(tensor.name);
    if (values.ok() && values->size() != tensor.elements()) std::abort();
    if (!values.ok() && values.status().message().find('\n') != std::string::npos) std::abort();
  }
  for (const char* key : {"general.alignment", "general.architecture", "gpt2.context_length"}) {
    (void)reader->get_uint(key);
    (void)reader->get_string(key);
    (void)reader->get_float(key);
    (void)reader->get_bool(key);
  }
  return 0;
}
