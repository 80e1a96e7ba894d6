#include "tessera/resilience/goodput.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

GoodputSummary example() {
  GoodputSummary s;
  s.wall_s = 1000;
  for (int i = 0; i < 500; ++i) s.add_step(1.862);  // 931 s
  s.add_lost_work(20);
  s.add_restart(5);
  s.add_restart(7.5);
  s.add_checkpoint_stall(3.2);
  return s;
}

TEST(Goodput, EffectiveTimeAndBreakdown) {
  const GoodputSummary s = example();
  EXPECT_NEAR(s.effective(), 0.931, 1e-9);
  EXPECT_NEAR(s.other_s(), 1000 - 931 - 20 - 12.5 - 3.2, 1e-9);
  EXPECT_EQ(s.steps, 500);
  EXPECT_EQ(s.restarts, 2);
  EXPECT_EQ(goodput_text_line(s),
            "goodput: effective training time 93.1% (productive 931 s of 1000 s wall over 500 steps; lost work 20 s, "
            "restart 12.5 s in 2 restarts, checkpoint stall 3.2 s, other 33.3 s)");
  EXPECT_EQ(GoodputSummary{}.effective(), 0.0);
}

TEST(Goodput, WritesJsonAndRejectsInconsistentFigures) {
  const std::string run = (std::filesystem::temp_directory_path() / ("tessera_goodput_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(run);
  ASSERT_TRUE(write_goodput(run, example()).ok());
  auto text = read_file(run + "/goodput.json");
  ASSERT_TRUE(text.ok());
  const auto json = nlohmann::json::parse(*text);
  EXPECT_NEAR(json["effective_training_time"].get<double>(), 0.931, 1e-9);
  EXPECT_EQ(json["restarts"].get<int>(), 2);
  EXPECT_NEAR(json["other_s"].get<double>(), 33.3, 1e-9);
  // Read back as written (what `tessera report` draws).
  auto back = read_goodput(run);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->productive_step_s, example().productive_step_s);
  EXPECT_EQ((*back)->restart_s, 12.5);
  EXPECT_EQ((*back)->restarts, 2);
  EXPECT_EQ(goodput_text_line(**back), goodput_text_line(example()));
  EXPECT_THAT(goodput_from_json(R"({"wall_s": 1, "productive_step_s": "x"})", "g.json").status().message(),
              HasSubstr("goodput 'g.json': productive_step_s: expected a number, found string"));
  EXPECT_THAT(goodput_from_json("[1]", "g.json").status().message(), HasSubstr("expected a JSON object"));
  std::filesystem::remove(run + "/goodput.json");
  auto none = read_goodput(run);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  GoodputSummary over = example();
  over.wall_s = 900;
  EXPECT_THAT(write_goodput(run, over).message(), HasSubstr("add up to 966.700 s, more than the wall time 900.000 s"));
  GoodputSummary negative = example();
  negative.restart_s = -1;
  EXPECT_THAT(check_goodput(negative).message(), HasSubstr("restart_s must be a duration >= 0, found -1"));
  std::filesystem::remove_all(run);
}

}  // namespace
}  // namespace tessera
