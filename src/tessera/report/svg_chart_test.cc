#include "tessera/report/svg_chart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(SvgChart, NiceTicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(nice_ticks(0.0, 10.0, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(3.1, 7.9, 5), (std::vector<double>{4, 5, 6, 7}));
  const auto small = nice_ticks(0.00012, 0.00058, 4);
  ASSERT_FALSE(small.empty());
  EXPECT_NEAR(small.front(), 0.0002, 1e-12);
  EXPECT_NEAR(small[1] - small[0], 0.0002, 1e-12);  // a step of 1e-4 would give 5+ ticks
}

TEST(SvgChart, MapsPointsIntoThePlotAreaAndDrawsMarkersAndLegend) {
  LineChart chart{.title = "Loss <train>", .x_label = "step", .y_label = "nats"};
  chart.series.push_back({.name = "train loss", .color = "#1f77b4", .x = {0, 10}, .y = {2, 1}});
  chart.markers.push_back({.x = 5, .label = "checkpoint step 5"});
  const std::string svg = render_line_chart(chart);
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"300\""));
  EXPECT_THAT(svg, HasSubstr("Loss &lt;train&gt;"));
  // x 0 → left edge 70; x 10 → 620. y range [1, 2] padded by 5% to [0.95, 2.05] over the 220 px from 34 to
  // 254: y 2 → 254 - 1.05 / 1.1 · 220 = 44; y 1 → 254 - 0.05 / 1.1 · 220 = 244.
  EXPECT_THAT(svg, HasSubstr("points=\"70.0,44.0 620.0,244.0 \""));
  EXPECT_THAT(svg, HasSubstr("x1=\"345.0\""));  // the marker at x 5, mid-plot
  EXPECT_THAT(svg, HasSubstr("<title>checkpoint step 5</title>"));
  EXPECT_THAT(svg, HasSubstr(">train loss</text>"));
  EXPECT_THAT(svg, Not(HasSubstr("no data")));
}

TEST(SvgChart, NoFinitePointsSaysNoData) {
  LineChart chart{.title = "Memory"};
  chart.series.push_back({.name = "rss", .color = "#000", .x = {1}, .y = {std::nan("")}});
  EXPECT_THAT(render_line_chart(chart), HasSubstr(">no data</text>"));
  EXPECT_THAT(render_line_chart(LineChart{.title = "Empty"}), HasSubstr(">no data</text>"));
}

TEST(SvgChart, EscapesText) { EXPECT_EQ(xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"); }

}  // namespace
}  // namespace tessera
