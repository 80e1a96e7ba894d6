// A BatchSource over a prepared token dataset (`tessera data prepare`): the data/ DataLoader, checked
// against the model's vocabulary and context length.
#pragma once

#include <memory>
#include <string>

#include "tessera/spec/model_spec.h"
#include "tessera/train/batch_source.h"

namespace tessera {

// split: "train" (shuffled windows keyed by (seed, sample index)) or "val" (fixed windows).
// State name: "loader.<split>".
StatusOr<std::unique_ptr<BatchSource>> open_dataset_source(const std::string& dir, const std::string& split,
                                                           const ModelSpec& model, int64_t seed, bool shuffle);

}  // namespace tessera
