#include "tessera/plan/pipeline_sim.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

namespace tessera::plan {

StatusOr<PipelineTimeline> simulate_pipeline(const PipelineSimInput& in) {
  TESSERA_ASSIGN_OR_RETURN(
      PipelineProgram program,
      make_pipeline_schedule({.kind = pipeline_schedule_kind(in.schedule), .pp = in.pp, .vpp = in.vpp,
                              .micro_batches = in.micro_batches}));
  return simulate_pipeline(program, PipelineTimes{.forward_s = in.forward_s, .backward_s = in.backward_s,
                                                  .p2p_s = in.p2p_s});
}

StatusOr<PipelineTimeline> simulate_pipeline(const PipelineProgram& p, const PipelineTimes& t) {
  using Kind = PipelineActionKind;
  if (p.pp < 1 || p.vpp < 1 || static_cast<int64_t>(p.ranks.size()) != p.pp) {
    return invalid_argument_error("pipeline: expected pp, vpp >= 1 and one program per rank, found pp {}, vpp {}, {} "
                                  "programs",
                                  p.pp, p.vpp, p.ranks.size());
  }
  const bool per_rank = !t.rank_forward_s.empty();
  if (per_rank && (static_cast<int64_t>(t.rank_forward_s.size()) != p.pp ||
                   static_cast<int64_t>(t.rank_backward_s.size()) != p.pp ||
                   (!t.rank_weight_s.empty() && static_cast<int64_t>(t.rank_weight_s.size()) != p.pp))) {
    return invalid_argument_error("pipeline: per-rank times for {} ranks, expected {}", t.rank_forward_s.size(), p.pp);
  }
  const int64_t stages = p.pp * p.vpp;
  const bool per_stage = !t.stage_forward_s.empty();
  if (per_stage && (static_cast<int64_t>(t.stage_forward_s.size()) != stages ||
                    static_cast<int64_t>(t.stage_backward_s.size()) != stages ||
                    (!t.stage_weight_s.empty() && static_cast<int64_t>(t.stage_weight_s.size()) != stages))) {
    return invalid_argument_error("pipeline: per-stage times for {} stages, expected pp·vpp = {}",
                                  t.stage_forward_s.size(), stages);
  }
  const double vpp = static_cast<double>(p.vpp);
  // One micro-batch's time through global stage s: its own (per_stage), else its rank's share (1/vpp of the rank's).
  auto at = [](const std::vector<double>& v, int64_t i) { return v[static_cast<size_t>(i)]; };
  auto forward_of = [&](int64_t s) {
    return per_stage ? at(t.stage_forward_s, s) : (per_rank ? at(t.rank_forward_s, p.rank_of_stage(s)) : t.forward_s) / vpp;
  };
  auto backward_of = [&](int64_t s) {
    return per_stage ? at(t.stage_backward_s, s)
                     : (per_rank ? at(t.rank_backward_s, p.rank_of_stage(s)) : t.backward_s) / vpp;
  };
  auto weight_of = [&](int64_t s) {
    if (per_stage) return t.stage_weight_s.empty() ? backward_of(s) * t.weight_share : at(t.stage_weight_s, s);
    return per_rank && !t.rank_weight_s.empty() ? at(t.rank_weight_s, p.rank_of_stage(s)) / vpp
                                                : backward_of(s) * t.weight_share;
  };
  auto duration = [&](int64_t s, Kind k) {
    switch (k) {
      case Kind::kForward: return forward_of(s);
      case Kind::kBackward: return backward_of(s);
      case Kind::kBackwardInput: return backward_of(s) - weight_of(s);
      case Kind::kBackwardWeight: return weight_of(s);
      default: return 0.0;
    }
  };
  // sent[(grad?, micro_batch, sender stage)] = when the message left its sender.
  std::map<std::tuple<bool, int64_t, int64_t>, double> sent;
  std::vector<size_t> next(static_cast<size_t>(p.pp), 0);
  std::vector<double> free_at(static_cast<size_t>(p.pp), 0);
  PipelineTimeline timeline;
  size_t remaining = 0;
  for (const auto& r : p.ranks) remaining += r.size();
  // Repeatedly advance every rank through its program until it reaches a recv whose send has not run yet.
  while (remaining > 0) {
    bool progressed = false;
    for (int64_t r = 0; r < p.pp; ++r) {
      const auto& actions = p.ranks[static_cast<size_t>(r)];
      size_t& pc = next[static_cast<size_t>(r)];
      double& now = free_at[static_cast<size_t>(r)];
      while (pc < actions.size()) {
        const PipelineAction& a = actions[pc];
        const int64_t stage = p.stage_of(r, a.chunk);
        if (a.kind == Kind::kSendActivation || a.kind == Kind::kSendGrad) {
          sent[{a.kind == Kind::kSendGrad, a.micro_batch, stage}] = now;
        } else if (a.kind == Kind::kRecvActivation || a.kind == Kind::kRecvGrad) {
          const bool grad = a.kind == Kind::kRecvGrad;
          auto it = sent.find({grad, a.micro_batch, grad ? stage + 1 : stage - 1});
          if (it == sent.end()) break;
          now = std::max(now, it->second + t.p2p_s);  // a blocking recv
        } else {
          PipelineOp op{r, a.micro_batch, stage, a.kind, now, now + duration(stage, a.kind)};
          now = op.end_s;
          timeline.ops.push_back(op);
        }
        ++pc;
        --remaining;
        progressed = true;
      }
    }
    if (!progressed) {
      return internal_error("pipeline {}: schedule deadlocked with {} actions left",
                            pipeline_schedule_kind_name(p.kind), remaining);
    }
  }
  for (const auto& op : timeline.ops) timeline.makespan_s = std::max(timeline.makespan_s, op.end_s);
  double busy = 0;  // every stage's m forwards and backwards (I + W = B)
  for (int64_t s = 0; s < stages; ++s) busy += static_cast<double>(p.micro_batches) * (forward_of(s) + backward_of(s));
  timeline.bubble_fraction =
      timeline.makespan_s > 0 ? 1 - busy / (static_cast<double>(p.pp) * timeline.makespan_s) : 0;
  return timeline;
}

std::string pipeline_chrome_trace(const PipelineTimeline& timeline) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& op : timeline.ops) {
    const bool forward = op.kind == PipelineActionKind::kForward;
    events.push_back({{"name", pipeline_action_name(op.kind) + std::to_string(op.micro_batch)},
                      {"cat", forward ? "forward" : "backward"},
                      {"ph", "X"},
                      {"pid", 0},
                      {"tid", op.rank},
                      {"ts", op.start_s * 1e6},
                      {"dur", (op.end_s - op.start_s) * 1e6},
                      {"args", {{"micro_batch", op.micro_batch}, {"chunk", op.chunk}}}});
  }
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump();
}

std::string pipeline_timeline_json(const PipelineTimeline& timeline, int64_t pp) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : timeline.ops) {
    ops.push_back({op.rank, pipeline_action_name(op.kind), op.micro_batch, op.start_s, op.end_s});
  }
  return nlohmann::json{{"makespan_s", timeline.makespan_s}, {"bubble_fraction", timeline.bubble_fraction},
                        {"ranks", pp}, {"ops", ops}}
      .dump();
}

}  // namespace tessera::plan
