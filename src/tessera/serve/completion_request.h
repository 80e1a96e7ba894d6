// CompletionRequest: the body of POST /v1/completions (OpenAI's legacy completions API), parsed and
// checked. Every refusal names the JSON field, what was expected and what was found, so that the server
// answers 400 with {"error": {"message", "type": "invalid_request_error", "param": field}}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace tessera {

struct CompletionRequest {
  std::string prompt;       // "prompt": a string, or an array holding one string
  int64_t max_tokens = 16;  // "max_tokens": tokens to generate, 1..max_tokens_limit (OpenAI's default 16)
  double temperature = 1.0; // "temperature": 0 = greedy, up to 100 (OpenAI's default 1)
  int64_t top_k = 0;        // "top_k" (as llama.cpp's and vLLM's servers): 0 = all tokens
  uint64_t seed = 0;        // "seed": the sampling stream (as `tessera generate --seed`)
  bool stream = false;      // "stream": server-sent events, one per piece of text, then "data: [DONE]"
};

struct RequestError {
  std::string param;  // the field at fault; empty when the body as a whole is (not JSON, not an object)
  std::string message;
};

// Parses `body`. Unknown fields are ignored (clients send "model", "user", ...); fields of the API that
// Tessera does not implement are refused unless they hold their neutral value (n = 1, best_of = 1,
// echo = false, logprobs = null, suffix = null, stop = null, presence/frequency_penalty = 0).
std::variant<CompletionRequest, RequestError> parse_completion_request(std::string_view body,
                                                                      int64_t max_tokens_limit);

}  // namespace tessera
