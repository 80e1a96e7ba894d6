#include "tessera/plan/calibrate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <utility>
#include <vector>

#include "tessera/plan/plan_test_util.h"

namespace tessera::plan {
namespace {

std::string fixture(const char* name) { return testing::source_dir() + "/src/tessera/plan/testdata/" + name; }

ModelSpec small() {
  ModelSpec m;
  m.n_layer = 6, m.n_head = 6, m.n_embd = 384, m.seq_len = 256, m.vocab_size = 50257;
  return m;
}

TEST(Calibrate, PredictionFollowsThePhysicsOfTheProbe) {
  auto probe = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  auto one = calibrate_and_predict(*probe, {small(), 8, 1});
  ASSERT_TRUE(one.ok());
  // Model FLOPs per step / step time cannot exceed the fastest probed GEMM rate.
  const double flops = small().train_flops_per_token(256) * 8 * 256;
  EXPECT_LT(flops / one->step_time_s, 205e9);
  EXPECT_GT(flops / one->step_time_s, 80e9);
  // Twice the GEMM rate: compute time halves (memory-bound parts stay).
  KernelProbe fast = *probe;
  for (auto& mm : fast.matmul) mm.gflops *= 2;
  auto quick = calibrate_and_predict(fast, {small(), 8, 1});
  EXPECT_LT(quick->step_time_s, 0.6 * one->step_time_s);
  // Two ranks share the machine: each does a full batch at half the rate, plus an all-reduce.
  auto two = calibrate_and_predict(*probe, {small(), 8, 2});
  ASSERT_TRUE(two.ok());
  EXPECT_GT(two->step_time_s, 2 * one->step_time_s);
  EXPECT_GT(two->allreduce_s, 0);
  EXPECT_NEAR(two->tokens_per_s, one->tokens_per_s, 0.1 * one->tokens_per_s);
}

// Pipelines as the runtime runs them: small's 6 layers split 5 + 1 (the LM head is ~10 blocks, on the last
// stage), so the last stage paces the step and the first waits: more bubble than (p−1)/(m+p−1) of even stages,
// less of it under zb-h1, and a slower step than two data-parallel ranks.
TEST(Calibrate, PipelineStagesAreTheRuntimesUnevenOnes) {
  auto probe = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  const CalibrationInput dp2{.model = small(), .micro_batch = 2, .ranks = 2, .pp = 1, .micro_batches = 4};
  const CalibrationInput pp2{.model = small(), .micro_batch = 2, .ranks = 2, .pp = 2, .micro_batches = 8};
  auto data = calibrate_and_predict(*probe, dp2);
  auto pipe = calibrate_and_predict(*probe, pp2);
  ASSERT_TRUE(data.ok() && pipe.ok()) << pipe.status().to_string();
  EXPECT_GT(pipe->bubble_fraction, 1.0 / 9);
  EXPECT_LT(pipe->bubble_fraction, 0.6);
  EXPECT_GT(pipe->step_time_s, data->step_time_s);
  CalibrationInput zb = pp2;
  zb.schedule = PipelineSchedule::kZeroBubbleH1;
  auto zero_bubble = calibrate_and_predict(*probe, zb);
  ASSERT_TRUE(zero_bubble.ok());
  EXPECT_LE(zero_bubble->step_time_s, pipe->step_time_s);
  CalibrationInput odd = pp2;
  odd.ranks = 3;
  EXPECT_FALSE(calibrate_and_predict(*probe, odd).ok());  // ranks must be dp · pp
}

// The issue's target on real measurements of this machine: testdata/ holds one `tessera bench kernels
// --json` probe and the `tessera bench train configs/small.toml --json` step times measured right after it
// on 1 rank and on 2 ranks (mpirun, dp=2, micro-batch 4). bench/calibrate_local.sh regenerates them.
TEST(Calibrate, PredictsMeasuredLocalRunsWithin15Percent) {
  auto probe = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  for (const char* name : {"bench_train_small_1rank.json", "bench_train_small_2ranks.json"}) {
    auto measured = read_train_measurement(fixture(name));
    ASSERT_TRUE(measured.ok()) << measured.status().to_string();
    const int64_t ranks = measured->world_size;
    auto predicted = calibrate_and_predict(*probe, {small(), measured->batch_size / ranks, ranks});
    ASSERT_TRUE(predicted.ok());
    const double error = (predicted->step_time_s - measured->step_time_s) / measured->step_time_s;
    EXPECT_LT(std::abs(error), 0.15) << name << ": predicted " << predicted->step_time_s << " s, measured "
                                     << measured->step_time_s << " s";
  }
}

// Interleaved as the runtime runs it (docs/parallelism.md): pp·vpp = 6 even virtual stages of one layer each, the
// LM head (~10 blocks) on the last one only — rank 1's chunks are uneven and rank 0 waits for them, so the bubble is
// far above the (p−1)/(v·m+p−1) = 1/25 of even chunks that a head spread over the stages would give.
TEST(Calibrate, InterleavedStagesCarryTheHeadOnTheLastChunkOnly) {
  auto probe = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  const CalibrationInput il{.model = small(), .micro_batch = 2, .ranks = 2, .pp = 2, .vpp = 3,
                            .schedule = PipelineSchedule::kInterleaved, .micro_batches = 8};
  auto r = calibrate_and_predict(*probe, il);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_GT(r->bubble_fraction, 3.0 / 25);
  EXPECT_LT(r->bubble_fraction, 0.6);
  // The step is at least the last rank's work: 8 micro-batches of 3 layers and the head, with no bubble.
  CalibrationInput one = il;
  one.pp = 1, one.vpp = 1, one.ranks = 2, one.schedule = PipelineSchedule::kOneFOneB;
  auto dp = calibrate_and_predict(*probe, one);  // dp = 2: 8 micro-batches of all 6 layers and the head per rank
  ASSERT_TRUE(dp.ok());
  EXPECT_GT(r->step_time_s, 0.7 * dp->compute_s);  // (3 + ~10) / (6 + ~10) blocks; spread: (3 + 5) / 16
}

// Tensor parallelism as the runtime runs it: every collective blocks (nothing hides it) — per micro-batch two
// all-reduces of [M, C] fp32 per block forward and two backward, one for the embedding's sum, one for the head's
// input gradient, and the vocab-parallel loss's all-gather of 2·rows floats per head chunk — on the mpi link.
// Sequence parallelism moves the same bytes (reduce-scatter + all-gather = all-reduce on a ring) except the
// embedding's, which is only reduce-scattered.
TEST(Calibrate, TensorParallelCollectivesAreTheRuntimesBlockingOnes) {
  auto probe = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  ModelSpec model = small();
  model.vocab_size = 50304;
  const CalibrationInput tp2{.model = model, .micro_batch = 2, .ranks = 2, .tp = 2, .micro_batches = 8};
  auto r = calibrate_and_predict(*probe, tp2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const double S = 2.0 * 256 * 384 * 4;
  const double all_reduce = 2 * kMpiLatencyS + S / kMpiBytesPerS;
  const double rows = std::floor(64.0 * (1 << 20) / (4 * 50304.0));  // 333: chunks of 333 and 179 rows
  const double gathers = 2 * kMpiLatencyS + (2 * 2 * rows * 4 + 2 * 2 * (512 - rows) * 4) / 2 / kMpiBytesPerS;
  const double expected = 8 * ((4 * 6 + 2) * all_reduce + gathers);
  EXPECT_NEAR(r->tp_comm_s, expected, 1e-9 * expected);
  CalibrationInput sp = tp2;
  sp.sequence_parallel = true;
  auto s = calibrate_and_predict(*probe, sp);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->tp_comm_s, expected - 8 * (all_reduce / 2), 1e-9 * expected);
}

// bench/pipeline.sh's runs of 2026-12-02 18:27 UTC (configs/small.toml with V = 50304, micro-batch 2, global batch 16,
// 3 rounds; 2 ranks × 1 thread except the first layout), kept in testdata/pipeline_small_2ranks/ with that run's
// kernel probe. As the script does, each layout's median-step run is predicted from the probe alone and compared
// with the median step time and bubble of its three runs. The issue's bubble target (within 5 points) holds for
// every pipeline; the step-time target (15%) for 1 rank, dp2 and tp2 + sp only — the others are held at the errors
// they have today (docs/planner.md "What calibrate does not see"), so a change that widens any of them fails here.
TEST(Calibrate, PredictsTheBenchmarkedLayouts) {
  auto probe = read_kernel_probe(fixture("pipeline_small_2ranks/probe.json"));
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  ModelSpec model = small();
  model.vocab_size = 50304;
  const std::pair<const char*, double> layouts[] = {
      {"1_rank_x_2_threads", 0.15}, {"dp2", 0.15},       {"tp2", 0.20},       {"tp2_sp", 0.15},
      {"pp2_1f1b", 0.25},           {"pp2_gpipe", 0.20}, {"pp2_zb-h1", 0.20}, {"pp2_interleaved_v3", 0.20}};
  for (const auto& [name, max_error] : layouts) {
    std::vector<TrainMeasurement> runs;
    for (int round = 1; round <= 3; ++round) {
      auto m = read_train_measurement(fixture(fmt::format("pipeline_small_2ranks/{}.{}.json", name, round).c_str()));
      ASSERT_TRUE(m.ok()) << m.status().to_string();
      runs.push_back(*m);
    }
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.step_time_s < b.step_time_s; });
    const TrainMeasurement& run = runs[1];
    std::vector<double> bubbles;
    for (const auto& r : runs) bubbles.push_back(r.pipeline_bubble.value_or(0));
    std::sort(bubbles.begin(), bubbles.end());
    const int64_t replicas = run.world_size / (run.pp * run.tp);
    const CalibrationInput in{.model = model, .micro_batch = run.batch_size / (replicas * run.micro_batches),
                              .ranks = run.world_size, .pp = run.pp, .tp = run.tp,
                              .sequence_parallel = run.sequence_parallel, .vpp = run.vpp, .schedule = run.schedule,
                              .micro_batches = run.micro_batches};
    auto predicted = calibrate_and_predict(*probe, in);
    ASSERT_TRUE(predicted.ok()) << name << ": " << predicted.status().to_string();
    const double error = (predicted->step_time_s - run.step_time_s) / run.step_time_s;
    EXPECT_LT(std::abs(error), max_error) << name << ": predicted " << predicted->step_time_s << " s, measured "
                                          << run.step_time_s << " s";
    if (run.pp > 1) {
      EXPECT_NEAR(predicted->bubble_fraction, bubbles[1], 0.05) << name;
    }
  }
}

