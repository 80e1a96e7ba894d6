// Communicator: the collectives a training step needs, behind one interface with several backends
// (docs/architecture.md): "self" (one rank, no-op collectives: the single-process trainer), and — as the
// process grid grows — MPI between hosts, shared memory within a host, and threads for tests.
//
// A Communicator is a group of `size()` ranks; every collective must be called by all ranks of the group in
// the same order with the same counts (a rank that disagrees is an error the backends detect where they can).
// Not thread-safe: one thread drives a communicator.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

enum class ReduceOp { kSum, kMax, kMin };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;

  // data[count] = op over ranks of data[count], in place, identical on every rank.
  virtual Status all_reduce(float* data, int64_t count, ReduceOp op) = 0;
  virtual Status all_reduce(double* data, int64_t count, ReduceOp op) = 0;
  // data[count] on every rank = data[count] of `root`.
  virtual Status broadcast(void* data, int64_t bytes, int root) = 0;
  // out[count·size] = concatenation of every rank's in[count] in rank order.
  virtual Status all_gather(const float* in, float* out, int64_t count) = 0;
  // out[count] = the rank-th count-sized block of op over ranks of in[count·size].
  virtual Status reduce_scatter(const float* in, float* out, int64_t count, ReduceOp op) = 0;
  virtual Status barrier() = 0;
  // A new communicator over the ranks that pass the same `color`, ordered by `key` (MPI_Comm_split).
  // Collective over this communicator.
  virtual StatusOr<std::unique_ptr<Communicator>> split(int color, int key) = 0;
};

// The one-rank communicator: every collective is the identity (all_gather/reduce_scatter copy).
std::unique_ptr<Communicator> make_self_communicator();

}  // namespace tessera
