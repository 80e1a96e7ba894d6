#include "tessera/model/memory_report.h"

#include <algorithm>

#include <fmt/format.h>

#include "tessera/kernels/fast_backend.h"
#include "tessera/model/parameter_layout.h"

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
    // The resident layer weights packed for the forward and for dinp (fast_matmul.cc, from
    // FastBackend::kPackedWeightMinRows rows on), 2 bytes per element each: this stage's blocks' 2-D tensors
    // (qkv, proj, fc, fcproj; under tensor parallelism this rank's part). oneDNN's block padding (none at
    // multiples of 64) is not counted.
    if (options.resident_weights && N >= static_cast<double>(FastBackend::kPackedWeightMinRows)) {
      const ParameterLayout layout(spec, 1, options.stage, options.tensor_parallel);
      double block_matrices = 0;
      for (const ParamTensor& t : layout.tensors()) {
        const bool embedding_or_final = t.global_index < 2 || t.global_index >= 2 + 12 * spec.n_layer;
        if (!embedding_or_final && t.shape.size() == 2) block_matrices += static_cast<double>(t.numel);
      }
      r.workspace += 2.0 * 2.0 * block_matrices;
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
