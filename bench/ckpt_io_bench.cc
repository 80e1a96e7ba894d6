// Checkpoint I/O benchmark (issue 10): what an asynchronous save costs the step loop against a
// synchronous save of the same state, and the save's write throughput against `dd ... conv=fsync` to
// the same directory. Rounds are interleaved (dd, sync save, async save) so that the noise of a shared
// machine hits all three alike; medians are reported.
//
//   tessera_ckpt_io_bench --dir /tmp --mb 512 --rounds 3
//
// State: `tensors` f32 tensors totalling `mb` MiB of pseudo-random values (a model + optimizer state).
// sync: AsyncCheckpointer::save + wait (snapshot copy, then files, fsyncs, rename): what a synchronous
//   save stalls the step for.
// async: the time inside AsyncCheckpointer::save alone, with the previous write finished (training
//   between saves is longer than a write): the snapshot copy into reused host buffers.
// deferred: what the trainer does (AsyncCheckpointer::set_deferred_snapshot): save() records where the
//   tensors are, the background thread copies them while the next step computes (here `step-ms` of one
//   thread's arithmetic), and the update waits in wait_snapshot() for the copy: the stall is save() plus
//   that wait. The copy's own seconds on the background thread are printed beside it (the CPU it takes from
//   training when every core computes).
// throughput: tensor bytes / background write seconds (data file + manifest + COMMIT + fsyncs + rename);
//   dd: the same number of bytes by dd with bs=1M conv=fsync, timed around the process.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "tessera/ckpt/async_checkpointer.h"
#include "tessera/core/clock.h"

namespace {

using namespace tessera;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// CPU seconds of the calling thread: the stall's own work, apart from time the scheduler gave to others.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void check(const Status& status) {
  if (!status.ok()) {
    fmt::print(stderr, "ckpt_io_bench: {}\n", status.to_string());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"checkpoint save stall and throughput"};
  std::string parent = "/tmp";
  int64_t mb = 512;
  int tensors = 32;
  int rounds = 3;
  double step_ms = 100;
  app.add_option("--dir", parent, "a directory on the disk to measure (the bench works in DIR/tessera_ckpt_io_bench, "
                                  "removed afterwards)");
  app.add_option("--mb", mb, "state size in MiB")->check(CLI::Range(1, 1 << 20));
  app.add_option("--tensors", tensors, "number of tensors")->check(CLI::Range(1, 100000));
  app.add_option("--rounds", rounds, "interleaved rounds")->check(CLI::Range(1, 100));
  app.add_option("--step-ms", step_ms, "deferred snapshots: milliseconds of compute between save and update")
      ->check(CLI::Range(0.0, 60000.0));
  CLI11_PARSE(app, argc, argv);

  namespace fs = std::filesystem;
  const std::string dir = parent + "/tessera_ckpt_io_bench";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int64_t numel = mb * (1 << 20) / 4 / tensors;
  std::vector<std::vector<float>> state(static_cast<size_t>(tensors), std::vector<float>(static_cast<size_t>(numel)));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (auto& tensor : state) {
    for (float& x : tensor) x = uniform(rng);
  }
  const uint64_t bytes = static_cast<uint64_t>(numel) * 4 * static_cast<uint64_t>(tensors);
  auto snapshot = [&](StateWriter& writer) {
    for (int t = 0; t < tensors; ++t) {
      writer.write_tensor(TensorView{fmt::format("model.t{}", t), DType::kF32, {numel},
                                     state[static_cast<size_t>(t)].data()});
    }
    writer.write_int("train.step", 0);
  };

