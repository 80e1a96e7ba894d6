#include "tessera/comm/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <climits>
#include <cstdlib>
#include <utility>
#include <vector>

#include "tessera/comm/comm_stall.h"
#include "tessera/comm/group_communicator.h"

namespace tessera {

namespace {

// Large all-reduces and broadcasts are split into pieces of this many bytes: on this machine one 256 MiB
// MPI_Allreduce runs at ~1.6 GB/s and the same bytes in 4 MiB calls at ~4.9 GB/s (DESIGN.md).
constexpr int64_t kChunkBytes = int64_t{4} << 20;
// Blocking collectives up to this size move their data by nonblocking MPI under the deadline; larger ones by
// MPI's faster blocking call (MpiCommunicator::blocking).
constexpr int64_t kBlockingDataBytes = int64_t{1} << 20;
constexpr int kQueryTag = 1, kReplyTag = 2;

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  return MPI_SUM;
}

MPI_Datatype to_mpi(DataType type) {
  switch (type) {
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
    case DataType::kInt32: return MPI_INT32_T;
    case DataType::kInt64: return MPI_INT64_T;
    case DataType::kUint64: return MPI_UINT64_T;
    case DataType::kBytes: return MPI_BYTE;
  }
  return MPI_BYTE;
}

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

// A collective's descriptor as every rank all-gathers it: {seq, op, dtype, reduce, count, root}.
constexpr int kDescWords = 6;

class MpiCommunicator;

// One operation in flight: its MPI requests and, for collectives, the descriptor check.
class MpiPending final : public PendingOp {
 public:
  MpiPending(MpiCommunicator* comm, CommOpKind kind, uint64_t seq, int peer, int tag, int64_t bytes, uint64_t recorder_id)
      : comm_(comm), kind_(kind), seq_(seq), peer_(peer), tag_(tag), bytes_(bytes), recorder_id_(recorder_id) {}
  ~MpiPending() override;
  bool test() override;
  Status wait() override;

  std::vector<MPI_Request> requests;        // data (and check) requests, completed in any order
  std::vector<int64_t> my_desc, all_desc;   // empty for point-to-point
  void* recv_buffer = nullptr;              // recv: to check the size that arrived
  MPI_Status recv_status{};
  CommClock::time_point deadline;
  bool finished = false;
  bool checked = false;
  // Blocking collectives wait here only until every rank has arrived (the descriptor gather) and then
  // run MPI's blocking call; `arrived` says the wait ended that way.
  bool arrival_only = false;
  bool arrived = false;
  bool stall_reported = false;  // reported to CommOptions::stall_notices (so its end is reported too)
  Status status;

