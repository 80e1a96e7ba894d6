// BatchSource: where a training step's micro-batches come from. A source is Stateful so its position is
// part of every checkpoint; it is addressed by global sample index, so a resumed run reads the same
// samples it would have read without the interruption.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tessera/core/stateful.h"

namespace tessera {

class BatchSource : public Stateful {
 public:
  // Fills inputs[count, T] and targets[count, T] with the next `count` samples and advances.
  virtual void next_batch(int64_t count, int32_t* inputs, int32_t* targets) = 0;
  // Fills the same arrays with samples [first, first + count) without moving the position.
  virtual void read_samples(int64_t first, int64_t count, int32_t* inputs, int32_t* targets) const = 0;
  // Sets the position (the next sample index), as saved in checkpoints.
  virtual void seek(int64_t next_sample) = 0;
};

// Uniform random token ids in [0, V): a pure function of (seed, sample index), for benchmarks that need no
// data. State: "<name>.next_sample".
std::unique_ptr<BatchSource> make_random_token_source(int64_t seq_len, int64_t vocab_size, uint64_t seed,
                                                      std::string name);

}  // namespace tessera
