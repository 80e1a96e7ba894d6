// Validators for numeric command-line options, in Tessera's words. CLI11 runs a validator on the option's
// text before converting it, so these see "99999999999999999999" and "nan" as typed: an integer that does
// not fit in 64 bits is refused (CLI11 alone would clamp it to INT64_MAX), and so is a number that is not
// finite (NaN passes every range comparison). The message CLI11 then shows is "--steps: <ours>".
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::tools {

// An integer in [min, max], written in decimal: "expected an integer >= 1, found 0".
CLI::Validator integer_in(int64_t min, int64_t max = INT64_MAX);
// A finite number in [min, max]: "expected a finite number in [0, 100], found nan".
CLI::Validator number_in(double min, double max);

// One of the given words: "expected one of safetensors, hf, gguf, found 'onnx'".
CLI::Validator one_of(std::vector<std::string> choices);

inline CLI::Validator positive_integer() { return integer_in(1); }
inline CLI::Validator non_negative_integer() { return integer_in(0); }

}  // namespace tessera::tools
