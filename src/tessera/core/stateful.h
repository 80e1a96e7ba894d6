// Stateful: the one interface through which every stateful part of training (model, optimizer, data
// loader, LR schedule, RNG) saves and loads, so that a checkpoint is a walk over named components
// (docs/architecture.md). The writer/reader implementations live in ckpt/; components never see files.
//
// Names are dotted and global: a component prefixes its own ("model.wte", "optim.m.wte",
// "loader.next_sample"). Tensors carry their full (global) shape; a sharded component writes the part
// it owns through write_tensor_shard so that a reader with another layout can reassemble it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/core/tensor.h"

namespace tessera {

class StateWriter {
 public:
  virtual ~StateWriter() = default;
  // Records a whole tensor. The writer copies (snapshots) the bytes before returning, so the caller
  // may change the buffer as soon as this returns.
  virtual void write_tensor(const TensorView& tensor) = 0;
  // Records the part of a tensor of shape `global_shape` that starts at `offset` (one index per dim)
  // and has `shard.shape`. Shards of one name must tile the global tensor without overlap.
  virtual void write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                                  const std::vector<int64_t>& offset) = 0;
  virtual void write_int(const std::string& name, int64_t value) = 0;
  virtual void write_double(const std::string& name, double value) = 0;
  virtual void write_string(const std::string& name, const std::string& value) = 0;
};

class StateReader {
 public:
  virtual ~StateReader() = default;
  // Fills `into` (name, dtype, shape and buffer set by the caller) with the whole tensor; errors if the
  // name is missing, the dtype or shape differ, or the stored bytes fail their checksum.
  virtual Status read_tensor(const TensorView& into) = 0;
  // Fills `into` with the region [offset, offset + into.shape) of the stored tensor of `global_shape`,
  // whatever shards it was written in.
  virtual Status read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                                   const std::vector<int64_t>& offset) = 0;
  virtual StatusOr<int64_t> read_int(const std::string& name) = 0;
  virtual StatusOr<double> read_double(const std::string& name) = 0;
  virtual StatusOr<std::string> read_string(const std::string& name) = 0;
};

class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual void save_state(StateWriter& writer) const = 0;
  virtual Status load_state(StateReader& reader) = 0;
};

}  // namespace tessera
