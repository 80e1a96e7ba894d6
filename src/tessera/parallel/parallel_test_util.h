// What the parallel/ tests share: deterministic samples, and BoxStore — an in-memory checkpoint that keeps
// every tensor whole and accepts boxes, as the real format does: a save by any layout (dp shards, pipeline
// stages) is read back by any other through the same StateWriter/StateReader calls; complete() says whether
// the writers tiled every tensor.
#pragma once

#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/core/flat_range.h"
#include "tessera/core/stateful.h"
#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

// The parallel/ tests' small model: 2 layers, 2 heads, C = 16, T = 8, V = 40 (the sample tokens' vocabulary).
inline ModelSpec tiny_test_spec() {
  ModelSpec s;
  s.n_layer = 2;
  s.n_head = 2;
  s.n_embd = 16;
  s.seq_len = 8;
  s.vocab_size = 40;
  return s;
}

// Samples [first, first + count) of `seq` tokens over a 40-token vocabulary, deterministic: inputs and their
// next-token targets, each [count, seq].
inline void test_sample_tokens(int64_t first, int64_t count, int64_t seq, int32_t* in, int32_t* out) {
  for (int64_t s = 0; s < count; ++s) {
    for (int64_t t = 0; t < seq; ++t) {
      const int64_t i = first + s;
      in[s * seq + t] = static_cast<int32_t>((i * 7 + t * 3 + i * t) % 40);
      out[s * seq + t] = static_cast<int32_t>((i * 7 + (t + 1) * 3 + i * (t + 1)) % 40);
    }
  }
}

class BoxStore : public StateWriter, public StateReader {
 public:
  void write_tensor(const TensorView& t) override {
    std::vector<int64_t> zero(t.shape.size(), 0);
    write_tensor_shard(t, t.shape, zero);
  }
  void write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                          const std::vector<int64_t>& offset) override {
    std::lock_guard lock(mutex_);
    Entry& e = tensors_[shard.name];
    if (e.values.empty()) {
      e.shape = global_shape;
      e.values.assign(static_cast<size_t>(shape_numel(global_shape)), NAN);
    }
    for_each_box_element(shard, global_shape, offset, [&](int64_t global, int64_t local) {
      e.values[static_cast<size_t>(global)] = static_cast<const float*>(shard.data)[local];
    });
  }
  void write_int(const std::string& name, int64_t value) override {
    std::lock_guard lock(mutex_);
    ints_[name] = value;
  }
  void write_double(const std::string&, double) override {}
  void write_string(const std::string&, const std::string&) override {}

  Status read_tensor(const TensorView& into) override {
    std::vector<int64_t> zero(into.shape.size(), 0);
    return read_tensor_shard(into, into.shape, zero);
  }
  Status read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                           const std::vector<int64_t>& offset) override {
    std::lock_guard lock(mutex_);
    auto it = tensors_.find(into.name);
    if (it == tensors_.end()) return not_found_error("no tensor {}", into.name);
    if (it->second.shape != global_shape) return invalid_argument_error("{}: shape differs", into.name);
    Status status;
    for_each_box_element(into, global_shape, offset, [&](int64_t global, int64_t local) {
      const float value = it->second.values[static_cast<size_t>(global)];
      if (std::isnan(value)) status = data_loss_error("{}: element {} was never written", into.name, global);
      static_cast<float*>(into.data)[local] = value;
    });
    return status;
  }
  StatusOr<int64_t> read_int(const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto it = ints_.find(name);
    if (it == ints_.end()) return not_found_error("no int {}", name);
    return it->second;
  }
  StatusOr<double> read_double(const std::string& name) override { return not_found_error("{}", name); }
  StatusOr<std::string> read_string(const std::string& name) override { return not_found_error("{}", name); }

  // Every element of every tensor written exactly by someone (no NaN left).
  bool complete() const {
    for (const auto& [name, e] : tensors_) {
      for (float v : e.values) {
        if (std::isnan(v)) return false;
      }
    }
    return !tensors_.empty();
  }

 private:
  struct Entry {
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  // Calls f(global flat index, local flat index) over the box [offset, offset + box.shape) row-major.
  template <typename F>
  static void for_each_box_element(const TensorView& box, const std::vector<int64_t>& global_shape,
                                   const std::vector<int64_t>& offset, F f) {
    const size_t rank = global_shape.size();
    const int64_t n = shape_numel(box.shape);
    std::vector<int64_t> index(rank, 0);
    for (int64_t local = 0; local < n; ++local) {
      int64_t global = 0;
      for (size_t d = 0; d < rank; ++d) global = global * global_shape[d] + offset[d] + index[d];
      f(global, local);
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < box.shape[d]) break;
        index[d] = 0;
      }
    }
  }
  std::mutex mutex_;
  std::map<std::string, Entry> tensors_;
  std::map<std::string, int64_t> ints_;
};

}  // namespace tessera
