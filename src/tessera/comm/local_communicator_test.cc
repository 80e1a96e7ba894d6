// The local backend (thread-ranks over the shared-memory algorithms) against plain reference loops, in
// the three buffer modes: every rank zero-copy, every rank staged through small slots (many blocks, slot
// reuse), and a mix of both.
#include "tessera/comm/local_communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tessera/comm/comm_stall.h"
#include "tessera/comm/process_grid.h"

namespace tessera {
namespace {

using Sharing = LocalGroupOptions::Sharing;

// Small slots so that a few thousand elements cross many blocks and reuse every slot.
LocalGroupOptions staged(Sharing sharing) {
  return {.block_bytes = 256, .slots = 2, .p2p_slot_bytes = 40, .sharing = sharing};
}

float value(int rank, int64_t i) { return static_cast<float>((i * 7 + rank * 13) % 101) * 0.37f + 0.001f * rank; }

class LocalCollectives : public ::testing::TestWithParam<std::tuple<int, Sharing>> {};

TEST_P(LocalCollectives, EqualTheReferenceOnOddSizes) {
  const auto [ranks, sharing] = GetParam();
  std::atomic<int> checked{0};
  ASSERT_TRUE(run_on_thread_ranks(ranks, [&](Communicator& comm) {
    const int r = comm.rank(), p = comm.size();
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1003}}) {
      // all_reduce sum/max over float32: summed in rank order, so exactly equal to this loop.
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
        std::vector<float> data(n), expect(n);
        for (int64_t i = 0; i < n; ++i) data[i] = value(r, i) * (op == ReduceOp::kSum ? 1.0f : (r % 2 ? -1.0f : 1.0f));
        for (int64_t i = 0; i < n; ++i) {
          float acc = 0;
          for (int q = 0; q < p; ++q) {
            const float v = value(q, i) * (op == ReduceOp::kSum ? 1.0f : (q % 2 ? -1.0f : 1.0f));
            acc = q == 0 ? v : op == ReduceOp::kSum ? acc + v : op == ReduceOp::kMax ? std::max(acc, v) : std::min(acc, v);
          }
          expect[i] = acc;
        }
        ASSERT_TRUE(comm.all_reduce(data.data(), n, op).ok());
        ASSERT_EQ(data, expect) << "n=" << n << " op=" << reduce_op_name(op);
      }
      // int64 and uint64 sums (counters), float64.
      std::vector<int64_t> counters(n, int64_t{1} << 40);
      for (int64_t i = 0; i < n; ++i) counters[i] += r * i;
      ASSERT_TRUE(comm.all_reduce(counters.data(), n, ReduceOp::kSum).ok());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(counters[i], p * (int64_t{1} << 40) + i * p * (p - 1) / 2);
      std::vector<uint64_t> big(n, ~uint64_t{0} - 5);
      ASSERT_TRUE(comm.all_reduce(big.data(), n, ReduceOp::kMin).ok());
      for (uint64_t v : big) ASSERT_EQ(v, ~uint64_t{0} - 5);
      std::vector<double> d(n, 0.5 * (r + 1));
      ASSERT_TRUE(comm.all_reduce(d.data(), n, ReduceOp::kSum).ok());
      for (double v : d) ASSERT_EQ(v, 0.25 * p * (p + 1));

      // reduce_scatter: out[j] = sum over q of in_q[r·n + j].
      std::vector<float> in(n * p), out(n, -1.0f);
      for (int64_t i = 0; i < n * p; ++i) in[i] = value(r, i);
      ASSERT_TRUE(comm.reduce_scatter(in.data(), out.data(), n, ReduceOp::kSum).ok());
      for (int64_t j = 0; j < n; ++j) {
        float acc = value(0, r * n + j);
        for (int q = 1; q < p; ++q) acc += value(q, r * n + j);
        ASSERT_EQ(out[j], acc) << "reduce_scatter n=" << n << " j=" << j;
      }

      // all_gather of bytes (fingerprints): out = every rank's bytes in rank order.
      std::vector<char> mine(n), all(n * p);
      for (int64_t i = 0; i < n; ++i) mine[i] = static_cast<char>(r * 31 + i);
      ASSERT_TRUE(comm.all_gather_bytes(mine.data(), all.data(), n).ok());
      for (int q = 0; q < p; ++q) {
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(all[q * n + i], static_cast<char>(q * 31 + i));
      }

      // broadcast from the last rank.
      std::vector<char> bytes(n, static_cast<char>(r));
      ASSERT_TRUE(comm.broadcast(bytes.data(), n, p - 1).ok());
      ASSERT_EQ(bytes, std::vector<char>(n, static_cast<char>(p - 1)));
    }
    ASSERT_TRUE(comm.barrier().ok());
    ++checked;
  }, {.name = "dp"}, staged(sharing)).ok());
  EXPECT_EQ(checked.load(), ranks);
}

