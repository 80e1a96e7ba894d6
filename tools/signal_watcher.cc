#include "signal_watcher.h"

#include <pthread.h>

namespace tessera::tools {

SignalWatcher::SignalWatcher() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  thread_ = std::thread([this] { watch(); });
}

SignalWatcher::~SignalWatcher() {
  shutting_down_.store(true);
  pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; the signal is consumed there, not acted on
  thread_.join();
}

void SignalWatcher::watch() {
  while (true) {
    int signal = 0;
    if (sigwait(&signals_, &signal) != 0) continue;
    if (shutting_down_.load()) return;
    int expected = 0;
    if (graceful_.load() && stop_signal_.compare_exchange_strong(expected, signal)) continue;
    // Not in graceful mode, or the second signal: the default action (the process ends by the signal), as
    // the user asked. Every checkpoint write is atomic, so nothing on disk is torn by this.
    struct sigaction default_action = {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(signal, &default_action, nullptr);
    sigset_t just_this;
    sigemptyset(&just_this);
    sigaddset(&just_this, signal);
    pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr);
    raise(signal);  // delivered to this thread, where it is now unblocked with its default action
  }
}

}  // namespace tessera::tools