 private:
  friend class MpiCommunicator;
  void finish(Status s);
  Status check_descriptors() const;
  MpiCommunicator* comm_;
  CommOpKind kind_;
  uint64_t seq_;
  int peer_, tag_;
  int64_t bytes_;
  uint64_t recorder_id_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, CommOptions options)
      : comm_(comm), options_(std::move(options)), recorder_(options_.flight_recorder_entries) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // Errors come back as codes (and then Status) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_dup(comm_, &control_);
    MPI_Comm_set_errhandler(control_, MPI_ERRORS_RETURN);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    // Collectives abandoned at a deadline may still complete (a late peer arrives): wait for them up to
    // one more deadline. Requests still active then can be neither freed nor cancelled, and MPI keeps
    // progressing them, so the MPI communicators are left allocated rather than freed under them (their
    // buffers stay MPI's too: after a deadline on mpi the job should end, as tools/tessera.cc does).
    const auto until = CommClock::now() + options_.deadline;
    bool pending = false;
    for (MPI_Request& r : abandoned_) {
      Backoff backoff;
      int flag = 0;
      while (r != MPI_REQUEST_NULL && !flag && CommClock::now() < until) {
        MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
        if (!flag) backoff.pause();
      }
      pending = pending || (r != MPI_REQUEST_NULL && !flag);
    }
    while (!asks_.empty() && CommClock::now() < until) answer_queries();  // reaps census sends
    if (pending || !asks_.empty()) {
      // Leave the communicators and the query buffers to MPI (see above).
      new std::deque<std::array<int64_t, 2>>(std::move(queries_));  // NOLINT: deliberately never freed
      return;
    }
    MPI_Comm_free(&control_);
    MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }
  const CommOptions& options() const override { return options_; }
  const FlightRecorder& flight_recorder() const override { return recorder_; }
  MPI_Comm comm() const { return comm_; }

  CommHandle all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) override {
    if (Status s = check_reducible(CommOpKind::kAllReduce, type); !s.ok()) return CommHandle(std::move(s));
    auto p = begin_collective(CommOpKind::kAllReduce, type, op, count, -1);
    if (!p) return broken_handle();
    issue_data(*p, CommOpKind::kAllReduce, data, data, count, type, op, -1);
    return CommHandle(std::move(p));
  }
  CommHandle reduce_scatter_async(const void* in, void* out, int64_t count, DataType type, ReduceOp op) override {
    if (Status s = check_reducible(CommOpKind::kReduceScatter, type); !s.ok()) return CommHandle(std::move(s));
    if (count > INT_MAX) return CommHandle(too_large("reduce_scatter", count));
    auto p = begin_collective(CommOpKind::kReduceScatter, type, op, count, -1);
    if (!p) return broken_handle();
    issue_data(*p, CommOpKind::kReduceScatter, in, out, count, type, op, -1);
    return CommHandle(std::move(p));
  }
  CommHandle all_gather_async(const void* in, void* out, int64_t count, DataType type) override {
    if (count > INT_MAX) return CommHandle(too_large("all_gather", count));
    auto p = begin_collective(CommOpKind::kAllGather, type, ReduceOp::kSum, count, -1);
    if (!p) return broken_handle();
    issue_data(*p, CommOpKind::kAllGather, in, out, count, type, ReduceOp::kSum, -1);
    return CommHandle(std::move(p));
  }
  CommHandle broadcast_async(void* data, int64_t bytes, int root) override {
    if (Status s = check_root(root); !s.ok()) return CommHandle(std::move(s));
    auto p = begin_collective(CommOpKind::kBroadcast, DataType::kBytes, ReduceOp::kSum, bytes, root);
    if (!p) return broken_handle();
    issue_data(*p, CommOpKind::kBroadcast, data, data, bytes, DataType::kBytes, ReduceOp::kSum, root);
    return CommHandle(std::move(p));
  }
  CommHandle barrier_async() override {
    // The descriptor all-gather is itself a barrier.
    auto p = begin_collective(CommOpKind::kBarrier, DataType::kBytes, ReduceOp::kSum, 0, -1);
    if (!p) return broken_handle();
    return CommHandle(std::move(p));
  }
  CommHandle send_async(const void* data, int64_t bytes, int peer, int tag) override {
    if (Status s = check_p2p("send", bytes, peer, tag); !s.ok()) return CommHandle(s);
    auto p = begin_p2p(CommOpKind::kSend, peer, tag, bytes);
    if (!p) return broken_handle();
    issue(*p, MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, peer, tag, comm_, next(*p)), "MPI_Isend");
    return CommHandle(std::move(p));
  }
  CommHandle recv_async(void* data, int64_t bytes, int peer, int tag) override {
    if (Status s = check_p2p("recv", bytes, peer, tag); !s.ok()) return CommHandle(s);
    auto p = begin_p2p(CommOpKind::kRecv, peer, tag, bytes);
    if (!p) return broken_handle();
    p->recv_buffer = data;
    issue(*p, MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, peer, tag, comm_, next(*p)), "MPI_Irecv");
    return CommHandle(std::move(p));
  }

  StatusOr<std::unique_ptr<Communicator>> split(int color, int key, const std::string& name) override {
    if (color < 0) return invalid_argument_error("split on axis '{}': color {} is negative", axis(), color);
    // The all-gather (with its deadline) makes sure every rank is here before the blocking MPI_Comm_split.
    const int32_t mine[2] = {color, key};
    std::vector<int32_t> all(2 * static_cast<size_t>(size_));
    TESSERA_RETURN_IF_ERROR(all_gather_async(mine, all.data(), 2, DataType::kInt32).wait());
    MPI_Comm sub;
    const int rc = MPI_Comm_split(comm_, color, key, &sub);
    if (rc != MPI_SUCCESS) return unavailable_error("split on axis '{}': MPI_Comm_split failed: {}", axis(), mpi_error_text(rc));
    CommOptions options = options_;
    options.name = name;
    return std::unique_ptr<Communicator>(std::make_unique<MpiCommunicator>(sub, options));
  }

  // A blocking collective: the descriptor gather (with the deadline, the census and the mismatch check)
  // proves that every rank has arrived at this very collective. Then a small one (≤ kBlockingDataBytes: every
  // per-step control collective) moves its data by MPI's nonblocking call under a second deadline, and a large
  // one by MPI's blocking call (faster; see blocking_data_phase). With the blocking call for all sizes, a peer
  // stopped between arriving and finishing held it forever: a test job's rank 0 spun for ten minutes in
  // MPI_Allreduce after its peer's SIGSTOP. A large blocking collective keeps that risk (a rank that dies in
  // it ends the job; one that stops is left to the supervisor's heartbeat timeout).
  Status blocking(CommOpKind kind, const void* in, void* out, int64_t count, DataType type, ReduceOp op, int root) override {
    if (Status s = check_collective(kind, count, type, root); !s.ok()) return s;
    if ((kind == CommOpKind::kReduceScatter || kind == CommOpKind::kAllGather) && count > INT_MAX) return too_large(comm_op_name(kind), count);
    auto p = begin_collective(kind, kind == CommOpKind::kBroadcast ? DataType::kBytes : type, op, count, kind == CommOpKind::kBroadcast ? root : -1);
    if (!p) return broken_handle().wait();
    p->arrival_only = true;
    const Status arrival = p->wait();
    if (p->finished) return arrival;  // the deadline, a mismatch or an MPI error, already recorded
    // Arriving late can still complete the gather (the peers' abandoned requests match it); their census
    // queries say they gave up, and the blocking call would then wait for them forever.
    answer_queries();
    if (gave_up_seq_ >= static_cast<int64_t>(p->seq_)) {
      finished(*p, deadline_exceeded_error("{} #{} on axis '{}' (rank {} of {}, mpi): rank {} gave up on it at its deadline before this rank arrived",
                                           comm_op_name(kind), p->seq_, axis(), rank_, size_, gave_up_rank_));
      return p->status;
    }
    const int64_t E = dtype_size(type);
    if (count * E > kBlockingDataBytes) return blocking_data_phase(*p, kind, in, out, count, type, op, root);
    // The data phase of a small collective (every per-step one: losses, norms, timings, flags): MPI's
    // nonblocking calls, waited for under a fresh deadline — a peer stopped (SIGSTOP, a hung host) after it
    // arrived would hold MPI's blocking call forever.
    p->arrival_only = false;
    p->deadline = CommClock::now() + options_.deadline;
    issue_data(*p, kind, in, out, count, kind == CommOpKind::kBroadcast ? DataType::kBytes : type, op, root);
    return p->wait();
  }

  // Issues a collective's nonblocking data requests on `p` (after its descriptor gather): all-reduce and
  // broadcast in kChunkBytes pieces, reduce-scatter and all-gather whole (in place where `in` is `out`'s
  // piece). `count` is in elements of `type` (bytes for broadcast). A failed issue is recorded in `p`.
  void issue_data(MpiPending& p, CommOpKind kind, const void* in, void* out, int64_t count, DataType type, ReduceOp op,
                  int root) {
    const int64_t E = dtype_size(type);
    if (kind == CommOpKind::kAllReduce || kind == CommOpKind::kBroadcast) {
      const int64_t chunk = kChunkBytes / E;
      auto* bytes = static_cast<char*>(out);
      for (int64_t done = 0; done < count; done += chunk) {
        const int n = static_cast<int>(std::min(chunk, count - done));
        const bool issued =
            kind == CommOpKind::kAllReduce
                ? issue(p, MPI_Iallreduce(MPI_IN_PLACE, bytes + done * E, n, to_mpi(type), to_mpi(op), comm_, next(p)), "MPI_Iallreduce")
                : issue(p, MPI_Ibcast(bytes + done * E, n, MPI_BYTE, root, comm_, next(p)), "MPI_Ibcast");
        if (!issued) break;
      }
    } else if (kind == CommOpKind::kReduceScatter) {
      issue(p, MPI_Ireduce_scatter_block(in == out ? MPI_IN_PLACE : in, out, static_cast<int>(count), to_mpi(type), to_mpi(op), comm_, next(p)),
            "MPI_Ireduce_scatter_block");
    } else {
      const bool in_place = static_cast<const char*>(in) == static_cast<char*>(out) + rank_ * count * E;
      issue(p, MPI_Iallgather(in_place ? MPI_IN_PLACE : in, static_cast<int>(count), to_mpi(type), out, static_cast<int>(count), to_mpi(type), comm_, next(p)),
            "MPI_Iallgather");
    }
  }

  // The data phase of a large blocking collective: MPI's own blocking call (all-reduce and broadcast in
  // 4 MiB pieces), whose tuned algorithms are much faster than the nonblocking ones.
  Status blocking_data_phase(MpiPending& p, CommOpKind kind, const void* in, void* out, int64_t count, DataType type,
                             ReduceOp op, int root) {
    const int64_t E = dtype_size(type);
    int rc = MPI_SUCCESS;
    const char* what = "";
    if (kind == CommOpKind::kAllReduce || kind == CommOpKind::kBroadcast) {
      const int64_t chunk = kChunkBytes / E;
      for (int64_t done = 0; done < count && rc == MPI_SUCCESS; done += chunk) {
        const int n = static_cast<int>(std::min(chunk, count - done));
        char* at = static_cast<char*>(out) + done * E;
        if (kind == CommOpKind::kAllReduce) {
          what = "MPI_Allreduce";
          rc = MPI_Allreduce(MPI_IN_PLACE, at, n, to_mpi(type), to_mpi(op), comm_);
        } else {
          what = "MPI_Bcast";
          rc = MPI_Bcast(at, n, MPI_BYTE, root, comm_);
        }
      }
    } else if (kind == CommOpKind::kReduceScatter) {
      what = "MPI_Reduce_scatter_block";
      rc = MPI_Reduce_scatter_block(in == out ? MPI_IN_PLACE : in, out, static_cast<int>(count), to_mpi(type), to_mpi(op), comm_);
    } else {
      what = "MPI_Allgather";
      const bool in_place = static_cast<const char*>(in) == static_cast<char*>(out) + rank_ * count * E;
      rc = MPI_Allgather(in_place ? MPI_IN_PLACE : in, static_cast<int>(count), to_mpi(type), out, static_cast<int>(count), to_mpi(type), comm_);
    }
    finished(p, rc == MPI_SUCCESS ? Status()
                                  : unavailable_error("{} #{} on axis '{}' rank {}: {} failed: {}", comm_op_name(kind), p.seq_,
                                                      axis(), rank_, what, mpi_error_text(rc)));
    return p.status;
  }

  // --- used by MpiPending ---
  // Answers peers that ask where this rank is (they hit a deadline). Called from every wait loop.
  void answer_queries() {
    std::erase_if(asks_, [](MPI_Request& r) {
      int flag = 0;
      MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
      return flag != 0;
    });
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, control_, &flag, &st) != MPI_SUCCESS || !flag) return;
      int64_t query[2];
      MPI_Recv(query, 2, MPI_INT64_T, st.MPI_SOURCE, kQueryTag, control_, MPI_STATUS_IGNORE);
      // A peer asks at its deadline, just before it fails that operation: remember the collective.
      const auto kind = static_cast<CommOpKind>(query[1]);
      if (kind != CommOpKind::kSend && kind != CommOpKind::kRecv && query[0] >= gave_up_seq_) {
        gave_up_seq_ = query[0];
        gave_up_rank_ = st.MPI_SOURCE;
      }
      replies_.push_back({last_collective_seq_, last_collective_kind_, completed_collectives_});
      MPI_Request r;
      MPI_Isend(replies_.back().data(), 3, MPI_INT64_T, st.MPI_SOURCE, kReplyTag, control_, &r);
      MPI_Request_free(&r);
      if (replies_.size() > 64) replies_.pop_front();  // long since delivered (eager, 24 bytes)
    }
  }

  // Asks every peer where it is and names those that have not reached collective `seq` (or p2p peer).
  std::string census(const MpiPending& op) {
    // On the heap: a reply MPI cannot finish cancelling keeps its buffer (below).
    auto answers = std::make_unique<std::vector<std::array<int64_t, 3>>>(static_cast<size_t>(size_),
                                                                         std::array<int64_t, 3>{-2, -2, -2});
    std::vector<std::array<int64_t, 3>>& answer = *answers;
    std::vector<MPI_Request> replies(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    // The query's buffer and request live in the communicator: a send may outlast this call.
    queries_.push_back({static_cast<int64_t>(op.seq_), static_cast<int64_t>(op.kind_)});
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      MPI_Request r;
      MPI_Isend(queries_.back().data(), 2, MPI_INT64_T, q, kQueryTag, control_, &r);
      asks_.push_back(r);
      MPI_Irecv(answer[q].data(), 3, MPI_INT64_T, q, kReplyTag, control_, &replies[q]);
    }
    const auto until = CommClock::now() + std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000), options_.deadline);
    Backoff backoff;
    for (;;) {
      answer_queries();
      int all_done = 1;
      for (int q = 0; q < size_; ++q) {
        if (replies[q] == MPI_REQUEST_NULL) continue;
        int flag = 0;
        MPI_Test(&replies[q], &flag, MPI_STATUS_IGNORE);
        if (!flag) all_done = 0;
      }
      if (all_done || CommClock::now() > until) break;
      backoff.pause();
    }
    // A cancelled receive completes locally (cancelled, or with the answer that just came): after that
    // nothing writes into `answer` any more. Polled for at most a second, not MPI_Wait: a rank of a test job
    // whose peer had been SIGSTOPped was once found spinning in MPI_Wait here for ten minutes after its
    // launcher had gone. A reply still pending then is left to MPI with its buffer, and that peer counts as
    // not answering.
    const auto cancel_until = CommClock::now() + std::chrono::seconds(1);
    bool leave_buffer = false;
    std::vector<char> unanswered(static_cast<size_t>(size_), 0);
    for (int q = 0; q < size_; ++q) {
      MPI_Request& r = replies[static_cast<size_t>(q)];
      if (r == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&r);
      int flag = 0, cancelled = 0;
      MPI_Status st;
      Backoff backoff;
      while (!flag && CommClock::now() < cancel_until) {
        MPI_Test(&r, &flag, &st);
        if (!flag) backoff.pause();
      }
      if (!flag) {
        leave_buffer = true;
        unanswered[static_cast<size_t>(q)] = 1;
      } else if (MPI_Test_cancelled(&st, &cancelled) == MPI_SUCCESS && cancelled) {
        unanswered[static_cast<size_t>(q)] = 1;
      }
    }
    if (leave_buffer) (void)answers.release();  // NOLINT: deliberately never freed (MPI may still write it)
    std::vector<int> missing;
    std::string detail;
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      const bool p2p = op.kind_ == CommOpKind::kSend || op.kind_ == CommOpKind::kRecv;
      if (p2p && q != op.peer_) continue;
      const std::array<int64_t, 3> a = unanswered[static_cast<size_t>(q)] ? std::array<int64_t, 3>{-2, -2, -2} : answer[q];
      if (a[0] == -2) {
        missing.push_back(q);
        detail += fmt::format("; rank {} did not answer (not in a Tessera call on this axis)", q);
      } else if (p2p || a[0] < static_cast<int64_t>(op.seq_)) {
        if (!p2p) missing.push_back(q);
        detail += a[0] < 0 ? fmt::format("; rank {} has called no collective", q)
                           : fmt::format("; rank {} last called {} #{} ({} completed)", q, comm_op_name(static_cast<CommOpKind>(a[1])), a[0], a[2]);
      }
    }
    if (missing.empty()) return detail.empty() ? "; every peer has reached it (MPI is still progressing)" : detail;
    std::string list;
    for (size_t i = 0; i < missing.size(); ++i) list += (i ? "," : "") + std::to_string(missing[i]);
    return fmt::format("; missing rank(s) {}{}", list, detail);
  }

  void finished(MpiPending& op, Status status) {
    if (op.kind_ != CommOpKind::kSend && op.kind_ != CommOpKind::kRecv) {
      completed_collectives_ = std::max<int64_t>(completed_collectives_, static_cast<int64_t>(op.seq_) + 1);
    }
    if (!status.ok() && broken_.ok()) {
      broken_ = status;
      if (!options_.flight_recorder_dir.empty()) {
        recorder_.end(op.recorder_id_, status);
        auto path = recorder_.dump(options_.flight_recorder_dir, axis(), rank_, size_, "mpi", status);
        status = Status(status.code(), status.message() + (path.ok() ? "; flight recorder: " + *path : "; " + path.status().message()));
        broken_ = status;
      }
    }
    recorder_.end(op.recorder_id_, status);
    if (op.stall_reported) {
      options_.stall_notices->report(CommStall{.axis = axis(), .op = op.kind_, .seq = op.seq_, .missing = {}, .ended = true});
    }
    op.status = std::move(status);
    op.finished = true;
  }

  void abandon(MpiPending& op) {
    for (MPI_Request& r : op.requests) {
      if (r == MPI_REQUEST_NULL) continue;
      if (op.kind_ == CommOpKind::kSend || op.kind_ == CommOpKind::kRecv) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      } else {
        abandoned_.push_back(r);
        r = MPI_REQUEST_NULL;
      }
    }
  }

 private:
  static Status too_large(const char* what, int64_t count) {
    return invalid_argument_error("{}: count {} exceeds MPI's int limit {}; hint: split the buffer into pieces", what, count, INT_MAX);
  }
  Status check_p2p(const char* what, int64_t bytes, int peer, int tag) const {
    if (peer < 0 || peer >= size_ || peer == rank_) return invalid_argument_error("{} on axis '{}': peer {} is not another rank of [0, {})", what, axis(), peer, size_);
    if (bytes < 0 || bytes > INT_MAX) return invalid_argument_error("{} on axis '{}': {} bytes outside [0, {}]", what, axis(), bytes, INT_MAX);
    if (tag < 0 || tag > 32767) return invalid_argument_error("{} on axis '{}': tag {} outside [0, 32767]", what, axis(), tag);
    return Status();
  }
  CommHandle broken_handle() const {
    return CommHandle(Status(broken_.code(), fmt::format("axis '{}' rank {} is unusable after an earlier error: {}", axis(), rank_, broken_.message())));
  }

  std::unique_ptr<MpiPending> begin_collective(CommOpKind kind, DataType type, ReduceOp op, int64_t count, int root) {
    if (!broken_.ok()) return nullptr;
    const uint64_t seq = collective_seq_++;
    last_collective_seq_ = static_cast<int64_t>(seq);
    last_collective_kind_ = static_cast<int64_t>(kind);
    const int64_t bytes = count * dtype_size(type);
    auto p = std::make_unique<MpiPending>(this, kind, seq, root, 0, bytes, recorder_.begin(kind, seq, root, bytes, type));
    p->deadline = CommClock::now() + options_.deadline;
    p->my_desc = {static_cast<int64_t>(seq), static_cast<int64_t>(kind), static_cast<int64_t>(type), static_cast<int64_t>(op), count, root};
    p->all_desc.resize(static_cast<size_t>(kDescWords) * size_);
    issue(*p, MPI_Iallgather(p->my_desc.data(), kDescWords, MPI_INT64_T, p->all_desc.data(), kDescWords, MPI_INT64_T, comm_, next(*p)),
          "MPI_Iallgather(descriptor)");
    return p;
  }
  std::unique_ptr<MpiPending> begin_p2p(CommOpKind kind, int peer, int tag, int64_t bytes) {
    if (!broken_.ok()) return nullptr;
    const uint64_t seq = p2p_seq_++;
    auto p = std::make_unique<MpiPending>(this, kind, seq, peer, tag, bytes, recorder_.begin(kind, seq, peer, bytes, DataType::kBytes));
    p->deadline = CommClock::now() + options_.deadline;
    return p;
  }
  static MPI_Request* next(MpiPending& p) {
    p.requests.push_back(MPI_REQUEST_NULL);
    return &p.requests.back();
  }
  bool issue(MpiPending& p, int rc, const char* what) {
    if (rc == MPI_SUCCESS) return true;
    p.requests.pop_back();
    if (!p.finished) finished(p, unavailable_error("{} on axis '{}' rank {}: {} failed: {}", comm_op_name(p.kind_), axis(), rank_, what, mpi_error_text(rc)));
    return false;
  }

  MPI_Comm comm_, control_;
  int rank_ = 0, size_ = 1;
  const CommOptions options_;
  FlightRecorder recorder_;
  uint64_t collective_seq_ = 0, p2p_seq_ = 0;
  int64_t last_collective_seq_ = -1, last_collective_kind_ = -1, completed_collectives_ = 0;
  int64_t gave_up_seq_ = -1;  // the latest collective a peer asked about at its deadline, and that peer
  int gave_up_rank_ = -1;
  Status broken_;
  std::deque<std::array<int64_t, 3>> replies_;
  std::deque<std::array<int64_t, 2>> queries_;  // buffers of census queries (sends may still be in flight)
  std::vector<MPI_Request> asks_;                // census query sends not yet complete
  std::vector<MPI_Request> abandoned_;
};

