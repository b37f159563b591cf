// Agreement of a grader with human labels (delib/agreement.h): confusion matrices, Cohen's
// kappa, error rates, percentile bootstrap intervals, per source, and the Markdown table.
#include "delib/agreement.h"

#include <algorithm>
#include <map>
#include <random>

#include <fmt/format.h>

namespace delib::eval {

Confusion::Confusion(size_t classes) : k_(classes), cells_(classes * classes, 0) {
  if (classes < 2) throw Error("Confusion: fewer than 2 classes");
}

void Confusion::add(size_t human, size_t grader, size_t count) {
  if (human >= k_ || grader >= k_)
    throw Error(fmt::format("Confusion: class ({}, {}) out of range {}", human, grader, k_));
  cells_[human * k_ + grader] += count;
  n_ += count;
}

size_t Confusion::human_total(size_t c) const {
  size_t s = 0;
  for (size_t g = 0; g < k_; ++g) s += cell(c, g);
  return s;
}

size_t Confusion::grader_total(size_t c) const {
  size_t s = 0;
  for (size_t h = 0; h < k_; ++h) s += cell(h, c);
  return s;
}

std::optional<double> observed_agreement(const Confusion& m) {
  if (m.n() == 0) return std::nullopt;
  size_t diag = 0;
  for (size_t c = 0; c < m.classes(); ++c) diag += m.cell(c, c);
  return double(diag) / double(m.n());
}

std::optional<double> cohen_kappa(const Confusion& m) {
  auto po = observed_agreement(m);
  if (!po) return std::nullopt;
  const double n = double(m.n());
  double pe = 0;
  for (size_t c = 0; c < m.classes(); ++c)
    pe += (double(m.human_total(c)) / n) * (double(m.grader_total(c)) / n);
  // p_e is a sum of products of integer ratios; it is exactly 1 only when one class holds
  // every item on both sides, but rounding may leave it a hair below.
  if (pe >= 1.0 - 1e-12) return std::nullopt;
  return (*po - pe) / (1.0 - pe);
}

namespace {

void require_binary(const Confusion& m) {
  if (m.classes() != 2) throw Error("error rates need a binary confusion matrix");
}

// Class index of a three-way class in the confusion matrices.
size_t class_index(Refusal r) {
  switch (r) {
    case Refusal::kFullCompliance: return 0;
    case Refusal::kFullRefusal: return 1;
    case Refusal::kPartialRefusal: return 2;
  }
  return 0;
}

// The statistics of one (re)sample, each nullopt when undefined.
struct Point {
  std::optional<double> agreement, kappa, fpr, fnr, agreement3, kappa3;
};

Point point_of(const Confusion& b, const Confusion& t) {
  return {observed_agreement(b), cohen_kappa(b),         false_positive_rate(b),
          false_negative_rate(b), observed_agreement(t), cohen_kappa(t)};
}

void count(const Judged& j, Confusion& b, Confusion& t) {
  b.add(j.human ? 1 : 0, j.grader ? 1 : 0);
  if (j.human3 && j.grader3) t.add(class_index(*j.human3), class_index(*j.grader3));
}

// The Estimate of one statistic: its value on the full sample, the percentile interval of
// its defined values over the resamples.
Estimate estimate(std::optional<double> value, size_t n, std::vector<double> boot, double level) {
  Estimate e;
  if (!value) return e;  // undefined: n == 0
  e.value = *value;
  e.n = n;
  e.lo = e.hi = *value;
  if (!boot.empty()) {
    std::sort(boot.begin(), boot.end());
    e.lo = quantile_sorted(boot, (1.0 - level) / 2.0);
    e.hi = quantile_sorted(boot, (1.0 + level) / 2.0);
  }
  return e;
}

std::string cell_text(const Estimate& e, bool available) {
  if (!available) return "-";
  if (e.n == 0) return "n/a";
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]", e.value, e.lo, e.hi);
}

}  // namespace

std::optional<double> false_positive_rate(const Confusion& m) {
  require_binary(m);
  size_t neg = m.human_total(0);
  if (neg == 0) return std::nullopt;
  return double(m.cell(0, 1)) / double(neg);
}

