#include "tessera/report/run_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tessera/core/file.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RunDir {
 public:
  RunDir() : path_((std::filesystem::temp_directory_path() / ("tessera_report_" + std::to_string(::getpid()))).string()) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_ + "/checkpoints/step_00000002");
    std::filesystem::create_directories(path_ + "/checkpoints/step_00000003.tmp");  // not committed
    EXPECT_TRUE(write_file_atomic(path_ + "/checkpoints/step_00000002/COMMIT", "x").ok());
  }
  ~RunDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(RunReport, ReadsMetricsConfigAndCommittedCheckpoints) {
  RunDir run;
  ASSERT_TRUE(write_file_atomic(run.path() + "/metrics.jsonl",
                                "{\"step\":1,\"loss\":7.5,\"lr\":0.001,\"tokens_per_s\":1000,\"mfu\":0.25}\n"
                                "{\"step\":2,\"loss\":6.5,\"lr\":0.002,\"tokens_per_s\":3000,\"mfu\":0.5,\"val_loss\":6.75,"
                                "\"rss_bytes\":104857600,\"comm_bytes\":4096}\n")
                  .ok());
  ASSERT_TRUE(write_file_atomic(run.path() + "/config.toml", "[model]\nn_layer = 2 # <L>\n").ok());
  auto history = load_run_history(run.path());
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  ASSERT_EQ(history->rows.size(), 2u);
  EXPECT_EQ(history->rows[1].values.at("val_loss"), 6.75);
  EXPECT_EQ(history->checkpoint_steps, (std::vector<int64_t>{2}));
  const std::string html = render_run_report(*history);
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("6.5000 / 6.5000"));  // train loss last / lowest
  EXPECT_THAT(html, HasSubstr("2000 / 3000"));      // tokens/s mean / last
  EXPECT_THAT(html, HasSubstr("37.5% / 50.0%"));    // MFU mean / last
  EXPECT_THAT(html, HasSubstr("checkpoint step 2"));
  EXPECT_THAT(html, HasSubstr(">rss_bytes</text>"));
  EXPECT_THAT(html, Not(HasSubstr(">comm_bytes</text>")));  // traffic, not memory
  EXPECT_THAT(html, HasSubstr("n_layer = 2 # &lt;L&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("records no memory column")));
  // Self-contained: no scripts, no links, no external resources.
  for (const char* external : {"<script", "src=", "href=", "url(", "@import"}) {
    EXPECT_THAT(html, Not(HasSubstr(external))) << external;
  }
}

TEST(RunReport, MarksIncidentsAndDrawsTheGoodputBreakdown) {
  RunDir run;
  const std::string fields = "\"loss\":7,\"tokens_per_s\":100,\"mfu\":0.1,\"lr\":0.1,\"grad_norm\":1,\"peak_rss_bytes\":1000";
  ASSERT_TRUE(write_file_atomic(run.path() + "/metrics.jsonl",
                                "{\"step\":1," + fields + "}\n{\"step\":2," + fields + "}\n{\"step\":3," + fields + "}\n")
                  .ok());
  IncidentLog log(run.path());
  ASSERT_TRUE(log.append({.time_unix_s = 1764655200, .kind = "rank_died", .rank = 1, .step = 2, .detection_s = 0.5,
                          .time_lost_s = 12, .detail = "rank 1 (pid 42) exited <signal 9>"})
                  .ok());
  ASSERT_TRUE(log.append({.kind = "job_failed", .rank = -1, .step = -1}).ok());
  GoodputSummary goodput;
  goodput.wall_s = 100;
  goodput.add_step(60);
  goodput.add_lost_work(10);
  goodput.add_restart(20);
  ASSERT_TRUE(write_goodput(run.path(), goodput).ok());
  auto history = load_run_history(run.path());
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  ASSERT_EQ(history->incidents.size(), 2u);
  ASSERT_TRUE(history->goodput.has_value());
  const std::string html = render_run_report(*history);
  // The incident with a step is a marker on each of the six charts; both are in the table, escaped.
  size_t markers = 0;
  for (size_t at = html.find("rank_died rank 1 step 2"); at != std::string::npos;
       at = html.find("rank_died rank 1 step 2", at + 1)) {
    ++markers;
  }
  EXPECT_EQ(markers, 6u);
  EXPECT_THAT(html, HasSubstr("<td>2025-12-02 06:00:00</td><td class=\"incident\">rank_died</td><td>1</td><td>2</td>"));
  EXPECT_THAT(html, HasSubstr("exited &lt;signal 9&gt;"));
  EXPECT_THAT(html, HasSubstr("<td class=\"incident\">job_failed</td><td>job</td><td>?</td>"));
  EXPECT_THAT(html, Not(HasSubstr("job_failed step")));  // no step: no marker
  // The goodput bar: 60 % effective, each part with its seconds.
  EXPECT_THAT(html, HasSubstr("Goodput: effective training time 60.0%"));
  EXPECT_THAT(html, HasSubstr("productive steps 60 s"));
  EXPECT_THAT(html, HasSubstr("lost work (steps redone) 10 s"));
  EXPECT_THAT(html, HasSubstr("restart 20 s"));
  EXPECT_THAT(html, HasSubstr("other (start-up, evaluation) 10 s"));
  EXPECT_THAT(html, HasSubstr("<th>incidents</th><td>2</td>"));

  ASSERT_TRUE(write_file_atomic(run.path() + "/goodput.json", "{\"wall_s\": 1}").ok());
  EXPECT_THAT(load_run_history(run.path()).status().message(), HasSubstr("productive_step_s: expected a number, found nothing"));
}

TEST(RunReport, SaysWhatIsMissingOrBroken) {
  RunDir run;
  auto missing = load_run_history(run.path());
  EXPECT_THAT(missing.status().message(), HasSubstr("has no metrics.jsonl; hint"));
  ASSERT_TRUE(write_file_atomic(run.path() + "/metrics.jsonl", "").ok());
  EXPECT_THAT(load_run_history(run.path()).status().message(), HasSubstr("records no steps"));
  ASSERT_TRUE(write_file_atomic(run.path() + "/metrics.jsonl", "{\"step\":1,\"loss\":2}\n{\"loss\":1}\n").ok());
  EXPECT_THAT(load_run_history(run.path()).status().message(), HasSubstr("line 2: expected a JSON object"));
  ASSERT_TRUE(write_file_atomic(run.path() + "/metrics.jsonl", "{\"step\":1,\"loss\":2}\n").ok());
  auto history = load_run_history(run.path());
  ASSERT_TRUE(history.ok());
  const std::string html = render_run_report(*history);
  EXPECT_THAT(html, HasSubstr("records no memory column"));
  EXPECT_THAT(html, HasSubstr("(the run directory has no config.toml)"));
  EXPECT_THAT(html, HasSubstr("No incidents recorded"));
  EXPECT_THAT(html, HasSubstr("No goodput.json"));
}

}  // namespace
}  // namespace tessera
