// Choosing the next token from logits: temperature, top-k, and a counter-based random draw.
#pragma once

#include <cstdint>

#include "tessera/core/rng.h"

namespace tessera {

struct SamplingOptions {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
};

// logits[V] → a token id. Softmax of logits/temperature over the top_k largest, sampled with one
// uniform draw from `rng`. Deterministic for a given rng stream.
int32_t sample_token(const float* logits, int64_t V, const SamplingOptions& options, RngStream& rng);

}  // namespace tessera