INSTANTIATE_TEST_SUITE_P(RanksAndSharing, LocalCollectives,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4),
                                            ::testing::Values(Sharing::kAll, Sharing::kNone, Sharing::kEvenRanks)));

// In place, an all-reduce's chunks are claimed from a shared ticket counter (group_communicator.cc): a large
// all-reduce (many chunks) right after another, after other collectives, and with one rank arriving late
// (the others claim its share) must still equal the rank-order sum exactly on every rank, every time.
TEST(LocalCommunicator, InPlaceAllReduceInClaimedChunksEqualsTheReferenceWhoeverClaims) {
  constexpr int kRanks = 3;
  const int64_t n = 2'000'003;  // chunks of 20832 floats (n / 96, rounded to 16): 97, the last one ragged
  ASSERT_TRUE(run_on_thread_ranks(kRanks, [&](Communicator& comm) {
    const int r = comm.rank(), p = comm.size();
    for (int round = 0; round < 4; ++round) {
      std::vector<float> data(n);
      for (int64_t i = 0; i < n; ++i) data[i] = value(r + round, i);
      // Rank 1 arrives late in rounds 1 and 3: the others have claimed most chunks before it starts.
      if (r == 1 && round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ASSERT_TRUE(comm.all_reduce(data.data(), n, ReduceOp::kSum).ok());
      for (int64_t i = 0; i < n; ++i) {
        float acc = value(round, i);
        for (int q = 1; q < p; ++q) acc += value(q + round, i);
        ASSERT_EQ(data[i], acc) << "round " << round << " element " << i;
      }
      if (round == 1) {  // something else between two all-reduces
        std::vector<float> in(7 * p, 1.0f), out(7);
        ASSERT_TRUE(comm.reduce_scatter(in.data(), out.data(), 7, ReduceOp::kSum).ok());
        ASSERT_TRUE(comm.barrier().ok());
      }
    }
  }).ok());
}

TEST(LocalCommunicator, AsyncHandlesOverlapAndCompleteInOrder) {
  ASSERT_TRUE(run_on_thread_ranks(3, [&](Communicator& comm) {
    const int64_t n = 100'000;
    std::vector<std::vector<float>> buckets(4, std::vector<float>(n));
    std::vector<CommHandle> handles;
    for (int b = 0; b < 4; ++b) {
      for (int64_t i = 0; i < n; ++i) buckets[b][i] = static_cast<float>(b + comm.rank());
      handles.push_back(comm.all_reduce_async(buckets[b].data(), n, DataType::kFloat32, ReduceOp::kSum));
    }
    // The last bucket finishing implies the earlier ones did (call order).
    while (!handles.back().test()) std::this_thread::yield();
    for (int b = 0; b < 4; ++b) EXPECT_TRUE(handles[b].test());
    for (int b = 0; b < 4; ++b) {
      ASSERT_TRUE(handles[b].wait().ok());
      ASSERT_TRUE(handles[b].wait().ok());  // waiting again returns the same status
      EXPECT_EQ(buckets[b][0], 3.0f * b + 3.0f);
      EXPECT_EQ(buckets[b][n - 1], 3.0f * b + 3.0f);
    }
  }).ok());
}

TEST(LocalCommunicator, SendRecvRingChunksAndZeroBytes) {
  for (Sharing sharing : {Sharing::kAll, Sharing::kNone}) {
    ASSERT_TRUE(run_on_thread_ranks(3, [&](Communicator& comm) {
      const int r = comm.rank(), p = comm.size();
      // Both directions posted at once, each message far larger than the channel (4 slots × 40 bytes).
      std::vector<int32_t> out(1001), in(1001, -1);
      for (int i = 0; i < 1001; ++i) out[i] = r * 10000 + i;
      CommHandle s = comm.send_async(out.data(), sizeof(int32_t) * 1001, (r + 1) % p, 7);
      CommHandle v = comm.recv_async(in.data(), sizeof(int32_t) * 1001, (r + p - 1) % p, 7);
      ASSERT_TRUE(s.wait().ok());
      ASSERT_TRUE(v.wait().ok());
      for (int i = 0; i < 1001; ++i) ASSERT_EQ(in[i], ((r + p - 1) % p) * 10000 + i);
      // A zero-byte message, then a collective: point-to-point and collectives make progress together.
      ASSERT_TRUE(comm.send_async(nullptr, 0, (r + 1) % p, 3).wait().ok());
      ASSERT_TRUE(comm.recv(nullptr, 0, (r + p - 1) % p, 3).ok());
      ASSERT_TRUE(comm.barrier().ok());
    }, {}, staged(sharing)).ok());
  }
}

TEST(LocalCommunicator, PipelineSendOverlapsCollective) {
  // Rank 0 posts a send larger than the channel and then enters an all-reduce; rank 1 receives before
  // entering it. The send must progress while rank 0 waits in the collective.
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
    std::vector<char> msg(5000, 'x');
    double v = 1;
    if (comm.rank() == 0) {
      CommHandle s = comm.send_async(msg.data(), 5000, 1, 0);
      ASSERT_TRUE(comm.all_reduce(&v, 1, ReduceOp::kSum).ok());
      ASSERT_TRUE(s.wait().ok());
    } else {
      std::vector<char> got(5000);
      ASSERT_TRUE(comm.recv(got.data(), 5000, 0, 0).ok());
      EXPECT_EQ(got, msg);
      ASSERT_TRUE(comm.all_reduce(&v, 1, ReduceOp::kSum).ok());
    }
    EXPECT_EQ(v, 2.0);
  }, {}, staged(Sharing::kNone)).ok());
}