MpiPending::~MpiPending() {
  if (!finished) (void)wait();
}

Status MpiPending::check_descriptors() const {
  const int size = comm_->size();
  auto word = [&](int q, int i) { return all_desc[static_cast<size_t>(q) * kDescWords + i]; };
  auto describe = [&](int q) {
    const auto kind = static_cast<CommOpKind>(word(q, 1));
    std::string text = fmt::format("{} #{} (count {} {}", comm_op_name(kind), word(q, 0), word(q, 4), dtype_name(static_cast<DataType>(word(q, 2))));
    if (kind == CommOpKind::kAllReduce || kind == CommOpKind::kReduceScatter) text += fmt::format(" {}", reduce_op_name(static_cast<ReduceOp>(word(q, 3))));
    if (kind == CommOpKind::kBroadcast) text += fmt::format(" root {}", word(q, 5));
    return text + ")";
  };
  for (int q = 1; q < size; ++q) {
    for (int i = 0; i < kDescWords; ++i) {
      if (word(q, i) != word(0, i)) {
        return failed_precondition_error(
            "{} #{} on axis '{}': rank {} called {} but rank 0 called {}; every rank must call the same collectives in the same order",
            comm_op_name(kind_), seq_, comm_->axis(), q, describe(q), describe(0));
      }
    }
  }
  return Status();
}

