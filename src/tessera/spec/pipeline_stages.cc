#include "tessera/spec/pipeline_stages.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tessera {

StatusOr<std::vector<StageLayers>> pipeline_stage_layers(int64_t n_layer, int64_t stages, double head_in_layers) {
  if (stages < 1 || n_layer < 1 || stages > n_layer) {
    return invalid_argument_error(
        "parallel.pp: {} pipeline stage(s) over model.n_layer = {} layers; expected 1 ≤ pp·vpp ≤ n_layer (every stage "
        "runs at least one layer); hint: parallel.pp ≤ {}",
        stages, n_layer, std::max<int64_t>(1, n_layer));
  }
  if (stages == 1) return std::vector<StageLayers>{{.first = 0, .end = n_layer}};
  // Layers on the last stage: the fewest that make the slowest stage as fast as it can be.
  // Ties (equal slowest stage) go to the n whose cost is nearest the other stages' mean.
  int64_t last = 1;
  double best = 0, best_gap = 0;
  for (int64_t n = 1; n <= n_layer - (stages - 1); ++n) {
    const int64_t others = (n_layer - n + stages - 2) / (stages - 1);  // ⌈(L − n)/(S − 1)⌉
    const double cost = static_cast<double>(n) + head_in_layers;
    const double slowest = std::max(static_cast<double>(others), cost);
    const double gap = std::abs(cost - static_cast<double>(n_layer - n) / static_cast<double>(stages - 1));
    if (n == 1 || slowest < best || (slowest == best && gap < best_gap)) {
      best = slowest;
      best_gap = gap;
      last = n;
    }
  }
  const int64_t rest = n_layer - last, base = rest / (stages - 1), extra = rest % (stages - 1);
  std::vector<StageLayers> out;
  int64_t first = 0;
  for (int64_t s = 0; s + 1 < stages; ++s) {
    // The extra layers go to stages 1..extra (extra < stages − 1, so they exist before the last).
    const int64_t count = base + (s >= 1 && s <= extra ? 1 : 0);
    out.push_back({.first = first, .end = first + count});
    first += count;
  }
  out.push_back({.first = first, .end = n_layer});
  return out;
}

double head_cost_in_layers(const ModelSpec& spec) {
  const double C = static_cast<double>(spec.n_embd), F = static_cast<double>(spec.ffn());
  const double V = static_cast<double>(spec.vocab_size), T = static_cast<double>(spec.seq_len);
  const double block = 3.0 * (2.0 * (4.0 * C * C + 2.0 * C * F) + 2.0 * T * C);
  const double head = 6.0 * C * V;
  return head / block;
}

StatusOr<std::vector<StageLayers>> pipeline_stage_layers(const ModelSpec& spec, int64_t stages) {
  return pipeline_stage_layers(spec.n_layer, stages, head_cost_in_layers(spec));
}

std::string stage_sizes_text(const std::vector<StageLayers>& stages) {
  std::string text;
  for (const StageLayers& s : stages) text += (text.empty() ? "" : "+") + std::to_string(s.count());
  return text;
}

}  // namespace tessera
