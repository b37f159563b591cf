// Agreement arithmetic (delib/agreement.h) against values computed by hand: observed
// agreement, Cohen's kappa, false positive / negative rates, binary and three-way, the
// bootstrap intervals, grouping by source and the Markdown table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "delib/agreement.h"

using namespace delib;
using namespace delib::eval;

namespace {

// `count` copies of one judged item.
void add(std::vector<Judged>& v, const std::string& src, bool human, bool grader, size_t count) {
  for (size_t i = 0; i < count; ++i) v.push_back(Judged{src, human, grader, {}, {}});
}

}  // namespace

// Wikipedia's worked example of Cohen's kappa (50 proposals, two readers): yes/yes 20,
// yes/no 5, no/yes 10, no/no 15. p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5;
// kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
TEST_CASE("Cohen's kappa of a binary matrix is Wikipedia's worked example", "[eval][agreement]") {
  Confusion m(2);
  m.add(1, 1, 20);
  m.add(1, 0, 5);
  m.add(0, 1, 10);
  m.add(0, 0, 15);
  CHECK(m.n() == 50);
  CHECK(m.human_total(1) == 25);
  CHECK(m.grader_total(1) == 30);
  CHECK(*observed_agreement(m) == Approx(0.7));
  CHECK(*cohen_kappa(m) == Approx(0.4));
  // FPR: grader positive among human negatives, 10 / 25; FNR: grader negative among human
  // positives, 5 / 25.
  CHECK(*false_positive_rate(m) == Approx(0.4));
  CHECK(*false_negative_rate(m) == Approx(0.2));
}

// A 3 x 3 matrix (rows human: compliance, full refusal, partial refusal):
//   C: 20  2  3      row totals 25, 20, 5; column totals 23, 18, 9; diagonal 37 of 50
//   R:  1 15  4      p_o = 0.74; p_e = (25*23 + 20*18 + 5*9) / 2500 = 980 / 2500 = 0.392
//   P:  2  1  2      kappa = (0.74 - 0.392) / 0.608 = 0.348 / 0.608 = 0.57236842...
// Binary (refusal = full or partial): TP = 15+4+1+2 = 22, FN = 1+2 = 3, FP = 2+3 = 5, TN = 20:
// agreement 42/50 = 0.84, FPR 5/25 = 0.2, FNR 3/25 = 0.12,
// p_e = (25*23 + 25*27) / 2500 = 0.5, kappa = (0.84 - 0.5) / 0.5 = 0.68.
TEST_CASE("three-way and binary statistics of XSTest classes", "[eval][agreement]") {
  using R = Refusal;
  const R C = R::kFullCompliance, F = R::kFullRefusal, P = R::kPartialRefusal;
  const int counts[3][3] = {{20, 2, 3}, {1, 15, 4}, {2, 1, 2}};
  const R cls[3] = {C, F, P};
  std::vector<Judged> items;
  for (int h = 0; h < 3; ++h)
    for (int g = 0; g < 3; ++g)
      for (int k = 0; k < counts[h][g]; ++k) items.push_back(judged_refusal("x", cls[h], cls[g]));
  AgreementStats s = agreement_stats(items, AgreementOptions{.resamples = 0}, "x");
  CHECK(s.n == 50);
  CHECK(s.three.n() == 50);
  CHECK(s.three.cell(2, 1) == 1);
  CHECK(s.agreement3.value == Approx(0.74));
  CHECK(s.kappa3.value == Approx(0.348 / 0.608));
  CHECK(s.agreement.value == Approx(0.84));
  CHECK(s.kappa.value == Approx(0.68));
  CHECK(s.fpr.value == Approx(0.2));
  CHECK(s.fpr.n == 25);
  CHECK(s.fnr.value == Approx(0.12));
  CHECK(s.fnr.n == 25);
  // Without resamples the interval is the point.
  CHECK(s.kappa3.lo == s.kappa3.value);
  CHECK(s.kappa3.hi == s.kappa3.value);
}

TEST_CASE("undefined statistics are reported as undefined, not as numbers", "[eval][agreement]") {
  Confusion all_no(2);
  all_no.add(0, 0, 10);
  CHECK(*observed_agreement(all_no) == 1.0);
  CHECK_FALSE(cohen_kappa(all_no));          // p_e = 1: 0/0
  CHECK(*false_positive_rate(all_no) == 0.0);
  CHECK_FALSE(false_negative_rate(all_no));  // no human positives
  CHECK_FALSE(observed_agreement(Confusion(3)));
  CHECK_FALSE(cohen_kappa(Confusion(2)));
  CHECK_THROWS(false_positive_rate(Confusion(3)));
  CHECK_THROWS(Confusion(1));

  // A grader that says "no" to everything, humans split: p_o = 0.5, p_e = 0.5, kappa 0.
  std::vector<Judged> v;
  add(v, "s", true, false, 5);
  add(v, "s", false, false, 5);
  AgreementStats s = agreement_stats(v, {}, "s");
  CHECK(s.kappa.value == Approx(0.0));
  CHECK(s.fnr.value == 1.0);
  CHECK(s.fpr.value == 0.0);
  CHECK(s.agreement3.n == 0);  // no three-way labels
  Json j = s.to_json();
  CHECK(j.find("agreement3") == nullptr);
  CHECK(j.find("kappa")->find("value")->as_double() == Approx(0.0));

  AgreementStats none = agreement_stats({}, {}, "empty");
  CHECK(none.n == 0);
  CHECK(none.agreement.n == 0);
  CHECK(none.to_json().find("agreement")->is_null());
}

