// CompletionServer: `tessera serve` — an HTTP server (cpp-httplib) with the request and response shapes of
// OpenAI's legacy completions API, on top of a BatchScheduler.
//
//   POST /v1/completions  {"prompt", "max_tokens", "temperature", "top_k", "seed", "stream"} →
//                         {"id", "object": "text_completion", "created", "model",
//                          "choices": [{"text", "index": 0, "logprobs": null, "finish_reason"}],
//                          "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}
//                         or, with "stream": true, server-sent events "data: {...}\n\n" with the same
//                         object per piece of text (finish_reason null until the last), then "data: [DONE]".
//   GET  /v1/models       {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}
//   GET  /health          {"status": "ok", and the scheduler's counters}
// Every error is a JSON {"error": {"message", "type", "param", "code"}}: 400 for a bad field (named in
// "param"), 413 for a body over max_body_bytes, 404 for an unknown path, 503 while shutting down.
// A prompt is refused (400, param "prompt") unless it leaves room for one generated token in the context.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tessera/core/status.h"
#include "tessera/serve/batch_scheduler.h"
#include "tessera/serve/served_model.h"

namespace tessera {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback: only this machine can connect
  int port = 8000;                 // 0 = any free port (see port())
  int64_t slots = 8;               // requests decoded together; more wait in a queue
  int64_t max_body_bytes = 1 << 20;
  std::string model_name = "tessera";  // the "model" of every response and of /v1/models
};

class CompletionServer {
 public:
  // Binds host:port and starts serving on a thread of its own. Fails naming host and port when the
  // address cannot be bound (in use, not this machine's).
  static StatusOr<std::unique_ptr<CompletionServer>> start(const ServedModel& model, const ServerOptions& options);
  ~CompletionServer();  // stop()s
  CompletionServer(const CompletionServer&) = delete;
  CompletionServer& operator=(const CompletionServer&) = delete;

  int port() const;
  SchedulerStats stats() const;
  // Stops accepting, ends open streams, aborts requests in flight and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit CompletionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
