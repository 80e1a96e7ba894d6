// SignalWatcher: SIGTERM and SIGINT are received by one dedicated thread (sigwait), never by a signal
// handler that interrupts a compute thread.
//
// Why a thread: oneDNN 2.6's JIT sgemm kernels (Debian 12) point rsp into the heap while they run, so a
// signal delivered to a thread inside one of them writes its signal frame over the heap (measured here: a
// storm of no-op SIGUSR1 handlers aborts a dnnl_sgemm loop with "corrupted size vs. prev_size" within
// seconds; oneDNN issue 4845, fixed in 3.11). Blocking the signals in every thread and waiting for them in
// one that never computes means no signal frame is ever pushed onto a kernel's stack.
//
// Construct it first thing in main(), before any other thread exists (MPI, OpenMP, oneDNN, checkpoint
// writers all inherit the blocked mask). By default a signal ends the process as if unhandled (its
// default action). After enable_graceful_stop(), the first SIGTERM/SIGINT only records the signal for
// the trainer to see at its next step boundary; a second one ends the process.
#pragma once

#include <signal.h>

#include <atomic>
#include <thread>

namespace tessera::tools {

class SignalWatcher {
 public:
  SignalWatcher();  // blocks SIGTERM and SIGINT in this thread (and so in all it creates) and starts watching
  ~SignalWatcher();  // stops the watching thread and joins it
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // From now on the first signal sets stop_signal() instead of ending the process.
  void enable_graceful_stop() { graceful_.store(true); }
  // The first signal received in graceful mode (SIGTERM or SIGINT), 0 until then.
  const std::atomic<int>& stop_signal() const { return stop_signal_; }

 private:
  void watch();

  sigset_t signals_;
  std::atomic<bool> graceful_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> stop_signal_{0};
  std::thread thread_;
};

}  // namespace tessera::tools
