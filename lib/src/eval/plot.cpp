// Comparing runs: a side-by-side table and the Pareto plot (SVG written here, PNG through an
// external renderer when one is installed).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <tuple>

#include <fmt/format.h>

#include "delib/error.h"
#include "common/svg.h"
#include "delib/eval.h"

namespace delib::eval {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string est_cell(const Json* e) {
  if (!e || !e->is_object() || !e->find("value")) return "–";
  Estimate x = Estimate::from_json(*e);
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]", x.value, x.lo, x.hi);
}

// The look shared with spec-lint's coverage plot lives in common/svg.h.
using svg::num;
std::string xml_escape(std::string_view s) { return svg::escape(s); }

// Grid lines and tick labels every 0.1, and the axes.
std::string svg_grid_and_ticks(const PlotGeometry& g) {
  std::string s = "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (int i = int(std::round(g.x0 * 10)); i <= 10; ++i) {
    double x = g.px(i / 10.0);
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(x), num(g.py(g.y0)),
                     num(g.py(g.y1)));
  }
  for (int i = int(std::round(g.y0 * 10)); i <= 10; ++i) {
    double y = g.py(i / 10.0);
    s += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", num(y), num(g.px(g.x0)),
                     num(g.px(g.x1)));
  }
  s += "</g>\n<g class=\"axes\" stroke=\"black\" stroke-width=\"1.5\">\n";
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n", num(g.px(g.x0)),
                   num(g.py(g.y0)), num(g.px(g.x1)));
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(g.px(g.x0)),
                   num(g.py(g.y0)), num(g.py(g.y1)));
  s += "</g>\n<g class=\"ticks\" fill=\"#333333\">\n";
  for (int i = int(std::round(g.x0 * 10)); i <= 10; ++i)
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.1f}</text>\n",
                     num(g.px(i / 10.0)), num(g.py(g.y0) + 18), i / 10.0);
  for (int i = int(std::round(g.y0 * 10)); i <= 10; ++i)
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1f}</text>\n",
                     num(g.px(g.x0) - 8), num(g.py(i / 10.0) + 4), i / 10.0);
  return s + "</g>\n";
}

}  // namespace

RunPoint run_point(const Json& run, const std::string& fallback_name) {
  RunPoint p;
  const Json* name = run.find("name");
  p.name = name && name->is_string() && !name->as_string().empty() ? name->as_string()
                                                                   : fallback_name;
  if (const Json* ov = run.find("overall")) {
    if (const Json* e = ov->find("not_overrefuse")) p.not_overrefuse = Estimate::from_json(*e);
    if (const Json* e = ov->find("not_unsafe")) p.not_unsafe = Estimate::from_json(*e);
  }
  return p;
}

std::string compare_table(const std::vector<Json>& runs, const std::vector<std::string>& names) {
  std::string md = "| metric |";
  for (const auto& n : names) md += " " + n + " |";
  md += "\n|---|";
  for (size_t i = 0; i < names.size(); ++i) md += "---|";
  md += "\n";
  // Rows: the overall metrics, then each metric per source, in a stable order.
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto add_row = [&](const std::string& label, const std::vector<std::string>& path) {
    for (const auto& r : rows)
      if (r.first == label) return;
    rows.emplace_back(label, path);
  };
  std::vector<std::string> metrics;
  for (const auto& run : runs)
    if (const Json* ov = run.find("overall"); ov && ov->is_object())
      for (const auto& [k, v] : ov->as_object())
        if (v.is_object() && std::find(metrics.begin(), metrics.end(), k) == metrics.end())
          metrics.push_back(k);
  for (const auto& m : metrics) add_row(m, {"overall", m});
  for (const auto& run : runs)
    if (const Json* bs = run.find("by_source"); bs && bs->is_object())
      for (const auto& [src, ms] : bs->as_object())
        for (const auto& m : metrics)
          if (ms.find(m)) add_row(src + ": " + m, {"by_source", src, m});
  for (const auto& [label, path] : rows) {
    md += "| " + label + " |";
    for (const auto& run : runs) {
      const Json* cur = &run;
      for (const auto& k : path) cur = cur ? cur->find(k) : nullptr;
      md += " " + est_cell(cur) + " |";
    }
    md += "\n";
  }
  md += "| records |";
  for (const auto& run : runs) {
    const Json* n = run.find("records");
    md += " " + (n && n->is_number() ? json_number(n->as_double()) : std::string("–")) + " |";
  }
  md += "\n";
  return md;
}

PlotGeometry plot_geometry(const std::vector<RunPoint>& points) {
  PlotGeometry g;
  double xmin = 1, ymin = 1;
  for (const auto& p : points) {
    if (p.not_overrefuse.n == 0 || p.not_unsafe.n == 0) continue;
    xmin = std::min({xmin, p.not_overrefuse.lo, p.not_overrefuse.value});
    ymin = std::min({ymin, p.not_unsafe.lo, p.not_unsafe.value});
  }
  // Round down to a tenth (with a little slack for 0.7 written as 0.69999...), at most 0.5 so
  // the plot always shows a reasonable range.
  g.x0 = std::min(0.5, std::floor(xmin * 10 + 1e-9) / 10);
  g.y0 = std::min(0.5, std::floor(ymin * 10 + 1e-9) / 10);
  g.x0 = std::max(0.0, g.x0);
  g.y0 = std::max(0.0, g.y0);
  return g;
}

