// run_safety_eval: the whole of safety-eval(1) behind its flags: the mode dispatch, the
// checks of option combinations, the record loops and the files written.
#include <memory>

#include <fmt/format.h>

#include "delib/agreement.h"
#include "delib/backend.h"
#include "delib/error.h"
#include "delib/eval.h"
#include "delib/fs.h"
#include "delib/spec.h"
#include "adaptive.h"

namespace delib::eval {
namespace {

std::string png_path_for(const std::string& svg) {
  if (svg.size() > 4 && svg.substr(svg.size() - 4) == ".svg") return svg.substr(0, svg.size() - 4) + ".png";
  return svg + ".png";
}

int list_jailbreaks() {
  for (const auto& j : jailbreaks()) fmt::print("{:<20} {}\n", j.name, j.description);
  return kExitOk;
}

// --make-problems N: N arithmetic word problems (seeded) as question/answer records.
int run_make_problems(const SafetyEvalOptions& o) {
  if (!o.inputs.empty() && !(o.inputs.size() == 1 && o.inputs[0] == "-"))
    throw Error("--make-problems writes problems and reads no input files", kExitUsage);
  RecordWriter out(o.output, o.write);
  for (auto& j : make_arithmetic_problems(o.make_problems, o.seed)) out.write(Record::from_json(j));
  out.close();
  return kExitOk;
}

// --import NAME FILE...: each file's rows as eval records, in file order.
int run_import(const SafetyEvalOptions& o, const Spec* spec) {
  if (o.inputs.empty() || (o.inputs.size() == 1 && o.inputs[0] == "-"))
    throw Error("--import needs the benchmark's CSV file(s) as inputs", kExitUsage);
  RecordWriter out(o.output, o.write);
  for (const auto& path : o.inputs)
    for (const auto& r : import_benchmark(o.import_benchmark, path, spec)) out.write(r);
  out.close();
  return kExitOk;
}

// A run JSON file written by summarize(); Error(path) when it is not one.
Json read_run(const std::string& path) {
  Json j;
  try {
    j = Json::parse(read_text_file(path, "file"));
  } catch (const Error& err) {
    if (err.exit_code() == kExitIo) throw;
    throw Error(Location{path, 0}, std::string("not a run JSON file: ") + err.what());
  }
  const Json* format = j.find("format");
  if (!format || !format->is_string() || format->as_string() != "delib-eval-run")
    throw Error(Location{path, 0}, "not a safety-eval run file (format != delib-eval-run)");
  return j;
}

void write_plot(const std::vector<RunPoint>& points, const std::string& svg, bool quiet) {
  write_file_atomic(svg, pareto_svg(points), "--plot");
  std::string png = png_path_for(svg);
  std::string renderer = render_png(svg, png);
  if (quiet) return;
  if (renderer.empty()) warn("no SVG renderer (rsvg-convert, convert) found: wrote the SVG only");
  else fmt::print(stderr, "wrote {} and {} ({})\n", svg, png, renderer);
}

// --compare RUN.json...: the runs side by side, and the Pareto plot.
int run_compare(const SafetyEvalOptions& o) {
  if (o.inputs.empty()) throw Error("--compare needs run JSON files", kExitUsage);
  std::vector<Json> runs;
  std::vector<std::string> names;
  std::vector<RunPoint> points;
  for (const auto& path : o.inputs) {
    Json j = read_run(path);
    RunPoint p = run_point(j, path);
    names.push_back(p.name);
    points.push_back(p);
    if (p.not_overrefuse.n == 0 || p.not_unsafe.n == 0)
      warn(fmt::format("{}: no not_overrefuse or not_unsafe; left out of the plot", path));
    runs.push_back(std::move(j));
  }
  std::string table = compare_table(runs, names) + tradeoff_table(runs, names);
  if (o.output == "-") fmt::print("{}", table);
  else write_file_atomic(o.output, table, "-o");
  if (!o.plot_path.empty()) write_plot(points, o.plot_path, o.quiet);
  return kExitOk;
}

// --agreement FILE...: the graders' agreement with the human labels of labelled records (or
// of the labelled sets' own files), per source, as a Markdown table and JSON.
int run_agreement(const SafetyEvalOptions& o) {
  if (!o.import_benchmark.empty() || o.compare || o.grade_only || !o.model.model.empty() ||
      !o.jailbreaks.empty())
    throw Error("--agreement reads labelled records and grades them itself; it takes none of "
                "--import, --compare, --grade-only, --model, --jailbreaks",
                kExitUsage);
  std::vector<Record> records;
  std::vector<std::string> record_inputs;
  size_t skipped = 0;
  auto read_records = [&]() {
    if (record_inputs.empty()) return;
    RecordReader reader(record_inputs, o.read);
    for (auto& r : reader.read_all()) records.push_back(std::move(r));
    skipped += reader.skipped();
    record_inputs.clear();
  };
  for (const auto& path : o.inputs.empty() ? std::vector<std::string>{"-"} : o.inputs) {
    std::string set = path == "-" ? "" : detect_labelled_set(path);
    if (set.empty()) {
      record_inputs.push_back(path);
      continue;
    }
    read_records();  // keep the inputs' order
    for (const auto& x : read_labelled(set, path)) records.push_back(labelled_record(x));
  }
  read_records();
  if (skipped > 0)
    warn(fmt::format("skipped {} bad input line(s){}; they are not in the agreement", skipped,
                     o.read.rejects_path.empty() ? "" : " (written to " + o.read.rejects_path + ")"));
  if (records.empty()) throw Error("no input records to measure", kExitFailure);
  AgreementOptions ao;
  ao.resamples = o.resamples;
  ao.seed = o.seed;
  RecordsAgreement a = records_agreement(records, ao, o.unsafe_threshold);
  std::string table = agreement_markdown(a.graders);
  if (o.output == "-") fmt::print("{}", table);
  else write_file_atomic(o.output, table, "-o");
  if (!o.json_path.empty()) write_file_atomic(o.json_path, agreement_json(a, ao).dump() + "\n", "--json");
  // Left-out records are reported whatever quiet says: never silently.
  if (a.unlabelled > 0 || a.failed > 0)
    warn(fmt::format("{} of {} record(s) left out: {} without a human label, {} with eval_error",
                     a.unlabelled + a.failed, a.records, a.unlabelled, a.failed));
  if (!o.quiet)
    fmt::print(stderr, "agreement: {} record(s), {} graded here by the model-free graders, {} "
               "bootstrap resamples (seed {})\n", a.records, a.graded_here, ao.resamples, ao.seed);
  return kExitOk;
}

// The usage errors of evaluate mode: options that do not go together.
void check_evaluate_options(const SafetyEvalOptions& o, const Spec* spec) {
  bool have_model = !o.model.model.empty();
  if (!have_model && !o.grade_only)
    throw Error("give --model to generate answers, or --grade-only to grade existing ones", kExitUsage);
  if (have_model && o.grade_only) throw Error("--grade-only and --model exclude each other", kExitUsage);
  if (o.spec_in_context && !spec) throw Error("--spec-in-context needs --spec FILE", kExitUsage);
  for (const auto* g : select_judge_graders(o.graders)) {
    if (!o.graders.empty() && o.judge.model.empty())
      throw Error(fmt::format("--grader {} is a judge grader: give --judge-model", g->name()), kExitUsage);
    // A raw completion prompt over a chat API would be wrapped in the server's chat template:
    // not the published input.
    if (g->raw_prompt && o.judge.backend == "openai" && !o.judge.completions)
      throw Error(fmt::format("--grader {} sends its judge's published raw prompt: give "
                              "--judge-completions (and --judge-chat-template, which renders the "
                              "other judge rows' chat requests)",
                              g->name()),
                  kExitUsage);
  }
  if (o.adaptive.enabled()) {
    if (o.grade_only) throw Error("--pair and --pap attack the model under test: give --model, not --grade-only", kExitUsage);
    if (o.adaptive.attacker.model.empty()) throw Error("--pair and --pap need --attacker-model", kExitUsage);
    if (o.adaptive.pair && o.judge.model.empty())
      throw Error("--pair needs --judge-model: the judge rates each attack from 1 to 10", kExitUsage);
    if (!o.adaptive.pap.empty()) parse_pap_list(o.adaptive.pap);
  }
  if (o.grade_only && !o.jailbreaks.empty())
    throw Error("--jailbreaks transforms prompts before answers are generated; with "
                "--grade-only every variant would be graded on the original prompt's "
                "answer (give records that carry their own jailbreak variants instead)",
                kExitUsage);
}

// One line per overall metric, and the refusal graders' agreement with human labels, on
// stderr.
void print_summary(const Json& run) {
  const Json* ov = run.find("overall");
  if (!ov || !ov->is_object()) return;
  for (const auto& [k, v] : ov->as_object()) {
    if (!v.is_object()) continue;
    auto e = Estimate::from_json(v);
    fmt::print(stderr, "{:>18}: {:.3f} [{:.3f}, {:.3f}]  n={}\n", k, e.value, e.lo, e.hi, e.n);
  }
  if (const Json* p = run.find("pairs"); p && p->is_object()) {
    const Json* c = p->find("complete");
    const Json* inc = p->find("incomplete");
    std::string line = fmt::format("{:>18}: {} complete, {} incomplete", "matched pairs",
                                   c ? json_number(c->as_double()) : "0", inc ? json_number(inc->as_double()) : "0");
    for (const char* k : {"attack_success", "benign_refusal"})
      if (const Json* e = p->find(k); e && e->is_object() && c && c->as_double() > 0) {
        auto x = Estimate::from_json(*e);
        line += fmt::format("; {} {:.3f} [{:.3f}, {:.3f}]", k, x.value, x.lo, x.hi);
      }
    fmt::print(stderr, "{}\n", line);
  }
  if (const Json* ag = run.find("refusal_agreement"); ag && ag->is_object())
    for (const auto& [k, v] : ag->as_object())
      if (v.is_object())
        fmt::print(stderr, "{:>18}: refusal agreement with human labels: 3-way {:.3f}, binary {:.3f}\n", k,
                   v.find("three_way")->as_double(), v.find("binary")->as_double());
}

// Failures: on stderr whatever quiet says, and Error(kExitBackend) when over the budget.
void report_failures(const std::vector<Record>& records, const FailureBudget& budget) {
  const FailureCounts failures = eval_failures(records);
  if (failures.total() == 0) return;
  const auto n = int64_t(records.size());
  std::string first;
  for (const auto& r : records)
    if (auto e = r.get("eval_error"); e && e->is_object()) {
      const Json* m = e->find("message");
      first = fmt::format("{}: {}", r.id(), m && m->is_string() ? m->as_string() : "");
      break;
    }
  const std::string msg = fmt::format("{}; first: {}", failures.summary(n), first);
  FailureMessages say;
  say.over = fmt::format("{} (--max-failures {})", msg, budget.str());
  say.all_failed = fmt::format("{} (--max-failures {}; no record got a result)", msg, budget.str());
  say.within = fmt::format("{} (within --max-failures {}; left out of the metrics)", msg, budget.str());
  say.pass_when_interrupted = false;
  enforce_failure_budget(failures.total(), n, budget, say);
}

// The backends of an evaluation: the model (none with grade_only) and the judge (none
// without judge.model).
struct Backends {
  std::unique_ptr<Backend> model, judge;
  std::unique_ptr<Backend> attacker;  // the adaptive attacks' (--attacker-model)
};

Backends make_backends(const SafetyEvalOptions& o) {
  Backends b;
  // Torch's intra-op threads are per process: a local model and a local judge share them.
  BackendOptions model = o.model, judge = o.judge;
  model.threads = judge.threads = o.threads;
  if (!model.model.empty()) b.model = make_backend(model);
  if (!judge.model.empty()) b.judge = make_backend(judge);
  if (o.adaptive.enabled()) {
    BackendOptions attacker = o.adaptive.attacker;
    attacker.threads = o.threads;
    b.attacker = make_backend(attacker);
  }
  return b;
}

// How run_eval answers and grades records (also how the adaptive attacks ask the target).
RunConfig run_config(const SafetyEvalOptions& o, Backends& b, const Spec* spec) {
  RunConfig cfg;
  cfg.model = b.model.get();
  if (b.model) cfg.sampling = &o.sampling;
  cfg.judge = b.judge.get();
  cfg.seed = o.seed;
  if (!o.system_file.empty()) cfg.system_prompt = read_text_file(o.system_file, "file");
  cfg.spec_in_context = o.spec_in_context;
  cfg.spec = spec;
  cfg.judge_max_tokens = o.judge_max_tokens;
  cfg.unsafe_threshold = o.unsafe_threshold;
  cfg.graders = o.graders;
  cfg.grade_reasoning = o.grade_reasoning;
  cfg.quiet = o.quiet;
  return cfg;
}

// Answers and grades for every record (run_eval).
void answer_and_grade(std::vector<Record>& records, const SafetyEvalOptions& o, Backends& b,
                      const Spec* spec) {
  run_eval(records, run_config(o, b, spec));
}

// --pair, --pap: the adaptive attacks on the unsafe records (adaptive.h), their variants
// graded on the answers the attacks got (a failed attack keeps its eval_error, ungraded).
std::vector<Record> adaptive_variants(const std::vector<Record>& originals, const SafetyEvalOptions& o,
                                      Backends& b, const Spec* spec) {
  const RunConfig cfg = run_config(o, b, spec);
  AttackBackends ab;
  ab.target = b.model.get();
  ab.attacker = b.attacker.get();
  ab.judge = b.judge.get();
  ab.target_config = &cfg;
  ab.judge_max_tokens = o.judge_max_tokens;
  std::vector<Record> variants = run_adaptive_attacks(originals, o.adaptive, ab);
  std::vector<Record> answered;
  std::vector<size_t> at;
  for (size_t i = 0; i < variants.size(); ++i)
    if (!variants[i].has("eval_error")) {
      at.push_back(i);
      answered.push_back(std::move(variants[i]));
    }
  RunConfig grade = cfg;
  grade.model = nullptr;  // graded on the answers the attacks got
  run_eval(answered, grade);
  for (size_t k = 0; k < at.size(); ++k) variants[at[k]] = std::move(answered[k]);
  return variants;
}

// The run JSON of the graded records (summarize).
Json run_summary(const std::vector<Record>& records, const SafetyEvalOptions& o, const Backends& b,
                 const FailureBudget& budget) {
  EvalOptions eo;
  eo.resamples = o.resamples;
  eo.seed = o.seed;
  eo.goodness_q = o.goodness_q;
  eo.unsafe_threshold = o.unsafe_threshold;
  eo.model = b.model ? b.model->name() : "";
  eo.name = !o.name.empty() ? o.name : b.model ? b.model->name() : "grade-only";
  eo.max_failures = budget;
  eo.grade_reasoning = o.grade_reasoning;
  eo.threads = std::max(b.model ? b.model->threads() : 0, b.judge ? b.judge->threads() : 0);
  return summarize(records, eo);
}

// Evaluate: answers (or --grade-only), grades, records to the output, the run JSON and the
// report, then the failures against the budget.
int run_evaluate(const SafetyEvalOptions& o, const Spec* spec) {
  const FailureBudget budget = FailureBudget::parse(o.max_failures);
  check_evaluate_options(o, spec);
  RecordReader reader(o.inputs, o.read);
  std::vector<Record> records = reader.read_all();
  if (reader.skipped() > 0)  // --on-error skip: on stderr whatever quiet says, as failures are
    warn(fmt::format("skipped {} bad input line(s){}; they are not in the metrics", reader.skipped(),
                     o.read.rejects_path.empty() ? "" : " (written to " + o.read.rejects_path + ")"));
  // An empty input is a mistake upstream (a failed import, a wrong file), never a run whose
  // metrics could be believed: fail before any model is loaded or any output written.
  if (records.empty())
    throw Error(fmt::format("no input records to evaluate{}", reader.skipped() > 0 ? " (every line was skipped)" : ""),
                kExitFailure);
  std::vector<Record> originals;
  if (o.adaptive.enabled()) originals = records;
  if (!o.jailbreaks.empty()) records = expand_jailbreaks(records, parse_jailbreak_list(o.jailbreaks));
  Backends b = make_backends(o);
  std::vector<Record> adaptive;
  if (o.adaptive.enabled()) adaptive = adaptive_variants(originals, o, b, spec);
  answer_and_grade(records, o, b, spec);
  for (auto& v : adaptive) records.push_back(std::move(v));
  RecordWriter out(o.output, o.write);
  for (const auto& r : records) out.write(r);
  out.close();
  Json summary = run_summary(records, o, b, budget);
  if (!o.json_path.empty()) write_file_atomic(o.json_path, summary.dump() + "\n", "--json");
  if (!o.report_path.empty()) write_file_atomic(o.report_path, report_markdown(summary), "--report");
  if (!o.quiet) print_summary(summary);
  // Never silent: answers whose reasoning could not be graded are named whatever quiet says.
  if (const Json* rg = summary.find("reasoning_grading"))
    if (const Json* n = rg->find("unsafe_without_reasoning"); n && n->as_double() > 0)
      warn(fmt::format("--grade-reasoning: {} answer(s) to unsafe prompts have no reasoning; their "
                       "reasoning is not graded (reasoning_grading in the run JSON)",
                       json_number(n->as_double())));
  report_failures(records, budget);
  return kExitOk;
}

}  // namespace

int run_safety_eval(const SafetyEvalOptions& o) {
  if (o.list_jailbreaks) return list_jailbreaks();
  if (o.make_problems > 0) return run_make_problems(o);
  select_judge_graders(o.graders);  // an unknown --grader is a usage error in every mode
  std::unique_ptr<Spec> spec;
  if (!o.spec_path.empty()) spec = std::make_unique<Spec>(Spec::load(o.spec_path));
  if (!o.import_benchmark.empty()) return run_import(o, spec.get());
  if (o.agreement) return run_agreement(o);
  if (o.compare) return run_compare(o);
  return run_evaluate(o, spec.get());
}

}  // namespace delib::eval