TEST(Calibrate, ReadsTheTrainMeasurementAndRejectsBadProbes) {
  auto m = read_train_measurement(fixture("bench_train_small_2ranks.json"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->world_size, 2);
  EXPECT_EQ(m->batch_size, 8);
  EXPECT_NEAR(m->tokens_per_s * m->step_time_s, 8 * 256, 1e-6);
  EXPECT_EQ(m->comm_exposed_s, 0);  // absent in older files
  auto tp = read_train_measurement(fixture("pipeline_small_2ranks/tp2.1.json"));
  ASSERT_TRUE(tp.ok());
  EXPECT_DOUBLE_EQ(tp->comm_exposed_s, 0.3932972160037025);
  EXPECT_EQ(tp->tp, 2);
  EXPECT_FALSE(parse_kernel_probe("{\"matmul\": []}", "<t>").ok());
  EXPECT_FALSE(parse_kernel_probe("not json", "<t>").ok());
  auto no_bw = parse_kernel_probe("{\"matmul\": [{\"m\":1,\"n\":1,\"k\":1,\"gflops\":1}]}", "<t>");
  ASSERT_FALSE(no_bw.ok());
  EXPECT_NE(no_bw.status().message().find("memory_bandwidth_gbs"), std::string::npos);
  EXPECT_FALSE(read_kernel_probe("/nonexistent.json").ok());
}

}  // namespace
}  // namespace tessera::plan

