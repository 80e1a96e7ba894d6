#include "tessera/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tessera {

namespace {

constexpr int kLeft = 70, kRight = 20, kTop = 34, kBottom = 46;

// A tick label: few significant digits, SI suffix for large values (12k, 3.5M).
std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  if (a != 0.0 && a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:.4g}", v);
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string render_line_chart(const LineChart& chart) {
  const int W = chart.width, H = chart.height;
  const double left = kLeft, right = W - kRight, top = kTop, bottom = H - kBottom;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const ChartSeries& s : chart.series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
    }
  }
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"#fff\"/>\n"
      "<text x=\"{2}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{3}</text>\n",
      W, H, kLeft, xml_escape(chart.title));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top,
                     right - left, bottom - top);
  if (!std::isfinite(x_min)) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n",
                       (left + right) / 2, (top + bottom) / 2);
    return svg;
  }
  // Pad the ranges: a flat series sits mid-height, and lines do not touch the frame.
  if (x_max == x_min) x_min -= 0.5, x_max += 0.5;
  const double y_pad = y_max > y_min ? 0.05 * (y_max - y_min) : std::max(std::fabs(y_max) * 0.1, 1e-9);
  y_min -= y_pad, y_max += y_pad;
  const auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (right - left); };
  const auto py = [&](double y) { return bottom - (y - y_min) / (y_max - y_min) * (bottom - top); };

  for (const double t : nice_ticks(y_min, y_max)) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e4e4e4\"/>"
                       "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
                       left, py(t), right, left - 6, py(t) + 4, tick_label(t));
  }
  for (const double t : nice_ticks(x_min, x_max, 8)) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#444\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
                       px(t), bottom, bottom + 5, bottom + 18, tick_label(t));
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (left + right) / 2, H - 8,
                     xml_escape(chart.x_label));
  svg += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     (top + bottom) / 2, xml_escape(chart.y_label));
  for (const ChartMarker& m : chart.markers) {
    if (!std::isfinite(m.x) || m.x < x_min || m.x > x_max) continue;
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
                       "stroke-dasharray=\"4 3\"><title>{4}</title></line>\n",
                       px(m.x), top, bottom, xml_escape(m.color), xml_escape(m.label));
  }
  double legend_x = right;
  for (size_t k = chart.series.size(); k-- > 0;) {  // right-aligned legend, last series rightmost
    const ChartSeries& s = chart.series[k];
    legend_x -= 30 + 7.0 * static_cast<double>(s.name.size());
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"12\" width=\"14\" height=\"4\" fill=\"{}\"/>"
                       "<text x=\"{:.1f}\" y=\"18\">{}</text>\n",
                       legend_x, xml_escape(s.color), legend_x + 18, xml_escape(s.name));
  }
  for (const ChartSeries& s : chart.series) {
    std::string points;
    std::string dots;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
      if (s.dots) dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>", px(s.x[i]),
                                      py(s.y[i]), xml_escape(s.color));
    }
    if (points.empty()) continue;
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>\n{}\n",
                       xml_escape(s.color), points, dots);
  }
  svg += "</svg>\n";
  return svg;
}

std::string render_bar_chart(const BarChart& chart) {
  const int width = 760, left = 220, right = 90, bar = 22, gap = 8;
  const size_t n = chart.bars.size();
  const int n_bars = chart.stacked ? 1 : static_cast<int>(n);
  const int legend_rows = chart.stacked ? static_cast<int>((n + 2) / 3) : 0;
  const int height = 40 + n_bars * (bar + gap) + 24 + legend_rows * 18 + 10;
  double total = 0.0, largest = 0.0;
  for (const Bar& b : chart.bars) {
    total += b.value;
    largest = std::max(largest, b.value);
  }
  const double scale_max = std::max({chart.stacked ? total : largest, chart.limit, 1e-12});
  const double plot = width - left - right;
  auto px = [&](double v) { return left + v / scale_max * plot; };
  const std::string& unit = chart.unit;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">"
      "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{}</text>",
      width, height, width, height, xml_escape(chart.title));
  int y = 34;
  if (chart.stacked) {
    double x0 = 0.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", left - 8,
                       y + bar - 6, xml_escape(chart.stacked_label));
    for (const Bar& b : chart.bars) {
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{} {:.3g} {}</title></rect>",
                         px(x0), y, px(x0 + b.value) - px(x0), bar, b.color, xml_escape(b.label), b.value, unit);
      x0 += b.value;
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\">{:.3g} {}</text>", px(total) + 4, y + bar - 6, total, unit);
    y += bar + gap;
  } else {
    for (const Bar& b : chart.bars) {
      svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", left - 8, y + bar - 6,
                         xml_escape(b.label));
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>", left, y,
                         std::max(0.0, px(b.value) - left), bar, b.color);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\">{:.3g} {}</text>", px(b.value) + 4, y + bar - 6, b.value, unit);
      y += bar + gap;
    }
  }
  if (chart.limit > 0) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"30\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#000\" stroke-dasharray=\"5,3\"/>"
                       "<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{} {:.3g} {}</text>",
                       px(chart.limit), px(chart.limit), y, px(chart.limit) - 3, y + 14, xml_escape(chart.limit_label),
                       chart.limit, unit);
  }
  y += chart.limit > 0 ? 34 : 24;  // below the limit's label
  if (chart.stacked) {
    for (size_t i = 0; i < n; ++i) {
      const int lx = 20 + static_cast<int>(i % 3) * 245, ly = y + static_cast<int>(i / 3) * 18;
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" "
                         "font-size=\"12\">{} {:.3g} {}</text>",
                         lx, ly - 10, chart.bars[i].color, lx + 16, ly, xml_escape(chart.bars[i].label),
                         chart.bars[i].value, unit);
    }
  }
  return svg + "</svg>";
}

}  // namespace tessera
