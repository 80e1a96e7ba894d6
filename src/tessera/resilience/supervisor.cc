#include "tessera/resilience/supervisor.h"

#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tessera/comm/shm_communicator.h"
#include "tessera/core/clock.h"
#include "tessera/core/log.h"
#include "tessera/resilience/hang_blame.h"
#include "tessera/resilience/heartbeat.h"
#include "tessera/resilience/incident_log.h"
#include "tessera/resilience/memory_checkpoints.h"

extern char** environ;

namespace tessera {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

StatusOr<int> spawn_job(const std::vector<std::string>& argv, const std::string& shm_tag) {
  if (argv.empty()) return invalid_argument_error("supervisor: empty command");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // This process's environment, TESSERA_SHM_TAG replaced by shm_tag.
  const std::string tag_prefix = std::string(kShmTagEnvVar) + "=";
  const std::string tag_entry = tag_prefix + shm_tag;
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, tag_prefix.c_str(), tag_prefix.size()) != 0) env.push_back(*e);
  }
  if (!shm_tag.empty()) env.push_back(const_cast<char*>(tag_entry.c_str()));
  env.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), env.data());
  posix_spawnattr_destroy(&attr);
  if (error != 0) return unavailable_error("cannot start '{}': {}", argv[0], std::strerror(error));
  return pid;
}

std::string job_shm_tag(int attempt) { return fmt::format("p{}a{}", ::getpid(), attempt); }

int remove_job_shm_segments(const std::string& shm_tag) {
  if (shm_tag.empty()) return 0;
  const std::string prefix = "tessera-" + shm_tag + "-";
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && ::shm_unlink(("/" + name).c_str()) == 0) ++removed;
  }
  return removed;
}

namespace {

bool alive(int64_t pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

// The exit code of a wait status, signals as 128 + n (the shell's convention).
int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Step time of the steps in metrics.jsonl (each step once: a resumed run truncates the log to its checkpoint).
void add_productive_steps(const std::string& run_dir, GoodputSummary& goodput) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step_seconds") && row["step_seconds"].is_number()) {
      goodput.add_step(row["step_seconds"].get<double>());
    }
  }
}

struct Failure {
  std::string kind;  // rank_died, rank_hung, job_failed
  int rank = -1;
  int64_t step = -1;
  double detection_s = 0;
  std::string detail;
};

}  // namespace

