#include "tessera/plan/pipeline_sim.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace tessera::plan {

namespace {

struct OpRef {
  int64_t micro_batch;
  int64_t local_chunk;  // 0..vpp−1 on this rank
  bool forward;
};

// The order in which `rank` runs its ops.
std::vector<OpRef> rank_order(const PipelineSimInput& in, int64_t rank) {
  const int64_t m = in.micro_batches, pp = in.pp, v = in.vpp;
  std::vector<OpRef> order;
  if (in.schedule == PipelineSchedule::kGPipe) {
    for (int64_t i = 0; i < m; ++i) order.push_back({i, 0, true});
    for (int64_t i = 0; i < m; ++i) order.push_back({i, 0, false});
    return order;
  }
  // 1F1B and interleaved 1F1B (Megatron): forward ops in groups of pp micro-batches per chunk; warm-up of
  // (pp−rank−1)·2 + (v−1)·pp forwards (pp−rank−1 without interleaving), then alternate, then drain.
  const int64_t total = m * v;
  auto fwd_op = [&](int64_t k) {  // k-th forward of this rank
    const int64_t group = k / (pp * v), within = k % (pp * v);
    return OpRef{group * pp + within % pp, within / pp, true};
  };
  auto bwd_op = [&](int64_t k) {
    const int64_t group = k / (pp * v), within = k % (pp * v);
    return OpRef{group * pp + within % pp, v - 1 - within / pp, false};
  };
  int64_t warmup = v == 1 ? pp - rank - 1 : (pp - rank - 1) * 2 + (v - 1) * pp;
  warmup = std::min(warmup, total);
  int64_t f = 0, b = 0;
  for (; f < warmup; ++f) order.push_back(fwd_op(f));
  while (f < total) {
    order.push_back(fwd_op(f++));
    order.push_back(bwd_op(b++));
  }
  while (b < total) order.push_back(bwd_op(b++));
  return order;
}

}  // namespace

StatusOr<PipelineTimeline> simulate_pipeline(const PipelineSimInput& in) {
  if (in.pp < 1 || in.vpp < 1 || in.micro_batches < 1) {
    return invalid_argument_error("pipeline: expected pp, vpp, micro_batches >= 1, found {}, {}, {}", in.pp, in.vpp,
                                  in.micro_batches);
  }
  if (in.vpp > 1 && in.micro_batches % in.pp != 0) {
    return invalid_argument_error("pipeline: interleaved schedule needs micro_batches ({}) to be a multiple of pp ({})",
                                  in.micro_batches, in.pp);
  }
  const int64_t chunks = in.pp * in.vpp;
  const double f = in.forward_s / static_cast<double>(in.vpp), b = in.backward_s / static_cast<double>(in.vpp);
  // done[(forward, micro_batch, chunk)] = end time.
  std::map<std::tuple<bool, int64_t, int64_t>, double> done;
  std::vector<std::vector<OpRef>> orders(in.pp);
  std::vector<size_t> next(in.pp, 0);
  std::vector<double> free_at(in.pp, 0);
  for (int64_t r = 0; r < in.pp; ++r) orders[r] = rank_order(in, r);
  PipelineTimeline timeline;
  size_t remaining = 0;
  for (const auto& o : orders) remaining += o.size();
  // Repeatedly run, on every rank, the next op whose dependency is met (list scheduling in program order).
  while (remaining > 0) {
    bool progressed = false;
    for (int64_t r = 0; r < in.pp; ++r) {
      while (next[r] < orders[r].size()) {
        const OpRef& op = orders[r][next[r]];
        const int64_t chunk = op.local_chunk * in.pp + r;
        double ready = 0;
        if (op.forward && chunk > 0) {
          auto it = done.find({true, op.micro_batch, chunk - 1});
          if (it == done.end()) break;
          ready = it->second + in.p2p_s;
        } else if (!op.forward) {
          auto own = done.find({true, op.micro_batch, chunk});
          if (own == done.end()) break;
          ready = own->second;
          if (chunk < chunks - 1) {
            auto it = done.find({false, op.micro_batch, chunk + 1});
            if (it == done.end()) break;
            ready = std::max(ready, it->second + in.p2p_s);
          }
        }
        PipelineOp out{r, op.micro_batch, chunk, op.forward, std::max(ready, free_at[r]), 0};
        out.end_s = out.start_s + (op.forward ? f : b);
        free_at[r] = out.end_s;
        done[{op.forward, op.micro_batch, chunk}] = out.end_s;
        timeline.ops.push_back(out);
        ++next[r];
        --remaining;
        progressed = true;
      }
    }
    if (!progressed) return internal_error("pipeline: schedule deadlocked with {} ops left", remaining);
  }
  for (const auto& op : timeline.ops) timeline.makespan_s = std::max(timeline.makespan_s, op.end_s);
  const double busy = static_cast<double>(in.micro_batches) * (in.forward_s + in.backward_s) * static_cast<double>(in.pp);
  timeline.bubble_fraction = 1 - busy / (static_cast<double>(in.pp) * timeline.makespan_s);
  return timeline;
}

std::string pipeline_chrome_trace(const PipelineTimeline& timeline) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& op : timeline.ops) {
    events.push_back({{"name", (op.forward ? "F" : "B") + std::to_string(op.micro_batch)},
                      {"cat", op.forward ? "forward" : "backward"},
                      {"ph", "X"},
                      {"pid", 0},
                      {"tid", op.rank},
                      {"ts", op.start_s * 1e6},
                      {"dur", (op.end_s - op.start_s) * 1e6},
                      {"args", {{"micro_batch", op.micro_batch}, {"chunk", op.chunk}}}});
  }
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump();
}

}  // namespace tessera::plan
