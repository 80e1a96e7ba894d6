// libFuzzer target: tessera serve's request handling before the model — the body of POST /v1/completions
// parsed and checked (serve/completion_request.h). Every input is a request or a RequestError naming a
// field, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "tessera/serve/completion_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto result = tessera::parse_completion_request(body, 1024);
  if (const auto* request = std::get_if<tessera::CompletionRequest>(&result)) {
    // What the parser promises the server.
    if (request->max_tokens < 1 || request->max_tokens > 1024) std::abort();
    if (!(request->temperature >= 0 && request->temperature <= 100)) std::abort();
    if (request->top_k < 0) std::abort();
  } else if (std::get<tessera::RequestError>(result).message.empty()) {
    std::abort();
  }
  return 0;
}
