#include "results/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace pebench {
namespace {

// Plot geometry (SVG user units): the legend takes a column on the right.
constexpr double kWidth = 680, kLeft = 64, kRight = 470, kTop = 34, kPlotHeight = 250, kBottomMargin = 46;
constexpr double kLegendX = 482, kLegendRow = 15;

struct Axis {
  double lo, hi;
  bool log;
  double to_unit(double v) const {  // 0..1 along the axis
    return log ? (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo)) : (v - lo) / (hi - lo);
  }
  bool shows(double v) const { return std::isfinite(v) && (!log || v > 0) && v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9); }
};

std::string number(double v) {
  if (v == 0) return "0";
  char text[32];
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) {
    std::snprintf(text, sizeof text, "%.0e", v);  // 1e-04 -> 1e-4
    std::string s = text;
    const auto e = s.find('e');
    std::string exponent = s.substr(e + 1);
    const bool negative = exponent[0] == '-';
    exponent = exponent.substr(exponent[0] == '-' || exponent[0] == '+' ? 1 : 0);
    exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
    return s.substr(0, e) + "e" + (negative ? "-" : "") + exponent;
  }
  if (a >= 100 && v == std::round(v)) std::snprintf(text, sizeof text, "%.0f", v);  // 1024, not 1.02e+03
  else std::snprintf(text, sizeof text, "%.3g", v);
  return text;
}