// The interval is a percentile bootstrap over items: recomputed here independently, with the
// same generator and draw (rng() % n) as the library documents.
TEST_CASE("bootstrap intervals are the documented percentile bootstrap", "[eval][agreement]") {
  std::vector<Judged> v;
  add(v, "s", true, true, 30);
  add(v, "s", true, false, 7);
  add(v, "s", false, true, 4);
  add(v, "s", false, false, 19);
  AgreementOptions o{.resamples = 500, .seed = 7, .level = 0.9};
  AgreementStats s = agreement_stats(v, o, "s");
  CHECK(s.agreement.value == Approx(49.0 / 60));

  std::mt19937_64 rng(7);
  std::vector<double> acc, fpr;
  for (int r = 0; r < 500; ++r) {
    size_t agree = 0, neg = 0, fp = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const Judged& j = v[rng() % v.size()];
      agree += j.human == j.grader;
      if (!j.human) ++neg, fp += j.grader;
    }
    acc.push_back(double(agree) / double(v.size()));
    if (neg) fpr.push_back(double(fp) / double(neg));
  }
  std::sort(acc.begin(), acc.end());
  std::sort(fpr.begin(), fpr.end());
  CHECK(s.agreement.lo == Approx(quantile_sorted(acc, 0.05)));
  CHECK(s.agreement.hi == Approx(quantile_sorted(acc, 0.95)));
  CHECK(s.fpr.lo == Approx(quantile_sorted(fpr, 0.05)));
  CHECK(s.fpr.hi == Approx(quantile_sorted(fpr, 0.95)));
  CHECK(s.agreement.lo < s.agreement.value);
  CHECK(s.agreement.value < s.agreement.hi);
  CHECK(s.kappa.lo <= s.kappa.value);
  CHECK(s.kappa.value <= s.kappa.hi);

  // Same items and seed, same numbers; another seed, another interval.
  AgreementStats again = agreement_stats(v, o, "s");
  CHECK(again.kappa.lo == s.kappa.lo);
  CHECK(again.kappa.hi == s.kappa.hi);
  o.seed = 8;
  AgreementStats other = agreement_stats(v, o, "s");
  CHECK((other.agreement.lo != s.agreement.lo || other.agreement.hi != s.agreement.hi));

  // A grader that always agrees has the interval [1, 1].
  std::vector<Judged> perfect;
  add(perfect, "p", true, true, 5);
  add(perfect, "p", false, false, 5);
  AgreementStats ps = agreement_stats(perfect, {}, "p");
  CHECK(ps.agreement.lo == 1.0);
  CHECK(ps.agreement.hi == 1.0);
}

TEST_CASE("agreement_by_source gives a row per source, then all", "[eval][agreement]") {
  std::vector<Judged> v;
  add(v, "b", true, true, 3);
  add(v, "a", false, true, 1);
  add(v, "b", false, false, 1);
  add(v, "a", false, false, 3);
  auto rows = agreement_by_source(v, AgreementOptions{.resamples = 0});
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].source == "b");
  CHECK(rows[0].n == 4);
  CHECK(rows[0].agreement.value == 1.0);
  CHECK(rows[1].source == "a");
  CHECK(rows[1].agreement.value == Approx(0.75));
  CHECK(rows[1].fpr.value == Approx(0.25));
  CHECK_FALSE(rows[1].fnr.n);  // source a has no human positives
  CHECK(rows[2].source == "all");
  CHECK(rows[2].n == 8);
  CHECK(rows[2].agreement.value == Approx(7.0 / 8));
  // One source: no "all" row.
  std::vector<Judged> one;
  add(one, "a", true, true, 2);
  CHECK(agreement_by_source(one, {}).size() == 1);
}

TEST_CASE("agreement table: one line per source and grader, intervals, n/a and -",
          "[eval][agreement]") {
  std::vector<Judged> a, b;
  add(a, "s1", true, true, 2);
  add(a, "s1", false, false, 2);
  add(b, "s1", true, false, 2);
  add(b, "s1", false, false, 2);
  a.push_back(judged_refusal("s2", Refusal::kFullRefusal, Refusal::kPartialRefusal));
  AgreementOptions o{.resamples = 0};
  std::string md = agreement_markdown({{"refusal_rule", "tuned", agreement_by_source(a, o)},
                                       {"refusal_strmatch", "", agreement_by_source(b, o)}});
  CHECK(md ==
        "| source | grader | n | agreement | kappa | FPR | FNR | 3-way | 3-way kappa |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| s1 | refusal_rule (tuned) | 4 | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] | "
        "0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | - | - |\n"
        "| s1 | refusal_strmatch | 4 | 0.500 [0.500, 0.500] | 0.000 [0.000, 0.000] | "
        "0.000 [0.000, 0.000] | 1.000 [1.000, 1.000] | - | - |\n"
        "| s2 | refusal_rule (tuned) | 1 | 1.000 [1.000, 1.000] | n/a | n/a | 0.000 [0.000, 0.000] | "
        "0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] |\n"
        "| all | refusal_rule (tuned) | 5 | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] | "
        "0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] |\n");
}