TEST(LocalCommunicator, RecvOfAnotherTagOrSizeIsANamedError) {
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
    char buf[16] = {};
    if (comm.rank() == 0) {
      ASSERT_TRUE(comm.send(buf, 16, 1, 5).ok());
    } else {
      const Status s = comm.recv(buf, 8, 0, 4);
      ASSERT_FALSE(s.ok());
      EXPECT_NE(s.message().find("expected 8 bytes with tag 4, but rank 0 sent 16 bytes with tag 5"), std::string::npos) << s.message();
    }
  }).ok());
}

TEST(LocalCommunicator, MissingRankIsNamedWithinTheDeadlineOnEveryOtherRank) {
  const auto dir = std::filesystem::temp_directory_path() / ("tessera_flight_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::atomic<int> named{0};
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_on_thread_ranks(4, [&](Communicator& comm) {
    std::vector<float> data(1000, 1.0f);
    ASSERT_TRUE(comm.all_reduce(data.data(), 1000, ReduceOp::kSum).ok());
    if (comm.rank() == 2) return;  // never arrives at the second all-reduce
    const Status s = comm.all_reduce(data.data(), 1000, ReduceOp::kSum);
    ASSERT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.message();
    EXPECT_NE(s.message().find("all_reduce #1 on axis 'dp'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("rank(s) 2 did not arrive"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("rank 2 is past all_reduce #0"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("flight recorder: "), std::string::npos) << s.message();
    // The communicator stays failed: the next call says so at once.
    const Status again = comm.barrier();
    EXPECT_NE(again.message().find("unusable after an earlier error"), std::string::npos) << again.message();
    ++named;
  }, {.name = "dp", .deadline = std::chrono::milliseconds(300), .flight_recorder_dir = dir.string()}).ok());
  EXPECT_EQ(named.load(), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Rank 0's dump: the header names the reason, then one line per operation.
  std::ifstream in(dir / "flight_dp_rank0.txt");
  std::string header, first, second;
  std::getline(in, header);
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_NE(header.find("axis=dp rank=0/4 backend=local reason: all_reduce #1"), std::string::npos) << header;
  EXPECT_NE(first.find("#0 all_reduce peer=- bytes=4000 dtype=float32"), std::string::npos) << first;
  EXPECT_NE(first.find("state=ok"), std::string::npos) << first;
  EXPECT_NE(second.find("#1 all_reduce"), std::string::npos) << second;
  EXPECT_NE(second.find("state=error"), std::string::npos) << second;
  std::filesystem::remove_all(dir);
}

TEST(LocalCommunicator, AWaitLongerThanTheStallNoticeIsReportedWithTheMissingRankAndItsEnd) {
  // Rank 1 arrives at the all-reduce 400 ms late: rank 0 reports the stall (naming rank 1) after 100 ms,
  // then its end; rank 1 never waits, and reports nothing. So does a recv whose send comes late.
  auto notices = std::make_shared<CommStallNotices>();
  std::mutex mutex;
  std::vector<std::pair<CommStall, double>> seen;  // notice, seconds since start
  const auto start = std::chrono::steady_clock::now();
  notices->set_listener([&](const CommStall& stall) {
    std::lock_guard lock(mutex);
    seen.emplace_back(stall, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
    std::vector<float> data(100, 1.0f);
    if (comm.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ASSERT_TRUE(comm.all_reduce(data.data(), 100, ReduceOp::kSum).ok());
    EXPECT_EQ(data[0], 2.0f);
  }, {.name = "dp", .deadline = std::chrono::milliseconds(5000), .stall_notices = notices,
      .stall_notice_after = std::chrono::milliseconds(100)}).ok());
  notices->set_listener({});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first.axis, "dp");
  EXPECT_EQ(seen[0].first.op, CommOpKind::kAllReduce);
  EXPECT_EQ(seen[0].first.seq, 0u);
  EXPECT_EQ(seen[0].first.missing, std::vector<int>{1});
  EXPECT_FALSE(seen[0].first.ended);
  EXPECT_GE(seen[0].second, 0.1);
  EXPECT_LT(seen[0].second, 0.4);  // before rank 1 arrived
  EXPECT_TRUE(seen[1].first.ended);
  EXPECT_EQ(seen[1].first.seq, 0u);

  // Without a stall nothing is reported.
  seen.clear();
  notices->set_listener([&](const CommStall& stall) { seen.emplace_back(stall, 0.0); });
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
    std::vector<float> data(100, 1.0f);
    ASSERT_TRUE(comm.all_reduce(data.data(), 100, ReduceOp::kSum).ok());
  }, {.name = "dp", .stall_notices = notices, .stall_notice_after = std::chrono::milliseconds(2000)}).ok());
  notices->set_listener({});
  EXPECT_TRUE(seen.empty());
}

