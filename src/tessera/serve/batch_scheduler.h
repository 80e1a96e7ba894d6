// BatchScheduler: continuous batching of text completions on one ServedModel.
//
// HTTP handler threads submit() a prompt and read the Completion it returns; one scheduler thread owns the
// GptDecoder (a KV cache slot per active request, `slots` of them) and runs rounds: each round admits
// queued requests into free slots (their whole prompt runs in this round), gives every other active
// request one new token, and runs all those rows in one GptDecoder::feed call — so N concurrent requests
// cost one pass over the weights per token, not N. A request waits in the queue while every slot is busy.
//
// Sampling is exactly `tessera generate`'s: the logits after the last fed token, sample_token among the
// tokenizer's ids with RngStream(seed, kSampling, position), end at eos, max_tokens or a full context. A
// request alone in the scheduler runs the same decoder calls as generate, so its text is the same.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/model/gpt_decoder.h"
#include "tessera/model/sampling.h"
#include "tessera/serve/served_model.h"

namespace tessera {

struct GenerationParams {
  int64_t max_tokens = 16;
  SamplingOptions sampling;
  uint64_t seed = 0;
};

enum class FinishReason { kNone, kStop, kLength, kAborted };
// OpenAI's finish_reason: "stop" (eos), "length" (max_tokens or the context); "abort" for a request the
// server dropped (shutting down).
const char* finish_reason_name(FinishReason reason);

// One request's progress, written by the scheduler thread and read by the submitting thread.
class Completion {
 public:
  struct Update {
    std::string text;  // new text since the previous take()
    FinishReason finish = FinishReason::kNone;  // kNone while still generating
  };
  // Waits until there is new text or the request finished, at most `timeout`; returns the text since the
  // previous call (possibly empty on timeout).
  Update take(std::chrono::milliseconds timeout);
  // The reader went away (a closed stream): the scheduler frees the slot at its next round.
  void cancel();
  int64_t prompt_tokens() const { return prompt_tokens_; }
  // Tokens generated so far (final once take() reported a finish).
  int64_t completion_tokens() const;

 private:
  friend class BatchScheduler;
  void append(const std::string& text, int64_t tokens);
  void finish(FinishReason reason);
  bool cancelled() const;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string pending_;
  int64_t generated_ = 0;
  int64_t prompt_tokens_ = 0;
  FinishReason finish_ = FinishReason::kNone;
  bool cancelled_ = false;
};

struct SchedulerStats {
  int64_t rounds = 0;            // decoder calls
  int64_t tokens_generated = 0;  // sampled tokens, all requests
  int64_t requests_finished = 0;
  int64_t max_active = 0;        // the most requests decoded in one round
  int64_t queued = 0;            // waiting for a slot now
  int64_t active = 0;            // holding a slot now
};

class BatchScheduler {
 public:
  // `slots`: requests decoded together (each holds a KV cache of 2·L·T·C floats). Starts the thread.
  BatchScheduler(const ServedModel& model, int64_t slots);
  ~BatchScheduler();  // shutdown()
  // Stops the thread; requests still queued or active, and any submitted later, finish with kAborted.
  // Idempotent.
  void shutdown();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // `prompt`: 1 ≤ size < spec.seq_len token ids (checked by the caller, see ServedModel::encode_prompt).
  std::shared_ptr<Completion> submit(std::vector<int32_t> prompt, const GenerationParams& params);
  SchedulerStats stats() const;

 private:
  struct Sequence {
    std::shared_ptr<Completion> completion;
    GenerationParams params;
    std::vector<int32_t> prompt;     // fed in the sequence's first round
    std::vector<int32_t> generated;  // sampled so far (without eos)
    std::string text;                // decode(generated) as already handed out
    int64_t slot = -1;
    bool finished = false;           // ended this round (eos, max_tokens, context): its slot is freed
  };
  void run();
  // After a round: samples the sequence's next token from `logits`, hands out new text; false when the
  // sequence is finished (its slot is then free).
  bool advance(Sequence& s, const float* logits);

  const ServedModel& model_;
  GptDecoder decoder_;
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::deque<Sequence> queue_;  // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  SchedulerStats stats_;        // guarded by mutex_
  std::vector<int64_t> free_slots_;  // scheduler thread only
  std::vector<Sequence> active_;     // scheduler thread only
  std::thread thread_;
};

}  // namespace tessera
