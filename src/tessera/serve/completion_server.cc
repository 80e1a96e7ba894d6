#include "tessera/serve/completion_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "tessera/serve/completion_request.h"

namespace tessera {

namespace {

using nlohmann::json;

// How long a handler waits for new text before checking its connection again.
constexpr std::chrono::milliseconds kPoll{200};

json error_body(const std::string& message, const char* type, const std::string& param) {
  return json{{"error",
               {{"message", message}, {"type", type}, {"param", param.empty() ? json() : json(param)}, {"code", json()}}}};
}

void reply_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "") {
  const char* type = status == 400 || status == 413 ? "invalid_request_error" : status == 404 ? "not_found_error"
                                                                                               : "server_error";
  res.status = status;
  res.set_content(error_body(message, type, param).dump(), "application/json");
}

}  // namespace

struct CompletionServer::Impl {
  const ServedModel& model;
  ServerOptions options;
  BatchScheduler scheduler;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::atomic<int64_t> next_id{1};
  std::atomic<bool> stopped{false};

  Impl(const ServedModel& m, const ServerOptions& o) : model(m), options(o), scheduler(m, o.slots) {}

  // One choice object of a response or stream chunk.
  json completion_object(const std::string& id, int64_t created, const std::string& text, FinishReason finish) const {
    const char* reason = finish_reason_name(finish);
    return json{{"id", id},
                {"object", "text_completion"},
                {"created", created},
                {"model", options.model_name},
                {"choices", json::array({{{"text", text},
                                          {"index", 0},
                                          {"logprobs", json()},
                                          {"finish_reason", reason ? json(reason) : json()}}})}};
  }

  void completions(const httplib::Request& req, httplib::Response& res) {
    const int64_t T = model.spec().seq_len;
    auto parsed = parse_completion_request(req.body, T);
    if (auto* error = std::get_if<RequestError>(&parsed)) return reply_error(res, 400, error->message, error->param);
    const CompletionRequest& r = std::get<CompletionRequest>(parsed);
    std::vector<int32_t> prompt = model.encode_prompt(r.prompt);
    if (static_cast<int64_t>(prompt.size()) >= T) {
      return reply_error(res, 400,
                         fmt::format("'prompt': {} tokens; the model's context holds {}, so a prompt may have at most {} "
                                     "(room for one generated token)",
                                     prompt.size(), T, T - 1),
                         "prompt");
    }
    const GenerationParams params{
        .max_tokens = r.max_tokens,
        .sampling = {.temperature = static_cast<float>(r.temperature), .top_k = r.top_k},
        .seed = r.seed};
    std::shared_ptr<Completion> completion = scheduler.submit(std::move(prompt), params);
    const std::string id = fmt::format("cmpl-{}", next_id.fetch_add(1));
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    if (!r.stream) {
      std::string text;
      FinishReason finish = FinishReason::kNone;
      while (finish == FinishReason::kNone) {
        Completion::Update update = completion->take(kPoll);
        text += update.text;
        finish = update.finish;
      }
      if (finish == FinishReason::kAborted) return reply_error(res, 503, "the server is shutting down");
      json body = completion_object(id, created, text, finish);
      const int64_t completion_tokens = completion->completion_tokens();
      body["usage"] = {{"prompt_tokens", completion->prompt_tokens()},
                       {"completion_tokens", completion_tokens},
                       {"total_tokens", completion->prompt_tokens() + completion_tokens}};
      res.set_content(body.dump(), "application/json");
      return;
    }
    // Server-sent events: one event per piece of new text, a last one with the finish reason, then [DONE].
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, completion, id, created](size_t, httplib::DataSink& sink) {
          if (!sink.is_writable()) return false;
          Completion::Update update = completion->take(kPoll);
          auto event = [&](const json& object) {
            const std::string line = "data: " + object.dump() + "\n\n";
            return sink.write(line.data(), line.size());
          };
          if (!update.text.empty() && !event(completion_object(id, created, update.text, FinishReason::kNone))) {
            return false;
          }
          if (update.finish != FinishReason::kNone) {
            json last = completion_object(id, created, "", update.finish);
            const int64_t completion_tokens = completion->completion_tokens();
            last["usage"] = {{"prompt_tokens", completion->prompt_tokens()},
                             {"completion_tokens", completion_tokens},
                             {"total_tokens", completion->prompt_tokens() + completion_tokens}};
            static constexpr std::string_view kDone = "data: [DONE]\n\n";
            if (!event(last) || !sink.write(kDone.data(), kDone.size())) return false;
            sink.done();
          }
          return true;
        },
        [completion](bool success) {
          if (!success) completion->cancel();  // the client went away: free the slot
        });
  }

  void routes() {
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      const SchedulerStats s = scheduler.stats();
      res.set_content(json{{"status", "ok"},
                           {"active", s.active},
                           {"queued", s.queued},
                           {"rounds", s.rounds},
                           {"tokens_generated", s.tokens_generated},
                           {"requests_finished", s.requests_finished},
                           {"max_active", s.max_active}}
                          .dump(),
                      "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"object", "list"},
                           {"data", json::array({{{"id", options.model_name},
                                                  {"object", "model"},
                                                  {"created", 0},
                                                  {"owned_by", "tessera"},
                                                  {"max_model_len", model.spec().seq_len}}})}}
                          .dump(),
                      "application/json");
    });
    http.Post("/v1/completions",
              [this](const httplib::Request& req, httplib::Response& res) { completions(req, res); });
    // Errors that no handler wrote a body for (unknown path, wrong method, body too large, bad request
    // line) get the same JSON shape as the handlers' own.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const int status = res.status;
      const std::string message =
          status == 404   ? fmt::format("no route {} {}; the routes are POST /v1/completions, GET /v1/models, "
                                        "GET /health",
                                        req.method, req.path)
          : status == 413 ? "the request body is larger than the server's limit (--max-body-bytes)"
                          : fmt::format("HTTP {} for {} {}", status, req.method, req.path);
      reply_error(res, status, message);
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      reply_error(res, 500, "internal error: " + what);
    });
  }
};

