// cot-judge (stage 2, Guan et al. 2024 section 2.3) on the keyed-job driver: records -> Judge
// calls in chunks -> each record with its `judge` object, through the filters (--drop-malformed,
// --min-score, --best-per-id), in input order; failures counted per kind against --max-failures.
#include <map>

#include <fmt/format.h>

#include "delib/fs.h"
#include "delib/judge.h"
#include "delib/progress.h"

namespace delib {
namespace {

JudgeOptions judge_options(const CotJudgeOptions& o) {
  JudgeOptions j = o.judge;
  if (!o.rubric_path.empty()) j.rubric = read_text_file(o.rubric_path, "--rubric");
  return j;
}

class CotJudge {
 public:
  explicit CotJudge(const CotJudgeOptions& o)
      : o_(o),
        spec_(Spec::load(o.spec_path)),
        judge_options_(judge_options(o)),
        target_(resume_target(o.output, o.resume, o.write)),
        // Records an earlier run filtered out went to --rejects: they are done too.
        rejects_(o.rejects, resume_also(target_, o.rejects, o.write)),
        backend_(make_backend(o.backend)),
        judge_(spec_, *backend_, judge_options_) {
    for (const auto& k : target_.done) done_ids_.insert(k.first);
  }

  CotJudgeResult run();

 private:
  const CotJudgeOptions& o_;
  const Spec spec_;
  const JudgeOptions judge_options_;
  ResumeTarget target_;
  LazyRecordWriter rejects_;
  std::unique_ptr<Backend> backend_;
  Judge judge_;
  std::set<std::string> done_ids_;              // ids in target_.done (for --best-per-id)
  std::vector<Record> records_;                 // the records to judge, in input order,
  std::vector<JudgeItem> items_;                // their judge items
  std::vector<std::string> ids_;                // and ids
  std::vector<std::optional<JudgeResult>> results_;  // set when judged (not a backend failure)
  std::map<std::string, std::vector<size_t>> groups_;  // --best-per-id: id -> its records
  std::map<std::string, size_t> group_left_;           // id -> records not judged yet
  std::map<std::string, std::string> view_hashes_;     // category -> spec view hash
  CotJudgeResult result_;
  int64_t tokens_ = 0;
  // --rejects in input order, as the output: a judged record's reject waits here until every
  // record before it is decided (kept, rejected or failed). Malformed records go at read time.
  std::vector<std::optional<Record>> pending_rejects_;
  std::vector<bool> decided_;
  size_t next_decided_ = 0;
  void decide(size_t i, std::optional<Record> reject);

