// golden_dump OUT_DIR [BACKEND]: writes what the PyTorch golden test (check_against_torch.py) compares:
// a tiny GPT's initial parameters, one batch, Tessera's logits, loss and every parameter gradient on it,
// and the parameters after 3 AdamW steps on the same batch.
//
// OUT_DIR/tensors.json lists {name, dtype ("f32" | "i32"), shape, offset (bytes into tensors.bin)};
// OUT_DIR/tensors.bin holds the raw little-endian values; OUT_DIR/config.json the model shape and optimizer.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/core/rng.h"
#include "tessera/model/gpt_model.h"
#include "tessera/optim/adamw.h"

namespace {

using namespace tessera;

class TensorDump {
 public:
  void add(const std::string& name, const float* data, const std::vector<int64_t>& shape) {
    append(name, "f32", data, shape, sizeof(float));
  }
  void add(const std::string& name, const int32_t* data, const std::vector<int64_t>& shape) {
    append(name, "i32", data, shape, sizeof(int32_t));
  }
  bool write(const std::string& dir) const {
    std::ofstream bin(dir + "/tensors.bin", std::ios::binary);
    bin.write(bytes_.data(), static_cast<std::streamsize>(bytes_.size()));
    std::ofstream index(dir + "/tensors.json");
    index << index_.dump(1);
    return bin.good() && index.good();
  }

 private:
  void append(const std::string& name, const char* dtype, const void* data, const std::vector<int64_t>& shape,
              size_t element) {
    const size_t bytes = static_cast<size_t>(shape_numel(shape)) * element;
    index_.push_back({{"name", name}, {"dtype", dtype}, {"shape", shape}, {"offset", bytes_.size()}});
    bytes_.append(static_cast<const char*>(data), bytes);
  }
  std::string bytes_;
  nlohmann::json index_ = nlohmann::json::array();
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: golden_dump OUT_DIR [ref|fast]\n");
    return 2;
  }
  const std::string out = argv[1];
  const std::string backend_name = argc > 2 ? argv[2] : "fast";
  const ModelSpec spec{.n_layer = 2, .n_head = 4, .n_embd = 64, .seq_len = 32, .vocab_size = 257};
  const int64_t B = 3, T = spec.seq_len, steps = 3;
  const AdamWConfig adamw{.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
  const float lr = 1e-3f;

  auto kernels = make_kernel_backend(backend_name);
  if (!kernels.ok()) {
    std::fprintf(stderr, "golden_dump: %s\n", kernels.status().message().c_str());
    return 1;
  }
  GptModel model(spec, **kernels, B, T);
  model.init_parameters(2024);
  std::vector<int32_t> inputs(B * T), targets(B * T);
  RngStream rng(7, RngPurpose::kTest, 0);
  for (auto& t : inputs) t = static_cast<int32_t>(rng.below(spec.vocab_size));
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(spec.vocab_size));

  TensorDump dump;
  dump.add("inputs", inputs.data(), {B, T});
  dump.add("targets", targets.data(), {B, T});
  const auto& tensors = model.layout().tensors();
  for (const ParamTensor& t : tensors) dump.add("param." + t.name, model.params() + t.offset, t.shape);

  std::vector<OptimizedTensor> optimized;
  for (const ParamTensor& t : tensors) {
    optimized.push_back({.name = t.name, .shape = t.shape, .offset = t.offset, .numel = t.numel, .decay = true});
  }
  AdamW optimizer(adamw, optimized, **kernels);
  std::vector<float> losses;
  for (int64_t step = 0; step < steps; ++step) {
    model.zero_grad();
    const float loss = model.forward(inputs.data(), targets.data());
    losses.push_back(loss);
    if (step == 0) {
      std::vector<float> logits(static_cast<size_t>(B * T * spec.vocab_size));
      model.compute_logits(logits.data());
      dump.add("logits", logits.data(), {B, T, spec.vocab_size});
      dump.add("loss", &loss, {1});
    }
    model.backward(1.0f);
    if (step == 0) {
      for (const ParamTensor& t : tensors) dump.add("grad." + t.name, model.grads() + t.offset, t.shape);
    }
    optimizer.update(model.params(), model.grads(), lr);
  }
  dump.add("step_losses", losses.data(), {steps});
  for (const ParamTensor& t : tensors) dump.add("after." + t.name, model.params() + t.offset, t.shape);

  const nlohmann::json config = {{"n_layer", spec.n_layer}, {"n_head", spec.n_head}, {"n_embd", spec.n_embd},
                                 {"seq_len", spec.seq_len}, {"vocab_size", spec.vocab_size}, {"batch", B},
                                 {"steps", steps}, {"lr", lr}, {"beta1", adamw.beta1}, {"beta2", adamw.beta2},
                                 {"eps", adamw.eps}, {"weight_decay", adamw.weight_decay}, {"backend", backend_name}};
  std::ofstream(out + "/config.json") << config.dump(1);
  if (!dump.write(out)) {
    std::fprintf(stderr, "golden_dump: cannot write to '%s'\n", out.c_str());
    return 1;
  }
  return 0;
}
