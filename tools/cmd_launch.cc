// tessera launch -n N [--hosts H1:n1,H2:n2] [--mpirun PATH] [--dry-run] CONFIG.toml [train options...]
//
// Starts N ranks of `tessera train CONFIG.toml [train options...]` through Open MPI's mpirun, streams their
// output (the ranks inherit this process's stdout and stderr) and returns mpirun's exit code: 0, the ranks'
// error code, or kExitPreempted (3) when the ranks stopped on SIGTERM/SIGINT after a committed checkpoint.
// The command line is built by build_launch_argv (pure, printed by --dry-run) and run by run_launched (spawn,
// forward the stop signal, wait) or, with --max-restarts N, by the supervisor (resilience/supervisor.h: a
// rank that dies or hangs stops the job, which continues with --resume from the newest good checkpoint).
//
// What the mpirun command line holds, and why:
//   -q                         Open MPI's own banners and abort notes stay quiet: a failing job shows
//                              Tessera's one line, not a page of "mpirun detected that one or more ...";
//   --mca oob_tcp_if_include lo   one host: mpirun's out-of-band listener binds loopback only (the ranks
//                              themselves use shared memory, mpi_network_scope.h);
//   --host H1:n1,H2:n2         several hosts; TESSERA_MPI_INTERFACES, when set, scopes mpirun's listener
//                              (oob_tcp_if_include) and is exported to the remote ranks (-x);
//   --allow-run-as-root        when this process runs as root (containers);
//   --oversubscribe            one host with N above its cores (Open MPI counts one slot per core);
//   --bind-to none             each rank runs an OpenMP team of train.threads; Open MPI's default for
//                              N <= 2 (bind each rank to one core) would put a whole team on one core;
//   --set parallel.dp=N        unless the train options set parallel.dp themselves.
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/resilience/supervisor.h"

extern char** environ;

namespace tessera::tools {

namespace {

// "H1:2,H2:2" → {{"H1", 2}, {"H2", 2}}. Host names: letters, digits, '.', '-', '_' (names, IPv4
// addresses); counts: positive integers.
StatusOr<std::vector<std::pair<std::string, int>>> parse_hosts(const std::string& text) {
  std::vector<std::pair<std::string, int>> hosts;
  std::stringstream entries(text);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    const size_t colon = entry.rfind(':');
    const std::string name = entry.substr(0, colon);
    const std::string count = colon == std::string::npos ? "" : entry.substr(colon + 1);
    const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '.' || c == '-' || c == '_';
    });
    const bool count_ok = !count.empty() && count.size() <= 6 &&
                          std::all_of(count.begin(), count.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                          std::stoi(count) > 0;
    if (!name_ok || !count_ok) {
      return invalid_argument_error("--hosts: expected HOST:RANKS[,HOST:RANKS...] with RANKS a positive integer, "
                                    "found '{}' in '{}'", entry, text);
    }
    hosts.emplace_back(name, std::stoi(count));
  }
  if (hosts.empty()) return invalid_argument_error("--hosts: expected HOST:RANKS[,HOST:RANKS...], found '{}'", text);
  return hosts;
}

// True when the train options set parallel.dp (`--set parallel.dp=4` or `--set=parallel.dp=4`).
bool sets_dp(const std::vector<std::string>& train_args) {
  for (size_t i = 0; i < train_args.size(); ++i) {
    std::string_view value;
    if (train_args[i] == "--set" && i + 1 < train_args.size()) value = train_args[i + 1];
    if (train_args[i].rfind("--set=", 0) == 0) value = std::string_view(train_args[i]).substr(6);
    if (value.rfind("parallel.dp=", 0) == 0) return true;
  }
  return false;
}

// The executable named `name` on PATH, "" when there is none.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate)) return candidate;
  }
  return "";
}

// Physical cores this process may run on (distinct core ids among the CPUs of its affinity mask), which
// is how Open MPI counts a host's slots; the CPU count when the topology cannot be read.
int usable_cores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return static_cast<int>(std::thread::hardware_concurrency());
  std::set<std::pair<int, int>> cores;  // (package, core)
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    const std::string topology = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    int package = -1, core = -1;
    std::ifstream(topology + "physical_package_id") >> package;
    std::ifstream(topology + "core_id") >> core;
    if (package < 0 || core < 0) return CPU_COUNT(&mask);
    cores.emplace(package, core);
  }
  return cores.empty() ? CPU_COUNT(&mask) : static_cast<int>(cores.size());
}

