#include "tessera/serve/completion_request.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <nlohmann/json.hpp>

namespace tessera {

namespace {

using nlohmann::json;

// What a JSON value is, for messages: "a string", "an integer", "null", ...
std::string kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return fmt::format("the boolean {}", v.get<bool>());
    case json::value_t::string: return "a string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return fmt::format("the integer {}", v.dump());
    case json::value_t::number_float: return fmt::format("the number {}", v.dump());
    case json::value_t::array: return fmt::format("an array of {}", v.size());
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

RequestError field_error(const std::string& field, const std::string& expected, const json& found) {
  return RequestError{field, fmt::format("'{}': expected {}, found {}", field, expected, kind(found))};
}

// An integer field in [lo, hi]. Integral floats (16.0) count as integers, as JSON does not tell them apart.
std::optional<RequestError> read_integer(const json& body, const char* field, int64_t lo, int64_t hi, int64_t* out) {
  if (!body.contains(field)) return std::nullopt;
  const json& v = body[field];
  const std::string expected = fmt::format("an integer in [{}, {}]", lo, hi);
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) return field_error(field, expected, v);
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) return field_error(field, expected, v);
    *out = x;
    return std::nullopt;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && x >= static_cast<double>(lo) && x <= static_cast<double>(hi)) {
      *out = static_cast<int64_t>(x);
      return std::nullopt;
    }
  }
  return field_error(field, expected, v);
}

std::optional<RequestError> read_number(const json& body, const char* field, double lo, double hi, double* out) {
  if (!body.contains(field)) return std::nullopt;
  const json& v = body[field];
  if (v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= lo && v.get<double>() <= hi) {
    *out = v.get<double>();
    return std::nullopt;
  }
  return field_error(field, fmt::format("a number in [{}, {}]", lo, hi), v);
}

// A field of the API that is not implemented: accepted only absent or with its neutral value.
std::optional<RequestError> refuse_unless(const json& body, const char* field, const json& neutral,
                                          const std::string& what) {
  if (!body.contains(field) || body[field] == neutral || body[field].is_null()) return std::nullopt;
  return RequestError{field, fmt::format("'{}': {} is not supported; expected {} or no '{}', found {}", field, what,
                                         neutral.is_null() ? "null" : neutral.dump(), field, kind(body[field]))};
}

}  // namespace

std::variant<CompletionRequest, RequestError> parse_completion_request(std::string_view body_text,
                                                                      int64_t max_tokens_limit) {
  const json body = json::parse(body_text.begin(), body_text.end(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return RequestError{"", "the request body is not valid JSON"};
  if (!body.is_object()) return RequestError{"", fmt::format("the request body: expected a JSON object, found {}", kind(body))};
  CompletionRequest r;
  if (!body.contains("prompt")) return RequestError{"prompt", "'prompt': required, and missing"};
  const json& prompt = body["prompt"];
  if (prompt.is_string()) {
    r.prompt = prompt.get<std::string>();
  } else if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) {
    r.prompt = prompt[0].get<std::string>();
  } else {
    return field_error("prompt", "a string (or an array of one string)", prompt);
  }
  if (auto e = read_integer(body, "max_tokens", 1, max_tokens_limit, &r.max_tokens)) return *e;
  if (auto e = read_number(body, "temperature", 0.0, 100.0, &r.temperature)) return *e;
  if (auto e = read_integer(body, "top_k", 0, int64_t{1} << 31, &r.top_k)) return *e;
  int64_t seed = 0;
  if (auto e = read_integer(body, "seed", 0, INT64_MAX, &seed)) return *e;
  r.seed = static_cast<uint64_t>(seed);
  if (body.contains("stream")) {
    if (!body["stream"].is_boolean()) return field_error("stream", "true or false", body["stream"]);
    r.stream = body["stream"].get<bool>();
  }
  // OpenAI's top_p = 1 means "all tokens", as top_k = 0 does here.
  if (auto e = refuse_unless(body, "top_p", 1, "nucleus sampling")) return *e;
  if (auto e = refuse_unless(body, "n", 1, "more than one choice per prompt")) return *e;
  if (auto e = refuse_unless(body, "best_of", 1, "best-of sampling")) return *e;
  if (auto e = refuse_unless(body, "echo", false, "echoing the prompt")) return *e;
  if (auto e = refuse_unless(body, "logprobs", json(), "returning log-probabilities")) return *e;
  if (auto e = refuse_unless(body, "suffix", json(), "insertion (suffix)")) return *e;
  if (auto e = refuse_unless(body, "stop", json(), "a stop sequence")) return *e;
  if (auto e = refuse_unless(body, "presence_penalty", 0, "a presence penalty")) return *e;
  if (auto e = refuse_unless(body, "frequency_penalty", 0, "a frequency penalty")) return *e;
  if (auto e = refuse_unless(body, "logit_bias", json::object(), "a logit bias")) return *e;
  return r;
}

}  // namespace tessera
