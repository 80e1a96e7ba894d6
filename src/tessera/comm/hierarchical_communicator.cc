#include "tessera/comm/hierarchical_communicator.h"

#include <cstring>
#include <deque>
#include <vector>

#include "tessera/comm/comm_factory.h"
#include "tessera/comm/group_communicator.h"

namespace tessera {

namespace {

struct HierOp {
  CommOpKind kind = CommOpKind::kBarrier;
  DataType type = DataType::kBytes;
  ReduceOp reduce = ReduceOp::kSum;
  int root = -1;
  const void* in = nullptr;
  void* out = nullptr;
  int64_t count = 0;
  uint64_t seq = 0, recorder_id = 0;
  int phase = -1;  // -1: not started
  CommHandle current;
  std::vector<char> scratch, gathered;
  bool finished = false;
  Status status;
};

class HierarchicalCommunicator;

class HierPending final : public PendingOp {
 public:
  HierPending(HierarchicalCommunicator* comm, std::shared_ptr<HierOp> op) : comm_(comm), op_(std::move(op)) {}
  bool test() override;
  Status wait() override;

 private:
  HierarchicalCommunicator* comm_;
  std::shared_ptr<HierOp> op_;
};

class HierarchicalCommunicator final : public Communicator {
 public:
  HierarchicalCommunicator(std::unique_ptr<Communicator> group, std::unique_ptr<Communicator> host,
                           std::unique_ptr<Communicator> leaders, HostLayout layout, ShmOptions shm)
      : group_(std::move(group)), host_(std::move(host)), leaders_(std::move(leaders)), layout_(std::move(layout)),
        shm_(shm), recorder_(group_->options().flight_recorder_entries) {}
  ~HierarchicalCommunicator() override {
    while (!queue_.empty()) progress_blocking();
  }

  int rank() const override { return group_->rank(); }
  int size() const override { return group_->size(); }
  std::string backend_name() const override { return "hier"; }
  const CommOptions& options() const override { return group_->options(); }
  const FlightRecorder& flight_recorder() const override { return recorder_; }

  CommHandle all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) override {
    if (Status s = check_reducible(CommOpKind::kAllReduce, type); !s.ok()) return CommHandle(std::move(s));
    return submit({.kind = CommOpKind::kAllReduce, .type = type, .reduce = op, .in = data, .out = data, .count = count});
  }
  CommHandle reduce_scatter_async(const void* in, void* out, int64_t count, DataType type, ReduceOp op) override {
    if (Status s = check_reducible(CommOpKind::kReduceScatter, type); !s.ok()) return CommHandle(std::move(s));
    return submit({.kind = CommOpKind::kReduceScatter, .type = type, .reduce = op, .in = in, .out = out, .count = count});
  }
  CommHandle all_gather_async(const void* in, void* out, int64_t count, DataType type) override {
    return submit({.kind = CommOpKind::kAllGather, .type = type, .in = in, .out = out, .count = count});
  }
  CommHandle broadcast_async(void* data, int64_t bytes, int root) override {
    if (Status s = check_root(root); !s.ok()) return CommHandle(std::move(s));
    return submit({.kind = CommOpKind::kBroadcast, .root = root, .in = data, .out = data, .count = bytes});
  }
  CommHandle barrier_async() override { return submit({.kind = CommOpKind::kBarrier}); }
  CommHandle send_async(const void* data, int64_t bytes, int peer, int tag) override { return group_->send_async(data, bytes, peer, tag); }
  CommHandle recv_async(void* data, int64_t bytes, int peer, int tag) override { return group_->recv_async(data, bytes, peer, tag); }
  StatusOr<std::unique_ptr<Communicator>> split(int color, int key, const std::string& name) override {
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> sub, group_->split(color, key, name));
    return make_axis_communicator(std::move(sub), CommBackend::kAuto, shm_);
  }
  // Collectives copy through the host's shm staging anyway; the host communicator's buffers are not the
  // whole group's, so plain memory it is.

