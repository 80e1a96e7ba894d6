// The per-rank memory of data-parallel training under ZeRO, from the formulas (Rajbhandari et al., "ZeRO",
// 2020; fp32 here): the unsharded MemoryReport (model/memory_report.h) with parameters, gradients and
// optimizer replaced by what stage `zero_stage` keeps on each of `dp` ranks. Ψ = floats of the flat buffer,
// s = Ψ/dp (this rank's shard), E = the embeddings unit, B = the largest block unit:
//
//   stage  parameters              gradients                       optimizer
//   0      4Ψ (+2Ψ bf16 copy)      4Ψ                              8Ψ  (m, v)
//   1      4Ψ (+2Ψ)                4Ψ                              8s  (m, v of its pieces)
//   2      4Ψ (+2Ψ)                4s + in flight                  8s
//   3      4(E + 2B) gathered      4s + in flight                  12s (+ the fp32 master pieces)
//
// "In flight": full-size gradients of the units between their backward and their reduce-scatter — with
// overlap about the embeddings and one block, 4(E + B); without overlap all of them, 4Ψ; plus 4s for the
// reduce-scatter landing buffer when a step has several micro-batches.
//
// shared_memory_peers (the dp axis on the shm backend): each rank also maps and touches pages of every peer's
// in-place buffers, which its RSS counts: all of them where they are all-reduced in place (the gradients at
// stages 0–1: ranks claim chunks of the whole buffer, comm/group_communicator.cc), (dp − 1)·4Ψ; its slice r
// where they are reduce-scattered (gradients at stage 2) or all-gathered (parameters at stages 1–2) in place,
// (dp − 1)·4Ψ/dp per buffer; at stage 3 the gathered units are released after use, so nothing stays mapped.
// MemoryReport::peer_buffers.
#pragma once

#include <cstdint>

#include "tessera/model/memory_report.h"
#include "tessera/model/parameter_layout.h"

namespace tessera {

MemoryReport zero_memory_report(MemoryReport unsharded, const ParameterLayout& layout, int dp, int zero_stage,
                                bool overlap, int64_t micro_batches, MatmulPrecision precision,
                                bool shared_memory_peers = false);

}  // namespace tessera
