// The comparison table and the Pareto plot: geometry, point coordinates and SVG structure.
#include <catch2/catch.hpp>

#include <regex>

#include "delib/eval.h"

using namespace delib;
using namespace delib::eval;

namespace {
RunPoint point(const std::string& name, double x, double xlo, double xhi, double y, double ylo, double yhi) {
  RunPoint p;
  p.name = name;
  p.not_overrefuse = Estimate{x, xlo, xhi, 10};
  p.not_unsafe = Estimate{y, ylo, yhi, 10};
  return p;
}
// The attribute `name` of the first element matching `tag` after `from`.
double attr(const std::string& svg, size_t from, const std::string& name) {
  std::regex re(name + "=\"([-0-9.]+)\"");
  std::smatch m;
  std::string rest = svg.substr(from);
  REQUIRE(std::regex_search(rest, m, re));
  return std::stod(m[1].str());
}
}  // namespace

TEST_CASE("plot geometry: axes from the lowest interval end, rounded down to a tenth",
          "[eval][plot]") {
  std::vector<RunPoint> pts = {point("a", 0.9, 0.82, 0.95, 0.6, 0.51, 0.7),
                               point("b", 0.75, 0.66, 0.8, 0.95, 0.9, 0.99)};
  PlotGeometry g = plot_geometry(pts);
  CHECK(g.x0 == Approx(0.5));  // min(0.5, floor(6.6) / 10)
  CHECK(g.y0 == Approx(0.5));
  std::vector<RunPoint> high = {point("c", 0.97, 0.93, 0.99, 0.95, 0.91, 0.98)};
  PlotGeometry h = plot_geometry(high);
  CHECK(h.x0 == Approx(0.5));  // capped at 0.5 so the plot shows a fair range
  std::vector<RunPoint> low = {point("d", 0.3, 0.21, 0.4, 0.2, 0.07, 0.3)};
  PlotGeometry l = plot_geometry(low);
  CHECK(l.x0 == Approx(0.2));
  CHECK(l.y0 == Approx(0.0));
  // Pixel mapping: x0 at the left margin, 1 at width - right; y1 at the top margin.
  CHECK(l.px(0.2) == Approx(l.left));
  CHECK(l.px(1.0) == Approx(l.width - l.right));
  CHECK(l.py(1.0) == Approx(l.top));
  CHECK(l.py(0.0) == Approx(l.height - l.bottom));
  CHECK(l.px(0.6) == Approx(l.left + 0.5 * (l.width - l.left - l.right)));
}

TEST_CASE("pareto_svg places each run at its metrics with error bars", "[eval][plot]") {
  std::vector<RunPoint> pts = {point("base <v1>", 0.9, 0.8, 0.95, 0.6, 0.5, 0.7),
                               point("sft", 0.85, 0.8, 0.9, 0.9, 0.85, 0.95)};
  std::string svg = pareto_svg(pts);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
  // Names are escaped.
  CHECK(svg.find("data-name=\"base &lt;v1&gt;\"") != std::string::npos);
  // Axes span [0.5, 1] on both sides: x = 70 + (v - 0.5) / 0.5 * 550, y = 40 + (1 - v) / 0.5 * 380.
  auto px = [](double v) { return 70 + (v - 0.5) / 0.5 * 550; };
  auto py = [](double v) { return 40 + (1 - v) / 0.5 * 380; };
  size_t a = svg.find("data-name=\"base &lt;v1&gt;\"");
  size_t b = svg.find("data-name=\"sft\"");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  size_t ca = svg.find("<circle", a), cb = svg.find("<circle", b);
  CHECK(attr(svg, ca, "cx") == Approx(px(0.9)).margin(0.01));
  CHECK(attr(svg, ca, "cy") == Approx(py(0.6)).margin(0.01));
  CHECK(attr(svg, cb, "cx") == Approx(px(0.85)).margin(0.01));
  CHECK(attr(svg, cb, "cy") == Approx(py(0.9)).margin(0.01));
  // The horizontal error bar of "base" spans its not_overrefuse interval.
  size_t xe = svg.find("class=\"xerr\"", a);
  CHECK(attr(svg, xe, "x1") == Approx(px(0.8)).margin(0.01));
  CHECK(attr(svg, xe, "x2") == Approx(px(0.95)).margin(0.01));
  size_t ye = svg.find("class=\"yerr\"", a);
  CHECK(attr(svg, ye, "y1") == Approx(py(0.5)).margin(0.01));
  CHECK(attr(svg, ye, "y2") == Approx(py(0.7)).margin(0.01));
  // Neither dominates the other: both filled (not white).
  CHECK(svg.substr(ca, svg.find("/>", ca) - ca).find("fill=\"white\"") == std::string::npos);
  // Tags balance: every <g> closed.
  size_t open = 0, close = 0;
  for (size_t p = 0; (p = svg.find("<g ", p)) != std::string::npos; ++p) ++open;
  for (size_t p = 0; (p = svg.find("</g>", p)) != std::string::npos; ++p) ++close;
  CHECK(open == close);
}

TEST_CASE("a dominated run is drawn hollow; a run without metrics is left out", "[eval][plot]") {
  std::vector<RunPoint> pts = {point("good", 0.9, 0.85, 0.95, 0.9, 0.85, 0.95),
                               point("worse", 0.8, 0.75, 0.85, 0.7, 0.6, 0.8), RunPoint{"empty", {}, {}}};
  std::string svg = pareto_svg(pts);
  size_t w = svg.find("data-name=\"worse\"");
  size_t c = svg.find("<circle", w);
  CHECK(svg.substr(c, svg.find("/>", c) - c).find("fill=\"white\"") != std::string::npos);
  CHECK(svg.find("data-name=\"empty\"") == std::string::npos);
  CHECK(svg.find("run empty has no not_overrefuse") != std::string::npos);
}

TEST_CASE("compare_table puts runs side by side", "[eval][plot]") {
  Json a = Json::parse(R"({"name":"a","records":3,"overall":{"not_unsafe":{"value":0.5,"lo":0.25,"hi":0.75,"n":4}},"by_source":{"x":{"not_unsafe":{"value":0.5,"lo":0.25,"hi":0.75,"n":4}}}})");
  Json b = Json::parse(R"({"name":"b","records":5,"overall":{"not_unsafe":{"value":1,"lo":1,"hi":1,"n":4},"not_overrefuse":{"value":0.8,"lo":0.6,"hi":1,"n":5}}})");
  std::string t = compare_table({a, b}, {"a", "b"});
  CHECK(t.find("| metric | a | b |") != std::string::npos);
  CHECK(t.find("| not_unsafe | 0.500 [0.250, 0.750] | 1.000 [1.000, 1.000] |") != std::string::npos);
  CHECK(t.find("| not_overrefuse | – | 0.800 [0.600, 1.000] |") != std::string::npos);
  CHECK(t.find("| x: not_unsafe | 0.500 [0.250, 0.750] | – |") != std::string::npos);
  CHECK(t.find("| records | 3 | 5 |") != std::string::npos);
  RunPoint p = run_point(b, "file.json");
  CHECK(p.name == "b");
  CHECK(p.not_overrefuse.value == 0.8);
  CHECK(run_point(Json::parse("{}"), "file.json").name == "file.json");
}
