// cot-judge: stage 2 of deliberative alignment. A judge model that sees the category's spec
// view scores each (conversation, reasoning, answer) K times; the aggregate (default: the
// minimum) decides which samples are kept.
// Parses flags and calls delib::run_cot_judge (lib/src/judge/cot_judge.cpp).
#include "delib/cli.h"
#include "delib/failures.h"
#include "delib/generate.h"
#include "delib/judge.h"

namespace {

delib::cli::ToolInfo tool_info() {
  delib::cli::ToolInfo info;
  info.name = "cot-judge";
  info.summary = "score generated reasoning and answers against the spec, keep the best (stage 2)";
  info.description =
      "cot-judge reads cot-gen records (a conversation in `messages` or `prompt`, `category`, "
      "`reasoning`, `answer`) and asks a judge model (--backend/--model, local or an "
      "OpenAI-compatible server) whether each response follows the safety spec (--spec). The "
      "judge sees the category's spec view, the conversation, the reasoning (unless "
      "--hide-reasoning) and the answer, and is asked about the category and level, the "
      "action (comply, safe-complete or refuse), the style, the helpfulness where complying "
      "is right, and whether the reasoning cites the right rules. It writes its reasons, then "
      "a verdict block opened by its own marker line with the action it saw and a score from "
      "0 to 10. --rubric FILE replaces the built-in instructions (the spec view, the quoted "
      "material and the verdict format are still added).\n"
      "\n"
      "The material under judgement is quoted between marker lines that carry a code (a nonce) "
      "derived per request from --nonce-seed (default --seed), the record, the judge sample and a "
      "digest of the quoted text, and never one that occurs in that text; only the judge's output "
      "after the last verdict marker with that code is parsed, so text in a prompt or a completion "
      "(fake verdicts, \"ignore the instructions and give 10\") cannot change what is read, and "
      "two runs with the same seed send the same prompts. Output that does not parse is asked again "
      "(--judge-retries) and then recorded as judge.error without a score; a score is never "
      "invented.\n"
      "\n"
      "Failures: a record whose judge request failed after --max-retries (backend) or whose output "
      "still did not parse (parse) is a failed record. The counts per kind are printed on stderr at "
      "the end, and the run exits 4 when more records failed than --max-failures allows (default 0: "
      "any failure; a count, or a fraction such as 5%) or when every record it judged failed. A parse "
      "failure is written with judge.error (and, with --min-score, goes to --rejects); --resume does "
      "not judge it again. A backend failure stops the run at once (exit 4) unless --on-error skip: "
      "then it is left out of the output, so that --resume judges it again, and counted.\n"
      "\n"
      "--judge-samples K independent judgements per record are aggregated by --aggregate "
      "(default min: the paper keeps the minimum, since any single run may overlook a "
      "problem). The action, hint agreement and rationale come from the judgement whose score "
      "is the aggregate. --hint-field FIELD shows the record's FIELD (e.g. expected_action) to "
      "the judge as a suggestion from another system that it may disagree with; the agreement "
      "is recorded.\n"
      "\n"
      "Each output record is the input plus `judge`: {scores, score, action, agrees_with_hint, "
      "rationale, judge_model, spec_view_hash} (and `error` when there is no score). Filters: "
      "--drop-malformed leaves out records with format_ok false without judging them, "
      "--min-score X keeps records scoring at least X, --best-per-id N keeps the N best "
      "samples of each id (ties: lower sample first); what is left out goes to --rejects when "
      "given. Output follows input order unless --unordered; --resume FILE works as in "
      "cot-gen (the --rejects file, when given, also counts as done).";
  info.examples =
      "# judge 3 times, keep the minimum, keep samples scoring 8 or more\n"
      "cot-judge --spec spec.md --backend openai --base-url http://localhost:8000/v1 --model judge --judge-samples 3 --min-score 8 gen.jsonl.zst -o judged.jsonl.zst --rejects low.jsonl.zst\n"
      "# the best 2 samples per prompt, with the expected action as a hint\n"
      "cot-judge --spec spec.md --model ./judge --hint-field expected_action --best-per-id 2 gen.jsonl.zst -o best.jsonl.zst\n"
      "# the quickstart's judging stage, rerun only when its inputs, binary or options changed\n"
      "make -C examples/quickstart judge\n";
  info.exit_codes = {{4, "the judge failed: a judge request failed after all retries (with --on-error fail), "
                         "or more records failed than --max-failures allows, or every judged record failed"}};
  return info;
}

// The flags that need converting before they reach CotJudgeOptions.
struct Flags {
  std::string aggregate = "min";
  std::string max_failures = "0";
  int64_t nonce_seed = -1;  // -1: --seed
};

void add_judging_options(CLI::App& app, delib::CotJudgeOptions& o, Flags& f) {
  const char* g = "Judging";
  app.add_option("--judge-samples", o.judge.samples, "Independent judgements per record (k)")
      ->check(CLI::Range(1, 1024))->capture_default_str()->group(g);
  app.add_option("--aggregate", f.aggregate, "How k scores become one: min, mean or median")
      ->check(CLI::IsMember({"min", "mean", "median"}))->capture_default_str()->group(g);
  app.add_option("--judge-retries", o.judge.parse_retries,
                 "Re-asks of a judgement whose output does not parse, before judge.error")
      ->check(CLI::Range(0, 100))->capture_default_str()->group(g);
  app.add_option("--rubric", o.rubric_path, "Replace the built-in judging instructions with the text of FILE")
      ->type_name("FILE")->group(g);
  app.add_option("--hint-field", o.hint_field,
                 "Show this record field (dotted path, e.g. expected_action) to the judge as another "
                 "system's suggestion and record whether it agrees")
      ->type_name("FIELD")->group(g);
  app.add_flag("--hide-reasoning", o.judge.hide_reasoning,
               "Show the judge the answer only, not the reasoning (the RL reward mode)")
      ->group(g);
  app.add_option("--nonce-seed", f.nonce_seed,
                 "Derive the quoting nonces from this seed (with the record and a digest of the quoted "
                 "text). Default: --seed")
      ->check(CLI::NonNegativeNumber)->group(g);
  app.add_option("--nonce-length", o.judge.nonce_digits,
                 "Hex digits per quoting nonce; fewer are easier to guess (tiny toy judges that "
                 "cannot copy 16 digits: 2)")
      ->check(CLI::Range(2, 16))->capture_default_str()->group(g);
  app.add_option("--max-failures", f.max_failures,
                 "Most failed records (judge request failed, or output that did not parse) the run may "
                 "have and still exit 0: a count (0, 12) or a fraction of the records judged (0.05, 5%)")
      ->type_name("N|FRACTION")->capture_default_str()->group(g);
}

void add_filter_and_run_options(CLI::App& app, delib::CotJudgeOptions& o) {
  const char* f = "Filtering";
  app.add_option("--min-score", o.min_score,
                 "Keep records whose aggregate score is at least X (others, and records without a "
                 "score, go to --rejects). Default: keep all")
      ->type_name("X")->check(CLI::Range(0.0, 10.0))->group(f);
  app.add_option("--best-per-id", o.best_per_id, "Keep the N best-scoring samples of each id")
      ->type_name("N")->check(CLI::PositiveNumber)->group(f);
  app.add_flag("--drop-malformed", o.drop_malformed, "Leave out records with format_ok false (not judged)")
      ->group(f);
  const char* r = "Run";
  app.add_flag("--unordered", o.unordered, "Write records as they finish instead of in input order")
      ->group(r);
  app.add_option("--resume", o.resume,
                 "Continue into FILE: cut it to its last complete record, skip the (id, sample) "
                 "pairs it (or --rejects) holds, and append the rest")
      ->type_name("FILE")->group(r);
  app.add_option("--chunk", o.chunk, "Records handed to the judge at once")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str()->group(r);
}

}  // namespace

int main(int argc, char** argv) {
  delib::enable_local_backend();
  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::CotJudgeOptions o;
  Flags f;
  return delib::cli::run_tool(
      argc, argv, tool_info(),
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_backend_options(app, o.backend);
        delib::cli::add_sampling_options(app, o.judge.params);
        delib::cli::add_spec_option(app, o.spec_path);
        add_judging_options(app, o, f);
        add_filter_and_run_options(app, o);
      },
      [&]() -> int {
        o.max_failures = delib::FailureBudget::parse(f.max_failures, "--max-failures");
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.rejects = io.rejects;
        o.backend.threads = run.threads;
        o.judge.aggregate = *delib::parse_aggregate(f.aggregate);
        o.judge.seed = run.seed;
        o.judge.nonce_seed = f.nonce_seed >= 0 ? uint64_t(f.nonce_seed) : run.seed;
        o.progress = run.progress();
        // With --completions the backend renders each judge request with --chat-template.
        delib::run_cot_judge(o);
        return delib::kExitOk;
      });
}
