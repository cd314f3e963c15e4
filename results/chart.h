// Line charts as standalone SVG for `pebench report`: axes with ticks and units, log or
// linear scales, a legend, shaded bands (95% CI) and marked x positions (train length).
// No scripting and no external resources, so a report renders the same offline.
#pragma once
#include <string>
#include <vector>

namespace pebench {

struct ChartSeries {
  std::string label;
  std::vector<double> x, y;          // NaN breaks the line
  std::vector<double> lower, upper;  // optional band, same length as x
  bool dashed = false;
  int color = -1;                    // palette index; -1: the series' position
  std::vector<std::pair<double, double>> points = {};  // marked points on the line (e.g. ERFs)
};

struct ChartMarker {
  double value;       // x (vertical line) or y (horizontal line)
  std::string label;
  bool horizontal = false;
};

struct LineChart {
  std::string title, x_label, y_label;  // labels carry units, e.g. "eval length (tokens)"
  bool log_x = false, log_y = false;
  bool y_from_zero = false;             // linear y: include 0
  bool x_integer = false;               // linear x: ticks on integers only (layers)
  std::vector<ChartSeries> series = {};
  std::vector<ChartMarker> markers = {};
};

// Escapes & < > " ' for HTML text and attributes (and SVG, which is XML).
std::string escape_html(const std::string& text);
// The chart as an <svg> element; a chart without finite data says so.
std::string render_svg(const LineChart& chart);
// The categorical palette render_svg draws series with, as CSS colors.
const std::vector<std::string>& chart_palette();

}  // namespace pebench
