// pebench report: SVG chart geometry against hand-computed coordinates, escaping, and
// the report's sections on a store with seeds and a diverged run. The browser test
// (report_browser_test.sh) renders a real report in chromium.
#include <gtest/gtest.h>

#include <cmath>

#include "results/chart.h"
#include "results/report.h"
#include "tests/results/store_fixtures.h"

namespace pebench {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Chart, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(escape_html("<a href=\"x\">Tom & 'Jerry'</a>"), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(escape_html(std::string("bell\x07")), "bell ");  // not allowed in XML
}

TEST(Chart, PointsLandWhereTheScalesPutThem) {
  LineChart chart{"ppl", "length (tokens)", "ppl", true, false};
  chart.series.push_back({"alibi", {16, 32, 64}, {5, 6, 7}, {}, {}});
  const std::string svg = render_svg(chart);
  // x: log axis over [16, 64] padded symmetrically in log space, so 32 is the middle of
  // the plot (64 + (470 - 64) / 2 = 267); y: linear [5, 7] padded by 4%, 6 in the middle
  // (34 + 250 / 2 = 159). Each end sits 0.04 / 1.08 of the axis in: 16 at 64 + 406 · 0.037037
  // = 79.04, 64 at 470 - 15.04 = 454.96; 5 at 284 - 250 · 0.037037 = 274.74, 7 at 43.26.
  EXPECT_NE(svg.find("points=\"79.0,274.7 267.0,159.0 455.0,43.3 \""), std::string::npos) << svg;
  for (const char* tick : {">16<", ">32<", ">64<", ">5<", ">6<", ">7<"}) EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_NE(svg.find(">length (tokens)<"), std::string::npos);
}

TEST(Chart, NanBreaksTheLineBandsAndMarkers) {
  LineChart chart{"t", "x", "y", false, false};
  chart.series.push_back({"a", {1, 2, 3, 4}, {5, NAN, 7, 8}, {4, NAN, 6, 7}, {6, NAN, 8, 9}});
  chart.markers = {{2.5, "L_train=2"}};
  const std::string svg = render_svg(chart);
  EXPECT_EQ(count(svg, "<polyline"), 1u);  // 3-4; the lone point 1 is a dot
  EXPECT_EQ(count(svg, "<circle"), 1u);
  EXPECT_EQ(count(svg, "<polygon"), 1u);   // the band where two points join
  EXPECT_NE(svg.find(">L_train=2<"), std::string::npos);
  // A log axis drops what it cannot show; no data at all says so.
  LineChart empty{"t", "x", "y", true, true};
  empty.series.push_back({"a", {1, 2}, {NAN, NAN}, {}, {}});
  EXPECT_NE(render_svg(empty).find("no finished data"), std::string::npos);
}

TEST(Chart, LengthTicksArePowersOfTwoAndPrintedWhole) {
  LineChart chart{"t", "x", "y", true, true};
  chart.series.push_back({"a", {64, 128, 256, 512, 1024}, {5, 6, 10, 20, 40}, {}, {}});
  const std::string svg = render_svg(chart);
  for (const char* tick : {">64<", ">128<", ">256<", ">512<", ">1024<", ">10<", ">20<"}) EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(svg.find("e+03"), std::string::npos);
}

TEST(Report, SectionsTableAndEscapedStoreStrings) {
  const StoreContents contents =
      seeds_store("report.h5", "; <script>alert(1)</script>\n[study]\nname = seeds\n[grid]\nseed = 0,1,2,3\n", "seeds");
  ReportOptions options;
  options.store_paths = {"a<b>.h5"};
  const std::string html = html_report({contents}, options);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("store: a&lt;b&gt;.h5"), std::string::npos);
  EXPECT_NE(html.find("<h1>pebench report: seeds</h1>"), std::string::npos);
  EXPECT_NE(html.find("5 runs (1 diverged, 4 done)"), std::string::npos) << html.substr(0, 2000);
  // The comparison table as compare prints it, the diverged run flagged in the run table.
  EXPECT_NE(html.find("<td>3 +1 diverged</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>6.000 ±2.484</td>"), std::string::npos);
  EXPECT_NE(html.find("class=\"text diverged\""), std::string::npos);
  // ppl vs length (a CI band for alibi's three seeds), loss by position, training: three charts;
  // no analyses in this store, so the report says how to get them.
  EXPECT_EQ(count(html, "<svg "), 3u);
  EXPECT_EQ(count(html, "<polygon"), 1u);
  EXPECT_NE(html.find("This store has no analyses"), std::string::npos);
}

