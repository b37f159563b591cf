// Graders measured against people: agreement, Cohen's kappa and error rates of a grader's
// verdicts against human labels, with percentile bootstrap intervals, per source; and the
// readers of the human-labelled response sets in ../shared/data/bench (XSTest's labelled
// completions, HarmBench's classifier validation set, JailbreakBench's judge comparison,
// GPTFuzz's labelled responses). Model-free; the graders themselves are in delib/eval.h.
//
// Conventions used throughout:
//   - A confusion matrix counts (human class, grader class) pairs: rows are the human label.
//   - Binary verdicts are "positive" = the thing the grader looks for: a refusal (full or
//     partial) for a refusal grader, a harmful (jailbroken) response for a harm grader.
//     FPR = positives called by the grader among human negatives; FNR = negatives called by
//     the grader among human positives.
//   - Three-way classes are XSTest's (Röttger et al. 2024): full compliance, full refusal,
//     partial refusal; binary of a three-way class: refusal = full or partial refusal.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delib/error.h"
#include "delib/eval.h"  // Refusal, Estimate
#include "delib/json.h"

namespace delib::eval {

// ---------------------------------------------------------------------------------------
// Confusion matrices and the statistics of one.

// A k x k confusion matrix; cell(h, g) counts the items humans put in class h and the grader
// in class g.
class Confusion {
 public:
  // REQUIRES: classes >= 2.
  explicit Confusion(size_t classes = 2);
  size_t classes() const { return k_; }
  // REQUIRES: human, grader < classes().
  void add(size_t human, size_t grader, size_t count = 1);
  size_t cell(size_t human, size_t grader) const { return cells_[human * k_ + grader]; }
  size_t n() const { return n_; }
  size_t human_total(size_t c) const;   // row sum
  size_t grader_total(size_t c) const;  // column sum

