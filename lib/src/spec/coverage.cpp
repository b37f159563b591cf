// Spec coverage (delib/spec.h SpecCoverage, spec-lint --coverage): which ids of a spec the
// reasoning in records cites, how the judge scored the records that cite them, and which ids
// are never cited; as a table, JSON and an SVG bar chart.
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/svg.h"
#include "delib/error.h"
#include "delib/spec.h"

namespace delib {
namespace {

bool id_tail_char(char c) {  // may not follow a citation
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool category_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// The judge fields of a record: its score (nullopt: none), whether it has a judge object
// without a score, and its rationale.
struct JudgeFields {
  std::optional<double> score;
  bool error = false;
  std::string rationale;
};

JudgeFields judge_fields(const Record& r) {
  JudgeFields f;
  auto j = r.get("judge");
  if (!j || j->is_null()) return f;
  if (!j->is_object()) throw Error(r.where(), "field 'judge': expected an object");
  if (const Json* s = j->find("score"); s && !s->is_null()) {
    if (!s->is_number()) throw Error(r.where(), "field 'judge.score': expected a number");
    f.score = s->as_double();
  }
  f.error = !f.score;
  if (const Json* t = j->find("rationale"); t && !t->is_null()) {
    if (!t->is_string()) throw Error(r.where(), "field 'judge.rationale': expected a string");
    f.rationale = t->as_string();
  }
  return f;
}

std::string plural(size_t n, const char* what) { return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s"); }

}  // namespace

SpecCitations find_citations(std::string_view t, const Spec& spec) {
  SpecCitations out;
  std::set<std::string> seen;
  for (size_t dot = t.find('.'); dot != std::string_view::npos; dot = t.find('.', dot + 1)) {
    size_t e = dot + 1;
    while (e < t.size() && upper(t[e])) ++e;
    if (e == dot + 1 || e >= t.size() || !digit(t[e])) continue;
    while (e < t.size() && digit(t[e])) ++e;
    if (e < t.size() && id_tail_char(t[e])) continue;
    size_t b = dot;
    while (b > 0 && category_char(t[b - 1])) --b;
    if (b == dot || (b > 0 && (id_tail_char(t[b - 1]) || t[b - 1] == '.'))) continue;
    std::string_view cat = t.substr(b, dot - b), id = t.substr(dot + 1, e - dot - 1);
    const SpecCategory* c = spec.category(cat);
    if (!c) continue;  // not a spec reference (`os.O2`)
    std::string ref = std::string(cat) + "." + std::string(id);
    if (!seen.insert(ref).second) continue;
    bool known = false;
    for (const auto& l : c->levels) known |= l.id == id;
    for (const auto& r : c->rules) known |= r.id == id;
    for (const auto& x : c->examples) known |= x.id == id;
    (known ? out.known : out.unknown).push_back(std::move(ref));
  }
  return out;
}

SpecCoverage::SpecCoverage(const Spec& spec, CoverageOptions options) : spec_(spec), o_(options) {
  for (const auto& c : spec.categories) {
    CategoryCount cc;
    cc.id = c.id;
    auto add = [&](const std::string& id, const char* kind, int line) {
      index_[c.id + "." + id] = {cats_.size(), cc.ids.size()};
      cc.ids.push_back({c.id + "." + id, kind, line});
    };
    for (const auto& l : c.levels) add(l.id, "level", l.line);
    for (const auto& r : c.rules) add(r.id, "rule", r.line);
    for (const auto& x : c.examples) add(x.id, "example", x.line);
    cats_.push_back(std::move(cc));
  }
}

void SpecCoverage::add(const Record& r) {
  ++records_;
  std::optional<std::string> reasoning;
  if (auto v = r.get("reasoning"); v && !v->is_null()) {
    if (!v->is_string()) throw Error(r.where(), "field 'reasoning': expected a string");
    reasoning = v->as_string();
  }
  std::optional<std::string> category;
  if (auto v = r.get("category"); v && !v->is_null()) {
    if (!v->is_string()) throw Error(r.where(), "field 'category': expected a string or null");
    category = v->as_string();
  }
  const JudgeFields judge = judge_fields(r);  // checked on every record
  if (!reasoning || reasoning->empty()) {
    ++no_reasoning_;
    return;
  }
  if (category) {
    bool found = false;
    for (auto& c : cats_)
      if (c.id == *category) {
        ++c.records;
        found = true;
      }
    if (!found) ++other_[*category];
  }
  if (judge.score) ++judged_;
  if (judge.error) ++judge_errors_;
  SpecCitations cites = find_citations(*reasoning, spec_);
  for (const auto& u : cites.unknown) ++unknown_[u];
  if (cites.known.empty()) ++citing_none_;
  std::set<std::string> named;
  if (judge.score && *judge.score < o_.flag_below && !judge.rationale.empty())
    for (auto& id : find_citations(judge.rationale, spec_).known) named.insert(std::move(id));
  std::set<size_t> cats_cited;
  for (const auto& id : cites.known) {
    auto [ci, ii] = index_.at(id);
    IdCount& x = cats_[ci].ids[ii];
    ++x.cited;
    cats_cited.insert(ci);
    if (!judge.score) continue;
    ++x.judged;
    if (*judge.score >= o_.flag_below) continue;
    ++x.flagged;
    if (named.count(id)) ++x.named;
  }
  for (size_t ci : cats_cited) ++cats_[ci].citing;
}

std::vector<std::string> SpecCoverage::never_cited() const {
  std::vector<std::string> out;
  for (const auto& c : cats_)
    for (const auto& x : c.ids)
      if (x.cited == 0) out.push_back(x.id);
  return out;
}

Json SpecCoverage::to_json() const {
  Json j = Json::object();
  j.set("format", "delib-spec-coverage");
  j.set("version", 1);
  j.set("spec", spec_.name);
  j.set("spec_hash", spec_.spec_hash());
  j.set("flag_below", o_.flag_below);
  j.set("records", records_);
  j.set("without_reasoning", no_reasoning_);
  j.set("judged", judged_);
  j.set("judge_errors", judge_errors_);
  j.set("citing_none", citing_none_);
  Json cats = Json::array();
  for (const auto& c : cats_) {
    Json cj = Json::object();
    cj.set("id", c.id);
    cj.set("records", c.records);
    cj.set("citing", c.citing);
    Json ids = Json::array();
    for (const auto& x : c.ids) {
      Json xj = Json::object();
      xj.set("id", x.id);
      xj.set("kind", x.kind);
      xj.set("line", x.line);
      xj.set("cited", x.cited);
      xj.set("judged", x.judged);
      xj.set("flagged", x.flagged);
      xj.set("named", x.named);
      ids.push(std::move(xj));
    }
    cj.set("ids", std::move(ids));
    cats.push(std::move(cj));
  }
  j.set("categories", std::move(cats));
  Json never = Json::array();
  for (const auto& id : never_cited()) never.push(id);
  j.set("never_cited", std::move(never));
  Json unknown = Json::object();
  for (const auto& [id, n] : unknown_) unknown.set(id, n);
  j.set("unknown", std::move(unknown));
  Json other = Json::object();
  for (const auto& [id, n] : other_) other.set(id, n);
  j.set("other_categories", std::move(other));
  return j;
}

std::string SpecCoverage::table() const {
  size_t w = 8;
  for (const auto& c : cats_) {
    w = std::max(w, c.id.size() + 2);
    for (const auto& x : c.ids) w = std::max(w, x.id.size() + 2);
  }
  std::string s = fmt::format(
      "spec {}: {} read, {} without reasoning; {} judged (flagged: judge score < {}), {} with a "
      "judge error; {} citing no id\n",
      spec_.name, plural(records_, "record"), no_reasoning_, judged_, json_number(o_.flag_below),
      judge_errors_, citing_none_);
  s += fmt::format("{:<{}} {:<8} {:>7} {:>7} {:>7} {:>7}\n", "id", w, "kind", "cited", "judged", "flagged",
                   "named");
  for (const auto& c : cats_) {
    s += fmt::format("{:<{}} {:<8} {:>7}   ({} of this category)\n", c.id, w, "category", c.citing,
                     plural(c.records, "record"));
    for (const auto& x : c.ids)
      s += fmt::format("  {:<{}} {:<8} {:>7} {:>7} {:>7} {:>7}\n", x.id, w - 2, x.kind, x.cited, x.judged,
                       x.flagged, x.named);
  }
  auto never = never_cited();
  s += fmt::format("never cited ({}):", never.size());
  for (const auto& id : never) s += " " + id;
  s += "\n";
  if (!unknown_.empty()) {
    s += "cited but not in the spec:";
    for (const auto& [id, n] : unknown_) s += fmt::format(" {} ({})", id, n);
    s += "\n";
  }
  if (!other_.empty()) {
    s += "categories not in the spec:";
    for (const auto& [id, n] : other_) s += fmt::format(" {} ({})", id, n);
    s += "\n";
  }
  return s;
}

std::string SpecCoverage::svg() const {
  // One row per id, a header row per category; x: records citing the id.
  const double left = 170, right = 30, top = 60, bottom = 50, row = 16, width = 640;
  size_t rows = 0, most = 0;
  for (const auto& c : cats_) {
    rows += 1 + c.ids.size();
    for (const auto& x : c.ids) most = std::max(most, x.cited);
  }
  const double height = top + bottom + row * double(std::max<size_t>(rows, 1));
  // Ticks at a step of 1, 2 or 5 x 10^k, at most 10 of them.
  double step = 1;
  for (double base = 1; double(most) / step > 10; base *= 10)
    for (double m : {1.0, 2.0, 5.0})
      if (step = base * m; double(most) / step <= 10) break;
  const double xmax = std::max(step, std::ceil(double(most) / step) * step);
  auto px = [&](double v) { return left + v / xmax * (width - left - right); };
  std::string s = svg::open(width, height, fmt::format("Spec coverage: {} (records citing each id)", spec_.name));
  const double y_end = top + row * double(rows);
  s += fmt::format("<g class=\"grid\" stroke=\"{}\" stroke-width=\"1\">\n", svg::kGridColor);
  for (double v = 0; v <= xmax + 1e-9; v += step)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", svg::num(px(v)), svg::num(top),
                     svg::num(y_end));
  s += "</g>\n<g class=\"axes\" stroke=\"black\" stroke-width=\"1.5\">\n";
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n", svg::num(px(0)), svg::num(y_end),
                   svg::num(px(xmax)));
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", svg::num(px(0)), svg::num(top),
                   svg::num(y_end));
  s += fmt::format("</g>\n<g class=\"ticks\" fill=\"{}\">\n", svg::kTickColor);
  for (double v = 0; v <= xmax + 1e-9; v += step)
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", svg::num(px(v)),
                     svg::num(y_end + 18), json_number(v));
  s += "</g>\n";
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">records whose reasoning cites the id</text>\n",
                   svg::num((px(0) + px(xmax)) / 2), svg::num(height - 12));
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">blue: cited; red: judge score &lt; {}; "
      "grey: never cited</text>\n",
      svg::num(left), svg::num(top - 12), svg::kNoteColor, json_number(o_.flag_below));
  double y = top;
  for (const auto& c : cats_) {
    s += fmt::format("<text class=\"category\" x=\"8\" y=\"{}\" font-weight=\"bold\">{} ({} citing)</text>\n",
                     svg::num(y + row - 4), svg::escape(c.id), c.citing);
    y += row;
    for (const auto& x : c.ids) {
      const double yb = y + 3, h = row - 6;
      s += fmt::format("<g class=\"id\" data-id=\"{}\">\n", svg::escape(x.id));
      s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">{}</text>\n", svg::num(left - 8),
                       svg::num(y + row - 4), x.cited ? "black" : "#999999", svg::escape(x.id));
      if (x.cited) {
        s += fmt::format("<rect class=\"cited\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
                         svg::num(px(0)), svg::num(yb), svg::num(px(double(x.cited)) - px(0)), svg::num(h),
                         svg::color(0));
        if (x.flagged)
          s += fmt::format("<rect class=\"flagged\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
                           svg::num(px(0)), svg::num(yb), svg::num(px(double(x.flagged)) - px(0)), svg::num(h),
                           svg::color(1));
        s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>\n",
                         svg::num(px(double(x.cited)) + 4), svg::num(y + row - 4), svg::kNoteColor, x.cited);
      } else {
        s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#999999\">never cited</text>\n",
                         svg::num(px(0) + 4), svg::num(y + row - 4));
      }
      s += "</g>\n";
      y += row;
    }
  }
  return s + svg::close();
}

}  // namespace delib
