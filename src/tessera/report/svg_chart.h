// Line and bar charts as inline SVG elements (no scripts, no fonts or styles from outside), for pages that
// must render with no network. Axes carry "nice" ticks (1, 2, 5 × 10^k); series are polylines in the
// order given; markers are dashed vertical lines at x positions (checkpoints, incidents) with a label.
//
// Coordinates: the plot area is [kLeft, width - kRight] × [kTop, height - kBottom] pixels; a data point
// (x, y) maps to px = left + (x - x_min) / (x_max - x_min) · plot_width, py = bottom - (y - y_min) /
// (y_max - y_min) · plot_height, over the padded ranges of all series. Non-finite points are skipped.
#pragma once

#include <string>
#include <vector>

namespace tessera {

struct ChartSeries {
  std::string name;   // legend text
  std::string color;  // CSS color, e.g. "#1f77b4"
  std::vector<double> x, y;  // same length
  bool dots = false;  // draw each point as a dot too (sparse series such as validation loss)
};

struct ChartMarker {
  double x = 0.0;
  std::string label;
  std::string color = "#888";
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  std::vector<ChartMarker> markers;
  int width = 640;
  int height = 300;
};

// The chart as "<svg ...>...</svg>". A chart with no finite point says so in its plot area.
std::string render_line_chart(const LineChart& chart);

// A horizontal bar chart: `stacked` puts every bar's value into one bar (labelled `stacked_label`, its
// total written after it) with a legend below, three entries a row; otherwise one bar per entry with its
// label on the left and its value on the right. The scale runs from 0 to the largest bar (stacked: the
// total) or `limit`, whichever is larger; `limit` > 0 also draws a dashed line there named `limit_label`.
struct Bar {
  std::string label;
  std::string color;
  double value = 0.0;  // in `unit`, ≥ 0
};
struct BarChart {
  std::string title;
  std::string unit;  // "GiB", "s"
  std::vector<Bar> bars;
  bool stacked = false;
  std::string stacked_label;
  double limit = 0.0;
  std::string limit_label = "capacity";
};
std::string render_bar_chart(const BarChart& chart);

// Tick values covering [lo, hi] at a 1/2/5 × 10^k step, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Text safe inside XML/HTML element content and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace tessera
