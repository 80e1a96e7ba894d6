// DataLoader: (inputs, targets) windows of a TokenDataset, addressed by global sample index.
//
// Sample i is the window w = tokens [s_i, s_i + T] (T + 1 tokens); inputs = w[0, T), targets = w[1, T]:
// targets are the inputs shifted left by one, the next-token objective. With M = num_tokens - T valid
// window starts,
//   shuffle:    s_i = RngStream(seed, RngPurpose::kData, i).below(M)   (uniform, with replacement)
//   no shuffle: s_i = (i · T) mod M                                      (consecutive windows, wrapping)
// so a sample is a pure function of (dataset, T, seed, shuffle, i): a resumed run, or data-parallel
// ranks that each read their own slice [first + r·B, first + (r+1)·B) of a global batch, see exactly
// the samples that one uninterrupted single-rank run sees (docs/data_format.md).
//
// The only mutable state is next_sample; save_state/load_state carry it (and the settings that must not
// change under it) as "<state_name>.*" ints.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/stateful.h"
#include "tessera/core/status.h"
#include "tessera/data/token_dataset.h"

namespace tessera {

class DataLoader : public Stateful {
 public:
  // Errors if T < 1 or the dataset has fewer than T + 1 tokens.
  static StatusOr<DataLoader> create(TokenDataset dataset, int64_t T, uint64_t seed, bool shuffle,
                                     std::string state_name);
  // The same preconditions, CHECKed (a programmer error here): prefer create() for user data.
  DataLoader(TokenDataset dataset, int64_t T, uint64_t seed, bool shuffle, std::string state_name);

  DataLoader(DataLoader&&) noexcept = default;
  DataLoader& operator=(DataLoader&&) noexcept = default;
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // inputs, targets: [count, T] row-major, caller-owned. Const and thread-safe.
  void read_samples(int64_t first_sample, int64_t count, int32_t* inputs, int32_t* targets) const;
  // read_samples(next_sample(), count, ...), then next_sample += count.
  void next_batch(int64_t count, int32_t* inputs, int32_t* targets);
  // next_sample += count without reading (a data-parallel rank that read its own slice).
  void advance(int64_t count);

  int64_t next_sample() const { return next_sample_; }
  void set_next_sample(int64_t sample);
  // The first token of sample i's window.
  int64_t window_start(int64_t sample) const;

  int64_t T() const { return T_; }
  uint64_t seed() const { return seed_; }
  bool shuffle() const { return shuffle_; }
  const TokenDataset& dataset() const { return dataset_; }
  const std::string& state_name() const { return state_name_; }

  // Writes "<state_name>.next_sample", ".seed", ".T", ".shuffle" and ".num_tokens".
  void save_state(StateWriter& writer) const override;
  // Restores next_sample; errors if the saved seed, T, shuffle or dataset size differ from this
  // loader's, since resuming would then silently read other data.
  Status load_state(StateReader& reader) override;

 private:
  TokenDataset dataset_;
  int64_t T_;
  uint64_t seed_;
  bool shuffle_;
  std::string state_name_;
  int64_t num_starts_;  // M = num_tokens - T, the number of valid window starts
  int64_t next_sample_ = 0;
};

}  // namespace tessera