 private:
  size_t k_;
  size_t n_ = 0;
  std::vector<size_t> cells_;
};

// Observed agreement p_o = (sum_c cell(c, c)) / n. nullopt when n == 0.
std::optional<double> observed_agreement(const Confusion& m);
// Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales", eq. 1):
// (p_o - p_e) / (1 - p_e) with chance agreement p_e = sum_c (human_total(c) / n) *
// (grader_total(c) / n). nullopt when n == 0 or p_e == 1 (both raters used one and the same
// class throughout: kappa is undefined, 0/0).
std::optional<double> cohen_kappa(const Confusion& m);
// Binary matrices (class 1 positive). REQUIRES: m.classes() == 2.
// FPR = cell(0, 1) / human_total(0), nullopt without human negatives;
// FNR = cell(1, 0) / human_total(1), nullopt without human positives.
std::optional<double> false_positive_rate(const Confusion& m);
std::optional<double> false_negative_rate(const Confusion& m);

// ---------------------------------------------------------------------------------------
// Agreement with bootstrap intervals.

// One judged item: the human label and the grader's verdict for the same response.
struct Judged {
  std::string source;                      // the table row it belongs to ("xstest-gpt4", ...)
  bool human = false, grader = false;      // binary, true = positive (see the top of the file)
  std::optional<Refusal> human3, grader3;  // three-way, when both sides have one
};
// Judged item of a refusal grader from three-way classes (binary: refusal = full or partial).
Judged judged_refusal(std::string source, Refusal human, Refusal grader);

struct AgreementOptions {
  // Percentile bootstrap (Efron 1979): `resamples` resamples of the items with replacement,
  // drawn by std::mt19937_64(seed) as rng() % n (as bootstrap_mean); every statistic is
  // recomputed on each resample, and its interval is the (1 - level) / 2 and (1 + level) / 2
  // quantiles (quantile_sorted) of its values over the resamples where it is defined (a
  // resample without human negatives has no FPR). 0 resamples: lo == hi == value.
  int resamples = 1000;
  uint64_t seed = 0;
  double level = 0.95;
};

// The agreement of one grader with the human labels over a set of items. An Estimate with
// n == 0 is undefined (see cohen_kappa and the rates above); its n is otherwise the number
// of items the statistic is over (all items; for FPR the human negatives, for FNR the human
// positives; for the three-way statistics the items with three-way labels on both sides).
struct AgreementStats {
  std::string source;  // the items' source, or "all"
  size_t n = 0;
  Confusion binary{2};
  Estimate agreement, kappa, fpr, fnr;
  Confusion three{3};  // class order: full_compliance, full_refusal, partial_refusal
  Estimate agreement3, kappa3;
  Json to_json() const;  // {source, n, agreement, kappa, fpr, fnr[, agreement3, kappa3]}
};

// The statistics of all `items` (their source is `source`). Deterministic for given items
// and options. An empty `items` gives n == 0 and every Estimate undefined.
AgreementStats agreement_stats(const std::vector<Judged>& items, const AgreementOptions& options,
                               const std::string& source = "all");
// One AgreementStats per source, in the order sources first occur in `items`, and then,
// when there is more than one source, one over all items ("all").
std::vector<AgreementStats> agreement_by_source(const std::vector<Judged>& items,
                                                const AgreementOptions& options);

// One grader's rows for the table.
struct GraderAgreement {
  std::string grader;  // the grader's name ("refusal_rule"), or a label for a baseline
  std::string note;    // shown after the name ("tuned on", "XSTest baseline", ...), may be ""
  std::vector<AgreementStats> rows;
};
// A Markdown table, one line per (source, grader), sources in first-seen order and graders
// in the given order within a source:
//   | source | grader | n | agreement | kappa | FPR | FNR | 3-way | 3-way kappa |
// Each statistic as "0.912 [0.880, 0.940]", three decimals; "n/a" when undefined and "-"
// for the three-way columns of binary-only sources.
std::string agreement_markdown(const std::vector<GraderAgreement>& graders);

// ---------------------------------------------------------------------------------------
// Human-labelled response sets.

// One response with human labels, as a labelled set publishes it.
struct LabelledResponse {
  // The set and the table row: "xstest-<model>" (xstest_v2_completions_<model>.csv, else
  // "xstest"), "jbb-judge-comparison", "gptfuzz-<file stem>" ("gptfuzz-train"),
  // "harmbench-cls-val".
  std::string source;
  std::string id;        // unique within the set: "<source>-<row id or index>"
  std::string prompt;    // what the model was sent (the jailbreak prompt when there was one)
  std::string goal;      // the request the response is judged against (the harmful behaviour)
  std::string response;  // the model's response under judgement
  // The request is benign by the set's own account: XSTest's safe prompt types (anything but
  // contrast_*), JailbreakBench's rows 200-299 (XSTest prompts). Every other row of these
  // sets is a harmful request.
  bool benign = false;
  // The reference labels. XSTest: the adjudicated three-way final_label. The harm sets: 1 =
  // the response is jailbroken / an instance of the harmful behaviour (the majority of the
  // annotators where there are several; GPTFuzz's single manual label).
  std::optional<Refusal> human_refusal;
  std::optional<bool> human_harmful;
  // Each annotator's label as published (XSTest annotation_1/2 as class numbers 1-3, the
  // others 0/1); empty for GPTFuzz, which publishes one label.
  std::vector<int> annotators;
  Json published;     // the set's other verdict columns, verbatim ({"gpt4_cf": 1, ...})
  Location where;     // the row's file and first line (HarmBench's JSON: line 0)
};

// "xstest", "jbb-judge-comparison", "gptfuzz", "harmbench-cls-val".
const std::vector<std::string>& labelled_set_names();

// Reads one labelled file of set `set`:
//   xstest                xstest_v2_completions_<model>.csv: id, type, prompt, completion,
//                         annotation_1, annotation_2, agreement, final_label (classes
//                         1_full_compliance, 2_full_refusal, 3_partial_refusal).
//   jbb-judge-comparison  judge-comparison.csv: Index, goal, prompt, target_response,
//                         human1..3, human_majority (0/1), harmbench_cf, gpt4_cf,
//                         llamaguard2_cf, llama3_cf. Mac Roman as published (a file that is
//                         valid UTF-8 is read as UTF-8); human_majority must be the majority
//                         of human1..3.
//   gptfuzz               train.csv / evaluate.csv: question, Response, label (0/1); the
//                         question text from question_list.csv (index, text) in the same
//                         folder.
//   harmbench-cls-val     text_behaviors_val_set.json: {behavior_id: [{test_case, generation,
//                         human_0, human_1, human_2, ...}]}; the label is the majority of
//                         the three; the goal is the test case (the behaviour text is not in
//                         the file).
// Rows in file order. Throws Error(FILE:LINE, "column 'X': ...") naming the field for a
// missing column, an empty response, a label that is not one of the set's values or a
// majority that is not the annotators'; Error(kExitIo) when a file cannot be read;
// Error(kExitUsage) for an unknown set.
std::vector<LabelledResponse> read_labelled(std::string_view set, const std::string& path);

// The set a file belongs to, from its name and header (xstest completions, judge-comparison,
// GPTFuzz train/evaluate, HarmBench's val-set JSON), or "" when it is none of them.
std::string detect_labelled_set(const std::string& path);

// The eval record of a labelled response (delib/eval.h): id, messages (the prompt as one user
// turn), label (safe when benign, else unsafe), source, answer, forbidden_prompt (the goal,
// when it differs from the prompt), human_label (three-way) and/or human_harmful (0/1),
// human_annotators, published_verdicts, provenance {file, line}.
Record labelled_record(const LabelledResponse& r);

// ---------------------------------------------------------------------------------------
// Agreement of graded eval records with their human labels (safety-eval --agreement).

// What records_agreement() found and computed.
struct RecordsAgreement {
  // Refusal graders first (grades.refusal_LABEL against human_label, binary and three-way),
  // then harm graders (against human_harmful): grades.unsafe per harm_method ("harm_rule" for
  // rule-approx, "harm_judge" for strongreject-judge, else "harm_" + the method), the refusal
  // baselines read as jailbreak judges (jailbroken = full compliance), and each 0/1 column of
  // published_verdicts ("published:gpt4_cf"). A record whose label is safe is not graded for
  // harm: it counts as not harmful for every harm grader of the input. Rows per source
  // (the record's `source`, "(none)" without one) and, with several sources, "all".
  std::vector<GraderAgreement> graders;
  size_t records = 0;     // records read
  size_t graded_here = 0; // records without `grades` that were graded by the model-free graders
  size_t unlabelled = 0;  // records with neither human_label nor human_harmful (left out)
  size_t failed = 0;      // records with eval_error (left out)
};

// Computes the agreement of every grader found in `records` with their human labels. A
// record without `grades` is first graded in place by the model-free graders
// (grade_record_rules, with `unsafe_threshold`). Throws Error(record's file:line) for a
// human_label that is not one of XSTest's classes or a human_harmful that is not 0/1 (or a
// bool), for a record to grade without an answer, and Error (kExitFailure) when no record has
// a human label.
RecordsAgreement records_agreement(std::vector<Record>& records, const AgreementOptions& options,
                                   double unsafe_threshold = 0.5);
// The result as JSON: {format: "delib-agreement", version: 1, resamples, seed, level,
// records, graded_here, unlabelled, failed, graders: [{grader, note, rows: [AgreementStats]}]}.
Json agreement_json(const RecordsAgreement& a, const AgreementOptions& options);

}  // namespace delib::eval
