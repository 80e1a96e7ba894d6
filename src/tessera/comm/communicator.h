// Communicator: the collectives and point-to-point transfers of a group of ranks, behind one interface with
// several backends (docs/communication.md):
//   self   one rank, every collective the identity (the single-process trainer);
//   local  ranks as threads of one process (the oracle for unit tests of every parallel feature);
//   shm    ranks of one host, through POSIX shared memory;
//   mpi    Open MPI between hosts (mpirun, srun);
//   hier   shm within each host and MPI between the hosts' leaders.
// comm_factory.h chooses one per grid axis.
//
// Rules every backend keeps:
//   - every collective is called by all ranks of the group in the same order with the same arguments
//     (counts, types, root); a rank that calls a different one makes the collective fail on every rank
//     with a Status naming both calls;
//   - every operation has a sequence number (collectives and point-to-point counted apart) and ends within
//     options().deadline: a peer that does not arrive becomes kDeadlineExceeded naming the operation, its
//     sequence number, the axis and the rank(s) missing, and the flight recorder is dumped;
//   - after an error the communicator is unusable: every later call returns that error again (a peer may
//     be inside a half-finished collective; only a fresh group can recover);
//   - the *_async forms return a CommHandle at once; the buffers belong to the operation until its handle's
//     wait() returns (or test() returned true). Handles of one communicator complete in call order.
// Not thread-safe: one thread drives a communicator (a backend may progress work on its own thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tessera/comm/comm_handle.h"
#include "tessera/comm/comm_types.h"
#include "tessera/comm/flight_recorder.h"
#include "tessera/core/status.h"

namespace tessera {

// Memory from Communicator::allocate: collectives on it run in place (zero-copy) where the backend can
// (shm maps it into every rank of the host); otherwise ordinary 64-byte aligned memory. Move-only; frees
// on destruction.
class CommBuffer {
 public:
  CommBuffer() = default;
  CommBuffer(void* data, int64_t bytes, std::function<void()> release)
      : data_(data), bytes_(bytes), release_(std::move(release)) {}
  CommBuffer(CommBuffer&& other) noexcept;
  CommBuffer& operator=(CommBuffer&& other) noexcept;
  CommBuffer(const CommBuffer&) = delete;
  CommBuffer& operator=(const CommBuffer&) = delete;
  ~CommBuffer();

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
  std::function<void()> release_;
};

// 64-byte aligned heap memory as a CommBuffer (what backends without shared buffers hand out).
StatusOr<CommBuffer> allocate_heap_buffer(int64_t bytes);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;
  virtual const CommOptions& options() const = 0;
  const std::string& axis() const { return options().name; }
  // The per-rank record of recent operations (docs/communication.md).
  virtual const FlightRecorder& flight_recorder() const = 0;

