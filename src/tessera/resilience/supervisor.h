// The supervisor: runs a training job (the mpirun command line `tessera launch` builds), watches every rank,
// and when a rank dies or hangs stops the whole job and starts it again from the newest good checkpoint, up
// to max_restarts times, recording each incident and the run's goodput.
//
// What it watches (every poll_seconds):
//   - the job's exit: 0 ends the run; kExitPreempted (3, a stop signal, checkpoint committed) ends it too;
//     any other code is a failure;
//   - each rank's heartbeat (heartbeat.h): a rank on this host whose pid is gone has died (detected within
//     one poll, before mpirun or the peers' collective deadlines notice); once a beat is older than
//     hang_timeout_s a rank has hung (on any host), and hang_blame.h names which: not the ranks blocked
//     waiting for it;
//   - the stop signal of the supervisor itself (a scheduler's preemption): forwarded to the ranks on this
//     host, and no restart follows.
// On a failure it kills the ranks it can see (SIGKILL) and the job (SIGTERM, then SIGKILL after 10 s), and
// starts resume_argv. The first heartbeat of the new attempt past the checkpoint's step ends the restart:
// its incident (RUN_DIR/incidents.jsonl) then records the detection time and the time lost (restart plus
// the steps computed since the checkpoint, now redone). At the end RUN_DIR/goodput.json and one log line
// give the effective training time, and the run's in-memory checkpoints (memory_checkpoints.h) are removed.
// Each attempt runs with its own TESSERA_SHM_TAG, and what its killed ranks left in /dev/shm is removed
// when it ends (a restart after SIGKILLs would otherwise leak the job's communication buffers each time).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/resilience/goodput.h"

namespace tessera {

struct SupervisorOptions {
  std::vector<std::string> argv;         // the first attempt
  std::vector<std::string> resume_argv;  // every restart: the same job continuing from its checkpoints
  std::string run_dir;
  int max_restarts = 0;
  double hang_timeout_s = 600;  // a rank silent this long after its last step is hung
  double poll_seconds = 0.1;
  // Set by the caller's signal watcher: forwarded to the ranks, and the job is not restarted afterwards.
  const std::atomic<int>* stop_signal = nullptr;
  // The exit code of a job that stopped on a stop signal after committing a checkpoint.
  int preempted_exit_code = 3;
};

struct SupervisorReport {
  int exit_code = 0;  // of the last attempt
  int restarts = 0;
  GoodputSummary goodput;
};

// Starts argv (argv[0] found on PATH) with default SIGTERM/SIGINT dispositions and nothing blocked: the
// caller blocks them for its signal watcher, and the job must not inherit that. The job's environment is
// this process's, with TESSERA_SHM_TAG = shm_tag when it is not empty (comm/shm_communicator.h). Returns
// its pid.
StatusOr<int> spawn_job(const std::vector<std::string>& argv, const std::string& shm_tag = "");

// The shm tag of attempt `attempt` of a job started by this process: "p<pid>a<attempt>".
std::string job_shm_tag(int attempt);
// Removes what ranks of the job tagged `shm_tag` left in /dev/shm (killed ranks leave their buffers' names;
// ranks that exit in order leave nothing). Call it once the job has ended. Returns how many it removed.
int remove_job_shm_segments(const std::string& shm_tag);

// Runs the job to its end as described above. Errors: the command cannot be started, or the run
// directory cannot be written (incidents, goodput).
StatusOr<SupervisorReport> supervise(const SupervisorOptions& options);

}  // namespace tessera
