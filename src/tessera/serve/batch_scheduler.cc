#include "tessera/serve/batch_scheduler.h"

#include <algorithm>

#include "tessera/core/log.h"
#include "tessera/core/rng.h"

namespace tessera {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAborted: return "abort";
    case FinishReason::kNone: break;
  }
  return nullptr;
}

Completion::Update Completion::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !pending_.empty() || finish_ != FinishReason::kNone; });
  Update update{std::move(pending_), finish_};
  pending_.clear();
  return update;
}

void Completion::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
}

int64_t Completion::completion_tokens() const {
  std::lock_guard lock(mutex_);
  return generated_;
}

void Completion::append(const std::string& text, int64_t tokens) {
  {
    std::lock_guard lock(mutex_);
    pending_ += text;
    generated_ += tokens;
  }
  changed_.notify_all();
}

void Completion::finish(FinishReason reason) {
  {
    std::lock_guard lock(mutex_);
    finish_ = reason;
  }
  changed_.notify_all();
}

bool Completion::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

BatchScheduler::BatchScheduler(const ServedModel& model, int64_t slots)
    : model_(model), decoder_(model.spec(), model.params(), model.kernels(), std::max<int64_t>(slots, 1)) {
  for (int64_t s = decoder_.slots() - 1; s >= 0; --s) free_slots_.push_back(s);
  // OpenMP's thread count is per thread: a new thread starts from OMP_NUM_THREADS (or all cores), not from
  // what set_kernel_threads() set here, so the decoding thread is given this thread's count.
  const int threads = kernel_threads();
  thread_ = std::thread([this, threads] {
    set_kernel_threads(threads);
    run();
  });
}

BatchScheduler::~BatchScheduler() { shutdown(); }

void BatchScheduler::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  for (Sequence& s : queue_) s.completion->finish(FinishReason::kAborted);
  for (Sequence& s : active_) s.completion->finish(FinishReason::kAborted);
  queue_.clear();
  active_.clear();
}

std::shared_ptr<Completion> BatchScheduler::submit(std::vector<int32_t> prompt, const GenerationParams& params) {
  auto completion = std::make_shared<Completion>();
  completion->prompt_tokens_ = static_cast<int64_t>(prompt.size());
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      completion->finish(FinishReason::kAborted);
      return completion;
    }
    queue_.push_back(Sequence{.completion = completion, .params = params, .prompt = std::move(prompt)});
    stats_.queued = static_cast<int64_t>(queue_.size());
  }
  work_.notify_one();
  return completion;
}

SchedulerStats BatchScheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void BatchScheduler::run() {
  const int64_t V = model_.spec().vocab_size;
  std::vector<DecoderInput> inputs;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) return;
      // Admit waiting requests, oldest first, while a slot is free and their prompt fits this round's rows
      // (every active request takes one row; a prompt is < seq_len rows, so the oldest always fits).
      int64_t rows = static_cast<int64_t>(active_.size());
      while (!queue_.empty() && !free_slots_.empty() &&
             rows + static_cast<int64_t>(queue_.front().prompt.size()) <= decoder_.max_rows()) {
        Sequence s = std::move(queue_.front());
        queue_.pop_front();
        if (s.completion->cancelled()) {
          s.completion->finish(FinishReason::kAborted);
          continue;
        }
        s.slot = free_slots_.back();
        free_slots_.pop_back();
        decoder_.reset(s.slot);
        rows += static_cast<int64_t>(s.prompt.size());
        active_.push_back(std::move(s));
      }
      stats_.queued = static_cast<int64_t>(queue_.size());
    }
    // A reader that went away frees its slot before the round.
    for (Sequence& s : active_) {
      if (s.completion->cancelled()) s.completion->finish(FinishReason::kAborted);
    }
    // One round: a new request's whole prompt, or one token (the last sampled) of every other request.
    inputs.clear();
    for (const Sequence& s : active_) {
      if (s.completion->cancelled()) continue;
      inputs.push_back({.slot = s.slot,
                        .tokens = s.prompt.empty() ? std::span<const int32_t>(&s.generated.back(), 1)
                                                   : std::span<const int32_t>(s.prompt)});
    }
    int64_t sampled = 0;
    if (!inputs.empty()) {
      auto logits = decoder_.feed(inputs);
      if (!logits.ok()) {  // the admission rules make this unreachable; never leave a reader waiting
        log_error("serve: {}", logits.status().message());
        for (Sequence& s : active_) {
          s.completion->finish(FinishReason::kAborted);
          s.finished = true;
        }
      } else {
        size_t i = 0;
        for (Sequence& s : active_) {
          if (s.completion->cancelled()) continue;
          s.finished = !advance(s, *logits + static_cast<int64_t>(i++) * V);
          ++sampled;
        }
      }
    }
    // Free the slots of finished, failed and cancelled requests.
    int64_t finished = 0;
    std::erase_if(active_, [&](const Sequence& s) {
      const bool done = s.finished || s.completion->cancelled();
      if (done) {
        free_slots_.push_back(s.slot);
        ++finished;
      }
      return done;
    });
    std::lock_guard lock(mutex_);
    ++stats_.rounds;
    stats_.tokens_generated += sampled;
    stats_.requests_finished += finished;
    stats_.max_active = std::max(stats_.max_active, static_cast<int64_t>(inputs.size()));
    stats_.active = static_cast<int64_t>(active_.size());
  }
}

bool BatchScheduler::advance(Sequence& s, const float* logits) {
  const Tokenizer& tokenizer = model_.tokenizer();
  const int64_t pos = decoder_.position(s.slot);  // tokens in the slot's cache
  s.prompt.clear();
  RngStream rng(s.params.seed, RngPurpose::kSampling, static_cast<uint64_t>(pos));
  // Sample among the ids the tokenizer can decode (a model may pad its vocabulary beyond them).
  const int32_t next = sample_token(logits, tokenizer.vocab_size(), s.params.sampling, rng);
  if (next == tokenizer.eos_id()) {
    s.completion->finish(FinishReason::kStop);
    return false;
  }
  s.generated.push_back(next);
  // Hand out what the new token adds to the decoded text (pieces may join across tokens).
  const std::string text = tokenizer.decode(s.generated);
  std::string delta;
  if (text.size() > s.text.size() && text.compare(0, s.text.size(), s.text) == 0) {
    delta = text.substr(s.text.size());
    s.text = text;
  }
  s.completion->append(delta, 1);
  if (static_cast<int64_t>(s.generated.size()) >= s.params.max_tokens || pos >= model_.spec().seq_len) {
    s.completion->finish(FinishReason::kLength);
    return false;
  }
  return true;
}

}  // namespace tessera