  void accept(Record& r);
  void plan();
  bool passes(const JudgeResult& r) const;
  void emit(KeyedRun& run, size_t i, bool keep);
  void finish_id(KeyedRun& run, const std::string& id);
  void on_result(KeyedRun& run, Progress& progress, size_t i, const JudgeResult& res);
  void report(const KeyedRun& run);
};

// One input record: already done, dropped as malformed, or validated into a judge item.
void CotJudge::accept(Record& r) {
  std::string id = r.ensure_id();
  int64_t sample = r.get_int("sample").value_or(0);
  if (o_.best_per_id > 0 ? done_ids_.count(id) > 0 : target_.done.count({id, sample}) > 0) return;
  if (o_.drop_malformed && r.get_bool("format_ok") == false) {
    ++result_.dropped;
    rejects_.write(r);
    return;
  }
  JudgeItem it;
  it.category = record_category(r, spec_);
  it.messages = r.messages();
  auto answer = r.get_string("answer");
  if (!answer) throw Error(r.where(), "field 'answer' is missing");
  it.answer = *answer;
  it.reasoning = r.get_string("reasoning").value_or("");
  if (!o_.hint_field.empty()) {
    if (auto h = r.path(o_.hint_field); h && !h->is_null())
      it.hint = h->is_string() ? h->as_string() : h->dump();
  }
  it.key = fmt::format("{}/{}", id, sample);
  items_.push_back(std::move(it));
  ids_.push_back(std::move(id));
  records_.push_back(std::move(r));
}

// --best-per-id groups (decided once all of an id is judged) and one view hash per category.
void CotJudge::plan() {
  results_.resize(records_.size());
  pending_rejects_.resize(records_.size());
  decided_.assign(records_.size(), false);
  for (size_t i = 0; i < records_.size(); ++i) {
    if (o_.best_per_id > 0) {
      groups_[ids_[i]].push_back(i);
      ++group_left_[ids_[i]];
    }
    const std::string& cat = items_[i].category;
    if (!view_hashes_.count(cat)) view_hashes_[cat] = spec_.view_hash(cat);
  }
}

bool CotJudge::passes(const JudgeResult& r) const {
  return o_.min_score < 0 || (r.score && *r.score >= o_.min_score);
}

void CotJudge::emit(KeyedRun& run, size_t i, bool keep) {
  Record out = records_[i];
  out.set("judge", results_[i]->to_json(o_.backend.model, view_hashes_.at(items_[i].category)));
  if (keep) {
    ++result_.kept;
    run.put(i, std::move(out));
  } else {
    ++result_.filtered;
    run.put(i, std::nullopt);
    decide(i, std::move(out));
    return;
  }
  decide(i, std::nullopt);
}

void CotJudge::decide(size_t i, std::optional<Record> reject) {
  if (o_.unordered) {  // the output is in completion order: so are the rejects
    if (reject) rejects_.write(*reject);
    return;
  }
  pending_rejects_[i] = std::move(reject);
  decided_[i] = true;
  for (; next_decided_ < decided_.size() && decided_[next_decided_]; ++next_decided_)
    if (auto& r = pending_rejects_[next_decided_]) {
      rejects_.write(*r);
      r.reset();
    }
}

// The whole id is judged: keep its best N among those that pass --min-score. Members whose
// request failed were put (as failures) already.
void CotJudge::finish_id(KeyedRun& run, const std::string& id) {
  std::vector<size_t> judged;
  std::vector<std::optional<double>> scores;
  for (size_t m : groups_.at(id))
    if (results_[m]) {
      judged.push_back(m);
      scores.push_back(results_[m]->score);
    }
  std::vector<bool> keep = select_best_per_id(scores, o_.best_per_id, o_.min_score);
  for (size_t k = 0; k < judged.size(); ++k) emit(run, judged[k], keep[k]);
}

void CotJudge::on_result(KeyedRun& run, Progress& progress, size_t i, const JudgeResult& res) {
  tokens_ += res.completion_tokens;
  ++result_.attempted;
  if (res.backend_error) {
    result_.failures.add("backend");
    run.fail(i, fmt::format("{}: id {}: {}", records_[i].where().str(), ids_[i], res.error));
    decide(i, std::nullopt);
  } else {
    if (!res.ok()) result_.failures.add("parse");
    results_[i] = res;
    if (o_.best_per_id == 0) emit(run, i, passes(res));
  }
  if (o_.best_per_id > 0 && --group_left_[ids_[i]] == 0) finish_id(run, ids_[i]);
  double secs = progress.elapsed_seconds();
  progress.add(1, fmt::format("{} kept, {:.0f} judge tok/s", result_.kept,
                              secs > 0 ? double(tokens_) / secs : 0.0));
}

// The failure summary, always before the exit status says what it means; then the verdict.
void CotJudge::report(const KeyedRun& run) {
  const FailureCounts& failures = result_.failures;
  if (result_.skipped) warn(fmt::format("{} input record(s) skipped", result_.skipped));
  if (failures.total()) {
    std::string notes;
    const auto& kinds = failures.by_kind();
    if (kinds.count("parse")) notes += "; parse: written with judge.error and no score";
    if (kinds.count("backend"))
      notes += o_.read.on_error == OnError::kSkip ? "; backend: left out, --resume judges them again"
                                                  : "; backend: the run stopped at the first";
    warn(fmt::format("judge: {}{}", failures.summary(result_.attempted), notes));
  }
  if (!run.first_error().empty()) throw Error(run.first_error(), kExitBackend);
  // Interrupted: the run is incomplete and exits 130 (run_tool); the counts above stand.
  FailureMessages say;
  say.over = fmt::format("{} failed records are more than --max-failures {} allows", failures.total(),
                         o_.max_failures.str());
  say.all_failed = fmt::format("no record was judged: all {} failed", result_.attempted);
  enforce_failure_budget(failures.total(), result_.attempted, o_.max_failures, say);
}

CotJudgeResult CotJudge::run() {
  // Bad input lines are counted and reported, not mixed with the filtered records.
  ReadOptions read = o_.read;
  read.rejects_path.clear();
  result_.skipped = read_records(o_.inputs, read, [&](Record& r) { accept(r); });
  plan();
  KeyedRun run(target_, {o_.unordered, o_.read.on_error, size_t(o_.chunk)});
  Progress progress("records", int64_t(records_.size()), o_.progress);
  run.run(items_.size(), [&](size_t begin, size_t end) {
    std::vector<JudgeItem> batch(items_.begin() + begin, items_.begin() + end);
    judge_.judge(batch, [&](size_t q, const JudgeResult& res) {
      on_result(run, progress, begin + q, res);
    });
  });
  progress.finish();
  run.close();
  rejects_.close();
  report(run);
  return result_;
}

}  // namespace

CotJudgeResult run_cot_judge(const CotJudgeOptions& options) { return CotJudge(options).run(); }

}  // namespace delib