TEST(LocalCommunicator, DifferentCollectiveIsNamedOnEveryRank) {
  for (Sharing sharing : {Sharing::kAll, Sharing::kNone}) {
    std::atomic<int> named{0};
    ASSERT_TRUE(run_on_thread_ranks(3, [&](Communicator& comm) {
      std::vector<float> data(30, 1.0f), out(90);
      const Status s = comm.rank() == 1 ? comm.all_gather(data.data(), out.data(), 30)
                                        : comm.all_reduce(data.data(), 30, ReduceOp::kSum);
      ASSERT_FALSE(s.ok());
      EXPECT_NE(s.message().find("rank 1 called all_gather #0 (count 30 float32) but rank 0 called all_reduce #0 (count 30 float32 sum)"),
                std::string::npos) << s.message();
      ++named;
    }, {.deadline = std::chrono::milliseconds(2000)}, staged(sharing)).ok());
    EXPECT_EQ(named.load(), 3);
  }
}

TEST(LocalCommunicator, SplitMakesNamedSubgroups) {
  ASSERT_TRUE(run_on_thread_ranks(4, [&](Communicator& world) {
    auto grid = ProcessGrid::create([&]() -> std::unique_ptr<Communicator> {
      auto sub = world.split(0, world.rank(), "world");  // a copy of the world, to hand to the grid
      return sub.ok() ? std::move(*sub) : nullptr;
    }(), /*dp=*/2, /*pp=*/1, /*tp=*/2);
    ASSERT_TRUE(grid.ok()) << grid.status().message();
    const GridCoord c = grid->coord();
    EXPECT_EQ(grid->group(GridAxis::kTp).axis(), "tp");
    EXPECT_EQ(grid->group(GridAxis::kTp).backend_name(), "local");
    EXPECT_EQ(grid->group(GridAxis::kDp).rank(), c.dp);
    int64_t tp_sum = grid->rank(), dp_sum = grid->rank();
    ASSERT_TRUE(grid->group(GridAxis::kTp).all_reduce(&tp_sum, 1, ReduceOp::kSum).ok());
    ASSERT_TRUE(grid->group(GridAxis::kDp).all_reduce(&dp_sum, 1, ReduceOp::kSum).ok());
    EXPECT_EQ(tp_sum, c.dp == 0 ? 0 + 1 : 2 + 3);
    EXPECT_EQ(dp_sum, c.tp == 0 ? 0 + 2 : 1 + 3);
    EXPECT_FALSE(world.split(-1, 0).ok());
  }).ok());
}

// Each refused on the calling rank with a one-line error naming the operation and the axis.
TEST(LocalCommunicator, BadArgumentsFailWithoutEnteringTheCollective) {
  CommOptions options;
  options.name = "dp";
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
    char b[4] = {};
    auto expect_error = [](const Status& s, const std::string& text) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
      EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
    };
    expect_error(comm.broadcast(b, 4, 2), "broadcast on axis 'dp': root 2 outside [0, 2)");
    expect_error(comm.broadcast(b, 4, -1), "broadcast on axis 'dp': root -1 outside [0, 2)");
    EXPECT_EQ(comm.send(b, 4, comm.rank()).code(), StatusCode::kInvalidArgument);
    expect_error(comm.all_reduce_async(b, 4, DataType::kBytes, ReduceOp::kSum).wait(),
                 "all_reduce on axis 'dp': bytes cannot be reduced");
    expect_error(comm.reduce_scatter_async(b, b, 2, DataType::kBytes, ReduceOp::kSum).wait(),
                 "reduce_scatter on axis 'dp': bytes cannot be reduced");
    expect_error(comm.all_reduce(static_cast<float*>(nullptr), -1, ReduceOp::kSum),
                 "all_reduce on axis 'dp': count -1 is negative");
    EXPECT_TRUE(comm.barrier().ok());  // still usable
  }, options).ok());
  EXPECT_FALSE(make_local_communicators(0).ok());
}

}  // namespace
}  // namespace tessera