// The PIDs of every descendant of `pid` (children first), from /proc/<pid>/task/<tid>/children.
void collect_descendants(pid_t pid, std::vector<pid_t>& out) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream children(task.path() / "children");
    pid_t child = 0;
    while (children >> child) {
      out.push_back(child);
      collect_descendants(child, out);
    }
  }
}

}  // namespace

StatusOr<std::vector<std::string>> build_launch_argv(const LaunchRequest& request) {
  if (request.ranks < 1) return invalid_argument_error("-n: expected a positive number of ranks, found {}", request.ranks);
  if (request.config.empty() || request.config[0] == '-') {
    return invalid_argument_error("expected CONFIG.toml after the launch options, found {}",
                                  request.config.empty() ? "nothing" : "'" + request.config + "'");
  }
  std::vector<std::string> argv = {request.mpirun, "-q", "-n", std::to_string(request.ranks)};
  if (request.hosts.empty()) {
    argv.insert(argv.end(), {"--mca", "oob_tcp_if_include", "lo"});
    if (request.ranks > request.cores) argv.push_back("--oversubscribe");
  } else {
    TESSERA_ASSIGN_OR_RETURN(const auto hosts, parse_hosts(request.hosts));
    int total = 0;
    for (const auto& host : hosts) total += host.second;
    if (total != request.ranks) {
      return invalid_argument_error("--hosts: the ranks per host add up to {}, but -n is {}; hint: -n {}", total,
                                    request.ranks, total);
    }
    argv.insert(argv.end(), {"--host", request.hosts});
    if (!request.interfaces.empty()) {
      argv.insert(argv.end(), {"--mca", "oob_tcp_if_include", request.interfaces, "-x", "TESSERA_MPI_INTERFACES"});
    }
  }
  if (request.as_root) argv.push_back("--allow-run-as-root");
  argv.insert(argv.end(), {"--bind-to", "none", request.tessera, "train", request.config});
  argv.insert(argv.end(), request.train_args.begin(), request.train_args.end());
  if (!sets_dp(request.train_args)) argv.insert(argv.end(), {"--set", "parallel.dp=" + std::to_string(request.ranks)});
  return argv;
}

std::string launch_run_dir(const LaunchRequest& request) {
  // As `tessera train` resolves it: --out DIR (last one wins), else runs/<config stem>.
  std::string dir;
  const auto& a = request.train_args;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "--out" && i + 1 < a.size()) dir = a[i + 1];
    if (a[i].rfind("--out=", 0) == 0) dir = a[i].substr(6);
  }
  return dir.empty() ? "runs/" + std::filesystem::path(request.config).stem().string() : dir;
}

