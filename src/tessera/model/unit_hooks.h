// UnitHooks: how an engine outside the model (parallel/, data parallelism with ZeRO) follows GptModel through
// a step, unit by unit (ParameterLayout::units()), without the model knowing about communication — as
// FSDP's pre-/post-forward and post-backward hooks do for PyTorch modules.
//
// The model calls, in this order for one micro-batch:
//   forward:  before(E) [embeddings] after(E); per block l: before(b) after(b); before(F) [final norm]
//             after(F); before(E) [tied LM head + loss, which also runs the head's backward] after(E)
//   backward: before(F) after(F) gradients_ready(F); per block l = L-1 … 0: before(b) after(b)
//             gradients_ready(b); gradients_ready(E) (the embeddings' backward reads no parameter)
// An evaluation forward makes the same forward calls. With E = the embeddings unit, b = block_unit(l), F = the final-norm unit.
//
// before(u) returns once unit u's parameters are in the flat parameter buffer (an engine that shards
// parameters gathers them here, or waits for a prefetch); after(u) says the model is done reading them for
// now (the engine may release them); gradients_ready(u) says u's gradients in the flat gradient buffer are
// complete for this micro-batch (the engine may start reducing them while backward goes on).
#pragma once

namespace tessera {

enum class ModelPhase { kForward, kBackward };

class UnitHooks {
 public:
  virtual ~UnitHooks() = default;
  virtual void before(int unit, ModelPhase phase) = 0;
  virtual void after(int unit, ModelPhase phase) = 0;
  virtual void gradients_ready(int unit) = 0;
};

}  // namespace tessera