  // Advances the oldest operations as far as they go without blocking.
  void progress() {
    while (!queue_.empty()) {
      HierOp& op = *queue_.front();
      if (op.phase < 0) advance(op);
      if (!op.finished) {
        if (!op.current.test()) return;
        const Status s = op.current.wait();
        if (!s.ok()) {
          finish(op, Status(s.code(), fmt::format("{} #{} on axis '{}' (hier, host {} of {}): {}", comm_op_name(op.kind), op.seq, axis(), layout_.host, layout_.hosts, s.message())));
        } else {
          advance(op);
        }
      }
      if (op.finished) queue_.pop_front();
    }
  }
  void progress_blocking() {
    if (queue_.empty()) return;
    HierOp& op = *queue_.front();
    if (!op.finished && op.phase >= 0) (void)op.current.wait();
    progress();
  }

 private:
  friend class HierPending;

  CommHandle submit(HierOp op) {
    if (op.count < 0) return CommHandle(invalid_argument_error("{} on axis '{}': count {} is negative", comm_op_name(op.kind), axis(), op.count));
    op.seq = seq_++;
    const int64_t E = op.kind == CommOpKind::kBroadcast ? 1 : dtype_size(op.type);
    op.recorder_id = recorder_.begin(op.kind, op.seq, op.root, op.count * E, op.type);
    auto shared = std::make_shared<HierOp>(std::move(op));
    if (!broken_.ok()) {
      finish(*shared, Status(broken_.code(), fmt::format("axis '{}' rank {} is unusable after an earlier error: {}", axis(), rank(), broken_.message())));
    } else {
      queue_.push_back(shared);
    }
    progress();
    return CommHandle(std::make_unique<HierPending>(this, shared));
  }

  void finish(HierOp& op, Status status) {
    if (!status.ok() && broken_.ok()) {
      broken_ = status;
      if (!options().flight_recorder_dir.empty()) {
        recorder_.end(op.recorder_id, status);
        auto path = recorder_.dump(options().flight_recorder_dir, axis(), rank(), size(), "hier", status);
        if (path.ok()) status = Status(status.code(), status.message() + "; flight recorder: " + *path);
        broken_ = status;
      }
    }
    recorder_.end(op.recorder_id, status);
    op.status = std::move(status);
    op.finished = true;
  }

  bool leader() const { return layout_.local_rank == 0; }