StatusOr<SupervisorReport> supervise(const SupervisorOptions& options) {
  SupervisorReport report;
  const Stopwatch wall;
  const std::string host = this_host_name();
  IncidentLog incidents(options.run_dir);
  // An incident waits here until the restarted job's first new step tells how much time it cost.
  std::optional<Incident> pending;
  double detected_at = 0;      // unix time of the pending incident's detection
  int64_t last_step_before = 0;  // the furthest step any rank had reached when it failed
  double seconds_per_step = 0;

  for (int attempt = 0;; ++attempt) {
    clear_heartbeats(options.run_dir);
    const std::string shm_tag = job_shm_tag(attempt);
    TESSERA_ASSIGN_OR_RETURN(const pid_t child, spawn_job(attempt == 0 ? options.argv : options.resume_argv, shm_tag));
    std::optional<Failure> failure;
    std::map<int, double> last_seen_alive;  // rank → unix time its pid was last seen alive
    bool forwarded = false;
    int status = 0;
    bool exited = false;
    int64_t first_step = -1, furthest = 0;
    int64_t start_step = -1;  // the step the attempt resumed from, as its ranks say (-1: they do not say)
    double first_beat_time = 0, furthest_time = 0;
    while (!exited) {
      const pid_t done = ::waitpid(child, &status, WNOHANG);
      exited = done == child;
      const double now = unix_now();
      const std::vector<Heartbeat> beats = read_heartbeats(options.run_dir);
      for (const Heartbeat& beat : beats) {
        if (first_step < 0 || beat.step < first_step) first_step = beat.step, first_beat_time = beat.time_unix_s;
        if (beat.start_step >= 0 && (start_step < 0 || beat.start_step < start_step)) start_step = beat.start_step;
        if (beat.step > furthest) furthest = beat.step, furthest_time = beat.time_unix_s;
      }
      if (pending && first_step >= 0) {
        // The restarted job's first step: the restart is over.
        const double restart_s = now - detected_at;
        // The first poll may see a few steps already made: the ranks' own start step is exact.
        const int64_t resumed_from = start_step >= 0 ? start_step : first_step - 1;
        const double lost_work_s = static_cast<double>(std::max<int64_t>(0, last_step_before - resumed_from)) * seconds_per_step;
        pending->time_lost_s = restart_s + lost_work_s;
        pending->detail += fmt::format("; resumed from step {}, first new step {:.1f} s after detection", resumed_from, restart_s);
        report.goodput.add_restart(restart_s);
        report.goodput.add_lost_work(lost_work_s);
        log_info("supervisor: restarted from step {}: first new step {:.1f} s after the {} was detected", resumed_from,
                 restart_s, pending->kind);
        TESSERA_RETURN_IF_ERROR(incidents.append(*pending));
        pending.reset();
      }
      if (exited) break;
      if (options.stop_signal != nullptr && options.stop_signal->load() != 0 && !forwarded) {
        // Preempted: every rank on this host finishes its step and commits (the job then exits with 3).
        const int signal = options.stop_signal->load();
        bool any = false;
        for (const Heartbeat& beat : beats) {
          if (beat.host == host) ::kill(static_cast<pid_t>(beat.pid), signal), any = true;
        }
        if (!any) ::kill(child, signal);  // no rank has beaten yet: mpirun forwards it
        forwarded = true;
      }
      if (!forwarded && !failure) {
        for (const Heartbeat& beat : beats) {
          if (beat.final) continue;  // leaving in order
          if (beat.host == host && !alive(beat.pid)) {
            const double seen = last_seen_alive.count(beat.rank) ? last_seen_alive[beat.rank] : beat.time_unix_s;
            failure = Failure{.kind = "rank_died", .rank = beat.rank, .step = beat.step, .detection_s = now - seen,
                              .detail = fmt::format("rank {} (pid {}) is gone after step {}", beat.rank, beat.pid, beat.step)};
            break;
          }
          last_seen_alive[beat.rank] = now;
        }
        if (!failure) {
          if (const std::optional<HangVerdict> hang = blame_hung_rank(beats, now, options.hang_timeout_s)) {
            const Heartbeat& beat = beats[hang->index];
            failure = Failure{.kind = "rank_hung", .rank = beat.rank, .step = beat.step,
                              .detection_s = now - beat.time_unix_s,
                              .detail = fmt::format("rank {} (pid {} on {}) made no step for {:.0f} s after step {}{}",
                                                    beat.rank, beat.pid, beat.host, now - beat.time_unix_s, beat.step,
                                                    hang->why.empty() ? "" : " (" + hang->why + ")")};
          }
        }
        if (failure) {
          log_warning("supervisor: {}; stopping the job", failure->detail);
          for (const Heartbeat& beat : beats) {
            if (beat.host == host) ::kill(static_cast<pid_t>(beat.pid), SIGKILL);
          }
          ::kill(child, SIGTERM);
          const Stopwatch grace;
          while (::waitpid(child, &status, WNOHANG) != child) {
            if (grace.elapsed_seconds() > 10) {
              ::kill(child, SIGKILL);
              ::waitpid(child, &status, 0);
              break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          exited = true;
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_seconds));
    }
    report.exit_code = exit_code_of(status);
    if (const int removed = remove_job_shm_segments(shm_tag); removed > 0) {
      log_info("supervisor: removed {} shared-memory segment(s) that the attempt's killed ranks left in /dev/shm", removed);
    }
    if (!failure && (report.exit_code == 0 || forwarded || report.exit_code == options.preempted_exit_code)) break;
    if (!failure) {
      failure = Failure{.kind = "job_failed", .rank = -1, .step = furthest, .detection_s = 0,
                        .detail = fmt::format("the job exited with code {} after step {}", report.exit_code, furthest)};
    }
    if (furthest > first_step && first_step >= 0) {
      seconds_per_step = (furthest_time - first_beat_time) / static_cast<double>(furthest - first_step);
    }
    last_step_before = std::max(last_step_before, furthest);
    Incident incident{.time_unix_s = 0, .kind = failure->kind, .rank = failure->rank, .step = failure->step,
                      .detection_s = failure->detection_s, .time_lost_s = 0, .detail = failure->detail};
    if (pending) TESSERA_RETURN_IF_ERROR(incidents.append(*pending));  // failed again before its first new step
    // A job that never finished a step (a bad config, data, checkpoint) fails the same way again; on the
    // first attempt its own error line says everything.
    const bool made_progress = first_step >= 0;
    if (!made_progress && attempt == 0) return report;
    if (report.restarts >= options.max_restarts || !made_progress) {
      incident.detail += made_progress ? fmt::format("; not restarted (--max-restarts {})", options.max_restarts)
                                       : std::string("; not restarted: the attempt made no step");
      TESSERA_RETURN_IF_ERROR(incidents.append(incident));
      log_error("supervisor: {}; giving up after {} restarts", failure->detail, report.restarts);
      if (report.exit_code == 0) report.exit_code = 1;
      break;
    }
    ++report.restarts;
    log_warning("supervisor: {} (detected in {:.2f} s); restart {} of {}", failure->detail, failure->detection_s,
                report.restarts, options.max_restarts);
    pending = incident;
    detected_at = unix_now();
  }
  if (pending) TESSERA_RETURN_IF_ERROR(incidents.append(*pending));
  // No attempt follows: the host memory that held checkpoints for restarts is given back (storage has them).
  remove_memory_checkpoints(options.run_dir);
  add_productive_steps(options.run_dir, report.goodput);
  report.goodput.wall_s = std::max(wall.elapsed_seconds(), report.goodput.productive_step_s + report.goodput.lost_work_s +
                                                              report.goodput.restart_s);
  TESSERA_RETURN_IF_ERROR(write_goodput(options.run_dir, report.goodput));
  log_info("{}", goodput_text_line(report.goodput));
  return report;
}

}  // namespace tessera