bool MpiPending::test() {
  if (finished) return true;
  comm_->answer_queries();
  for (MPI_Request& r : requests) {
    if (r == MPI_REQUEST_NULL) continue;
    int flag = 0;
    MPI_Status st;
    const int rc = MPI_Test(&r, &flag, &st);
    if (rc != MPI_SUCCESS) {
      comm_->abandon(*this);
      comm_->finished(*this, unavailable_error("{} #{} on axis '{}' rank {}: MPI failed: {}", comm_op_name(kind_), seq_, comm_->axis(), comm_->rank(), mpi_error_text(rc)));
      return true;
    }
    if (!flag) return false;
    if (kind_ == CommOpKind::kRecv) recv_status = st;
    // The descriptor all-gather is the first request of a collective: once it is in, a rank that called
    // another collective is named at once (its data requests may never match ours).
    if (&r == &requests.front() && !my_desc.empty() && !checked) {
      checked = true;
      if (Status mismatch = check_descriptors(); !mismatch.ok()) {
        comm_->abandon(*this);
        comm_->finished(*this, mismatch);
        return true;
      }
    }
  }
  Status result;
  if (arrival_only) {
    arrived = true;
    return true;
  }
  if (kind_ == CommOpKind::kRecv) {
    int received = 0;
    MPI_Get_count(&recv_status, MPI_BYTE, &received);
    if (received != bytes_) {
      result = failed_precondition_error("recv #{} from rank {} on axis '{}' (rank {}): expected {} bytes with tag {}, but rank {} sent {} bytes",
                                         seq_, peer_, comm_->axis(), comm_->rank(), bytes_, tag_, peer_, received);
    }
  }
  comm_->finished(*this, result);
  return true;
}