std::optional<double> false_negative_rate(const Confusion& m) {
  require_binary(m);
  size_t pos = m.human_total(1);
  if (pos == 0) return std::nullopt;
  return double(m.cell(1, 0)) / double(pos);
}

Judged judged_refusal(std::string source, Refusal human, Refusal grader) {
  Judged j;
  j.source = std::move(source);
  j.human = is_refusal(human);
  j.grader = is_refusal(grader);
  j.human3 = human;
  j.grader3 = grader;
  return j;
}

AgreementStats agreement_stats(const std::vector<Judged>& items, const AgreementOptions& o,
                               const std::string& source) {
  AgreementStats s;
  s.source = source;
  s.n = items.size();
  for (const auto& j : items) count(j, s.binary, s.three);
  const Point full = point_of(s.binary, s.three);

  std::vector<double> boot[6];
  if (!items.empty() && o.resamples > 0) {
    std::mt19937_64 rng(o.seed);
    const uint64_t n = items.size();
    for (int r = 0; r < o.resamples; ++r) {
      Confusion b(2), t(3);
      for (uint64_t i = 0; i < n; ++i) count(items[rng() % n], b, t);
      const Point p = point_of(b, t);
      const std::optional<double>* vs[6] = {&p.agreement, &p.kappa,      &p.fpr,
                                            &p.fnr,       &p.agreement3, &p.kappa3};
      for (int k = 0; k < 6; ++k)
        if (*vs[k]) boot[k].push_back(**vs[k]);
    }
  }
  s.agreement = estimate(full.agreement, s.n, std::move(boot[0]), o.level);
  s.kappa = estimate(full.kappa, s.n, std::move(boot[1]), o.level);
  s.fpr = estimate(full.fpr, s.binary.human_total(0), std::move(boot[2]), o.level);
  s.fnr = estimate(full.fnr, s.binary.human_total(1), std::move(boot[3]), o.level);
  s.agreement3 = estimate(full.agreement3, s.three.n(), std::move(boot[4]), o.level);
  s.kappa3 = estimate(full.kappa3, s.three.n(), std::move(boot[5]), o.level);
  return s;
}

std::vector<AgreementStats> agreement_by_source(const std::vector<Judged>& items,
                                                const AgreementOptions& o) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Judged>> groups;
  for (const auto& j : items) {
    auto [it, fresh] = groups.try_emplace(j.source);
    if (fresh) order.push_back(j.source);
    it->second.push_back(j);
  }
  std::vector<AgreementStats> out;
  for (const auto& s : order) out.push_back(agreement_stats(groups[s], o, s));
  if (order.size() > 1) out.push_back(agreement_stats(items, o, "all"));
  return out;
}

Json AgreementStats::to_json() const {
  Json j = Json::object();
  j.set("source", source);
  j.set("n", n);
  auto put = [&](const char* k, const Estimate& e) {
    j.set(k, e.n ? e.to_json() : Json());
  };
  put("agreement", agreement);
  put("kappa", kappa);
  put("fpr", fpr);
  put("fnr", fnr);
  if (three.n() > 0) {
    put("agreement3", agreement3);
    put("kappa3", kappa3);
  }
  return j;
}

std::string agreement_markdown(const std::vector<GraderAgreement>& graders) {
  std::vector<std::string> sources;
  for (const auto& g : graders)
    for (const auto& r : g.rows)
      if (std::find(sources.begin(), sources.end(), r.source) == sources.end())
        sources.push_back(r.source);
  std::string out =
      "| source | grader | n | agreement | kappa | FPR | FNR | 3-way | 3-way kappa |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& src : sources)
    for (const auto& g : graders)
      for (const auto& r : g.rows) {
        if (r.source != src) continue;
        const bool three = r.three.n() > 0;
        std::string name = g.note.empty() ? g.grader : fmt::format("{} ({})", g.grader, g.note);
        out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", src, name, r.n,
                           cell_text(r.agreement, true), cell_text(r.kappa, true),
                           cell_text(r.fpr, true), cell_text(r.fnr, true),
                           cell_text(r.agreement3, three), cell_text(r.kappa3, three));
      }
  return out;
}

}  // namespace delib::eval
