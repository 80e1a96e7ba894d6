#include "tessera/spec/pipeline_schedule.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <utility>

namespace tessera {

namespace {

using Kind = PipelineActionKind;

constexpr std::array<std::pair<PipelineScheduleKind, const char*>, 4> kScheduleNames = {{
    {PipelineScheduleKind::kGPipe, "gpipe"},
    {PipelineScheduleKind::kOneFOneB, "1f1b"},
    {PipelineScheduleKind::kInterleaved, "interleaved"},
    {PipelineScheduleKind::kZeroBubbleH1, "zb-h1"},
}};

// The compute actions of one rank in order (forward, backward or its I/W halves); messages are added after.
std::vector<PipelineAction> compute_order(const PipelineScheduleRequest& in, int64_t rank) {
  const int64_t m = in.micro_batches, pp = in.pp, v = in.vpp;
  std::vector<PipelineAction> order;
  if (in.kind == PipelineScheduleKind::kGPipe) {
    for (int64_t c = 0; c < v; ++c)
      for (int64_t i = 0; i < m; ++i) order.push_back({Kind::kForward, i, c});
    for (int64_t c = v - 1; c >= 0; --c)
      for (int64_t i = 0; i < m; ++i) order.push_back({Kind::kBackward, i, c});
    return order;
  }
  if (in.kind == PipelineScheduleKind::kZeroBubbleH1) {
    // 1F1B with I for B; rank r runs W(k) after I(k + r) in the steady phase, the rest after the drain's Is.
    const int64_t warmup = std::min(pp - rank - 1, m);
    int64_t f = 0, b = 0, w = 0;
    for (; f < warmup; ++f) order.push_back({Kind::kForward, f, 0});
    while (f < m) {
      order.push_back({Kind::kForward, f++, 0});
      order.push_back({Kind::kBackwardInput, b++, 0});
      if (b - 1 - rank >= w) order.push_back({Kind::kBackwardWeight, w++, 0});
    }
    while (b < m) {
      order.push_back({Kind::kBackwardInput, b++, 0});
      if (w < b) order.push_back({Kind::kBackwardWeight, w++, 0});
    }
    while (w < m) order.push_back({Kind::kBackwardWeight, w++, 0});
    return order;
  }
  // 1F1B and interleaved 1F1B (Megatron): the k-th forward of a rank is micro-batch group·pp + within % pp of
  // chunk within / pp, with group = k / (pp·v); backwards walk the chunks in reverse. Warm-up of
  // (pp−rank−1)·2 + (v−1)·pp forwards (pp−rank−1 without interleaving), then alternate, then drain.
  const int64_t total = m * v;
  auto fwd_op = [&](int64_t k) {
    const int64_t group = k / (pp * v), within = k % (pp * v);
    return PipelineAction{Kind::kForward, group * pp + within % pp, within / pp};
  };
  auto bwd_op = [&](int64_t k) {
    const int64_t group = k / (pp * v), within = k % (pp * v);
    return PipelineAction{Kind::kBackward, group * pp + within % pp, v - 1 - within / pp};
  };
  const int64_t warmup = std::min(v == 1 ? pp - rank - 1 : (pp - rank - 1) * 2 + (v - 1) * pp, total);
  int64_t f = 0, b = 0;
  for (; f < warmup; ++f) order.push_back(fwd_op(f));
  while (f < total) {
    order.push_back(fwd_op(f++));
    order.push_back(bwd_op(b++));
  }
  while (b < total) order.push_back(bwd_op(b++));
  return order;
}

// Adds the messages around each compute action: the recv right before the action that needs it, the send
// right after the action that produces it; none between stages of the same rank.
std::vector<PipelineAction> with_messages(const PipelineProgram& p, int64_t rank,
                                          const std::vector<PipelineAction>& compute) {
  std::vector<PipelineAction> out;
  const int64_t last = p.stages() - 1;
  for (const PipelineAction& a : compute) {
    const int64_t s = p.stage_of(rank, a.chunk);
    const bool prev_remote = s > 0 && p.rank_of_stage(s - 1) != rank;
    const bool next_remote = s < last && p.rank_of_stage(s + 1) != rank;
    if (a.kind == Kind::kForward) {
      if (prev_remote) out.push_back({Kind::kRecvActivation, a.micro_batch, a.chunk});
      out.push_back(a);
      if (next_remote) out.push_back({Kind::kSendActivation, a.micro_batch, a.chunk});
    } else if (a.kind == Kind::kBackward || a.kind == Kind::kBackwardInput) {
      if (next_remote) out.push_back({Kind::kRecvGrad, a.micro_batch, a.chunk});
      out.push_back(a);
      if (prev_remote) out.push_back({Kind::kSendGrad, a.micro_batch, a.chunk});
    } else {
      out.push_back(a);
    }
  }
  return out;
}

std::string action_text(const PipelineAction& a) {
  return fmt::format("{}{}.{}", pipeline_action_name(a.kind), a.micro_batch, a.chunk);
}

// Per (micro_batch, chunk) of one rank: what has run so far.
struct CellState {
  bool forward = false, backward = false, input = false, weight = false;
  bool got_activation = false, got_grad = false, sent_activation = false, sent_grad = false;
};

// The static checks of one rank's program (everything but message matching and deadlock).
Status check_rank(const PipelineProgram& p, int64_t rank) {
  const int64_t last = p.stages() - 1;
  std::map<std::pair<int64_t, int64_t>, CellState> cells;
  auto where = [&](size_t i, const PipelineAction& a) {
    return fmt::format("pipeline {}: rank {} action #{} {}", pipeline_schedule_kind_name(p.kind), rank, i,
                       action_text(a));
  };
  const auto& actions = p.ranks[static_cast<size_t>(rank)];
  for (size_t i = 0; i < actions.size(); ++i) {
    const PipelineAction& a = actions[i];
    if (a.micro_batch < 0 || a.micro_batch >= p.micro_batches || a.chunk < 0 || a.chunk >= p.vpp) {
      return invalid_argument_error("{}: expected micro_batch in [0, {}) and chunk in [0, {})", where(i, a),
                                    p.micro_batches, p.vpp);
    }
    const int64_t s = p.stage_of(rank, a.chunk);
    const bool prev_remote = s > 0 && p.rank_of_stage(s - 1) != rank;
    const bool next_remote = s < last && p.rank_of_stage(s + 1) != rank;
    CellState& c = cells[{a.micro_batch, a.chunk}];
    // The same rank's neighbouring stage (pp = 1 with vpp > 1): handed over locally.
    const CellState* prev_local = s > 0 && !prev_remote ? &cells[{a.micro_batch, a.chunk - 1}] : nullptr;
    const CellState* next_local = s < last && !next_remote ? &cells[{a.micro_batch, a.chunk + 1}] : nullptr;
    auto fail = [&](const char* what) { return invalid_argument_error("{}: {}", where(i, a), what); };
    switch (a.kind) {
      case Kind::kForward:
        if (c.forward) return fail("forward runs twice");
        if (prev_remote && !c.got_activation) return fail("forward before its recv_act");
        if (prev_local && !prev_local->forward) return fail("forward before the previous stage's forward");
        c.forward = true;
        break;
      case Kind::kBackward:
      case Kind::kBackwardInput:
        if (c.backward || c.input) return fail("backward runs twice");
        if (!c.forward) return fail("backward before its forward");
        if (next_remote && !c.got_grad) return fail("backward before its recv_grad");
        if (next_local && !(next_local->backward || next_local->input))
          return fail("backward before the next stage's backward");
        (a.kind == Kind::kBackward ? c.backward : c.input) = true;
        break;
      case Kind::kBackwardWeight:
        if (c.weight) return fail("weight gradient runs twice");
        if (!c.input) return fail("weight gradient before its input gradient (I)");
        c.weight = true;
        break;
      case Kind::kSendActivation:
        if (!next_remote) return fail("send_act from the last stage or to the same rank");
        if (c.sent_activation || !c.forward) return fail("send_act twice or before its forward");
        c.sent_activation = true;
        break;
      case Kind::kSendGrad:
        if (!prev_remote) return fail("send_grad from the first stage or to the same rank");
        if (c.sent_grad || !(c.backward || c.input)) return fail("send_grad twice or before its backward");
        c.sent_grad = true;
        break;
      case Kind::kRecvActivation:
        if (!prev_remote) return fail("recv_act on the first stage or from the same rank");
        if (c.got_activation) return fail("recv_act twice");
        c.got_activation = true;
        break;
      case Kind::kRecvGrad:
        if (!next_remote) return fail("recv_grad on the last stage or from the same rank");
        if (c.got_grad) return fail("recv_grad twice");
        c.got_grad = true;
        break;
    }
  }
  for (int64_t mb = 0; mb < p.micro_batches; ++mb) {
    for (int64_t chunk = 0; chunk < p.vpp; ++chunk) {
      const CellState& c = cells[{mb, chunk}];
      const bool done = c.forward && (c.backward || (c.input && c.weight));
      if (!done) {
        return invalid_argument_error(
            "pipeline {}: rank {} never completes micro-batch {} chunk {} (forward {}, backward {}, I {}, W {})",
            pipeline_schedule_kind_name(p.kind), rank, mb, chunk, c.forward, c.backward, c.input, c.weight);
      }
    }
  }
  return Status();
}

// Runs all ranks with blocking sends into capacity-1 channels; checks message order and finds deadlocks.
Status check_messages(const PipelineProgram& p) {
  // channel[(src, dst, grad?)] = queue of (micro_batch, sender stage).
  std::map<std::tuple<int64_t, int64_t, bool>, std::deque<std::pair<int64_t, int64_t>>> channels;
  constexpr size_t kCapacity = 1;
  std::vector<size_t> next(static_cast<size_t>(p.pp), 0);
  size_t remaining = 0;
  for (const auto& r : p.ranks) remaining += r.size();
  while (remaining > 0) {
    bool progressed = false;
    for (int64_t r = 0; r < p.pp; ++r) {
      const auto& actions = p.ranks[static_cast<size_t>(r)];
      size_t& pc = next[static_cast<size_t>(r)];
      while (pc < actions.size()) {
        const PipelineAction& a = actions[pc];
        const int64_t s = p.stage_of(r, a.chunk);
        if (a.kind == Kind::kSendActivation || a.kind == Kind::kSendGrad) {
          const bool grad = a.kind == Kind::kSendGrad;
          auto& q = channels[{r, p.rank_of_stage(grad ? s - 1 : s + 1), grad}];
          if (q.size() >= kCapacity) break;  // blocked until the peer receives
          q.emplace_back(a.micro_batch, s);
        } else if (a.kind == Kind::kRecvActivation || a.kind == Kind::kRecvGrad) {
          const bool grad = a.kind == Kind::kRecvGrad;
          const int64_t from_stage = grad ? s + 1 : s - 1;
          auto& q = channels[{p.rank_of_stage(from_stage), r, grad}];
          if (q.empty()) break;
          if (q.front() != std::make_pair(a.micro_batch, from_stage)) {
            return invalid_argument_error(
                "pipeline {}: rank {} action #{} {} expects micro-batch {} of stage {} but rank {} sent micro-batch "
                "{} of stage {} first (sends and recvs out of order)",
                pipeline_schedule_kind_name(p.kind), r, pc, action_text(a), a.micro_batch, from_stage,
                p.rank_of_stage(from_stage), q.front().first, q.front().second);
          }
          q.pop_front();
        }
        ++pc;
        --remaining;
        progressed = true;
      }
    }
    if (!progressed) {
      std::string waits;
      for (int64_t r = 0; r < p.pp; ++r) {
        const size_t pc = next[static_cast<size_t>(r)];
        if (pc < p.ranks[static_cast<size_t>(r)].size()) {
          waits += fmt::format("{}rank {} at #{} {}", waits.empty() ? "" : ", ", r, pc,
                               action_text(p.ranks[static_cast<size_t>(r)][pc]));
        }
      }
      return invalid_argument_error("pipeline {}: deadlock with blocking sends of capacity 1: {}",
                                    pipeline_schedule_kind_name(p.kind), waits);
    }
  }
  for (const auto& [key, q] : channels) {
    if (!q.empty()) {
      return invalid_argument_error("pipeline {}: rank {} sent micro-batch {} of stage {} to rank {} but it is never "
                                    "received",
                                    pipeline_schedule_kind_name(p.kind), std::get<0>(key), q.front().first,
                                    q.front().second, std::get<1>(key));
    }
  }
  return Status();
}

}  // namespace

const char* pipeline_schedule_kind_name(PipelineScheduleKind kind) {
  for (const auto& [k, name] : kScheduleNames)
    if (k == kind) return name;
  return "?";
}

bool parse_pipeline_schedule_kind(const std::string& text, PipelineScheduleKind* out) {
  for (const auto& [k, name] : kScheduleNames) {
    if (text == name) {
      *out = k;
      return true;
    }
  }
  return false;
}

const char* pipeline_action_name(PipelineActionKind kind) {
  switch (kind) {
    case Kind::kForward: return "F";
    case Kind::kBackward: return "B";
    case Kind::kBackwardInput: return "I";
    case Kind::kBackwardWeight: return "W";
    case Kind::kSendActivation: return "send_act";
    case Kind::kRecvActivation: return "recv_act";
    case Kind::kSendGrad: return "send_grad";
    case Kind::kRecvGrad: return "recv_grad";
  }
  return "?";
}

Status check_pipeline_schedule(const PipelineScheduleRequest& in) {
  const char* name = pipeline_schedule_kind_name(in.kind);
  if (in.pp < 1 || in.vpp < 1 || in.micro_batches < 1) {
    return invalid_argument_error("pipeline {}: expected pp, vpp and micro-batches >= 1, found {}, {} and {}", name,
                                  in.pp, in.vpp, in.micro_batches);
  }
  if (in.vpp > 1 && in.kind != PipelineScheduleKind::kInterleaved) {
    return invalid_argument_error("pipeline {}: vpp ({}) > 1 needs the interleaved schedule; hint: schedule = "
                                  "\"interleaved\" or vpp = 1",
                                  name, in.vpp);
  }
  if (in.kind == PipelineScheduleKind::kInterleaved && in.micro_batches % in.pp != 0) {
    const int64_t up = (in.micro_batches + in.pp - 1) / in.pp * in.pp;
    return invalid_argument_error("pipeline interleaved: needs micro-batches ({}) to be a multiple of pp ({}); hint: "
                                  "micro-batches {}",
                                  in.micro_batches, in.pp, up);
  }
  if (in.kind == PipelineScheduleKind::kZeroBubbleH1 && in.micro_batches < in.pp) {
    return invalid_argument_error("pipeline zb-h1: needs micro-batches ({}) >= pp ({}) to fill its bubble with weight "
                                  "gradients; hint: micro-batches {} or schedule \"1f1b\"",
                                  in.micro_batches, in.pp, in.pp);
  }
  if (in.n_layer > 0 && in.vpp > 1 && in.n_layer % (in.pp * in.vpp) != 0) {
    return invalid_argument_error("pipeline {}: n_layer ({}) must split evenly into pp*vpp = {}*{} = {} chunks; hint: "
                                  "a vpp that divides n_layer/pp",
                                  name, in.n_layer, in.pp, in.vpp, in.pp * in.vpp);
  }
  return Status();
}

PipelineScheduleKind pipeline_schedule_kind(PipelineSchedule schedule) {
  switch (schedule) {
    case PipelineSchedule::kGPipe: return PipelineScheduleKind::kGPipe;
    case PipelineSchedule::kOneFOneB: return PipelineScheduleKind::kOneFOneB;
    case PipelineSchedule::kInterleaved: return PipelineScheduleKind::kInterleaved;
    case PipelineSchedule::kZeroBubbleH1: return PipelineScheduleKind::kZeroBubbleH1;
  }
  return PipelineScheduleKind::kOneFOneB;
}

StatusOr<PipelineProgram> make_pipeline_schedule(const PipelineScheduleRequest& in) {
  if (Status s = check_pipeline_schedule(in); !s.ok()) return s;
  PipelineProgram program;
  program.kind = in.kind;
  program.pp = in.pp;
  program.vpp = in.vpp;
  program.micro_batches = in.micro_batches;
  program.ranks.resize(static_cast<size_t>(in.pp));
  for (int64_t r = 0; r < in.pp; ++r) {
    program.ranks[static_cast<size_t>(r)] = with_messages(program, r, compute_order(in, r));
  }
  return program;
}

Status validate_pipeline_schedule(const PipelineProgram& p) {
  if (p.pp < 1 || p.vpp < 1 || p.micro_batches < 1 || static_cast<int64_t>(p.ranks.size()) != p.pp) {
    return invalid_argument_error("pipeline {}: expected pp, vpp, micro-batches >= 1 and one program per rank, found "
                                  "pp {}, vpp {}, micro-batches {}, {} programs",
                                  pipeline_schedule_kind_name(p.kind), p.pp, p.vpp, p.micro_batches, p.ranks.size());
  }
  for (int64_t r = 0; r < p.pp; ++r) {
    if (Status s = check_rank(p, r); !s.ok()) return s;
  }
  return check_messages(p);
}

int64_t peak_in_flight(const PipelineProgram& program, int64_t rank) {
  int64_t live = 0, peak = 0;
  for (const PipelineAction& a : program.ranks.at(static_cast<size_t>(rank))) {
    if (a.kind == Kind::kForward) peak = std::max(peak, ++live);
    if (a.kind == Kind::kBackward || a.kind == Kind::kBackwardInput) --live;
  }
  return peak;
}

std::string pipeline_program_text(const PipelineProgram& program, int64_t rank) {
  std::string out;
  for (const PipelineAction& a : program.ranks.at(static_cast<size_t>(rank))) {
    if (!out.empty()) out += ' ';
    out += action_text(a);
  }
  return out;
}

}  // namespace tessera