Status MpiPending::wait() {
  // MPI's nonblocking collectives move only inside MPI calls: test back to back for the first 500 µs
  // (what a blocking MPI call would do), then back off so a long wait leaves the core to compute threads.
  Backoff backoff;
  const CommClock::time_point eager_until = CommClock::now() + std::chrono::microseconds(500);
  const CommOptions& options = comm_->options();
  const CommClock::time_point stall_at = deadline - options.deadline + options.stall_notice_after;
  while (!test()) {
    if (CommClock::now() < eager_until) continue;
    if (!stall_reported && options.stall_notices && CommClock::now() > stall_at) {
      // Which peers are missing is known only for point-to-point (asking them is the deadline's census).
      stall_reported = true;
      const bool p2p = kind_ == CommOpKind::kSend || kind_ == CommOpKind::kRecv;
      options.stall_notices->report(CommStall{.axis = comm_->axis(), .op = kind_, .seq = seq_,
                                              .missing = p2p ? std::vector<int>{peer_} : std::vector<int>{}, .ended = false});
    }
    if (CommClock::now() > deadline) {
      std::string where = comm_->census(*this);
      if (kind_ == CommOpKind::kRecv) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(peer_, MPI_ANY_TAG, comm_->comm(), &flag, &st);
        if (flag) {
          int n = 0;
          MPI_Get_count(&st, MPI_BYTE, &n);
          where += fmt::format("; rank {} sent a message with tag {} ({} bytes) instead", peer_, st.MPI_TAG, n);
        }
      }
      comm_->abandon(*this);
      const bool p2p = kind_ == CommOpKind::kSend || kind_ == CommOpKind::kRecv;
      comm_->finished(*this, deadline_exceeded_error(
                                 "{} #{}{} on axis '{}' (rank {} of {}, mpi): not complete within the {} ms deadline{}",
                                 comm_op_name(kind_), seq_, p2p ? fmt::format(" {} rank {} (tag {}, {} bytes)", kind_ == CommOpKind::kSend ? "to" : "from", peer_, tag_, bytes_) : "",
                                 comm_->axis(), comm_->rank(), comm_->size(), comm_->options().deadline.count(), where));
      break;
    }
    backoff.pause();
  }
  return status;
}

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