// train.eval_every: a chart of the history at the train and longest length, with a band
// over alibi's three seeds; --metric bpb draws it in bits per byte, from each run's tokens
// and bytes of the final eval's windows. Without a history, no chart (the test above).
TEST(Report, EvalHistoryChartInPerplexityOrBitsPerByte) {
  StoreContents contents = seeds_store("history.h5");
  for (auto& run : contents.runs) {
    if (run.row.status != "done") continue;
    run.extra["eval_history/step"] = {5, 10, 15};
    run.extra["eval_history/ppl"] = {8, 9, 10, 6, 7, 8, run.eval_ppl[0], run.eval_ppl[1], run.eval_ppl[2]};
    run.extra["eval/bytes"] = {128, 128, 128};  // 2 bytes per token
  }
  const std::string html = html_report({contents}, ReportOptions{});
  EXPECT_NE(html.find("Held-out perplexity during training"), std::string::npos);
  EXPECT_NE(html.find("alibi @16"), std::string::npos);
  EXPECT_NE(html.find("alibi @64"), std::string::npos);
  EXPECT_EQ(count(html, "<svg "), 4u);
  EXPECT_EQ(count(html, "<polygon"), 3u);  // alibi's band in ppl vs length, and at both history lengths
  ReportOptions bpb;
  bpb.compare.metric = "bpb";
  const std::string in_bits = html_report({contents}, bpb);
  EXPECT_NE(in_bits.find("Bits per byte during training"), std::string::npos);
  EXPECT_EQ(in_bits.find("Held-out perplexity during training"), std::string::npos);
  // Every point is log2(ppl) x 64 tokens / 128 bytes: 1.5 (ppl 8) to 2.04 (rope's 17), so
  // every y tick of the chart lies below 3; unconverted perplexities put them at 6 and up.
  const size_t chart = in_bits.find("Bits per byte during training");
  const std::string svg = in_bits.substr(chart, in_bits.find("</svg>", chart) - chart);
  std::vector<double> ticks;
  const std::string tick = "text-anchor=\"end\">";
  for (size_t at = svg.find(tick); at != std::string::npos; at = svg.find(tick, at + 1))
    ticks.push_back(std::stod(svg.substr(at + tick.size())));
  ASSERT_GE(ticks.size(), 2u);
  for (double value : ticks) EXPECT_LT(value, 3.0) << svg;
}

// --baseline: a chart of each group's ppl over its baseline run's, the baseline drawn as
// a line at 1, and the paired column in the table (rope seed 0 against alibi seed 0:
// 15/5 = 3 at 16); nothing of it without the flag (the tests above count the charts).
TEST(Report, BaselineChartAndPairedColumns) {
  const StoreContents contents = seeds_store("baseline.h5");
  ReportOptions options;
  options.compare.baseline_key = "encoding";
  options.compare.baseline_value = "alibi";
  const std::string html = html_report({contents}, options);
  const size_t chart = html.find("Perplexity relative to the baseline");
  ASSERT_NE(chart, std::string::npos) << html;
  const std::string svg = html.substr(chart, html.find("</svg>", chart) - chart);
  EXPECT_NE(svg.find("ppl / ppl of encoding = alibi"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">rope<"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">alibi<"), std::string::npos) << svg;  // the baseline is the line, not a series
  EXPECT_EQ(count(svg, "<polygon"), 0u);                       // one pair: no band
  EXPECT_NE(html.find("<th>ppl/base@16</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>3.000</td>"), std::string::npos);
  EXPECT_EQ(count(html, "<svg "), 4u);  // ppl vs length, loss by position, the ratio, training loss

  // In bits per byte, the difference: (log2 15 - log2 5) / 2 = 0.792 with 2 bytes per token.
  StoreContents with_bytes = contents;
  for (auto& run : with_bytes.runs) run.extra["eval/bytes"] = {128, 128, 128};
  options.compare.metric = "bpb";
  const std::string bits = html_report({with_bytes}, options);
  EXPECT_NE(bits.find("Bits per byte minus the baseline&#39;s"), std::string::npos) << bits;
  EXPECT_NE(bits.find("bpb - bpb of encoding = alibi"), std::string::npos);
  EXPECT_NE(bits.find("<td>0.792</td>"), std::string::npos);
  options.compare.baseline_value = "xpos";
  EXPECT_THROW(html_report({contents}, options), std::invalid_argument);
}

}  // namespace
}  // namespace pebench