std::string coordinate(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

std::vector<double> linear_ticks(double lo, double hi, bool integers) {
  const double raw = (hi - lo) / 5, magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  if (integers) step = std::max(step, 1.0);
  std::vector<double> ticks;
  // At most 12 ticks: a range that doubles cannot resolve (lo = 1e16, hi = lo + 1) must
  // not loop with a step that leaves t unchanged (a fuzzed store hung the report here).
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && ticks.size() < 12; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

// Powers of two on a length axis (x); 1-2-5 per decade otherwise, thinned to <= 9.
std::vector<double> log_ticks(double lo, double hi, bool powers_of_two) {
  std::vector<double> ticks;
  if (!(lo > 0) || !std::isfinite(hi) || hi < lo) return ticks;  // fit_axis keeps 1e-300 < values < 1e300
  if (powers_of_two) {
    for (double t = std::pow(2, std::ceil(std::log2(lo) - 1e-9)); t <= hi * (1 + 1e-9); t *= 2) ticks.push_back(t);
  } else {
    for (double decade = std::pow(10, std::floor(std::log10(lo))); decade <= hi; decade *= 10)
      for (double m : {1.0, 2.0, 5.0})
        if (m * decade >= lo * (1 - 1e-9) && m * decade <= hi * (1 + 1e-9)) ticks.push_back(m * decade);
    if (ticks.size() > 9) ticks.erase(std::remove_if(ticks.begin(), ticks.end(), [](double t) {
                                        return std::fabs(std::log10(t) - std::round(std::log10(t))) > 1e-9;
                                      }), ticks.end());
    if (ticks.size() < 4)  // a narrow range: every integer multiple
      for (double decade = std::pow(10, std::floor(std::log10(lo))); decade <= hi; decade *= 10)
        for (int m = 1; m <= 9; ++m)
          if (m * decade >= lo && m * decade <= hi && std::find(ticks.begin(), ticks.end(), m * decade) == ticks.end())
            ticks.push_back(m * decade);
    std::sort(ticks.begin(), ticks.end());
  }
  const size_t every = (ticks.size() + 8) / 9;
  std::vector<double> kept;
  for (size_t i = 0; i < ticks.size(); i += std::max<size_t>(every, 1)) kept.push_back(ticks[i]);
  return kept;
}

// The axis range over every finite (and, on a log axis, positive) value, padded.
bool fit_axis(std::vector<double> values, bool log, bool from_zero, Axis& axis) {
  // Magnitudes beyond 1e300 (and, on a log axis, below 1e-300) are left out: their range
  // or padding overflows to inf or underflows to 0, and no chart shows them usefully.
  values.erase(std::remove_if(values.begin(), values.end(),
                              [&](double v) { return !(std::fabs(v) < 1e300) || (log && !(v > 1e-300)); }),
               values.end());
  if (values.empty()) return false;
  double lo = *std::min_element(values.begin(), values.end()), hi = *std::max_element(values.begin(), values.end());
  if (log) {
    if (hi / lo < 1.05) lo /= 1.1, hi *= 1.1;
    const double pad = 0.04 * (std::log(hi) - std::log(lo));
    axis = {std::max(1e-300, std::exp(std::log(lo) - pad)), std::min(1e300, std::exp(std::log(hi) + pad)), true};
  } else {
    if (from_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
    if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
      const double half = std::max(0.5, 1e-6 * std::fabs(hi));  // +-0.5 vanishes beside 1e16
      lo -= half, hi += half;
    }
    const double pad = 0.04 * (hi - lo);
    axis = {from_zero && lo == 0 ? 0 : lo - pad, hi + pad, false};
  }
  return true;
}

}  // namespace

const std::vector<std::string>& chart_palette() {
  // Okabe-Ito, then Tableau-like extras: distinguishable, also for colour-blind readers.
  static const std::vector<std::string> palette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                                                   "#000000", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD"};
  return palette;
}

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML (an SVG is XML).
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string render_svg(const LineChart& chart) {
  std::vector<double> xs, ys;
  for (const auto& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xs.push_back(s.x[i]);
      ys.push_back(s.y[i]);
      if (!s.lower.empty()) ys.push_back(s.lower[i]), ys.push_back(s.upper[i]);
    }
    for (const auto& [x, y] : s.points) xs.push_back(x), ys.push_back(y);
  }
  for (const auto& marker : chart.markers) (marker.horizontal ? ys : xs).push_back(marker.value);
  const double legend_height = kLegendRow * static_cast<double>(chart.series.size()) + 8;
  const double plot_height = std::max(kPlotHeight, legend_height);
  const double height = kTop + plot_height + kBottomMargin;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << kWidth << " " << height << "\" width=\"" << kWidth
      << "\" height=\"" << height << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\" role=\"img\">\n"
      << "<title>" << escape_html(chart.title) << "</title>\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
      << "<text x=\"" << kLeft << "\" y=\"18\" font-size=\"13\" font-weight=\"bold\">" << escape_html(chart.title) << "</text>\n";
  Axis x_axis{}, y_axis{};
  // A log axis needs positive values; a curve that is all zeros gets a linear axis.
  if (!fit_axis(xs, chart.log_x, false, x_axis) || !fit_axis(ys, chart.log_y, chart.y_from_zero, y_axis)) {
    svg << "<text x=\"" << kLeft << "\" y=\"" << kTop + 20 << "\" fill=\"#555\">no finished data in this store</text>\n</svg>\n";
    return svg.str();
  }
  const double bottom = kTop + plot_height;
  auto px = [&](double x) { return kLeft + x_axis.to_unit(x) * (kRight - kLeft); };
  auto py = [&](double y) { return bottom - y_axis.to_unit(y) * plot_height; };

  // Grid, ticks and tick labels.
  svg << "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  const auto x_ticks = chart.log_x ? log_ticks(x_axis.lo, x_axis.hi, true) : linear_ticks(x_axis.lo, x_axis.hi, chart.x_integer);
  const auto y_ticks = chart.log_y ? log_ticks(y_axis.lo, y_axis.hi, false) : linear_ticks(y_axis.lo, y_axis.hi, false);
  for (double t : x_ticks)
    if (x_axis.shows(t)) svg << "<line x1=\"" << coordinate(px(t)) << "\" y1=\"" << kTop << "\" x2=\"" << coordinate(px(t)) << "\" y2=\"" << bottom << "\"/>\n";
  for (double t : y_ticks)
    if (y_axis.shows(t)) svg << "<line x1=\"" << kLeft << "\" y1=\"" << coordinate(py(t)) << "\" x2=\"" << kRight << "\" y2=\"" << coordinate(py(t)) << "\"/>\n";
  svg << "</g>\n<g fill=\"#333\">\n";
  for (double t : x_ticks)
    if (x_axis.shows(t)) svg << "<text x=\"" << coordinate(px(t)) << "\" y=\"" << bottom + 15 << "\" text-anchor=\"middle\">" << number(t) << "</text>\n";
  for (double t : y_ticks)
    if (y_axis.shows(t)) svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << coordinate(py(t) + 4) << "\" text-anchor=\"end\">" << number(t) << "</text>\n";
  svg << "<text x=\"" << (kLeft + kRight) / 2 << "\" y=\"" << bottom + 34 << "\" text-anchor=\"middle\">" << escape_html(chart.x_label) << "</text>\n"
      << "<text transform=\"translate(14," << coordinate(kTop + plot_height / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape_html(chart.y_label) << "</text>\n</g>\n"
      << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kRight - kLeft << "\" height=\"" << plot_height
      << "\" fill=\"none\" stroke=\"#888\"/>\n";

  // Markers: dashed grey lines with their label.
  for (const auto& marker : chart.markers) {
    if (marker.horizontal) {
      if (!y_axis.shows(marker.value)) continue;
      const std::string y = coordinate(py(marker.value));
      svg << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kRight << "\" y2=\"" << y
          << "\" stroke=\"#999\" stroke-dasharray=\"2,3\"/>\n<text x=\"" << kRight - 4 << "\" y=\"" << coordinate(py(marker.value) - 3)
          << "\" text-anchor=\"end\" fill=\"#666\" font-size=\"10\">" << escape_html(marker.label) << "</text>\n";
    } else {
      if (!x_axis.shows(marker.value)) continue;
      const std::string x = coordinate(px(marker.value));
      svg << "<line x1=\"" << x << "\" y1=\"" << kTop << "\" x2=\"" << x << "\" y2=\"" << bottom
          << "\" stroke=\"#555\" stroke-dasharray=\"4,3\"/>\n<text x=\"" << coordinate(px(marker.value) + 3) << "\" y=\"" << kTop + 11
          << "\" fill=\"#444\" font-size=\"10\">" << escape_html(marker.label) << "</text>\n";
    }
  }

  // Bands, then lines and points, each series in its colour.
  const auto& palette = chart_palette();
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const auto& series = chart.series[s];
    const std::string color = palette[(series.color >= 0 ? static_cast<size_t>(series.color) : s) % palette.size()];
    auto visible = [&](size_t i) { return x_axis.shows(series.x[i]) && y_axis.shows(series.y[i]); };
    // Contiguous runs of visible points.
    std::vector<std::pair<size_t, size_t>> segments;
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (!visible(i)) continue;
      if (segments.empty() || segments.back().second != i) segments.push_back({i, i + 1});
      else segments.back().second = i + 1;
    }
    if (!series.lower.empty())
      for (const auto& [begin, end] : segments) {
        std::string polygon;
        bool complete = true;
        for (size_t i = begin; i < end; ++i) complete = complete && y_axis.shows(series.upper[i]) && y_axis.shows(series.lower[i]);
        if (!complete || end - begin < 2) continue;
        for (size_t i = begin; i < end; ++i) polygon += coordinate(px(series.x[i])) + "," + coordinate(py(series.upper[i])) + " ";
        for (size_t i = end; i-- > begin;) polygon += coordinate(px(series.x[i])) + "," + coordinate(py(series.lower[i])) + " ";
        svg << "<polygon points=\"" << polygon << "\" fill=\"" << color << "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
      }
    for (const auto& [begin, end] : segments) {
      if (end - begin == 1) {
        svg << "<circle cx=\"" << coordinate(px(series.x[begin])) << "\" cy=\"" << coordinate(py(series.y[begin]))
            << "\" r=\"2.5\" fill=\"" << color << "\"/>\n";
        continue;
      }
      svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.6\""
          << (series.dashed ? " stroke-dasharray=\"5,3\"" : "") << " points=\"";
      for (size_t i = begin; i < end; ++i) svg << coordinate(px(series.x[i])) << "," << coordinate(py(series.y[i])) << " ";
      svg << "\"/>\n";
    }
    for (const auto& [x, y] : series.points)
      if (x_axis.shows(x) && y_axis.shows(y))
        svg << "<circle cx=\"" << coordinate(px(x)) << "\" cy=\"" << coordinate(py(y)) << "\" r=\"3.5\" fill=\"" << color
            << "\" stroke=\"#fff\" stroke-width=\"1\"/>\n";
    // Legend entry.
    const double y = kTop + 8 + kLegendRow * static_cast<double>(s);
    svg << "<line x1=\"" << kLegendX << "\" y1=\"" << y << "\" x2=\"" << kLegendX + 18 << "\" y2=\"" << y << "\" stroke=\"" << color
        << "\" stroke-width=\"2\"" << (series.dashed ? " stroke-dasharray=\"5,3\"" : "") << "/>\n<text x=\"" << kLegendX + 23
        << "\" y=\"" << y + 4 << "\">" << escape_html(series.label) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace pebench