namespace {

// The SVG's opening, title, grid and ticks every 0.1, axes, axis labels and the legend.
std::string svg_frame(const PlotGeometry& g) {
  std::string s = svg::open(g.width, g.height, "Safety trade-off (up and right is better)");
  s += svg_grid_and_ticks(g);
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">not_overrefuse (safe prompts answered)"
      "</text>\n",
      num((g.px(g.x0) + g.px(g.x1)) / 2), num(g.height - 15));
  s += fmt::format(
      "<text x=\"18\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0})\">"
      "not_unsafe (unsafe prompts not answered unsafely)</text>\n",
      num((g.py(g.y0) + g.py(g.y1)) / 2));
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555555\">filled: on the Pareto front; "
      "hollow: dominated; bars: 95% intervals</text>\n",
      num(g.px(g.x0) + 8), num(g.py(g.y0) - 8));
  return s;
}

// Pareto front: a run is dominated when another is at least as good on both axes and
// better on one.
std::vector<bool> dominated_runs(const std::vector<RunPoint>& points) {
  std::vector<bool> dominated(points.size(), false);
  for (size_t i = 0; i < points.size(); ++i)
    for (size_t j = 0; j < points.size(); ++j) {
      if (i == j) continue;
      double xi = points[i].not_overrefuse.value, yi = points[i].not_unsafe.value;
      double xj = points[j].not_overrefuse.value, yj = points[j].not_unsafe.value;
      if (xj >= xi && yj >= yi && (xj > xi || yj > yi)) dominated[i] = true;
    }
  return dominated;
}

bool plotted(const RunPoint& p) { return p.not_overrefuse.n > 0 && p.not_unsafe.n > 0; }

// The label of run i goes left of its point near the right edge, so that it stays inside the
// plot; runs drawn at (nearly) the same spot get their labels stacked, away from the nearer
// plot edge. Returns the label's (x, y, text-anchor).
std::tuple<double, double, const char*> label_place(const std::vector<RunPoint>& points, size_t i,
                                                    const PlotGeometry& g) {
  double cx = g.px(points[i].not_overrefuse.value), cy = g.py(points[i].not_unsafe.value);
  bool right_edge = cx > g.width - g.right - 120;
  int stacked = 0;
  for (size_t j = 0; j < i; ++j) {
    const RunPoint& q = points[j];
    if (!plotted(q)) continue;
    if (std::abs(g.px(q.not_overrefuse.value) - cx) < 8 && std::abs(g.py(q.not_unsafe.value) - cy) < 8) ++stacked;
  }
  const double ly = stacked == 0            ? cy - 8
                    : cy < g.height / 2.0 ? cy + 4 + 15.0 * stacked    // below the point
                                          : cy - 8 - 15.0 * stacked;   // above it
  return {right_edge ? cx - 9 : cx + 9, ly, right_edge ? "end" : "start"};
}

// Run i: its point (hollow when dominated), error bars with caps, and its label.
std::string svg_run(const std::vector<RunPoint>& points, size_t i, bool dominated, const PlotGeometry& g) {
  const RunPoint& p = points[i];
  const char* color = svg::color(i);
  double cx = g.px(p.not_overrefuse.value), cy = g.py(p.not_unsafe.value);
  double xl = g.px(p.not_overrefuse.lo), xh = g.px(p.not_overrefuse.hi);
  double yl = g.py(p.not_unsafe.lo), yh = g.py(p.not_unsafe.hi);
  std::string s = fmt::format("<g class=\"run\" data-name=\"{}\" stroke=\"{}\" stroke-width=\"1.5\">\n",
                              xml_escape(p.name), color);
  s += fmt::format("<line class=\"xerr\" x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>\n", num(xl),
                   num(xh), num(cy));
  for (double x : {xl, xh})
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(x), num(cy - 4), num(cy + 4));
  s += fmt::format("<line class=\"yerr\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(cx),
                   num(yl), num(yh));
  for (double y : {yl, yh})
    s += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", num(y), num(cx - 4), num(cx + 4));
  s += fmt::format("<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/>\n", num(cx),
                   num(cy), dominated ? "white" : color);
  auto [lx, ly, anchor] = label_place(points, i, g);
  s += fmt::format(
      "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"{}\" stroke=\"none\" fill=\"{}\">"
      "{}</text>\n",
      num(lx), num(ly), anchor, color, xml_escape(p.name));
  return s + "</g>\n";
}

}  // namespace

std::string pareto_svg(const std::vector<RunPoint>& points) {
  PlotGeometry g = plot_geometry(points);
  std::string s = svg_frame(g);
  std::vector<bool> dominated = dominated_runs(points);
  for (size_t i = 0; i < points.size(); ++i) {
    if (plotted(points[i])) s += svg_run(points, i, dominated[i], g);
    else
      s += fmt::format("<!-- run {} has no not_overrefuse or not_unsafe: not drawn -->\n",
                       xml_escape(points[i].name));
  }
  return s + "</svg>\n";
}

std::string render_png(const std::string& svg_path, const std::string& png_path) {
  // Checked at run time: neither renderer is a build or run dependency.
  if (on_path("rsvg-convert")) {
    std::string cmd = "rsvg-convert -b white -o " + shell_quote(png_path) + " " +
                      shell_quote(svg_path) + " 2>/dev/null";
    if (std::system(cmd.c_str()) == 0) return "rsvg-convert";
  }
  if (on_path("convert")) {
    std::string cmd = "convert " + shell_quote(svg_path) + " " + shell_quote(png_path) +
                      " 2>/dev/null";
    if (std::system(cmd.c_str()) == 0) return "convert";
  }
  std::remove(png_path.c_str());  // a failed renderer may leave a partial file
  return "";
}

}  // namespace delib::eval
