#include "tessera/comm/group_communicator.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <mutex>
#include <thread>

#include "tessera/comm/comm_stall.h"
#include "tessera/comm/reduce_kernels.h"

namespace tessera {

void Backoff::pause() {
  // Spin while a peer on another core is likely to answer within microseconds; then give the core away
  // (yield), and after a while sleep, so a long wait costs its core nothing.
  ++spins_;
  if (spins_ < 1024) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  } else if (spins_ < 1024 + 256) {
    sched_yield();
  } else {
    const timespec nap{0, 20'000};  // 20 µs
    nanosleep(&nap, nullptr);
  }
}

namespace {

// Completion of one queued operation, shared by the progress thread and the handle.
struct OpState {
  std::mutex mutex;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  Status status;
};

class GroupPending final : public PendingOp {
 public:
  explicit GroupPending(std::shared_ptr<OpState> state) : state_(std::move(state)) {}
  bool test() override { return state_->done.load(std::memory_order_acquire); }
  Status wait() override {
    std::unique_lock lock(state_->mutex);
    state_->cv.wait(lock, [&] { return state_->done.load(std::memory_order_acquire); });
    return state_->status;
  }

 private:
  std::shared_ptr<OpState> state_;
};

struct GroupOp {
  CommOpKind kind = CommOpKind::kBarrier;
  DataType type = DataType::kBytes;
  ReduceOp reduce = ReduceOp::kSum;
  int peer = -1;  // p2p partner or broadcast root
  int tag = 0;
  const void* in = nullptr;
  void* out = nullptr;
  int64_t count = 0;  // elements (bytes for broadcast and p2p)
  uint64_t seq = 0;
  uint64_t recorder_id = 0;
  std::shared_ptr<OpState> state;
  // p2p progress
  int64_t chunks_done = 0;
  bool started = false;
  CommClock::time_point deadline;
  // Reported to CommOptions::stall_notices as waiting on peers (so its end is reported too).
  mutable bool stall_reported = false;
};

bool is_p2p(CommOpKind kind) { return kind == CommOpKind::kSend || kind == CommOpKind::kRecv; }

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? "," : "") + std::to_string(ranks[i]);
  return out;
}