StatusOr<MpiRuntime> MpiRuntime::init(int* argc, char*** argv) {
  int provided = 0;
  const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return unavailable_error("comm(mpi): MPI_Init_thread failed with code {}", rc);
  MpiRuntime runtime;
  runtime.owns_ = true;
  return runtime;
}

MpiRuntime::MpiRuntime(MpiRuntime&& other) noexcept : owns_(std::exchange(other.owns_, false)) {}

MpiRuntime::~MpiRuntime() {
  if (owns_) MPI_Finalize();
}

std::unique_ptr<Communicator> MpiRuntime::world(CommOptions options) const {
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  return std::make_unique<MpiCommunicator>(comm, std::move(options));
}

void MpiRuntime::abort_job(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

Status mpi_plain_collective(Communicator& comm, CommOpKind op, const void* in, void* out, int64_t count, DataType type) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm);
  if (mpi == nullptr) return invalid_argument_error("mpi_plain_collective: axis '{}' is a {} communicator, not mpi", comm.axis(), comm.backend_name());
  if (count > INT_MAX) return invalid_argument_error("mpi_plain_collective: count {} exceeds MPI's int limit", count);
  const int n = static_cast<int>(count);
  int rc = MPI_SUCCESS;
  switch (op) {
    case CommOpKind::kAllReduce: rc = MPI_Allreduce(MPI_IN_PLACE, out, n, to_mpi(type), MPI_SUM, mpi->comm()); break;
    case CommOpKind::kReduceScatter: rc = MPI_Reduce_scatter_block(in, out, n, to_mpi(type), MPI_SUM, mpi->comm()); break;
    case CommOpKind::kAllGather: rc = MPI_Allgather(in, n, to_mpi(type), out, n, to_mpi(type), mpi->comm()); break;
    default: return invalid_argument_error("mpi_plain_collective: {} is not benchmarked", comm_op_name(op));
  }
  if (rc != MPI_SUCCESS) return unavailable_error("mpi_plain_collective: {} failed: {}", comm_op_name(op), mpi_error_text(rc));
  return Status();
}

}  // namespace tessera
