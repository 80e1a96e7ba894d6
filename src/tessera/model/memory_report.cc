#include "tessera/model/memory_report.h"

#include <algorithm>

#include <fmt/format.h>

#include "tessera/kernels/fast_backend.h"

namespace tessera {
namespace {

std::string bytes_text(double bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  if (bytes >= 1024 * kMiB) return fmt::format("{:.2f} GiB", bytes / (1024 * kMiB));
  return fmt::format("{:.0f} MiB", bytes / kMiB);
}

}  // namespace

std::string MemoryReport::summary(Recompute recompute) const {
  return fmt::format(
      "memory: {} = parameters {} + gradients {} + optimizer {} + activations {} (recompute {}) + workspace {}{}{}",
      bytes_text(total()), bytes_text(parameters), bytes_text(gradients), bytes_text(optimizer),
      bytes_text(activations), recompute_name(recompute), bytes_text(workspace),
      peer_buffers > 0 ? fmt::format(" + peers' shm buffers {} (mapped here)", bytes_text(peer_buffers)) : "",
      program > 0 ? fmt::format(" + program {} (measured at start)", bytes_text(program)) : "");
}

MemoryReport training_memory_report(const ModelSpec& spec, int64_t batch, int64_t seq, const ModelOptions& options,
                                    MatmulPrecision precision, int threads) {
  const GptModel::Bytes model = GptModel::allocation_bytes(spec, batch, seq, options);
  const double P = model.parameters / 4.0;
  const double N = static_cast<double>(batch) * static_cast<double>(seq), C = static_cast<double>(spec.n_embd);
  const double F = static_cast<double>(spec.ffn()), V = static_cast<double>(spec.vocab_size);
  const int64_t tokens = static_cast<int64_t>(std::min(N, 9.0e15));
  MemoryReport r;
  r.parameters = model.parameters;
  r.gradients = model.gradients;
  r.optimizer = 8.0 * P;
  r.activations = model.activations;
  // Fast attention's per-thread scratch (its backward's packed operands and tiles).
  const double attention =
      std::max(threads, 1) * FastBackend::attention_workspace_bytes(seq, spec.n_embd / spec.n_head, precision);
  r.workspace = model.workspace + attention;
  if (precision == MatmulPrecision::kBf16) {
    r.parameters += 2.0 * P;  // the resident bf16 copy
    // The layers' matmul weights packed for the forward and for dinp (FastBackend::kPackedWeightMinRows), 2 bytes
    // per element each: qkv [3C, C], proj [C, C], fc [F, C], fcproj [C, F] per layer (oneDNN's block padding,
    // none at multiples of 64, is not counted).
    if (N >= static_cast<double>(FastBackend::kPackedWeightMinRows)) {
      r.parameters += 2.0 * 2.0 * static_cast<double>(spec.n_layer) * (4.0 * C + 2.0 * F) * C;
    }
    // Operand slots (grow-only, 2 bytes per element): A holds dout or inp, C inp, at their largest; the head slot
    // a group of head chunks' dlogits (FastBackend::head_loss_backward).
    const double slot_a = std::max(N * F, N * 3 * C);
    const double slot_c = N * F;
    const double slot_head = static_cast<double>(GptModel::resolve_head_group_rows(spec, tokens, options, 2)) * V;
    r.workspace += 2.0 * (slot_a + slot_c + slot_head);
  }
  return r;
}

}  // namespace tessera
