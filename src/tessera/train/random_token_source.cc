// A BatchSource of uniform random token ids (benchmarks): sample i is RngStream(seed, kData, i).
#include <vector>

#include "tessera/core/rng.h"
#include "tessera/train/batch_source.h"

namespace tessera {

namespace {

class RandomTokenSource final : public BatchSource {
 public:
  RandomTokenSource(int64_t seq_len, int64_t vocab_size, uint64_t seed, std::string name)
      : T_(seq_len), V_(vocab_size), seed_(seed), name_(std::move(name)) {}

  void next_batch(int64_t count, int32_t* inputs, int32_t* targets) override {
    read_samples(next_sample_, count, inputs, targets);
    next_sample_ += count;
  }

  void read_samples(int64_t first, int64_t count, int32_t* inputs, int32_t* targets) const override {
    std::vector<int32_t> window(static_cast<size_t>(T_ + 1));
    for (int64_t s = 0; s < count; ++s) {
      RngStream rng(seed_, RngPurpose::kData, static_cast<uint64_t>(first + s));
      for (auto& token : window) token = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V_)));
      std::copy(window.begin(), window.end() - 1, inputs + s * T_);
      std::copy(window.begin() + 1, window.end(), targets + s * T_);
    }
  }

  void seek(int64_t next_sample) override { next_sample_ = next_sample; }

  void save_state(StateWriter& writer) const override { writer.write_int(name_ + ".next_sample", next_sample_); }
  Status load_state(StateReader& reader) override {
    TESSERA_ASSIGN_OR_RETURN(next_sample_, reader.read_int(name_ + ".next_sample"));
    return Status();
  }

 private:
  int64_t T_, V_;
  uint64_t seed_;
  std::string name_;
  int64_t next_sample_ = 0;
};

}  // namespace

std::unique_ptr<BatchSource> make_random_token_source(int64_t seq_len, int64_t vocab_size, uint64_t seed,
                                                      std::string name) {
  return std::make_unique<RandomTokenSource>(seq_len, vocab_size, seed, std::move(name));
}

}  // namespace tessera
