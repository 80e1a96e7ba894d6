// The element-wise reduction of the shared-memory collectives.
#pragma once

#include <cstdint>

#include "tessera/comm/comm_types.h"

namespace tessera {

// For i in [0, count): r = srcs[0][i] op srcs[1][i] op ... op srcs[nsrc-1][i] (in that order, so every
// rank computing the same slice gets the same bits), then dsts[d][i] = r for every d. A destination may
// be one of the sources (in-place all-reduce). `type` must not be kBytes.
void reduce_into(DataType type, ReduceOp op, char* const* srcs, int nsrc, char* const* dsts, int ndst, int64_t count);

}  // namespace tessera