StatusOr<int> run_launched(const std::vector<std::string>& argv, const std::string& rank_executable,
                           SignalWatcher& signals) {
  signals.enable_graceful_stop();  // the first SIGTERM/SIGINT is forwarded below; a second ends this process
  // mpirun and the ranks start with the default signal dispositions and nothing blocked (spawn_job).
  const std::string shm_tag = job_shm_tag(0);
  TESSERA_ASSIGN_OR_RETURN(const pid_t pid, spawn_job(argv, shm_tag));
  bool forwarded = false;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      // A rank killed on the way (mpirun ends the job when one fails) leaves its buffers' names behind.
      remove_job_shm_segments(shm_tag);
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      continue;
    }
    if (done < 0 && errno != EINTR) return unavailable_error("waiting for {}: {}", argv[0], std::strerror(errno));
    if (const int signal = signals.stop_signal().load(); signal != 0 && !forwarded) {
      // A preemption of the launcher (scheduler, Ctrl-C, kill): the ranks on this host get the signal
      // themselves, so that each finishes its step and they commit one checkpoint and exit with
      // kExitPreempted; mpirun and its daemons are left alone (mpirun would SIGKILL the ranks a second
      // after its own SIGTERM). Ranks on other hosts are signalled by their own scheduler (Slurm signals
      // every process of the job).
      std::vector<pid_t> descendants;
      collect_descendants(pid, descendants);
      for (const pid_t child : descendants) {
        std::error_code ec;
        const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(child) + "/exe", ec);
        if (!ec && std::filesystem::equivalent(exe, rank_executable, ec)) kill(child, signal);
      }
      forwarded = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void register_launch_command(CLI::App& app, CommandResult& result) {
  struct LaunchArgs {
    int64_t ranks = 0;
    std::string hosts;
    std::string mpirun;
    bool dry_run = false;
    int64_t max_restarts = 0;
    double hang_timeout_s = 600;
  };
  auto args = std::make_shared<LaunchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "launch", "start N ranks of `tessera train` through mpirun: tessera launch -n N CONFIG.toml [train options]");
  cmd->add_option("-n,--ranks", args->ranks, "number of ranks (sets parallel.dp unless --set parallel.dp is given)")
      ->required()
      ->check(integer_in(1, 1 << 20));
  cmd->add_option("--hosts", args->hosts, "ranks per host, e.g. node1:4,node2:4 (default: all on this host)");
  cmd->add_option("--mpirun", args->mpirun, "the mpirun to use (default: mpirun on PATH)");
  cmd->add_flag("--dry-run", args->dry_run, "print the mpirun command line and exit");
  cmd->add_option("--max-restarts", args->max_restarts,
                  "supervise the job: when a rank dies or hangs, stop it and continue from the newest good "
                  "checkpoint, up to N times (incidents.jsonl, goodput.json in the run directory)")
      ->check(integer_in(0, 1000000));
  cmd->add_option("--hang-timeout", args->hang_timeout_s,
                  "with --max-restarts: seconds without a step after which a rank counts as hung")
      ->check(number_in(0.1, 1e7));
  // Everything from CONFIG.toml on is `tessera train`'s: CONFIG and its options pass through untouched.
  cmd->prefix_command();
  cmd->footer("Everything after CONFIG.toml goes to `tessera train` (see tessera train --help).");
  cmd->callback([args, cmd, &result] {
    if (result.world) {
      result.exit_code = report_error("launch", "already running under an MPI launcher; hint: run `tessera launch` "
                                                "directly (it calls mpirun), or `mpirun ... tessera train` without it");
      return;
    }
    std::vector<std::string> rest = cmd->remaining();
    LaunchRequest request;
    request.ranks = static_cast<int>(args->ranks);
    request.hosts = args->hosts;
    if (!rest.empty()) {
      request.config = rest.front();
      request.train_args.assign(rest.begin() + 1, rest.end());
    }
    request.mpirun = args->mpirun.empty() ? find_on_path("mpirun") : args->mpirun;
    if (request.mpirun.empty()) {
      result.exit_code = report_error("launch", "mpirun: not found on PATH; hint: install Open MPI (Debian: "
                                                "apt install openmpi-bin) or pass --mpirun PATH");
      return;
    }
    if (access(request.mpirun.c_str(), X_OK) != 0) {
      result.exit_code = report_error("launch", fmt::format("--mpirun: expected an executable, found '{}' ({})",
                                                            request.mpirun, std::strerror(errno)));
      return;
    }
    std::error_code ec;
    request.tessera = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) {
      result.exit_code = report_error("launch", "cannot find this executable (/proc/self/exe): " + ec.message());
      return;
    }
    request.as_root = geteuid() == 0;
    request.cores = usable_cores();
    if (const char* interfaces = std::getenv("TESSERA_MPI_INTERFACES")) request.interfaces = interfaces;
    auto argv = build_launch_argv(request);
    if (!argv.ok()) {
      result.exit_code = report_error("launch", argv.status().message());
      return;
    }
    if (args->dry_run) {
      std::string line;
      for (const std::string& arg : *argv) line += (line.empty() ? "" : " ") + arg;
      std::printf("%s\n", line.c_str());
      result.exit_code = 0;
      return;
    }
    if (args->max_restarts > 0) {
      // The supervisor (resilience/supervisor.h): the same job, restarted with --resume after a failure.
      SupervisorOptions supervision{.argv = *argv,
                                    .resume_argv = *argv,
                                    .run_dir = launch_run_dir(request),
                                    .max_restarts = static_cast<int>(args->max_restarts),
                                    .hang_timeout_s = args->hang_timeout_s,
                                    .stop_signal = &result.signals->stop_signal(),
                                    .preempted_exit_code = kExitPreempted};
      if (std::find(request.train_args.begin(), request.train_args.end(), "--resume") == request.train_args.end()) {
        supervision.resume_argv.push_back("--resume");
      }
      result.signals->enable_graceful_stop();  // the first SIGTERM/SIGINT is forwarded to the ranks
      auto report = supervise(supervision);
      result.exit_code = report.ok() ? report->exit_code : report_error("launch", report.status().message());
      return;
    }
    auto code = run_launched(*argv, request.tessera, *result.signals);
    result.exit_code = code.ok() ? *code : report_error("launch", code.status().message());
  });
}

}  // namespace tessera::tools