  // --- Asynchronous operations (the primitives every backend implements) ---
  // data[count] = op over ranks of data[count], in place, identical on every rank (summed in rank order
  // on local/shm, so bit-identical everywhere).
  virtual CommHandle all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) = 0;
  // out[count] = the rank-th count-sized block of op over ranks of in[count·size].
  virtual CommHandle reduce_scatter_async(const void* in, void* out, int64_t count, DataType type, ReduceOp op) = 0;
  // out[count·size] = every rank's in[count], in rank order.
  virtual CommHandle all_gather_async(const void* in, void* out, int64_t count, DataType type) = 0;
  // data[bytes] on every rank = data[bytes] of `root`.
  virtual CommHandle broadcast_async(void* data, int64_t bytes, int root) = 0;
  virtual CommHandle barrier_async() = 0;
  // Point-to-point: messages from one rank to another arrive in the order sent; the receiver names the
  // tag and size it expects, and a message with another tag or size is an error naming both.
  virtual CommHandle send_async(const void* data, int64_t bytes, int peer, int tag) = 0;
  virtual CommHandle recv_async(void* data, int64_t bytes, int peer, int tag) = 0;

  // A new communicator over the ranks that pass the same `color` (≥ 0), ordered by `key` then rank
  // (MPI_Comm_split), named `name` in errors and dumps. Collective over this communicator.
  virtual StatusOr<std::unique_ptr<Communicator>> split(int color, int key, const std::string& name) = 0;
  StatusOr<std::unique_ptr<Communicator>> split(int color, int key) { return split(color, key, axis()); }

  // `bytes` of memory that collectives of this communicator use in place where they can.
  virtual StatusOr<CommBuffer> allocate(int64_t bytes) { return allocate_heap_buffer(bytes); }

  // --- Blocking forms ---
  Status all_reduce(float* data, int64_t count, ReduceOp op) { return blocking(CommOpKind::kAllReduce, data, data, count, DataType::kFloat32, op); }
  Status all_reduce(double* data, int64_t count, ReduceOp op) { return blocking(CommOpKind::kAllReduce, data, data, count, DataType::kFloat64, op); }
  Status all_reduce(int64_t* data, int64_t count, ReduceOp op) { return blocking(CommOpKind::kAllReduce, data, data, count, DataType::kInt64, op); }
  Status all_reduce(uint64_t* data, int64_t count, ReduceOp op) { return blocking(CommOpKind::kAllReduce, data, data, count, DataType::kUint64, op); }
  Status broadcast(void* data, int64_t bytes, int root) { return blocking(CommOpKind::kBroadcast, data, data, bytes, DataType::kBytes, ReduceOp::kSum, root); }
  Status all_gather(const float* in, float* out, int64_t count) { return blocking(CommOpKind::kAllGather, in, out, count, DataType::kFloat32); }
  // out[bytes·size] = every rank's in[bytes] (fingerprints, config agreement).
  Status all_gather_bytes(const void* in, void* out, int64_t bytes) { return blocking(CommOpKind::kAllGather, in, out, bytes, DataType::kBytes); }
  Status reduce_scatter(const float* in, float* out, int64_t count, ReduceOp op) {
    return blocking(CommOpKind::kReduceScatter, in, out, count, DataType::kFloat32, op);
  }
  Status barrier() { return barrier_async().wait(); }
  Status send(const void* data, int64_t bytes, int peer, int tag = 0) { return send_async(data, bytes, peer, tag).wait(); }
  Status recv(void* data, int64_t bytes, int peer, int tag = 0) { return recv_async(data, bytes, peer, tag).wait(); }

 protected:
  // The argument checks every backend makes before it starts a collective, as one-line errors that name the
  // operation and the axis: a reduction of bytes (no ReduceOp applies to them) and a broadcast root that is
  // not a rank of the group. OK where the arguments hold; the other kinds pass.
  Status check_reducible(CommOpKind kind, DataType type) const {
    const bool reduces = kind == CommOpKind::kAllReduce || kind == CommOpKind::kReduceScatter;
    if (reduces && type == DataType::kBytes) {
      return invalid_argument_error("{} on axis '{}': bytes cannot be reduced; hint: all_gather them",
                                    comm_op_name(kind), axis());
    }
    return Status();
  }
  Status check_root(int root) const {
    if (root < 0 || root >= size()) {
      return invalid_argument_error("broadcast on axis '{}': root {} outside [0, {})", axis(), root, size());
    }
    return Status();
  }
  // Both, and a count that is not negative: what a blocking collective checks before it runs.
  Status check_collective(CommOpKind kind, int64_t count, DataType type, int root) const {
    if (count < 0) {
      return invalid_argument_error("{} on axis '{}': count {} is negative", comm_op_name(kind), axis(), count);
    }
    if (Status s = check_reducible(kind, type); !s.ok()) return s;
    return kind == CommOpKind::kBroadcast ? check_root(root) : Status();
  }

  // How the blocking collectives run: by default the async form and wait(); a backend may do better (mpi
  // runs MPI's blocking collective once every rank is known to have arrived).
  virtual Status blocking(CommOpKind op, const void* in, void* out, int64_t count, DataType type,
                          ReduceOp reduce = ReduceOp::kSum, int root = -1) {
    switch (op) {
      case CommOpKind::kAllReduce: return all_reduce_async(out, count, type, reduce).wait();
      case CommOpKind::kReduceScatter: return reduce_scatter_async(in, out, count, type, reduce).wait();
      case CommOpKind::kAllGather: return all_gather_async(in, out, count, type).wait();
      case CommOpKind::kBroadcast: return broadcast_async(out, count, root).wait();
      default: return invalid_argument_error("blocking: {} is not a collective with data", comm_op_name(op));
    }
  }
};

// The one-rank communicator: every collective is the identity (all_gather/reduce_scatter copy); send and
// recv to oneself are an error (no peer).
std::unique_ptr<Communicator> make_self_communicator(CommOptions options = {});

}  // namespace tessera
