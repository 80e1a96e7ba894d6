// The supervisor against stand-in jobs: bash scripts that beat like ranks (heartbeat.h), then die, hang,
// fail or finish, so every path of supervise() runs in a second without a real training job.
#include "tessera/resilience/supervisor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "tessera/resilience/heartbeat.h"
#include "tessera/resilience/incident_log.h"

namespace tessera {
namespace {

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("supervisor_test_{}_{}", ::getpid(), counter_++);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A bash job: `body` runs with beat STEP [final] (one heartbeat of rank 0, as the shell or subshell that
  // calls it: $BASHPID, with start_step $start if set) and row STEP (a metrics line).
  std::vector<std::string> job(const std::string& body) const {
    const std::string run = dir_.string();
    const std::string prelude = fmt::format(
        "run='{}'; mkdir -p \"$run/heartbeats\"; "
        "beat() {{ echo \"{{\\\"rank\\\":0,\\\"pid\\\":$BASHPID,\\\"host\\\":\\\"$(hostname)\\\",\\\"step\\\":$1,"
        "\\\"time_unix_s\\\":$(date +%s.%N),\\\"start_step\\\":${{start:--1}},\\\"final\\\":${{2:-false}}}}\" > \"$run/heartbeats/rank_00000.json\"; }}; "
        "row() {{ echo \"{{\\\"step\\\":$1,\\\"step_seconds\\\":0.01}}\" >> \"$run/metrics.jsonl\"; }}; ",
        run);
    return {"bash", "-c", prelude + body};
  }
  std::vector<Incident> incidents() const {
    auto read = read_incidents((dir_ / "incidents.jsonl").string());
    EXPECT_TRUE(read.ok());
    return read.ok() ? *read : std::vector<Incident>{};
  }

  std::filesystem::path dir_;
  static inline int counter_ = 0;
};

TEST_F(SupervisorTest, DeadRankIsDetectedAndTheJobRestartsFromItsCheckpoint) {
  SupervisorOptions options;
  // Attempt 1: the rank (a subshell) makes steps 1–3, then is SIGKILLed (a dead node) while the launcher
  // would take seconds to notice. The restart resumes after step 2 (its checkpoint).
  options.argv = job("(for s in 1 2 3; do row $s; beat $s; sleep 0.05; done; sleep 0.3; kill -9 $BASHPID); sleep 20; exit 137");
  options.resume_argv = job("for s in 3 4; do row $s; beat $s; sleep 0.05; done; beat 4 true; exit 0");
  options.run_dir = dir_.string();
  options.max_restarts = 2;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->exit_code, 0);
  EXPECT_EQ(report->restarts, 1);
  const auto log = incidents();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, "rank_died");
  EXPECT_EQ(log[0].rank, 0);
  EXPECT_EQ(log[0].step, 3);
  EXPECT_LT(log[0].detection_s, 1.0);  // within a few polls of the death
  EXPECT_GT(log[0].time_lost_s, 0.0);
  EXPECT_NE(log[0].detail.find("resumed from step 2"), std::string::npos) << log[0].detail;
  EXPECT_EQ(report->goodput.restarts, 1);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "goodput.json"));
}

TEST_F(SupervisorTest, HungRankIsDetectedAfterTheTimeout) {
  SupervisorOptions options;
  options.argv = job("row 1; beat 1; sleep 30");  // alive and silent
  // The restart resumes from step 1 and has made steps 2 and 3 before the supervisor's first look: it
  // must take the resumed step from the beat's start_step, not from the first step it sees.
  options.resume_argv = job("start=1; row 2; row 3; beat 3; sleep 0.2; beat 3 true; exit 0");
  options.run_dir = dir_.string();
  options.max_restarts = 1;
  options.hang_timeout_s = 0.5;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->exit_code, 0);
  const auto log = incidents();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, "rank_hung");
  EXPECT_GE(log[0].detection_s, 0.5);
  EXPECT_LT(log[0].detection_s, 2.0);
  EXPECT_NE(log[0].detail.find("resumed from step 1,"), std::string::npos) << log[0].detail;
}

TEST_F(SupervisorTest, GivesUpAfterMaxRestarts) {
  SupervisorOptions options;
  options.argv = job("row 1; beat 1; exit 7");
  options.resume_argv = options.argv;
  options.run_dir = dir_.string();
  options.max_restarts = 2;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->exit_code, 7);
  EXPECT_EQ(report->restarts, 2);
  const auto log = incidents();
  ASSERT_EQ(log.size(), 3u);  // two restarts, then the failure it did not restart
  EXPECT_NE(log.back().detail.find("not restarted (--max-restarts 2)"), std::string::npos) << log.back().detail;
}

TEST_F(SupervisorTest, AJobThatNeverStepsIsNotRestarted) {
  SupervisorOptions options;
  options.argv = job("echo 'tessera train: bad config' >&2; exit 1");
  options.resume_argv = options.argv;
  options.run_dir = dir_.string();
  options.max_restarts = 5;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->exit_code, 1);
  EXPECT_EQ(report->restarts, 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "incidents.jsonl"));
}

TEST_F(SupervisorTest, AnOrderlyExitIsNotADeath) {
  SupervisorOptions options;
  // The rank (a subshell) leaves after its final beat while the launcher lingers, as mpirun does.
  options.argv = job("(row 1; beat 1; beat 1 true); sleep 0.3; exit 0");
  options.run_dir = dir_.string();
  options.max_restarts = 3;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->exit_code, 0);
  EXPECT_EQ(report->restarts, 0);
}

TEST_F(SupervisorTest, EachAttemptHasItsOwnShmTagAndWhatItsKilledRanksLeftInDevShmIsRemoved) {
  // A decoy of another job must survive; each attempt's "buffer" (named as the shm backend names them under
  // TESSERA_SHM_TAG) must not, whether the attempt was killed or ended in order.
  const std::string decoy = fmt::format("/dev/shm/tessera-decoy{}-r0b1", ::getpid());
  std::ofstream(decoy) << "x";
  SupervisorOptions options;
  const std::string tags = (dir_ / "tags").string();
  options.argv = job(fmt::format("echo $TESSERA_SHM_TAG >> {0}; echo x > /dev/shm/tessera-$TESSERA_SHM_TAG-r1b1; "
                                 "(row 1; beat 1; sleep 0.2; kill -9 $BASHPID); sleep 20; exit 137", tags));
  options.resume_argv = job(fmt::format("echo $TESSERA_SHM_TAG >> {0}; echo x > /dev/shm/tessera-$TESSERA_SHM_TAG-r0b2; "
                                        "row 2; beat 2; beat 2 true; exit 0", tags));
  options.run_dir = dir_.string();
  options.max_restarts = 1;
  options.poll_seconds = 0.02;
  auto report = supervise(options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->restarts, 1);
  std::ifstream in(tags);
  std::string first, second;
  in >> first >> second;
  EXPECT_EQ(first, job_shm_tag(0));
  EXPECT_EQ(second, job_shm_tag(1));
  for (const std::string& tag : {first, second}) {
    for (const char* buffer : {"-r1b1", "-r0b2"}) {
      EXPECT_FALSE(std::filesystem::exists("/dev/shm/tessera-" + tag + buffer)) << tag << buffer;
    }
  }
  EXPECT_TRUE(std::filesystem::exists(decoy));
  std::filesystem::remove(decoy);
  EXPECT_EQ(remove_job_shm_segments(""), 0);  // no tag, nothing touched
}

}  // namespace
}  // namespace tessera
