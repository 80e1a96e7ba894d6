#include "tessera/model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tessera {

int32_t sample_token(const float* logits, int64_t V, const SamplingOptions& options, RngStream& rng) {
  if (options.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  }
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  int64_t k = options.top_k > 0 ? std::min(options.top_k, V) : V;
  if (k < V) {
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  }
  float max_logit = -INFINITY;
  for (int64_t i = 0; i < k; ++i) max_logit = std::max(max_logit, logits[ids[i]]);
  std::vector<double> weights(static_cast<size_t>(k));
  double total = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    weights[i] = std::exp((logits[ids[i]] - max_logit) / options.temperature);
    total += weights[i];
  }
  double threshold = rng.uniform() * total;
  for (int64_t i = 0; i < k; ++i) {
    threshold -= weights[i];
    if (threshold < 0.0) return ids[i];
  }
  return ids[k - 1];
}

}  // namespace tessera
