// The mpi, shm and hier Communicators and ProcessGrid under a real launcher: run as
// `mpirun -n 4 tessera_comm_mpi_test` (ctest does). Every rank runs every test; a failure on any rank
// fails the job.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "tessera/comm/comm_factory.h"
#include "tessera/comm/mpi_communicator.h"
#include "tessera/comm/process_grid.h"
#include "tessera/comm/shm_communicator.h"

namespace tessera {
namespace {

MpiRuntime* g_runtime = nullptr;  // owned by main(); tests only borrow it

TEST(MpiCommunicator, AllReduceSumsAcrossRanksAcrossChunkBoundaries) {
  auto world = g_runtime->world();
  const int R = world->size(), r = world->rank();
  // 5M floats = 20 MiB: five 4 MiB pieces, the last one partial.
  const int64_t n = 5'000'000 + 3;
  std::vector<float> data(n);
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>((i % 97) * (r + 1));
  ASSERT_TRUE(world->all_reduce(data.data(), n, ReduceOp::kSum).ok());
  const float factor = static_cast<float>(R * (R + 1) / 2);
  for (int64_t i = 0; i < n; i += 4999) ASSERT_EQ(data[i], static_cast<float>(i % 97) * factor) << i;
  ASSERT_EQ(data[n - 1], static_cast<float>((n - 1) % 97) * factor);
  double extreme = r;
  ASSERT_TRUE(world->all_reduce(&extreme, 1, ReduceOp::kMax).ok());
  EXPECT_EQ(extreme, R - 1);
}

// dp=2 × tp=2 on 4 ranks: tp groups are adjacent ranks {0,1}, {2,3}; dp groups {0,2}, {1,3}.
TEST(ProcessGrid, AxisGroupsHoldTheRightRanksOnEveryBackend) {
  auto world = g_runtime->world();
  if (world->size() != 4) GTEST_SKIP() << "needs 4 ranks";
  for (CommBackend backend : {CommBackend::kKeep, CommBackend::kShm, CommBackend::kAuto}) {
    auto grid = ProcessGrid::create(g_runtime->world(), /*dp=*/2, /*pp=*/1, /*tp=*/2, {backend, backend, backend});
    ASSERT_TRUE(grid.ok()) << grid.status().message();
    const GridCoord c = grid->coord();
    EXPECT_EQ(grid->group(GridAxis::kTp).size(), 2);
    EXPECT_EQ(grid->group(GridAxis::kDp).size(), 2);
    EXPECT_EQ(grid->group(GridAxis::kPp).size(), 1);
    EXPECT_EQ(grid->group(GridAxis::kTp).rank(), c.tp);
    EXPECT_EQ(grid->group(GridAxis::kDp).axis(), "dp");
    EXPECT_EQ(grid->group(GridAxis::kDp).backend_name(), backend == CommBackend::kKeep ? "mpi" : "shm");
    // Sum of world ranks inside each group identifies its members.
    double tp_sum = grid->rank(), dp_sum = grid->rank();
    ASSERT_TRUE(grid->group(GridAxis::kTp).all_reduce(&tp_sum, 1, ReduceOp::kSum).ok());
    ASSERT_TRUE(grid->group(GridAxis::kDp).all_reduce(&dp_sum, 1, ReduceOp::kSum).ok());
    EXPECT_EQ(tp_sum, c.dp == 0 ? 0 + 1 : 2 + 3);
    EXPECT_EQ(dp_sum, c.tp == 0 ? 0 + 2 : 1 + 3);
  }
  EXPECT_FALSE(ProcessGrid::create(g_runtime->world(), 3, 1, 1).ok());  // 3 != 4 ranks
}

TEST(HostDetection, OneHostHoldsEveryRank) {
  if (std::getenv("TESSERA_TEST_PRIVATE_SHM_RANK") != nullptr || std::getenv("TESSERA_TEST_TWO_HOSTS") != nullptr) {
    GTEST_SKIP() << "some ranks have a private /dev/shm";
  }
  auto world = g_runtime->world();
  auto hosts = detect_hosts(*world);
  ASSERT_TRUE(hosts.ok()) << hosts.status().message();
  EXPECT_EQ(hosts->hosts, 1);
  EXPECT_EQ(hosts->local_rank, world->rank());
  EXPECT_EQ(hosts->local_size, world->size());
  EXPECT_EQ(hosts->token.size(), 32u);
}

// Under tests/mpi/private_shm.sh: rank TESSERA_TEST_PRIVATE_SHM_RANK has its own /dev/shm, so it is
// another host even though hostname and boot id are the same.
TEST(HostDetection, PrivateShmIsAnotherHost) {
  const char* isolated = std::getenv("TESSERA_TEST_PRIVATE_SHM_RANK");
  if (isolated == nullptr) GTEST_SKIP() << "run by tests/mpi/private_shm.sh";
  const int alone = std::atoi(isolated);
  auto world = g_runtime->world({.deadline = std::chrono::seconds(20)});
  auto hosts = detect_hosts(*world);
  ASSERT_TRUE(hosts.ok()) << hosts.status().message();
  EXPECT_EQ(hosts->hosts, 2);
  for (int q = 0; q < world->size(); ++q) {
    EXPECT_EQ(hosts->host_of_rank[q] == hosts->host_of_rank[alone], q == alone) << q;
  }
  EXPECT_EQ(hosts->local_size, world->rank() == alone ? 1 : world->size() - 1);
  // shm over all of them is refused with the reason; auto falls back to a backend that works.
  auto shm = make_axis_communicator(g_runtime->world(), CommBackend::kShm);
  ASSERT_FALSE(shm.ok());
  EXPECT_NE(shm.status().message().find("are on 2 hosts"), std::string::npos) << shm.status().message();
  auto hier = make_axis_communicator(g_runtime->world(), CommBackend::kHier);
  ASSERT_FALSE(hier.ok());
  EXPECT_NE(hier.status().message().find("every host must hold the same number"), std::string::npos) << hier.status().message();
  auto any = make_axis_communicator(g_runtime->world(), CommBackend::kAuto);
  ASSERT_TRUE(any.ok()) << any.status().message();
  EXPECT_EQ((*any)->backend_name(), "mpi");
  int64_t ranks = 1;
  ASSERT_TRUE((*any)->all_reduce(&ranks, 1, ReduceOp::kSum).ok());
  EXPECT_EQ(ranks, world->size());
  // A split of the two ranks that do share /dev/shm gets shm.
  auto pair = world->split(world->rank() == alone ? 1 : 0, world->rank(), "pair");
  ASSERT_TRUE(pair.ok());
  auto local = make_axis_communicator(std::move(*pair), CommBackend::kAuto);
  ASSERT_TRUE(local.ok()) << local.status().message();
  EXPECT_EQ((*local)->backend_name(), world->rank() == alone ? "mpi" : "shm");
}

// Integer-valued floats: exact whatever order a backend sums in.
float value(int rank, int64_t i) { return static_cast<float>((i * 7 + rank * 13) % 101); }

// forward declarations for the two-host test below
void expect_collectives_match_reference(Communicator* comm);
void expect_ring_exchange(Communicator* comm);

// Under `tests/mpi/private_shm.sh --two-hosts`: ranks 0, 1 share the machine's /dev/shm and ranks 2, 3 a
// private one: two hosts of two ranks, so hier runs its real inter-host path.
TEST(HostDetection, TwoHostsOfTwoRanks) {
  if (std::getenv("TESSERA_TEST_TWO_HOSTS") == nullptr) GTEST_SKIP() << "run by tests/mpi/private_shm.sh --two-hosts";
  auto world = g_runtime->world();
  ASSERT_EQ(world->size(), 4);
  auto hosts = detect_hosts(*world);
  ASSERT_TRUE(hosts.ok()) << hosts.status().message();
  EXPECT_EQ(hosts->hosts, 2);
  EXPECT_EQ(hosts->host_of_rank, (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(hosts->local_rank, world->rank() % 2);
  auto hier = make_axis_communicator(g_runtime->world({.name = "dp"}), CommBackend::kAuto);
  ASSERT_TRUE(hier.ok()) << hier.status().message();
  EXPECT_EQ((*hier)->backend_name(), "hier");
  expect_collectives_match_reference(hier->get());
  expect_ring_exchange(hier->get());
  // dp=2 × tp=2: tp pairs sit on one host (shm), dp pairs span the hosts with one rank each (mpi).
  auto grid = ProcessGrid::create(g_runtime->world(), 2, 1, 2, {CommBackend::kAuto, CommBackend::kAuto, CommBackend::kAuto});
  ASSERT_TRUE(grid.ok()) << grid.status().message();
  EXPECT_EQ(grid->group(GridAxis::kTp).backend_name(), "shm");
  EXPECT_EQ(grid->group(GridAxis::kDp).backend_name(), "mpi");
  int64_t tp_sum = grid->rank();
  ASSERT_TRUE(grid->group(GridAxis::kTp).all_reduce(&tp_sum, 1, ReduceOp::kSum).ok());
  EXPECT_EQ(tp_sum, grid->rank() < 2 ? 1 : 5);
}

// Every collective of `comm` against plain loops, on odd sizes, 0 and counts not divisible by the group,
// on plain and allocate()d buffers.
void expect_collectives_match_reference(Communicator* comm) {
  const int p = comm->size(), r = comm->rank();
  // 300001 floats span two 1 MiB staging blocks on shm; allocate()d buffers run in place.
  for (bool shared : {false, true}) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1003}, int64_t{300'001}}) {
      auto buffer = comm->allocate(std::max<int64_t>(1, n * p) * sizeof(float));
      ASSERT_TRUE(buffer.ok()) << buffer.status().message();
      std::vector<float> plain(n * p);
      float* data = shared ? buffer->as<float>() : plain.data();
      for (int64_t i = 0; i < n; ++i) data[i] = value(r, i);
      ASSERT_TRUE(comm->all_reduce(data, n, ReduceOp::kSum).ok());
      for (int64_t i = 0; i < n; ++i) {
        float acc = 0;
        for (int q = 0; q < p; ++q) acc += value(q, i);
        ASSERT_EQ(data[i], acc) << "all_reduce n=" << n << " i=" << i << " shared=" << shared;
      }
      // reduce_scatter of n·p into n.
      for (int64_t i = 0; i < n * p; ++i) data[i] = value(r, i);
      std::vector<float> out(n, -1);
      ASSERT_TRUE(comm->reduce_scatter(data, out.data(), n, ReduceOp::kSum).ok());
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0;
        for (int q = 0; q < p; ++q) acc += value(q, r * n + j);
        ASSERT_EQ(out[j], acc) << "reduce_scatter n=" << n << " j=" << j;
      }
      // all_gather of n floats.
      std::vector<float> mine(n), all(n * p);
      for (int64_t i = 0; i < n; ++i) (shared ? data : mine.data())[i] = value(r, i);
      ASSERT_TRUE(comm->all_gather(shared ? data : mine.data(), all.data(), n).ok());
      for (int q = 0; q < p; ++q) {
        for (int64_t i = 0; i < n; i += 97) ASSERT_EQ(all[q * n + i], value(q, i)) << "all_gather n=" << n;
      }
      // broadcast from the last rank.
      std::vector<char> bytes(n, static_cast<char>(r));
      ASSERT_TRUE(comm->broadcast(bytes.data(), n, p - 1).ok());
      ASSERT_EQ(bytes, std::vector<char>(n, static_cast<char>(p - 1)));
    }
  }
  // Integer collectives (counters, fingerprints).
  int64_t counters[3] = {r, 1, int64_t{1} << 50};
  ASSERT_TRUE(comm->all_reduce(counters, 3, ReduceOp::kSum).ok());
  EXPECT_EQ(counters[0], p * (p - 1) / 2);
  EXPECT_EQ(counters[1], p);
  EXPECT_EQ(counters[2], p * (int64_t{1} << 50));
  uint64_t fingerprint = 0x1234567890abcdefULL * static_cast<uint64_t>(r + 1);
  std::vector<uint64_t> prints(p);
  ASSERT_TRUE(comm->all_gather_bytes(&fingerprint, prints.data(), sizeof(uint64_t)).ok());
  for (int q = 0; q < p; ++q) EXPECT_EQ(prints[q], 0x1234567890abcdefULL * static_cast<uint64_t>(q + 1));
  EXPECT_TRUE(comm->barrier().ok());
}

// Each rank sends a message larger than a shm channel to the next rank while receiving from the previous.
void expect_ring_exchange(Communicator* comm) {
  const int p = comm->size(), r = comm->rank();
  if (p < 2) return;
  std::vector<int32_t> out(200'001), in(200'001, -1);  // larger than a shm channel
  for (size_t i = 0; i < out.size(); ++i) out[i] = r * 1'000'000 + static_cast<int32_t>(i);
  CommHandle s = comm->send_async(out.data(), out.size() * 4, (r + 1) % p, 9);
  CommHandle v = comm->recv_async(in.data(), in.size() * 4, (r + p - 1) % p, 9);
  ASSERT_TRUE(s.wait().ok());
  ASSERT_TRUE(v.wait().ok());
  for (size_t i = 0; i < in.size(); i += 1001) ASSERT_EQ(in[i], ((r + p - 1) % p) * 1'000'000 + static_cast<int32_t>(i));
  ASSERT_TRUE(comm->barrier().ok());
}

class Backends : public ::testing::TestWithParam<CommBackend> {
 protected:
  std::unique_ptr<Communicator> make(CommOptions options = {}) {
    auto comm = make_axis_communicator(g_runtime->world(options), GetParam());
    EXPECT_TRUE(comm.ok()) << comm.status().message();
    return comm.ok() ? std::move(*comm) : nullptr;
  }
};

TEST_P(Backends, CollectivesEqualTheReferenceOnOddSizes) {
  auto comm = make({.name = "dp"});
  ASSERT_NE(comm, nullptr);
  expect_collectives_match_reference(comm.get());
}

TEST_P(Backends, SendRecvAroundTheRing) {
  auto comm = make();
  ASSERT_NE(comm, nullptr);
  expect_ring_exchange(comm.get());
}

TEST_P(Backends, MissingRankIsNamedWithinTheDeadline) {
  // `data` outlives the communicator: on mpi the abandoned all-reduce completes into it when the late
  // rank arrives, which the communicator's destructor waits for (up to one more deadline).
  std::vector<float> data(1000, 1.0f);
  auto comm = make({.name = "dp", .deadline = std::chrono::milliseconds(400)});
  ASSERT_NE(comm, nullptr);
  const int p = comm->size(), r = comm->rank();
  if (p < 2) GTEST_SKIP();
  ASSERT_TRUE(comm->all_reduce(data.data(), 1000, ReduceOp::kSum).ok());
  const auto start = std::chrono::steady_clock::now();
  if (r == p - 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // arrives after everyone gave up
    (void)comm->all_reduce(data.data(), 1000, ReduceOp::kSum);
    return;
  }
  const Status s = comm->all_reduce(data.data(), 1000, ReduceOp::kSum);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.message();
  EXPECT_LT(seconds, 1.45);  // the deadline, plus the mpi census's grace
  EXPECT_NE(s.message().find("all_reduce #1 on axis 'dp"), std::string::npos) << s.message();
  const std::string missing = std::to_string(p - 1);
  EXPECT_TRUE(s.message().find("rank(s) " + missing + " did not arrive") != std::string::npos ||
              s.message().find("missing rank(s) " + missing) != std::string::npos) << s.message();
}

TEST_P(Backends, DifferentCollectiveIsNamedOnEveryRank) {
  std::vector<float> data(30, 1.0f), out(30 * 64);  // outlive the communicator (see above)
  auto comm = make({.deadline = std::chrono::milliseconds(1000)});
  ASSERT_NE(comm, nullptr);
  if (comm->size() < 2) GTEST_SKIP();
  const Status s = comm->rank() == 1 ? comm->all_gather(data.data(), out.data(), 30)
                                     : comm->all_reduce(data.data(), 30, ReduceOp::kSum);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rank 1 called all_gather #0 (count 30 float32) but rank 0 called all_reduce #0 (count 30 float32 sum)"),
            std::string::npos) << s.message();
}

INSTANTIATE_TEST_SUITE_P(Comm, Backends, ::testing::Values(CommBackend::kMpi, CommBackend::kShm, CommBackend::kHier),
                         [](const auto& info) { return std::string(comm_backend_name(info.param)); });

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto runtime = tessera::MpiRuntime::init(&argc, &argv);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", runtime.status().message().c_str());
    return 1;
  }
  tessera::g_runtime = &*runtime;
  // Only rank 0 prints gtest's output; every rank's result counts through the exit code.
  auto world = runtime->world();
  if (world->rank() != 0) {
    delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  double any = failed != 0;
  (void)world->all_reduce(&any, 1, tessera::ReduceOp::kMax);
  world.reset();
  return any != 0 ? 1 : 0;
}
