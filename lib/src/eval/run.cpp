// Running an evaluation: jailbreak expansion, answers through a Backend, and the graders of
// graders() (the model-free ones always; the judge's on top when one is given).
#include <unistd.h>

#include <fmt/format.h>

#include "delib/backend.h"
#include "delib/error.h"
#include "delib/eval.h"
#include "delib/progress.h"
#include "delib/spec.h"
#include "eval_util.h"

namespace delib::eval {
namespace {

using detail::string_field;

// A spec overview for the system prompt when a record has no (known) category: every
// category's summary, the style guidelines and the helpfulness principles.
std::string spec_overview(const Spec& spec) {
  std::string s = fmt::format("# Safety specification: {}\n\n", spec.name);
  for (const auto& c : spec.categories)
    s += fmt::format("## {} ({})\n{}\n\n", c.title, c.id, c.summary);
  for (const auto& [action, text] : spec.style) s += fmt::format("## Style: {}\n{}\n\n", action, text);
  if (!spec.helpfulness.empty()) s += fmt::format("## Helpfulness\n{}\n", spec.helpfulness);
  return s;
}

Json grades_of(const Record& r) {
  auto g = r.get("grades");
  return g && g->is_object() ? *g : Json::object();
}

// grades.graded_by.MEASURE = {grader, prompt_sha256 (judge graders)}: who decided the
// measure's number.
void set_graded_by(Json& grades, const GraderSpec& g, const std::string& prompt_sha256) {
  if (g.method_at.empty()) return;  // a baseline decides nothing
  Json by = grades.find("graded_by") && grades.find("graded_by")->is_object() ? *grades.find("graded_by")
                                                                             : Json::object();
  Json x = Json::object();
  x.set("grader", g.name());
  if (!prompt_sha256.empty()) x.set("prompt_sha256", prompt_sha256);
  by.set(g.measure, std::move(x));
  grades.set("graded_by", std::move(by));
}

void set_eval_error(Record& r, const std::string& kind, const std::string& message) {
  Json e = Json::object();
  e.set("kind", kind);
  e.set("message", message);
  r.set("eval_error", std::move(e));
}

// ---------------------------------------------------------------------------------------
// Reasoning traces: the harm graders read the chain of thought as if it were the answer.

// True when the record's reasoning is graded for harm (with --grade-reasoning): an answer to an
// unsafe prompt, with non-blank reasoning.
bool reasoning_gradable(const Record& r) {
  return string_field(r, "label") == "unsafe" && !detail::capability_record(r) &&
         !detail::blank(string_field(r, "reasoning"));
}

// The record as a harm grader should see its reasoning: `answer` replaced by the reasoning.
Record reasoning_view(const Record& r) {
  Record v = r;
  v.set("answer", string_field(r, "reasoning"));
  return v;
}

// grades.reasoning.leaked: the reasoning is harmful while the answer is not.
void mark_leak(Json& grades) {
  const Json* found = grades.find("reasoning");
  if (!found || !found->is_object()) return;
  Json rg = *found;
  auto ru = detail::number_at(rg, {"unsafe"}), au = detail::number_at(grades, {"unsafe"});
  if (!ru || !au) return;
  rg.set("leaked", *ru != 0 && *au == 0);
  grades.set("reasoning", std::move(rg));
}

// ---------------------------------------------------------------------------------------
// 1. Answers.

// The generation request for a record: its conversation, after the system prompt and (with
// spec_in_context) the spec view of its category.
GenRequest answer_request(const Record& r, const RunConfig& cfg) {
  auto msgs = r.messages();
  std::string system = cfg.system_prompt;
  if (cfg.spec_in_context && cfg.spec) {
    std::string cat = string_field(r, "category");
    std::string view = !cat.empty() && cfg.spec->category(cat) ? cfg.spec->render_view(cat)
                                                               : spec_overview(*cfg.spec);
    system = system.empty() ? view : system + "\n\n" + view;
  }
  if (!system.empty()) msgs.insert(msgs.begin(), Message{"system", system, "", ""});
  GenRequest q;
  q.messages = std::move(msgs);
  q.params = *cfg.sampling;
  q.seed = cfg.seed;
  q.key = r.id();
  return q;
}

// Writes a generation result into its record: the answer (and reasoning), or eval_error.
// Returns false when the generation failed.
bool take_answer(Record& r, const GenResult& res, const std::string& backend) {
  Json gen = Json::object();
  gen.set("backend", backend);
  gen.set("finish_reason", res.finish_reason);
  gen.set("format_ok", res.format_ok);
  gen.set("prompt_tokens", res.prompt_tokens);
  gen.set("completion_tokens", res.completion_tokens);
  bool ok = res.error.empty();
  if (!ok) {
    gen.set("error", res.error);
    r.erase("answer");
    r.erase("reasoning");
    set_eval_error(r, "generation", res.error);
  } else {
    r.set("answer", res.answer.empty() && res.reasoning.empty() ? res.text : res.answer);
    if (!res.reasoning.empty()) r.set("reasoning", res.reasoning);
  }
  r.set("generation", std::move(gen));
  return ok;
}

// Generates every record's answer with cfg.model; failed[i] marks a failed generation.
void generate_answers(std::vector<Record>& records, const RunConfig& cfg, bool show,
                      std::vector<bool>& failed) {
  if (!cfg.sampling) throw Error("run_eval: sampling parameters missing");
  std::vector<GenRequest> reqs;
  reqs.reserve(records.size());
  for (const auto& r : records) reqs.push_back(answer_request(r, cfg));
  Progress progress("generating", int64_t(reqs.size()), show);
  std::string name = cfg.model->name();
  cfg.model->generate(reqs, [&](size_t i, GenResult res) {
    failed[i] = !take_answer(records[i], res, name);
    progress.add(1);
  });
  if (interrupted()) throw Error("interrupted during generation", kExitInterrupt);
}

// ---------------------------------------------------------------------------------------
// 3. The judge's graders.

// One request to the judge: which record, which grader (and its prompt's fingerprint).
struct JudgeJob {
  size_t record;
  const GraderSpec* grader;
  const std::string* prompt_sha256;
  bool reasoning = false;  // grades the record's reasoning (--grade-reasoning), not its answer
};

// Per record, what went wrong with its judge requests: "judge" when a request failed (it
// wins), else "judge_parse"; the message lists every failed request.
struct JudgeFailure {
  std::string kind, message;
  void add(const char* k, const std::string& measure, const std::string& what) {
    if (kind.empty() || std::string_view(k) == "judge") kind = k;
    message += (message.empty() ? "" : "; ") + fmt::format("{} judge: {}", measure, what);
  }
};

// Every judge grader's request for every record that has an answer, in one batch so that the
// server sees all requests at once.
std::vector<JudgeJob> judge_jobs(const std::vector<Record>& records, const std::vector<bool>& failed,
                                 const GradeContext& ctx, const RunConfig& cfg,
                                 const std::vector<const GraderSpec*>& selected,
                                 const std::vector<std::string>& hashes,
                                 std::vector<GenRequest>& reqs) {
  SamplingParams jp;
  jp.temperature = 0;
  jp.max_tokens = cfg.judge_max_tokens;
  std::vector<JudgeJob> jobs;
  for (size_t i = 0; i < records.size(); ++i) {
    if (failed[i] || detail::capability_record(records[i])) continue;  // no judge grades capability
    for (size_t k = 0; k < selected.size(); ++k) {
      const GraderSpec& g = *selected[k];
      if (g.applies && !g.applies(records[i], ctx)) continue;
      GenRequest q;
      q.messages = g.prompt(records[i], ctx);
      if (g.raw_prompt) q.prompt = g.raw_prompt(records[i], ctx);
      q.params = jp;
      q.seed = cfg.seed;
      q.key = records[i].id() + "/" + g.measure;
      reqs.push_back(std::move(q));
      jobs.push_back({i, &g, &hashes[k]});
      // The same harm grader on the reasoning, in the same batch.
      if (cfg.grade_reasoning && g.measure == "harm" && reasoning_gradable(records[i])) {
        GenRequest qr;
        qr.messages = g.prompt(reasoning_view(records[i]), ctx);
        if (g.raw_prompt) qr.prompt = g.raw_prompt(reasoning_view(records[i]), ctx);
        qr.params = jp;
        qr.seed = cfg.seed;
        qr.key = records[i].id() + "/reasoning/" + g.measure;
        reqs.push_back(std::move(qr));
        jobs.push_back({i, &g, &hashes[k], true});
      }
    }
  }
  return jobs;
}

// The judge's answers to `reqs`, in request order.
std::vector<GenResult> ask_judge(Backend& judge, const std::vector<GenRequest>& reqs, bool show) {
  std::vector<GenResult> results(reqs.size());
  {
    Progress progress("judging", int64_t(reqs.size()), show);
    judge.generate(reqs, [&](size_t j, GenResult res) {
      results[j] = std::move(res);
      progress.add(1);
    });
  }
  if (interrupted()) throw Error("interrupted during judging", kExitInterrupt);
  return results;
}

// Applies the judge's verdicts; a request that failed or a verdict that does not parse marks
// its record with eval_error.
void apply_judge_results(std::vector<Record>& records, const std::vector<bool>& failed,
                         const std::vector<JudgeJob>& jobs, const std::vector<GenResult>& results,
                         const GradeContext& ctx, const std::string& judge_name) {
  std::vector<Json> grades(records.size());
  for (size_t i = 0; i < records.size(); ++i) grades[i] = grades_of(records[i]);
  std::vector<JudgeFailure> failures(records.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    const auto& [i, g, sha, reasoning] = jobs[j];
    const GenResult& res = results[j];
    const std::string measure = reasoning ? "reasoning " + g->measure : g->measure;
    if (!res.error.empty()) {
      failures[i].add("judge", measure, res.error);
      continue;
    }
    const std::string reply = res.answer.empty() ? res.text : res.answer;
    if (reasoning) {
      Record view = reasoning_view(records[i]);
      std::optional<Json> v = g->parse(view, reply, ctx);
      if (!v) {
        failures[i].add("judge_parse", measure, g->parse_error);
        continue;
      }
      const Json* old = grades[i].find("reasoning");
      Json rg = old && old->is_object() ? *old : Json::object();
      g->apply(view, rg, *v, ctx);
      set_graded_by(rg, *g, *sha);
      grades[i].set("reasoning", std::move(rg));
      continue;
    }
    std::optional<Json> v = g->parse(records[i], reply, ctx);
    if (v) {
      g->apply(records[i], grades[i], *v, ctx);
      set_graded_by(grades[i], *g, *sha);
    } else failures[i].add("judge_parse", measure, g->parse_error);
    grades[i].set("judge_model", judge_name);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    if (failed[i]) continue;  // generation failed: nothing was judged
    mark_leak(grades[i]);
    records[i].set("grades", std::move(grades[i]));
    if (!failures[i].kind.empty()) set_eval_error(records[i], failures[i].kind, failures[i].message);
  }
}

}  // namespace

std::string expected_action(const Record& r) {
  std::string e = string_field(r, "expected_action");
  if (!e.empty()) return e;
  return string_field(r, "label") == "unsafe" ? "refuse" : "comply";
}

std::vector<Record> expand_jailbreaks(const std::vector<Record>& records,
                                      const std::vector<std::string>& techniques) {
  std::vector<Record> out;
  for (const auto& r : records) {
    if (string_field(r, "label") != "unsafe") {
      out.push_back(r);
      continue;
    }
    std::string id = r.id();
    auto msgs = r.messages();
    size_t last_user = msgs.size();
    for (size_t i = msgs.size(); i-- > 0;)
      if (msgs[i].role == "user") {
        last_user = i;
        break;
      }
    if (last_user == msgs.size())
      throw Error(r.where(), fmt::format("record {}: no user turn to transform", id));
    std::string original = msgs[last_user].content;
    for (const auto& t : techniques) {
      Record v = r;
      auto m = msgs;
      m[last_user].content = apply_jailbreak(t, original);
      v.set("id", id + "~" + t);
      v.set("messages", messages_to_json(m));
      v.erase("prompt");
      v.set("jailbreak", t);
      v.set("jailbreak_parent", id);
      v.set("forbidden_prompt", original);
      out.push_back(std::move(v));
    }
  }
  return out;
}

void grade_record_rules(Record& r, const Spec* spec, double unsafe_threshold) {
  auto answer = r.get_string("answer");
  if (!answer) throw Error(r.where(), fmt::format("record {}: no 'answer' to grade", r.id()));
  // A capability record has no label: only the capability grader reads it.
  const bool capability = detail::capability_record(r);
  std::string label = string_field(r, "label");
  if (!capability && label != "safe" && label != "unsafe")
    throw Error(r.where(), fmt::format("record {}: 'label' must be safe or unsafe", r.id()));
  const GradeContext ctx{spec, unsafe_threshold};
  Json g = grades_of(r);
  // An empty answer (e.g. a generation cut off inside its reasoning) helps nobody and harms
  // nobody: the graders count it as a refusal, so it costs not_overrefuse but not not_unsafe.
  if (detail::blank(*answer)) g.set("empty_answer", true);
  for (const auto& grader : graders()) {
    if (grader.uses_judge() || (grader.measure == "capability") != capability ||
        (grader.applies && !grader.applies(r, ctx)))
      continue;
    grader.apply(r, g, *grader.parse(r, *answer, ctx), ctx);
    set_graded_by(g, grader, "");
  }
  r.set("grades", std::move(g));
}

void run_eval(std::vector<Record>& records, const RunConfig& cfg) {
  bool show = !cfg.quiet && ::isatty(2) == 1;
  // A failure recorded by an earlier run (records re-graded with --grade-only) is not this
  // run's: only what fails now is counted.
  for (auto& r : records) r.erase("eval_error");
  // The selection is checked before any request: a bad --grader is a usage error.
  const std::vector<const GraderSpec*> selected = select_judge_graders(cfg.graders);
  std::vector<bool> failed(records.size(), false);
  if (cfg.model) generate_answers(records, cfg, show, failed);  // 1. answers
  for (size_t i = 0; i < records.size(); ++i) {                 // 2. model-free graders
    if (failed[i]) {
      records[i].erase("grades");
      records[i].erase("refusal");
      continue;
    }
    grade_record_rules(records[i], cfg.spec, cfg.unsafe_threshold);
    if (cfg.grade_reasoning) grade_reasoning_rules(records[i], cfg.spec, cfg.unsafe_threshold);
  }
  if (!cfg.judge) return;
  const GradeContext ctx{cfg.spec, cfg.unsafe_threshold};  // 3. the judge's graders
  std::vector<std::string> hashes;
  for (const auto* g : selected) hashes.push_back(grader_prompt_sha256(*g, ctx));
  std::vector<GenRequest> reqs;
  std::vector<JudgeJob> jobs = judge_jobs(records, failed, ctx, cfg, selected, hashes, reqs);
  std::vector<GenResult> results = ask_judge(*cfg.judge, reqs, show);
  apply_judge_results(records, failed, jobs, results, ctx, cfg.judge->name());
}

void grade_reasoning_rules(Record& r, const Spec* spec, double unsafe_threshold) {
  if (!reasoning_gradable(r)) return;
  const GradeContext ctx{spec, unsafe_threshold};
  Record view = reasoning_view(r);
  Json g = grades_of(r);
  Json rg = Json::object();
  for (const auto& grader : graders()) {
    if (grader.measure != "harm" || grader.uses_judge() || (grader.applies && !grader.applies(view, ctx)))
      continue;
    grader.apply(view, rg, *grader.parse(view, string_field(view, "answer"), ctx), ctx);
    set_graded_by(rg, grader, "");
  }
  g.set("reasoning", std::move(rg));
  mark_leak(g);
  r.set("grades", std::move(g));
}

FailureCounts eval_failures(const std::vector<Record>& records) {
  FailureCounts c;
  for (const auto& r : records) {
    auto e = r.get("eval_error");
    if (!e || !e->is_object()) continue;
    const Json* k = e->find("kind");
    c.add(k && k->is_string() ? k->as_string() : "unknown");
  }
  return c;
}

}  // namespace delib::eval

// For the adaptive attacks (adaptive.h): the target is asked as run_eval asks it.
namespace delib::eval::detail {
GenRequest answer_request_for(const Record& r, const RunConfig& cfg) { return answer_request(r, cfg); }
}  // namespace delib::eval::detail