  // Starts the next phase of `op` that has work on this rank, or finishes it.
  void advance(HierOp& op) {
    const int64_t E = op.kind == CommOpKind::kBroadcast || op.kind == CommOpKind::kBarrier ? 1 : dtype_size(op.type);
    const int64_t n = op.count, p = size(), L = layout_.local_size, H = layout_.hosts;
    for (;;) {
      ++op.phase;
      CommHandle next;
      bool started = false;
      switch (op.kind) {
        case CommOpKind::kAllReduce:
        case CommOpKind::kReduceScatter: {
          const int64_t total = op.kind == CommOpKind::kAllReduce ? n : n * p;
          void* data = op.out;
          if (op.kind == CommOpKind::kReduceScatter) {
            if (op.phase == 0) {
              op.scratch.resize(static_cast<size_t>(total * E));
              if (total > 0) std::memcpy(op.scratch.data(), op.in, static_cast<size_t>(total * E));
            }
            data = op.scratch.data();
          }
          if (op.phase == 0) next = host_->all_reduce_async(data, total, op.type, op.reduce), started = true;
          if (op.phase == 1 && leader()) next = leaders_->all_reduce_async(data, total, op.type, op.reduce), started = true;
          if (op.phase == 2) next = host_->broadcast_async(data, total * E, 0), started = true;
          if (op.phase == 3 && op.kind == CommOpKind::kReduceScatter && n > 0) {
            std::memcpy(op.out, op.scratch.data() + rank() * n * E, static_cast<size_t>(n * E));
          }
          if (op.phase >= 3) return finish(op, Status());
          break;
        }
        case CommOpKind::kAllGather: {
          if (op.phase == 0) {
            op.scratch.resize(static_cast<size_t>(n * L * E));
            next = host_->all_gather_async(op.in, op.scratch.data(), n, op.type), started = true;
          }
          if (op.phase == 1 && leader()) {
            op.gathered.resize(static_cast<size_t>(n * L * H * E));
            next = leaders_->all_gather_async(op.scratch.data(), op.gathered.data(), n * L, op.type), started = true;
          }
          if (op.phase == 2) {
            if (leader()) {
              // gathered = host blocks in host order, each in local-rank order; out = global rank order.
              std::vector<int64_t> seen(static_cast<size_t>(H), 0);
              for (int q = 0; q < p; ++q) {
                const int h = layout_.host_of_rank[q];
                const int64_t l = seen[h]++;
                if (n > 0) std::memcpy(static_cast<char*>(op.out) + q * n * E, op.gathered.data() + (h * L + l) * n * E, static_cast<size_t>(n * E));
              }
            }
            next = host_->broadcast_async(op.out, n * p * E, 0), started = true;
          }
          if (op.phase >= 3) return finish(op, Status());
          break;
        }
        case CommOpKind::kBroadcast: {
          const int root_host = layout_.host_of_rank[op.root];
          int root_local = 0;
          for (int q = 0; q < op.root; ++q) root_local += layout_.host_of_rank[q] == root_host;
          if (op.phase == 0 && layout_.host == root_host) next = host_->broadcast_async(op.out, n, root_local), started = true;
          if (op.phase == 1 && leader()) next = leaders_->broadcast_async(op.out, n, root_host), started = true;
          if (op.phase == 2 && layout_.host != root_host) next = host_->broadcast_async(op.out, n, 0), started = true;
          if (op.phase >= 3) return finish(op, Status());
          break;
        }
        default: {  // barrier
          if (op.phase == 0 || op.phase == 2) next = host_->barrier_async(), started = true;
          if (op.phase == 1 && leader()) next = leaders_->barrier_async(), started = true;
          if (op.phase >= 3) return finish(op, Status());
          break;
        }
      }
      if (started) {
        op.current = std::move(next);
        return;
      }
    }
  }

  std::unique_ptr<Communicator> group_, host_, leaders_;
  HostLayout layout_;
  ShmOptions shm_;
  FlightRecorder recorder_;
  uint64_t seq_ = 0;
  Status broken_;
  std::deque<std::shared_ptr<HierOp>> queue_;
};

bool HierPending::test() {
  comm_->progress();
  return op_->finished;
}

Status HierPending::wait() {
  Backoff backoff;
  while (!op_->finished) {
    comm_->progress();
    if (!op_->finished) backoff.pause();
  }
  return op_->status;
}

}  // namespace

StatusOr<std::unique_ptr<Communicator>> make_hierarchical_communicator(std::unique_ptr<Communicator> group, const ShmOptions& shm) {
  TESSERA_ASSIGN_OR_RETURN(HostLayout layout, detect_hosts(*group));
  std::vector<int> per_host(static_cast<size_t>(layout.hosts), 0);
  for (int h : layout.host_of_rank) ++per_host[h];
  for (int h = 0; h < layout.hosts; ++h) {
    if (per_host[h] != per_host[0]) {
      return failed_precondition_error("hier on axis '{}': host {} holds {} of its ranks and host 0 holds {}; every host must hold the same number",
                                       group->axis(), h, per_host[h], per_host[0]);
    }
  }
  const std::string name = group->axis();
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host_mpi, group->split(layout.host, group->rank(), name + "/host"));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host, make_shm_communicator(*host_mpi, host_mpi->options(), shm));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> leaders, group->split(layout.local_rank == 0 ? 0 : 1, group->rank(), name + "/leaders"));
  if (layout.local_rank != 0) leaders.reset();
  return std::unique_ptr<Communicator>(std::make_unique<HierarchicalCommunicator>(std::move(group), std::move(host), std::move(leaders), std::move(layout), shm));
}

}  // namespace tessera