class GroupCommunicator final : public Communicator {
 public:
  GroupCommunicator(int rank, int size, std::unique_ptr<GroupTransport> transport, CommOptions options)
      : rank_(rank), size_(size), transport_(std::move(transport)), layout_(transport_->layout()),
        arena_(transport_->arena()), options_(std::move(options)), recorder_(options_.flight_recorder_entries),
        sends_(static_cast<size_t>(size)), recvs_(static_cast<size_t>(size)) {
    worker_ = std::thread([this] { worker_loop(); });
  }
  ~GroupCommunicator() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return transport_->backend_name(); }
  const CommOptions& options() const override { return options_; }
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
    return submit({.kind = CommOpKind::kBroadcast, .peer = root, .in = data, .out = data, .count = bytes});
  }
  CommHandle barrier_async() override { return submit({.kind = CommOpKind::kBarrier}); }
  CommHandle send_async(const void* data, int64_t bytes, int peer, int tag) override {
    if (peer < 0 || peer >= size_ || peer == rank_) return CommHandle(invalid_argument_error("send on axis '{}': peer {} is not another rank of [0, {})", axis(), peer, size_));
    return submit({.kind = CommOpKind::kSend, .peer = peer, .tag = tag, .in = data, .count = bytes});
  }
  CommHandle recv_async(void* data, int64_t bytes, int peer, int tag) override {
    if (peer < 0 || peer >= size_ || peer == rank_) return CommHandle(invalid_argument_error("recv on axis '{}': peer {} is not another rank of [0, {})", axis(), peer, size_));
    return submit({.kind = CommOpKind::kRecv, .peer = peer, .tag = tag, .out = data, .count = bytes});
  }

  StatusOr<std::unique_ptr<Communicator>> split(int color, int key, const std::string& name) override {
    if (color < 0) return invalid_argument_error("split on axis '{}': color {} is negative", axis(), color);
    const int32_t mine[2] = {color, key};
    std::vector<int32_t> all(2 * static_cast<size_t>(size_));
    TESSERA_RETURN_IF_ERROR(all_gather_async(mine, all.data(), 2, DataType::kInt32).wait());
    std::vector<int> members;
    for (int q = 0; q < size_; ++q) {
      if (all[2 * q] == color) members.push_back(q);
    }
    std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return all[2 * a + 1] < all[2 * b + 1]; });
    const int my_index = static_cast<int>(std::find(members.begin(), members.end(), rank_) - members.begin());
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<GroupTransport> sub,
                             transport_->split(members, my_index, split_count_++, CommClock::now() + options_.deadline));
    GroupTransport* sub_transport = sub.get();
    CommOptions options = options_;
    options.name = name;
    auto child = std::make_unique<GroupCommunicator>(my_index, static_cast<int>(members.size()), std::move(sub), options);
    TESSERA_RETURN_IF_ERROR(child->barrier());
    sub_transport->attached();
    return std::unique_ptr<Communicator>(std::move(child));
  }

  StatusOr<CommBuffer> allocate(int64_t bytes) override { return transport_->allocate(bytes); }

 private:
  // A blocking collective runs on the caller's thread when the progress thread is parked with nothing
  // queued (the usual case between buckets): no hand-over to the progress thread and back. The caller is
  // the only thread that submits, so nothing can be queued meanwhile, and the mutex orders this run
  // with the progress thread's before and after.
  Status blocking(CommOpKind kind, const void* in, void* out, int64_t count, DataType type, ReduceOp reduce, int root) override {
    bool idle;
    {
      std::lock_guard lock(mutex_);
      idle = parked_ && queue_.empty();
    }
    if (!idle) return Communicator::blocking(kind, in, out, count, type, reduce, root);
    if (Status s = check_collective(kind, count, type, root); !s.ok()) return s;
    GroupOp op{.kind = kind, .type = kind == CommOpKind::kBroadcast ? DataType::kBytes : type, .reduce = reduce,
               .peer = kind == CommOpKind::kBroadcast ? root : -1, .in = in, .out = out, .count = count};
    op.seq = collective_seq_++;
    op.recorder_id = recorder_.begin(op.kind, op.seq, op.peer, count * (kind == CommOpKind::kBroadcast ? 1 : dtype_size(type)), op.type);
    op.state = std::make_shared<OpState>();
    complete(op, broken_.ok() ? run_collective(op) : unusable());
    return op.state->status;
  }

  // --- Submission (caller's thread) ---
  CommHandle submit(GroupOp op) {
    if (op.count < 0) return CommHandle(invalid_argument_error("{} on axis '{}': count {} is negative", comm_op_name(op.kind), axis(), op.count));
    op.seq = is_p2p(op.kind) ? p2p_seq_++ : collective_seq_++;
    const int64_t bytes = op.count * (is_p2p(op.kind) || op.kind == CommOpKind::kBroadcast ? 1 : dtype_size(op.type));
    op.recorder_id = recorder_.begin(op.kind, op.seq, op.peer, bytes, op.type);
    op.state = std::make_shared<OpState>();
    auto pending = std::make_unique<GroupPending>(op.state);
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(op));
    }
    cv_.notify_one();
    return CommHandle(std::move(pending));
  }

  // --- Progress thread ---
  void worker_loop() {
    Backoff idle;
    for (;;) {
      std::optional<GroupOp> next;
      {
        std::unique_lock lock(mutex_);
        if (queue_.empty() && p2p_active_ == 0) {
          parked_ = true;  // from here until woken, the caller may run a blocking collective itself
          cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
          parked_ = false;
        }
        if (queue_.empty() && p2p_active_ == 0 && stop_) return;
        if (!queue_.empty()) {
          next = std::move(queue_.front());
          queue_.pop_front();
        }
      }
      if (next) {
        idle.reset();
        if (!broken_.ok()) {
          complete(*next, unusable());
        } else if (is_p2p(next->kind)) {
          next->deadline = CommClock::now() + options_.deadline;
          auto& lane = next->kind == CommOpKind::kSend ? sends_[next->peer] : recvs_[next->peer];
          lane.push_back(std::move(*next));
          ++p2p_active_;
        } else {
          complete(*next, run_collective(*next));
        }
      }
      if (progress_p2p()) idle.reset();
      if (!next && p2p_active_ > 0) idle.pause();
    }
  }

  Status unusable() const {
    return Status(broken_.code(), fmt::format("axis '{}' rank {} is unusable after an earlier error: {}", axis(), rank_, broken_.message()));
  }

  void complete(GroupOp& op, Status status) {
    if (!status.ok() && broken_.ok()) {
      broken_ = status;
      if (!options_.flight_recorder_dir.empty()) {
        recorder_.end(op.recorder_id, status);
        auto path = recorder_.dump(options_.flight_recorder_dir, axis(), rank_, size_, backend_name(), status);
        status = Status(status.code(), status.message() + (path.ok() ? "; flight recorder: " + *path
                                                                     : "; " + path.status().message()));
        broken_ = status;
      }
    }
    recorder_.end(op.recorder_id, status);
    if (op.stall_reported) {
      options_.stall_notices->report(CommStall{.axis = axis(), .op = op.kind, .seq = op.seq, .missing = {}, .ended = true});
    }
    {
      std::lock_guard lock(op.state->mutex);
      op.state->status = std::move(status);
      op.state->done.store(true, std::memory_order_release);
    }
    op.state->cv.notify_all();
  }

  RankControl* control(int q) const { return layout_.control(arena_, q); }

  // What peer q is doing, for error messages.
  std::string peer_activity(int q) const {
    const RankControl* c = control(q);
    const uint64_t entered = c->entered.value.load(std::memory_order_acquire);
    const uint64_t done = c->done.value.load(std::memory_order_acquire);
    if (entered == 0) return fmt::format("rank {} has entered no collective", q);
    const OpDescriptor d = c->desc;
    return fmt::format("rank {} is {} {} #{}", q, done >= entered ? "past" : "in",
                       comm_op_name(static_cast<CommOpKind>(d.op)), d.seq);
  }

  // Waits until counter `field` of every rank reaches `target`; progresses send/recv meanwhile.
  Status wait_all(ArenaCounter RankControl::*field, uint64_t target, const GroupOp& op, CommClock::time_point deadline,
                  const char* phase) {
    Backoff backoff;
    const CommClock::time_point stall_at = deadline - options_.deadline + options_.stall_notice_after;
    for (int q = 0; q < size_; ++q) {
      while ((control(q)->*field).value.load(std::memory_order_acquire) < target) {
        const CommClock::time_point now = CommClock::now();
        if (now > deadline) return missing_error(field, target, op, phase);
        if (now > stall_at) report_stall(op, missing_ranks(field, target));
        progress_p2p();
        backoff.pause();
      }
    }
    return Status();
  }

  // The ranks whose counter `field` has not reached `target`.
  std::vector<int> missing_ranks(ArenaCounter RankControl::*field, uint64_t target) const {
    std::vector<int> missing;
    for (int q = 0; q < size_; ++q) {
      if ((control(q)->*field).value.load(std::memory_order_acquire) < target) missing.push_back(q);
    }
    return missing;
  }

  // Tells CommOptions::stall_notices, once per operation, that `op` waits on `missing` (comm_stall.h).
  void report_stall(const GroupOp& op, std::vector<int> missing) const {
    if (op.stall_reported || !options_.stall_notices) return;
    op.stall_reported = true;
    options_.stall_notices->report(CommStall{.axis = axis(), .op = op.kind, .seq = op.seq, .missing = std::move(missing), .ended = false});
  }

  Status missing_error(ArenaCounter RankControl::*field, uint64_t target, const GroupOp& op, const char* phase) const {
    const std::vector<int> missing = missing_ranks(field, target);
    std::string detail;
    for (const int q : missing) detail += "; " + peer_activity(q);
    return deadline_exceeded_error("{} #{} on axis '{}' (rank {} of {}, {}): rank(s) {} did not {} within the {} ms deadline{}",
                                   comm_op_name(op.kind), op.seq, axis(), rank_, size_, backend_name(),
                                   rank_list(missing), phase, options_.deadline.count(), detail);
  }

  static std::string describe(const OpDescriptor& d) {
    const auto kind = static_cast<CommOpKind>(d.op);
    std::string text = fmt::format("{} #{} (count {} {}", comm_op_name(kind), d.seq, d.count, dtype_name(static_cast<DataType>(d.dtype)));
    if (kind == CommOpKind::kAllReduce || kind == CommOpKind::kReduceScatter) text += fmt::format(" {}", reduce_op_name(static_cast<ReduceOp>(d.reduce)));
    if (kind == CommOpKind::kBroadcast) text += fmt::format(" root {}", d.root);
    return text + ")";
  }

  static bool same_call(const OpDescriptor& a, const OpDescriptor& b) {
    return a.seq == b.seq && a.op == b.op && a.dtype == b.dtype && a.count == b.count && a.reduce == b.reduce && a.root == b.root;
  }

  // --- Collectives ---
  Status run_collective(const GroupOp& op) {
    const CommClock::time_point deadline = CommClock::now() + options_.deadline;
    const int64_t E = op.kind == CommOpKind::kBroadcast || op.kind == CommOpKind::kBarrier ? 1 : dtype_size(op.type);
    // This rank's buffer that peers may reach directly.
    const void* shared = op.kind == CommOpKind::kAllReduce || op.kind == CommOpKind::kBroadcast ? op.out : op.in;
    const int64_t shared_bytes = op.kind == CommOpKind::kReduceScatter ? op.count * E * size_ : op.count * E;
    GroupTransport::Location where;
    const bool zero_copy = op.kind != CommOpKind::kBarrier && op.count > 0 && transport_->locate(shared, shared_bytes, &where);

    RankControl* me = control(rank_);
    me->desc = OpDescriptor{.seq = op.seq, .op = static_cast<uint32_t>(op.kind), .dtype = static_cast<uint32_t>(op.type),
                            .reduce = static_cast<uint32_t>(op.reduce), .root = op.peer, .count = op.count,
                            .zero_copy = zero_copy ? 1u : 0u, .segment = where.segment, .offset = where.offset};
    me->entered.value.store(op.seq + 1, std::memory_order_release);
    TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::entered, op.seq + 1, op, deadline, "arrive"));

    // Every rank must have called the same collective; every rank sees the same descriptors, so every
    // rank reports the same mismatch.
    std::vector<OpDescriptor> descs(static_cast<size_t>(size_));
    for (int q = 0; q < size_; ++q) descs[q] = control(q)->desc;
    for (int q = 0; q < size_; ++q) {
      if (!same_call(descs[q], descs[0])) {
        return failed_precondition_error(
            "{} #{} on axis '{}': rank {} called {} but rank 0 called {}; every rank must call the same collectives in the same order",
            comm_op_name(op.kind), op.seq, axis(), q, describe(descs[q]), describe(descs[0]));
      }
    }

    // Where each rank's data for this collective is: its buffer (zero copy) or its staging slots.
    std::vector<char*> base(static_cast<size_t>(size_), nullptr);
    bool all_zero_copy = true;
    for (int q = 0; q < size_; ++q) {
      if (op.kind == CommOpKind::kBroadcast && q != op.peer) continue;
      if (!descs[q].zero_copy) {
        all_zero_copy = false;
        continue;
      }
      if (q == rank_) {
        base[q] = static_cast<char*>(const_cast<void*>(shared));
      } else {
        TESSERA_ASSIGN_OR_RETURN(base[q], transport_->resolve(q, {descs[q].segment, descs[q].offset}));
      }
    }

    // Block geometry: elements per block, so that one rank's share of a block fits a staging slot.
    const int64_t n = op.count;
    int64_t block = n;
    if (!all_zero_copy) {
      const int64_t per_slot = layout_.block_bytes() / E;
      block = std::max<int64_t>(1, op.kind == CommOpKind::kReduceScatter ? per_slot / size_ : per_slot);
    }
    const int64_t blocks = n == 0 || op.kind == CommOpKind::kBarrier ? 0 : (n + block - 1) / block;
    const bool stage_in = !zero_copy && (op.kind != CommOpKind::kBroadcast || rank_ == op.peer);
    const uint64_t S = static_cast<uint64_t>(layout_.slots());

    for (int64_t k = 0; k < blocks; ++k) {
      const uint64_t g = next_block_++;
      const uint64_t slot = g % S;
      const int64_t b0 = k * block;
      const int64_t m = std::min(block, n - b0);
      auto at = [&](int q, int64_t element_offset_in_zero_copy, int64_t element_offset_in_stage) -> char* {
        return descs[q].zero_copy ? base[q] + element_offset_in_zero_copy * E
                                  : layout_.stage(arena_, q, slot) + element_offset_in_stage * E;
      };
      if (stage_in) {
        if (g + 1 > S) TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::consumed, g + 1 - S, op, deadline, "free a staging slot"));
        char* stage = layout_.stage(arena_, rank_, slot);
        const char* in = static_cast<const char*>(shared);
        if (op.kind == CommOpKind::kReduceScatter) {
          for (int d = 0; d < size_; ++d) std::memcpy(stage + d * m * E, in + (d * n + b0) * E, static_cast<size_t>(m * E));
        } else {
          std::memcpy(stage, in + b0 * E, static_cast<size_t>(m * E));
        }
      }
      me->arrived.value.store(g + 1, std::memory_order_release);
      TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::arrived, g + 1, op, deadline, "arrive"));

      switch (op.kind) {
        case CommOpKind::kAllReduce: {
          // One writer per slice: a rank reduces elements [lo, hi) of the block over all ranks, in rank
          // order, and writes the result into every rank's copy of that slice. In place (every buffer
          // shared), the slices are chunks that ranks claim until none is left, so a rank the scheduler
          // delays leaves its share to the others; else rank r takes the r-th of p equal slices.
          std::vector<char*> parts(static_cast<size_t>(size_));
          if (all_zero_copy) {
            reduce_claimed_chunks(op, base, b0, m, E, parts);
          } else {
            const int64_t lo = m * rank_ / size_, hi = m * (rank_ + 1) / size_;
            for (int q = 0; q < size_; ++q) parts[q] = at(q, b0 + lo, lo);
            reduce_into(op.type, op.reduce, parts.data(), size_, parts.data(), size_, hi - lo);
          }
          me->reduced.value.store(g + 1, std::memory_order_release);
          TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::reduced, g + 1, op, deadline, "finish reducing its slice"));
          if (!zero_copy) std::memcpy(static_cast<char*>(op.out) + b0 * E, layout_.stage(arena_, rank_, slot), static_cast<size_t>(m * E));
          break;
        }
        case CommOpKind::kReduceScatter: {
          std::vector<char*> parts(static_cast<size_t>(size_));
          for (int q = 0; q < size_; ++q) parts[q] = at(q, rank_ * n + b0, rank_ * m);
          char* out = static_cast<char*>(op.out) + b0 * E;
          reduce_into(op.type, op.reduce, parts.data(), size_, &out, 1, m);
          break;
        }
        case CommOpKind::kAllGather:
          for (int q = 0; q < size_; ++q) {
            char* dst = static_cast<char*>(op.out) + (q * n + b0) * E;
            const char* src = at(q, b0, 0);
            if (dst != src) std::memcpy(dst, src, static_cast<size_t>(m * E));
          }
          break;
        case CommOpKind::kBroadcast:
          if (rank_ != op.peer) std::memcpy(static_cast<char*>(op.out) + b0, at(op.peer, b0, 0), static_cast<size_t>(m));
          break;
        default:
          break;
      }
      me->consumed.value.store(g + 1, std::memory_order_release);
    }
    // Peers read (and for all-reduce write) a zero-copy buffer in place: it stays theirs until they are done.
    if (zero_copy && blocks > 0 && op.kind != CommOpKind::kAllReduce) {
      TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::consumed, next_block_, op, deadline, "finish reading this rank's buffer"));
    }
    me->done.value.store(op.seq + 1, std::memory_order_release);
    // With no blocks, nothing else orders this collective before the next one: wait for everyone.
    if (blocks == 0) TESSERA_RETURN_IF_ERROR(wait_all(&RankControl::done, op.seq + 1, op, deadline, "finish"));
    return Status();
  }

  // The in-place all-reduce of elements [b0, b0 + m) of every rank's buffer (`base`), in chunks claimed
  // from the arena's ticket counter. Each rank claims until its ticket is past the last chunk, so every rank
  // takes exactly one ticket too many, and the next all-reduce starts `chunks + size_` tickets later on every
  // rank alike; no rank can take a ticket of the next all-reduce before all have taken their last of this
  // one, as the caller's "reduced" wait separates them. The sum of a chunk is the same whoever computes it
  // (rank order), so results do not depend on who claimed what.
  void reduce_claimed_chunks(const GroupOp& op, const std::vector<char*>& base, int64_t b0, int64_t m, int64_t E,
                             std::vector<char*>& parts) {
    // ~32 chunks per rank, 64 KiB to 1 MiB of fp32 each, a whole number of 64-byte lines.
    const int64_t chunk = std::clamp<int64_t>(m / (32 * size_), int64_t{16384}, int64_t{262144}) / 16 * 16;
    const uint64_t chunks = static_cast<uint64_t>((m + chunk - 1) / chunk);
    std::atomic<uint64_t>& tickets = layout_.header(arena_)->chunk_tickets.value;
    for (;;) {
      const uint64_t ticket = tickets.fetch_add(1, std::memory_order_relaxed) - chunk_ticket_base_;
      if (ticket >= chunks) break;
      const int64_t lo = static_cast<int64_t>(ticket) * chunk, len = std::min(chunk, m - lo);
      for (int q = 0; q < size_; ++q) parts[q] = base[q] + (b0 + lo) * E;
      reduce_into(op.type, op.reduce, parts.data(), size_, parts.data(), size_, len);
    }
    chunk_ticket_base_ += chunks + static_cast<uint64_t>(size_);
  }

  // --- Point to point ---
  // Progresses the oldest send and receive per peer; completes those that finish. True if anything moved.
  bool progress_p2p() {
    if (p2p_active_ == 0) return false;
    bool moved = false;
    for (int q = 0; q < size_; ++q) {
      for (auto* lane : {&sends_[q], &recvs_[q]}) {
        while (!lane->empty()) {
          GroupOp& op = lane->front();
          Status status;
          const int64_t before = op.chunks_done;
          const bool finished = op.kind == CommOpKind::kSend ? progress_send(op, &status) : progress_recv(op, &status);
          moved = moved || op.chunks_done != before;
          if (!finished && status.ok() && CommClock::now() > op.deadline - options_.deadline + options_.stall_notice_after) {
            report_stall(op, {q});
          }
          if (!finished && status.ok() && CommClock::now() > op.deadline) {
            status = deadline_exceeded_error(
                "{} #{} {} rank {} ({} bytes, tag {}) on axis '{}' (rank {} of {}, {}): rank {} did not {} it within the {} ms deadline; {}",
                comm_op_name(op.kind), op.seq, op.kind == CommOpKind::kSend ? "to" : "from", q, op.count, op.tag, axis(),
                rank_, size_, backend_name(), q, op.kind == CommOpKind::kSend ? "receive" : "send",
                options_.deadline.count(), peer_activity(q));
          }
          if (!finished && status.ok()) break;
          GroupOp done = std::move(op);
          lane->pop_front();
          --p2p_active_;
          complete(done, status);
          moved = true;
        }
      }
    }
    return moved;
  }

  int64_t chunks_of(int64_t bytes) const {
    return std::max<int64_t>(1, (bytes + layout_.p2p_slot_bytes() - 1) / layout_.p2p_slot_bytes());
  }

  bool progress_send(GroupOp& op, Status*) {
    PairChannel* ch = layout_.channel(arena_, rank_, op.peer);
    const int64_t total = chunks_of(op.count);
    while (op.chunks_done < total) {
      const uint64_t c = ch->sent.value.load(std::memory_order_relaxed);
      if (c - ch->received.value.load(std::memory_order_acquire) >= kP2pSlots) return false;
      const int64_t offset = op.chunks_done * layout_.p2p_slot_bytes();
      const int64_t len = std::min(layout_.p2p_slot_bytes(), op.count - offset);
      ch->headers[c % kP2pSlots] = P2pSlotHeader{.tag = static_cast<uint64_t>(op.tag), .message_bytes = static_cast<uint64_t>(op.count),
                                                 .chunk_bytes = static_cast<uint64_t>(len)};
      if (len > 0) std::memcpy(layout_.channel_data(arena_, rank_, op.peer, c % kP2pSlots), static_cast<const char*>(op.in) + offset, static_cast<size_t>(len));
      ch->sent.value.store(c + 1, std::memory_order_release);
      ++op.chunks_done;
    }
    return true;
  }

  bool progress_recv(GroupOp& op, Status* status) {
    PairChannel* ch = layout_.channel(arena_, op.peer, rank_);
    const int64_t total = chunks_of(op.count);
    while (op.chunks_done < total) {
      const uint64_t c = ch->received.value.load(std::memory_order_relaxed);
      if (ch->sent.value.load(std::memory_order_acquire) <= c) return false;
      const P2pSlotHeader header = ch->headers[c % kP2pSlots];
      if (op.chunks_done == 0 && (header.tag != static_cast<uint64_t>(op.tag) || header.message_bytes != static_cast<uint64_t>(op.count))) {
        *status = failed_precondition_error(
            "recv #{} from rank {} on axis '{}' (rank {}): expected {} bytes with tag {}, but rank {} sent {} bytes with tag {}",
            op.seq, op.peer, axis(), rank_, op.count, op.tag, op.peer, header.message_bytes, static_cast<int64_t>(header.tag));
        return false;
      }
      const int64_t offset = op.chunks_done * layout_.p2p_slot_bytes();
      if (header.chunk_bytes > 0) std::memcpy(static_cast<char*>(op.out) + offset, layout_.channel_data(arena_, op.peer, rank_, c % kP2pSlots), header.chunk_bytes);
      ch->received.value.store(c + 1, std::memory_order_release);
      ++op.chunks_done;
    }
    return true;
  }

  const int rank_, size_;
  std::unique_ptr<GroupTransport> transport_;
  const ArenaLayout layout_;
  char* const arena_;
  const CommOptions options_;
  FlightRecorder recorder_;

  // Caller's thread.
  uint64_t collective_seq_ = 0, p2p_seq_ = 0, split_count_ = 0;

  // Shared between the caller and the progress thread.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<GroupOp> queue_;
  bool stop_ = false;
  bool parked_ = false;  // the progress thread waits for work (and touches nothing else)

  // Progress thread only.
  uint64_t next_block_ = 0;
  uint64_t chunk_ticket_base_ = 0;  // the arena's chunk_tickets value where the next in-place all-reduce starts
  Status broken_;
  std::vector<std::deque<GroupOp>> sends_, recvs_;
  int64_t p2p_active_ = 0;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<Communicator> make_group_communicator(int rank, int size, std::unique_ptr<GroupTransport> transport,
                                                      CommOptions options) {
  return std::make_unique<GroupCommunicator>(rank, size, std::move(transport), std::move(options));
}

}  // namespace tessera
