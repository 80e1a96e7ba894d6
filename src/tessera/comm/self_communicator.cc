// The one-rank Communicator: a group of size 1, where every collective leaves the data as it is.
#include <cstring>

#include "tessera/comm/communicator.h"

namespace tessera {

namespace {

class SelfCommunicator final : public Communicator {
 public:
  explicit SelfCommunicator(CommOptions options)
      : options_(std::move(options)), recorder_(options_.flight_recorder_entries) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend_name() const override { return "self"; }
  const CommOptions& options() const override { return options_; }
  const FlightRecorder& flight_recorder() const override { return recorder_; }

  CommHandle all_reduce_async(void*, int64_t count, DataType type, ReduceOp) override {
    if (Status s = check_reducible(CommOpKind::kAllReduce, type); !s.ok()) return CommHandle(std::move(s));
    return record(CommOpKind::kAllReduce, count * dtype_size(type), type, Status());
  }
  CommHandle reduce_scatter_async(const void* in, void* out, int64_t count, DataType type, ReduceOp) override {
    if (Status s = check_reducible(CommOpKind::kReduceScatter, type); !s.ok()) return CommHandle(std::move(s));
    copy(in, out, count * dtype_size(type));
    return record(CommOpKind::kReduceScatter, count * dtype_size(type), type, Status());
  }
  CommHandle all_gather_async(const void* in, void* out, int64_t count, DataType type) override {
    copy(in, out, count * dtype_size(type));
    return record(CommOpKind::kAllGather, count * dtype_size(type), type, Status());
  }
  CommHandle broadcast_async(void*, int64_t bytes, int root) override {
    return record(CommOpKind::kBroadcast, bytes, DataType::kBytes, check_root(root));
  }
  CommHandle barrier_async() override { return record(CommOpKind::kBarrier, 0, DataType::kBytes, Status()); }
  CommHandle send_async(const void*, int64_t bytes, int peer, int) override {
    return record(CommOpKind::kSend, bytes, DataType::kBytes,
                  invalid_argument_error("send on axis '{}': a 1-rank group has no peer {}", options_.name, peer));
  }
  CommHandle recv_async(void*, int64_t bytes, int peer, int) override {
    return record(CommOpKind::kRecv, bytes, DataType::kBytes,
                  invalid_argument_error("recv on axis '{}': a 1-rank group has no peer {}", options_.name, peer));
  }
  StatusOr<std::unique_ptr<Communicator>> split(int color, int, const std::string& name) override {
    if (color < 0) return invalid_argument_error("split: color {} is negative", color);
    CommOptions options = options_;
    options.name = name;
    return make_self_communicator(options);
  }

 private:
  static void copy(const void* in, void* out, int64_t bytes) {
    if (in != out && bytes > 0) std::memmove(out, in, static_cast<size_t>(bytes));
  }
  CommHandle record(CommOpKind op, int64_t bytes, DataType type, Status status) {
    const uint64_t id = recorder_.begin(op, seq_++, -1, bytes, type);
    recorder_.end(id, status);
    return CommHandle(std::move(status));
  }

  CommOptions options_;
  FlightRecorder recorder_;
  uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_self_communicator(CommOptions options) {
  return std::make_unique<SelfCommunicator>(std::move(options));
}

}  // namespace tessera