CompletionServer::CompletionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CompletionServer::~CompletionServer() { stop(); }

StatusOr<std::unique_ptr<CompletionServer>> CompletionServer::start(const ServedModel& model,
                                                                    const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return invalid_argument_error("serve: port {} is outside [0, 65535]", options.port);
  }
  auto impl = std::make_unique<Impl>(model, options);
  httplib::Server& http = impl->http;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server binds the same port
  // and Linux splits the connections between the two instead of refusing the second.
  http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);
  // Each waiting request holds a thread: room for every slot, a queue as long again, and /health.
  const size_t threads = static_cast<size_t>(std::max<int64_t>(8, 2 * options.slots + 2));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl->routes();
  impl->port = options.port == 0 ? http.bind_to_any_port(options.host) : options.port;
  const bool bound = options.port == 0 ? impl->port > 0 : http.bind_to_port(options.host, options.port);
  if (!bound) {
    return unavailable_error("serve: cannot listen on {}:{}; hint: is the port in use, and is {} an address of "
                             "this machine?",
                             options.host, options.port, options.host);
  }
  Impl* raw = impl.get();
  impl->listener = std::thread([raw] { raw->http.listen_after_bind(); });
  // Running before start() returns, so that a stop() right after cannot come before the loop begins.
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<CompletionServer>(new CompletionServer(std::move(impl)));
}

int CompletionServer::port() const { return impl_->port; }

SchedulerStats CompletionServer::stats() const { return impl_->scheduler.stats(); }

void CompletionServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  // Requests in flight end first (aborted), so that no handler thread still waits when the pool joins.
  impl_->scheduler.shutdown();
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace tessera
