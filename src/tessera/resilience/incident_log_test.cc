#include "tessera/resilience/incident_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tessera/core/file.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

std::string temp_dir(const char* name) {
  const auto path = std::filesystem::temp_directory_path() /
                    (std::string("tessera_resil_") + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  return path.string();
}

TEST(IncidentLog, AppendsJsonLinesThatReadBack) {
  const std::string run = temp_dir("incidents");
  IncidentLog log(run);
  ASSERT_TRUE(log.append({.time_unix_s = 1764655200.25, .kind = "rank_died", .rank = 3, .step = 120,
                          .detection_s = 0.8, .time_lost_s = 41.5, .detail = "exit signal 9"})
                  .ok());
  ASSERT_TRUE(log.append({.kind = "checkpoint_quarantined", .rank = 0, .step = 200,
                          .detail = "checkpoint 'x': \"quoted\"\nnewline"})
                  .ok());
  EXPECT_EQ(log.path(), run + "/incidents.jsonl");
  auto text = read_file(log.path());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 2);  // one line each, newlines escaped
  EXPECT_THAT(*text, HasSubstr("\"kind\":\"rank_died\""));
  auto incidents = read_incidents(log.path());
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 2u);
  const Incident& first = (*incidents)[0];
  EXPECT_EQ(first.time_unix_s, 1764655200.25);
  EXPECT_EQ(first.kind, "rank_died");
  EXPECT_EQ(first.rank, 3);
  EXPECT_EQ(first.step, 120);
  EXPECT_EQ(first.detection_s, 0.8);
  EXPECT_EQ(first.time_lost_s, 41.5);
  EXPECT_EQ(first.detail, "exit signal 9");
  EXPECT_GT((*incidents)[1].time_unix_s, 1.7e9);  // 0 → now
  EXPECT_EQ((*incidents)[1].detail, "checkpoint 'x': \"quoted\"\nnewline");
  std::filesystem::remove_all(run);
}

TEST(IncidentLog, ConcurrentAppendersNeverInterleaveAndATornLineIsSkipped) {
  const std::string run = temp_dir("concurrent");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      IncidentLog log(run);
      for (int i = 0; i < 25; ++i) {
        ASSERT_TRUE(log.append({.kind = "straggler", .rank = t, .step = i, .detail = std::string(300, static_cast<char>('a' + t))}).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  {
    std::ofstream torn(run + "/incidents.jsonl", std::ios::app);
    torn << "{\"time_unix_s\": 1, \"kind\": \"rank_d";  // a crash mid-write
  }
  auto incidents = read_incidents(run + "/incidents.jsonl");
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 100u);
  for (const Incident& incident : *incidents) {
    EXPECT_EQ(incident.detail, std::string(300, static_cast<char>('a' + incident.rank)));
  }
  EXPECT_TRUE(read_incidents(run + "/none.jsonl")->empty());
  EXPECT_THAT(IncidentLog(run).append({}).message(), HasSubstr("needs a kind"));
  EXPECT_THAT(incident_from_json("{\"time_unix_s\":1,\"kind\":\"x\",\"rank\":\"0\"}").status().message(),
              HasSubstr("'rank' missing or not an integer"));
  std::filesystem::remove_all(run);
}

}  // namespace
}  // namespace tessera
