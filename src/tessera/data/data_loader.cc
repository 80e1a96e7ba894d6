#include "tessera/data/data_loader.h"

#include "tessera/core/check.h"
#include "tessera/core/rng.h"

namespace tessera {

namespace {

Status check_window(const TokenDataset& dataset, int64_t T) {
  if (T < 1) return invalid_argument_error("data loader: sequence length T = {} (expected >= 1)", T);
  if (dataset.num_tokens() < T + 1) {
    return invalid_argument_error(
        "data '{}': split {} has {} tokens, fewer than T + 1 = {} (one window); hint: use more text or a "
        "smaller sequence length",
        dataset.dir(), dataset.split(), dataset.num_tokens(), T + 1);
  }
  return Status();
}

}  // namespace

StatusOr<DataLoader> DataLoader::create(TokenDataset dataset, int64_t T, uint64_t seed, bool shuffle,
                                        std::string state_name) {
  TESSERA_RETURN_IF_ERROR(check_window(dataset, T));
  return DataLoader(std::move(dataset), T, seed, shuffle, std::move(state_name));
}

DataLoader::DataLoader(TokenDataset dataset, int64_t T, uint64_t seed, bool shuffle, std::string state_name)
    : dataset_(std::move(dataset)), T_(T), seed_(seed), shuffle_(shuffle), state_name_(std::move(state_name)) {
  const Status window = check_window(dataset_, T_);
  TESSERA_CHECK(window.ok(), "{}", window.message());
  num_starts_ = dataset_.num_tokens() - T_;
}

int64_t DataLoader::window_start(int64_t sample) const {
  TESSERA_CHECK(sample >= 0, "sample index {} < 0", sample);
  const auto m = static_cast<uint64_t>(num_starts_);
  if (shuffle_) {
    RngStream rng(seed_, RngPurpose::kData, static_cast<uint64_t>(sample));
    return static_cast<int64_t>(rng.below(m));
  }
  // (i · T) mod M without overflow for any i < 2^63.
  const unsigned __int128 product = static_cast<unsigned __int128>(sample) * static_cast<uint64_t>(T_);
  return static_cast<int64_t>(product % m);
}

void DataLoader::read_samples(int64_t first_sample, int64_t count, int32_t* inputs, int32_t* targets) const {
  TESSERA_CHECK(first_sample >= 0 && count >= 0, "samples [{}, +{})", first_sample, count);
  // One window of T + 1 tokens is copied once; inputs and targets are its two overlapping views.
  std::vector<int32_t> window(static_cast<size_t>(T_ + 1));
  for (int64_t b = 0; b < count; ++b) {
    dataset_.copy_tokens(window_start(first_sample + b), T_ + 1, window.data());
    std::copy(window.begin(), window.end() - 1, inputs + b * T_);
    std::copy(window.begin() + 1, window.end(), targets + b * T_);
  }
}

void DataLoader::next_batch(int64_t count, int32_t* inputs, int32_t* targets) {
  read_samples(next_sample_, count, inputs, targets);
  advance(count);
}

void DataLoader::advance(int64_t count) {
  TESSERA_CHECK(count >= 0, "advance by {}", count);
  next_sample_ += count;
}

void DataLoader::set_next_sample(int64_t sample) {
  TESSERA_CHECK(sample >= 0, "next sample {} < 0", sample);
  next_sample_ = sample;
}

void DataLoader::save_state(StateWriter& writer) const {
  writer.write_int(state_name_ + ".next_sample", next_sample_);
  writer.write_int(state_name_ + ".seed", static_cast<int64_t>(seed_));
  writer.write_int(state_name_ + ".T", T_);
  writer.write_int(state_name_ + ".shuffle", shuffle_ ? 1 : 0);
  writer.write_int(state_name_ + ".num_tokens", dataset_.num_tokens());
}

Status DataLoader::load_state(StateReader& reader) {
  const std::string& name = state_name_;
  TESSERA_ASSIGN_OR_RETURN(const int64_t next, reader.read_int(name + ".next_sample"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t seed, reader.read_int(name + ".seed"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t T, reader.read_int(name + ".T"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t shuffle, reader.read_int(name + ".shuffle"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t num_tokens, reader.read_int(name + ".num_tokens"));
  if (static_cast<uint64_t>(seed) != seed_) {
    return failed_precondition_error(
        "{}: checkpoint was written with data seed {}, this run uses {}; hint: resume with the same seed",
        name, static_cast<uint64_t>(seed), seed_);
  }
  if (T != T_) {
    return failed_precondition_error("{}: checkpoint was written with T = {}, this run uses T = {}", name, T, T_);
  }
  if ((shuffle != 0) != shuffle_) {
    return failed_precondition_error("{}: checkpoint was written with shuffle = {}, this run uses {}", name,
                                     shuffle != 0, shuffle_);
  }
  if (num_tokens != dataset_.num_tokens()) {
    return failed_precondition_error(
        "{}: checkpoint was written over {} tokens of split {}, data '{}' now has {}; hint: resume on the "
        "same prepared data",
        name, num_tokens, dataset_.split(), dataset_.dir(), dataset_.num_tokens());
  }
  if (next < 0) return data_loss_error("{}: next_sample {} < 0 in the checkpoint", name, next);
  next_sample_ = next;
  return Status();
}

}  // namespace tessera
