// Learning-rate schedule: linear warmup, then cosine decay to a floor. A pure function of the step, so
// it needs no state of its own in a checkpoint: resuming at step s gives lr(s).
//   step < warmup:          lr = max_lr · (step + 1) / warmup
//   warmup ≤ step < total:  lr = min_lr + ½(max_lr − min_lr)(1 + cos(π · (step − warmup) / (total − warmup)))
//   step ≥ total:           lr = min_lr
#pragma once

#include <cstdint>

namespace tessera {

struct LrSchedule {
  double max_lr = 6e-4;
  double min_lr = 6e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  double lr(int64_t step) const;
};

}  // namespace tessera
