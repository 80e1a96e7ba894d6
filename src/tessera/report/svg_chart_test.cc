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

TEST(SvgChart, BarChartsScaleToTheLargestBarOrTheLimit) {
  // Stacked: 1 + 3 = 4 of a limit of 8 → the plot (220 .. 670 px, 450 px wide) is scaled to 8: the first
  // segment is 56.25 px wide from 220, the second starts there, the limit line is at 670.
  BarChart stacked{.title = "Memory <GPU>", .unit = "GiB", .bars = {{"weights", "#111", 1.0}, {"optimizer", "#222", 3.0}},
                   .stacked = true, .stacked_label = "per GPU", .limit = 8.0};
  const std::string svg = render_bar_chart(stacked);
  EXPECT_THAT(svg, HasSubstr(">Memory &lt;GPU&gt;</text>"));
  EXPECT_THAT(svg, HasSubstr("<rect x=\"220.0\" y=\"34\" width=\"56.2\" height=\"22\" fill=\"#111\"><title>weights 1 GiB</title>"));
  EXPECT_THAT(svg, HasSubstr("<rect x=\"276.2\" y=\"34\" width=\"168.8\""));
  EXPECT_THAT(svg, HasSubstr(">4 GiB</text>"));  // the total after the bar
  EXPECT_THAT(svg, HasSubstr("x1=\"670.0\""));
  EXPECT_THAT(svg, HasSubstr(">capacity 8 GiB</text>"));
  EXPECT_THAT(svg, HasSubstr(">per GPU</text>"));
  // One bar per entry: the largest (3 s) spans the whole plot.
  const std::string bars = render_bar_chart(BarChart{.title = "Step", .unit = "s", .bars = {{"compute", "#111", 3.0}, {"comm", "#222", 1.5}}});
  EXPECT_THAT(bars, HasSubstr("<rect x=\"220\" y=\"34\" width=\"450.0\" height=\"22\" fill=\"#111\"/>"));
  EXPECT_THAT(bars, HasSubstr("<rect x=\"220\" y=\"64\" width=\"225.0\" height=\"22\" fill=\"#222\"/>"));
  EXPECT_THAT(bars, HasSubstr(">comm</text>"));
  EXPECT_THAT(bars, Not(HasSubstr("capacity")));
}

TEST(SvgChart, EscapesText) { EXPECT_EQ(xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"); }

}  // namespace
}  // namespace tessera
