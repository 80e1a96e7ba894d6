// Calibration: this machine as a one-node "cluster" of CPU ranks, fitted from `tessera bench` output.
//
// `tessera bench kernels --json`:
//   {"threads": 2, "matmul": [{"m": 2048, "n": 1152, "k": 384, "gflops": 180.5}, ...],
//    "memory_bandwidth_gbs": 28.1, "fp32_peak_gflops": 421.0, "bf16_peak_gflops": 760.2, ...}
//   (probes recorded before the peak probe carry "fp32_peak_gflops_estimate" instead, also read)
// `tessera bench train CONFIG --json`:
//   {"tokens_per_s", "step_time_s", "model_flops_per_s", "mfu", "peak_rss_mib", "threads", "n_layer", "n_head",
//    "n_embd", "seq_len", "vocab_size", "batch_size", "world_size"}
// The CPU device: a GEMM runs at the measured rate of the probe shape nearest in log(m), log(n), log(k)
// (scaled by the FLOP ratio when the nearest shape is far), attention at the rate of its own T×T×HS shape,
// memory-bound kernels at the measured bandwidth. With R ranks on the machine each rank gets 1/R of the
// cores and of the bandwidth, and the gradients are all-reduced over shared memory (not overlapped:
// the same cores do both). With pp > 1 the ranks are pipeline stages as the runtime splits them (the LM head
// on the last; interleaved: every virtual stage on its own), simulated through the schedule's program
// (Job::runtime_stages); with tp > 1 every tensor-parallel collective is blocking and on the critical path.
// Nothing is fitted to the measured step time: it is only compared.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/device_model.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::plan {

// Tensor-parallel collectives run on Tessera's mpi backend (bench/pipeline.sh launches with mpirun) and block:
// their link is measured on the machine by a comm probe (read_comm_probe: `tessera bench comm --backends mpi
// --ops all_reduce --json`, which bench/pipeline.sh runs beside the kernel probe). Without one, this fallback:
// each (≤ 1 MiB for small.toml) is a descriptor all-gather and then a nonblocking MPI call waited for at once
// (docs/communication.md "MPI"). Its cost is MPI's protocol and progress, not memory traffic (it runs ~60×
// below the copy bandwidth),
// so it is not derived from the kernel probe but from `tessera bench comm`'s "mpi" backend on this machine
// (bench/RESULTS.md, 2 ranks, all_reduce medians: 64 KiB 78.1 µs, 256 KiB 282.3 µs): the line through them,
// t = 2α + S/β for a 2-rank ring all-reduce (comm_model.h), gives β = 196608 B / 204.2 µs = 0.96 GB/s and
// 2α = 78.1 µs − 65536 B/β = 10 µs.
inline constexpr double kMpiBytesPerS = 0.96e9;
inline constexpr double kMpiLatencyS = 5e-6;

struct MatmulProbe {
  double m = 0, n = 0, k = 0, gflops = 0;
};

struct KernelProbe {
  int64_t threads = 1;
  std::vector<MatmulProbe> matmul;
  double memory_bandwidth_gbs = 0;
  double fp32_peak_gflops = 0;
  double bf16_peak_gflops = 0;  // 0 where the CPU has no bf16 dot product
};

struct TrainMeasurement {
  double tokens_per_s = 0;
  double step_time_s = 0;
  int64_t world_size = 1;
  int64_t batch_size = 0;  // sequences per step over all ranks
  // The layout (absent in older files: one pipeline stage, one micro-batch per rank).
  int64_t pp = 1;
  int64_t tp = 1;
  bool sequence_parallel = false;
  int64_t vpp = 1;  // chunks per pipeline rank (the interleaved schedule)
  int64_t micro_batches = 1;  // per step and model replica
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  std::optional<double> pipeline_bubble;  // measured, with pp > 1
  // Time per step in collectives the run could not hide (tp's and the exposed dp all-reduce; absent: 0).
  double comm_exposed_s = 0;
};

// The mpi backend's all-reduce on this machine, as a link: the least-squares line t = c + k·S through the median
// times of a `tessera bench comm --backends mpi --ops all_reduce --json` run on p ranks, read as comm_model.h's
// ring all-reduce t = 2(p−1)·α + 2(p−1)/p · S/β, so α = c / (2(p−1)) and β = 2(p−1) / (p·k).
struct CommProbe {
  int64_t ranks = 2;
  Link mpi;
  int64_t points = 0;  // all_reduce sizes the line went through
};
StatusOr<CommProbe> parse_comm_probe(const std::string& json_text, const std::string& origin);
StatusOr<CommProbe> read_comm_probe(const std::string& path);

StatusOr<KernelProbe> parse_kernel_probe(const std::string& json_text, const std::string& origin);
StatusOr<KernelProbe> read_kernel_probe(const std::string& path);
StatusOr<TrainMeasurement> read_train_measurement(const std::string& path);

// A CPU rank that owns 1/share of the probed machine.
class CpuDevice final : public DeviceModel {
 public:
  CpuDevice(KernelProbe probe, double share) : probe_(std::move(probe)), share_(share) {}
  double gemm_seconds(double m, double n, double k) const override;
  double attention_seconds(double flops, double t, double hs) const override;
  double memory_seconds(double bytes) const override;
  double activation_bytes() const override { return 4; }
  // The probe's GFLOP/s for the nearest measured shape (whole machine).
  double probe_gflops(double m, double n, double k) const;

 private:
  KernelProbe probe_;
  double share_;
};

struct CalibrationInput {
  ModelSpec model;
  int64_t micro_batch = 8;  // B per rank
  int64_t ranks = 1;        // ranks sharing this machine: dp · tp · pp
  // Pipeline stages (Tessera's own split, spec/pipeline_stages.h), their schedule and the micro-batches per step.
  int64_t pp = 1;
  // Tensor-parallel ranks per stage, and whether they split the per-token work along the tokens.
  int64_t tp = 1;
  bool sequence_parallel = false;
  int64_t vpp = 1;
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  int64_t micro_batches = 1;
  // The tp collectives' link measured on this machine (CommProbe::mpi); none: kMpiBytesPerS, kMpiLatencyS.
  std::optional<Link> tp_link;
};

struct CalibrationResult {
  CalibrationInput input;
  double step_time_s = 0;
  double tokens_per_s = 0;
  double compute_s = 0;
  double allreduce_s = 0;
  double tp_comm_s = 0;            // exposed tensor-parallel collectives
  double optimizer_s = 0;
  double bubble_fraction = 0;      // the stages' mean idle share (pp > 1)
  double matmul_gflops_used = 0;   // probe rate of the model's largest GEMM
  double memory_bandwidth_gbs = 0;
};

StatusOr<CalibrationResult> calibrate_and_predict(const KernelProbe& probe, const CalibrationInput& input);
std::string format_calibration(const CalibrationResult& r);
nlohmann::json calibration_json(const CalibrationResult& r);

}  // namespace tessera::plan
