#include "cli_checks.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace tessera::tools {

CLI::Validator integer_in(int64_t min, int64_t max) {
  const std::string expected =
      max == INT64_MAX ? fmt::format("an integer >= {}", min) : fmt::format("an integer in [{}, {}]", min, max);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, error] = std::from_chars(text.data(), end, value);
        if (error == std::errc::result_out_of_range) {
          return fmt::format("expected {}, found {} (too large for a 64-bit integer)", expected, text);
        }
        if (error != std::errc() || ptr != end || text.empty()) {
          return fmt::format("expected {}, found '{}'", expected, text);
        }
        if (value < min || value > max) return fmt::format("expected {}, found {}", expected, value);
        return "";
      },
      expected);
}

CLI::Validator number_in(double min, double max) {
  const std::string expected = fmt::format("a finite number in [{:g}, {:g}]", min, max);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, error] = std::from_chars(text.data(), end, value);
        if (error != std::errc() || ptr != end || text.empty()) {
          return fmt::format("expected {}, found '{}'", expected, text);
        }
        if (!std::isfinite(value) || value < min || value > max) return fmt::format("expected {}, found {}", expected, text);
        return "";
      },
      expected);
}

CLI::Validator one_of(std::vector<std::string> choices) {
  std::string expected = "one of ";
  for (size_t i = 0; i < choices.size(); ++i) expected += (i ? ", " : "") + choices[i];
  return CLI::Validator(
      [choices, expected](std::string& text) -> std::string {
        for (const std::string& choice : choices) {
          if (text == choice) return "";
        }
        return fmt::format("expected {}, found '{}'", expected, text);
      },
      expected);
}

}  // namespace tessera::tools