  AsyncCheckpointer sync_saver(dir + "/sync", /*keep_last=*/1);
  AsyncCheckpointer async_saver(dir + "/async", /*keep_last=*/1);
  AsyncCheckpointer deferred_saver(dir + "/deferred", /*keep_last=*/1);
  deferred_saver.set_deferred_snapshot(true);
  // One thread's arithmetic for `ms` milliseconds: the forward and backward the deferred copy overlaps.
  volatile double sink = 0;
  auto compute = [&](double ms) {
    const Stopwatch watch;
    double x = 1.0;
    while (watch.elapsed_seconds() * 1e3 < ms) {
      for (int i = 0; i < 10000; ++i) x = x * 1.0000001 + 1e-9;
    }
    sink = sink + x;
  };
  // Warm-up: fills both buffer pools (first touch of the host staging) and the directories.
  check(sync_saver.save(0, snapshot));
  check(sync_saver.wait());
  check(async_saver.save(0, snapshot));
  check(async_saver.wait());
  check(deferred_saver.save(0, snapshot));
  check(deferred_saver.wait());

  std::vector<double> dd_s, sync_s, stall_s, stall_cpu_s, write_s, deferred_s, deferred_copy_s;
  for (int round = 1; round <= rounds; ++round) {
    const std::string dd = fmt::format("dd if=/dev/zero of={}/dd.bin bs=1M count={} conv=fsync status=none",
                                       dir, bytes >> 20);
    Stopwatch dd_watch;
    if (std::system(dd.c_str()) != 0) check(io_error("'{}' failed", dd));
    dd_s.push_back(dd_watch.elapsed_seconds());
    fs::remove(dir + "/dd.bin");

    Stopwatch sync_watch;
    check(sync_saver.save(round, snapshot));
    check(sync_saver.wait());
    sync_s.push_back(sync_watch.elapsed_seconds());

    const double cpu_before = thread_cpu_seconds();
    Stopwatch stall_watch;
    check(async_saver.save(round, snapshot));
    stall_s.push_back(stall_watch.elapsed_seconds());
    stall_cpu_s.push_back(thread_cpu_seconds() - cpu_before);
    check(async_saver.wait());  // "training" outlasts the write: the next save does not wait
    write_s.push_back(async_saver.last_stats().write_seconds);

    Stopwatch deferred_watch;
    check(deferred_saver.save(round, snapshot));
    double stalled = deferred_watch.elapsed_seconds();
    compute(step_ms);
    stalled += deferred_saver.wait_snapshot();
    deferred_s.push_back(stalled);
    check(deferred_saver.wait());
    deferred_copy_s.push_back(deferred_saver.last_stats().deferred_copy_seconds);
    fmt::print("round {}: dd {:.3f} s, sync save {:.3f} s, async stall {:.4f} s (cpu {:.4f} s; write {:.3f} s), "
               "deferred stall {:.5f} s (copy {:.4f} s on the writer thread)\n",
               round, dd_s.back(), sync_s.back(), stall_s.back(), stall_cpu_s.back(), write_s.back(), deferred_s.back(),
               deferred_copy_s.back());
  }
  const double mib = static_cast<double>(bytes) / (1 << 20);
  const double dd_rate = mib / median(dd_s);
  const double save_rate = mib / median(write_s);
  fmt::print("state {:.0f} MiB in {} tensors, {} rounds (medians)\n", mib, tensors, rounds);
  fmt::print("async stall {:.4f} s vs sync save {:.3f} s: {:.2f}% (target <= 5%); stall cpu {:.4f} s = {:.1f} GB/s "
             "copied\n",
             median(stall_s), median(sync_s), 100.0 * median(stall_s) / median(sync_s), median(stall_cpu_s),
             static_cast<double>(bytes) / median(stall_cpu_s) / 1e9);
  fmt::print("deferred stall {:.5f} s vs sync save {:.3f} s: {:.3f}% (target <= 5%) after {:.0f} ms of compute; its "
             "copy took {:.4f} s on the writer thread\n",
             median(deferred_s), median(sync_s), 100.0 * median(deferred_s) / median(sync_s), step_ms,
             median(deferred_copy_s));
  fmt::print("save write {:.0f} MiB/s vs dd conv=fsync {:.0f} MiB/s: {:.1f}% (target >= 70%)\n", save_rate, dd_rate,
             100.0 * save_rate / dd_rate);
  fs::remove_all(dir);
  return 0;
}