namespace tessera::plan {
namespace {

// `tessera bench kernels --json` carries the probed fp32 and bf16 peaks; older recorded probes only an
// fp32 estimate, which is still read.
TEST(Calibrate, ReadsTheProbedPeaksAndTheOldEstimate) {
  const std::string matmul = R"("matmul": [{"m": 8, "n": 8, "k": 8, "gflops": 10}], "memory_bandwidth_gbs": 20)";
  auto probed = parse_kernel_probe("{" + matmul + R"(, "fp32_peak_gflops": 421.5, "bf16_peak_gflops": 760.25})", "t");
  ASSERT_TRUE(probed.ok()) << probed.status().to_string();
  EXPECT_DOUBLE_EQ(probed->fp32_peak_gflops, 421.5);
  EXPECT_DOUBLE_EQ(probed->bf16_peak_gflops, 760.25);
  auto old = parse_kernel_probe("{" + matmul + R"(, "fp32_peak_gflops_estimate": 230})", "t");
  ASSERT_TRUE(old.ok());
  EXPECT_DOUBLE_EQ(old->fp32_peak_gflops, 230);
  EXPECT_DOUBLE_EQ(old->bf16_peak_gflops, 0);
}

// The comm probe's all_reduce line, read as a 2-rank ring: t = 2α + S/β. Rows of other ops and backends are
// ignored; too few mpi rows are refused by name.
TEST(Calibrate, CommProbeFitsTheMpiLink) {
  const std::string json = R"({"ranks": 2, "copy_bandwidth_gbs": 50, "rows": [
      {"op": "all_reduce", "backend": "mpi", "bytes": 65536, "seconds": 7.5536e-5},
      {"op": "all_reduce", "backend": "mpi", "bytes": 262144, "seconds": 2.7214e-4},
      {"op": "all_reduce", "backend": "mpi", "bytes": 1048576, "seconds": 1.05856e-3},
      {"op": "all_reduce", "backend": "shm", "bytes": 65536, "seconds": 1e-5},
      {"op": "all_gather", "backend": "mpi", "bytes": 65536, "seconds": 1e-3}]})";
  auto probe = parse_comm_probe(json, "inline");
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  EXPECT_EQ(probe->points, 3);
  // Built from β = 1 GB/s (S/β: 65.536 µs at 64 KiB) and 2α = 10 µs.
  EXPECT_NEAR(probe->mpi.bytes_per_s, 1e9, 1e6);
  EXPECT_NEAR(probe->mpi.latency_s, 5e-6, 1e-8);
  // The link changes the tp2 prediction: a slower measured link, a slower step.
  auto kernels = read_kernel_probe(fixture("bench_kernels_2threads.json"));
  ASSERT_TRUE(kernels.ok());
  CalibrationInput tp2{.model = small(), .micro_batch = 2, .ranks = 2, .tp = 2, .micro_batches = 8};
  tp2.model.vocab_size = 50304;
  tp2.tp_link = probe->mpi;
  auto fast = calibrate_and_predict(*kernels, tp2);
  tp2.tp_link = Link{.bytes_per_s = 0.25e9, .latency_s = 5e-6};
  auto slow = calibrate_and_predict(*kernels, tp2);
  ASSERT_TRUE(fast.ok() && slow.ok());
  EXPECT_GT(slow->tp_comm_s, 3 * fast->tp_comm_s);
  EXPECT_GT(slow->step_time_s, fast->step_time_s);
  auto none = parse_comm_probe(R"({"ranks": 2, "rows": [{"op": "all_reduce", "backend": "shm", "bytes": 1, "seconds": 1}]})",
                               "shm-only.json");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("comm probe 'shm-only.json': expected all_reduce rows of the mpi backend"),
            std::string::npos) << none.status().message();
}

}  // namespace
}  // namespace tessera::plan
