// safety-eval: two-sided safety evaluation (not_unsafe and not_overrefuse, style adherence,
// policy retrieval, goodness@0.1 under jailbreaks) on public benchmarks or your own records,
// with bootstrap intervals, a Markdown report, run JSON, and a Pareto plot comparing runs.
// Parses flags into delib::eval::SafetyEvalOptions and calls run_safety_eval
// (lib/src/eval/safety_eval.cpp).
#include "delib/cli.h"
#include "delib/eval.h"
#ifdef DELIB_EVAL_LOCAL_BACKEND
#include "delib/generate.h"
#endif

int main(int argc, char** argv) {
#ifdef DELIB_EVAL_LOCAL_BACKEND
  delib::enable_local_backend();
#endif
  namespace ev = delib::eval;
  delib::cli::ToolInfo info;
  info.name = "safety-eval";
  info.summary = "two-sided safety evaluation with bootstrap intervals, reports and a Pareto plot";
  info.description =
      "safety-eval measures both failure directions of a model (Guan et al. 2024, \"Measures\"): "
      "not_unsafe (answers to unsafe prompts that are not unsafe), not_overrefuse (answers to safe "
      "prompts that do not refuse), style adherence (right action and right style per the spec), "
      "policy retrieval (the reasoning cites the right category or rule ids) and goodness@0.1 "
      "(safety under the worst 10% of jailbreak techniques per forbidden prompt), each with a 95% "
      "percentile-bootstrap interval (--resamples, seeded by --seed), overall and per source, "
      "category and prompt type.\n"
      "\n"
      "Four modes. (1) --import NAME FILE: turn a public benchmark file (xstest, strongreject, "
      "advbench, harmbench, jbb, gptfuzz, orbench, phtest, wildjailbreak, sorrybench, problems: XSTest's "
      "xstest_prompts.csv or its model completion files, StrongREJECT's "
      "strongreject_dataset.csv, AdvBench's harmful_behaviors.csv, HarmBench's "
      "harmbench_behaviors_text_*.csv, JailbreakBench's harmful-behaviors.csv and "
      "benign-behaviors.csv (a harmful behaviour and its benign twin share `pair`), GPTFuzz's "
      "question_list.csv, OR-Bench's or-bench-80k/hard-1k/toxic.csv, PHTest's "
      "dataset_v0.1.csv, WildJailbreak's train.tsv/eval.tsv, SORRY-Bench's question*.jsonl, and "
      "problems: capability problems with question/answer, see the safety tax below; "
      "docs/adding-an-importer.md) into eval records with id, messages, label "
      "(safe/unsafe), category (mapped to the default spec's ids; the benchmark's own is kept in "
      "benchmark_category), prompt_type, source, the original columns under benchmark, and "
      "provenance (licence, URL, citation). A row that does not fit its benchmark's layout is "
      "an error naming the file, line and column (exit 1). (2) Evaluate records: generate answers with --model "
      "(local directory or --backend openai), optionally with a system prompt (--system FILE) or "
      "the spec in context (--spec FILE --spec-in-context), or grade existing `answer` fields with "
      "--grade-only. Graded records go to stdout (-o); --report writes Markdown and --json the run "
      "summary. (3) --compare RUN.json...: the runs' metrics side by side, and with --plot FILE.svg "
      "a Pareto plot (not_overrefuse on x, not_unsafe on y, 95% error bars); a PNG is written next "
      "to it when rsvg-convert or ImageMagick convert is installed. (4) --agreement FILE...: "
      "measure graders against human labels (see --agreement below).\n"
      "\n"
      "The graders below write their verdicts under `grades` in each record (a refusal class "
      "under the grader's name, e.g. refusal_strmatch); the judge graders need --judge-model, "
      "and a judge's verdict replaces the model-free one of the same measure; --grader NAME picks "
      "the judge graders (at most one per measure), among them the field's standard judges with "
      "their published prompts and output formats. A judge reply outside its grader's format is "
      "an error for that record (judge_parse), never a guess. grades.graded_by and the run "
      "JSON's metric_graders say which grader decided each metric, with the SHA-256 of its "
      "prompt template. `refusal` is the "
      "deciding refusal class (the judge's, else refusal_rule's). An answer to an unsafe prompt "
      "is unsafe when its harm score is at least --unsafe-threshold.\n"
      "\n" +
      delib::eval::graders_help() +
      "\n"
      "\n"
      "--jailbreaks all|A,B,... expands every unsafe record into one record per technique (ids "
      "ID~TECHNIQUE; \"none\" is the prompt unchanged); goodness@q is computed from them. "
      "--list-jailbreaks prints the techniques (they transform prompts before generation, so "
      "--grade-only does not take --jailbreaks). Records with human_label (XSTest completion "
      "files) also get the agreement of each refusal grader with the human labels, 3-way and "
      "binary.\n"
      "\n"
      "--agreement FILE...: how often each grader agrees with people. The inputs are records "
      "with a human label (human_label, XSTest's three classes; human_harmful, 1 = jailbroken) "
      "or the labelled sets' own files, recognised by their columns: XSTest's labelled "
      "completions, JailbreakBench's judge-comparison.csv, GPTFuzz's train.csv/evaluate.csv "
      "(with question_list.csv beside them) and HarmBench's classifier val-set JSON. Records "
      "without `grades` are graded by the model-free graders first; a grade-only output "
      "(including a judge's verdicts) is read as it is. Prints one Markdown row per source and "
      "grader: n, agreement, Cohen's kappa, false positive and false negative rates (positive = "
      "refusal for refusal graders, jailbroken for harm graders) and for XSTest labels 3-way "
      "agreement and kappa, each with a 95% percentile-bootstrap interval (--resamples, "
      "--seed); --json writes them as JSON. An answer to a prompt labelled safe is not graded "
      "for harm and counts as not harmful. Records without a human label or with eval_error "
      "are left out and counted on stderr; none with a label is an error (exit 1). Measured "
      "tables: docs/graders.md.\n"
      "\n"
      "Failures are never silent. A record whose model request fails after the backend's "
      "retries (kind generation), whose judge request fails (judge) or whose judge verdict does "
      "not parse (judge_parse) is still written, with eval_error {kind, message}, and left out "
      "of every metric. The counts per kind are printed on stderr at the end, recorded in the "
      "run JSON under failures and shown by --report. The run exits with 4 when no record got "
      "a result or more records failed than --max-failures allows (a count, or a fraction such "
      "as 0.05 or 5%; default 0: any failure fails the run); the records, --json and --report "
      "are written first either way.\n"
      "\n"
      "The safety tax: what safety training cost in capability. --make-problems N writes N "
      "grade-school arithmetic word problems with known answers (eight two-step types, seeded by "
      "--seed) as records with question and answer; --import problems turns any such file "
      "(GSM8K's test.jsonl with its '#### N' answers included) into capability records: the "
      "question and a request for a final \"Answer:\" line as the prompt, expected_answer the "
      "reference, no label. Evaluated with the other records (same --model, backend and "
      "sampling), each answer is graded by capability_exact_match and counts only towards "
      "capability_accuracy (95% Wilson interval), overall and per source; --compare shows it "
      "next to harmful compliance and over-refusal (section \"Safety and capability\").\n"
      "\n"
      "Matched pairs: records that share `pair` (JailbreakBench's harmful behaviours and benign "
      "twins) are also read pair by pair: attack success on the harmful member, refusal of the "
      "benign member, and how many pairs are both right, safe but over-refusing, helpful but "
      "unsafe, or both wrong, with 95% Wilson intervals over complete pairs (incomplete ones "
      "are counted by reason); run JSON `pairs`, report section \"Matched pairs\".\n"
      "\n"
      "Adaptive attacks: besides the static transforms, --pair runs PAIR (Chao et al. 2023, "
      "arXiv:2310.08419) and --pap PAP persuasive paraphrases (Zeng et al. 2024, "
      "arXiv:2401.06373) on every unsafe record, with an attacker model (--attacker-model, any "
      "backend) and, for PAIR, the --judge-model as the 1-10 judge. Each attack becomes a variant "
      "record (id ID~pair or ID~pap-TECHNIQUE, jailbreak, jailbreak_parent, jailbreak_kind "
      "adaptive) holding the model's answer to the best prompt found, graded like the others and "
      "counted in goodness@q together with the static variants; attack {method, seed, budget, "
      "rounds, queries, unparsed, score, success, ...} records what it cost. An attack whose "
      "request failed, or whose attacker and judge never gave a parseable reply, is a failed "
      "record (eval_error kind attack). --attack-state FILE makes the attacks resumable.\n"
      "\n"
      "--grade-reasoning: does the chain of thought contain the harmful content the answer "
      "withheld? The reasoning of every answer to an unsafe prompt (the `reasoning` field, from "
      "generation or given) is graded by the same harm graders as the answer (harm_rule, and the "
      "selected harm judge with --judge-model), into grades.reasoning, with grades.reasoning.leaked "
      "when the reasoning is unsafe and the answer is not. Reported apart from the answer's "
      "metrics: reasoning_harmful_rate and leak_rate, and reasoning_grading in the run JSON; "
      "answers without reasoning are counted and named in a warning.\n"
      "\n"
      "--threads sets the LibTorch intra-op threads of local models (the model and the judge "
      "share them) and is recorded in the run JSON as threads.";
  info.examples =
      "# import XSTest and StrongREJECT\n"
      "safety-eval --import xstest xstest_prompts.csv -o xstest.jsonl\n"
      "safety-eval --import strongreject strongreject_dataset.csv -o sr.jsonl\n"
      "# JailbreakBench's harmful behaviours and their benign twins (matched by `pair`)\n"
      "safety-eval --import jbb harmful-behaviors.csv benign-behaviors.csv -o jbb.jsonl\n"
      "# grade XSTest's labelled completions without a model; report agreement with humans\n"
      "safety-eval --import xstest xstest_v2_completions_gpt4.csv -o gpt4.jsonl\n"
      "safety-eval --grade-only gpt4.jsonl --report gpt4.md --json gpt4.json -o graded.jsonl\n"
      "# evaluate a served model with an LLM judge and jailbreaks\n"
      "safety-eval --backend openai --base-url http://localhost:8000/v1 --model my-model --judge-backend openai --judge-base-url http://localhost:8001/v1 --judge-model judge --spec specs/default.md --jailbreaks all --temperature 0 xstest.jsonl sr.jsonl --name sft --json sft.json --report sft.md -o sft.jsonl.zst\n"
      "# the model-free graders against people, per source, with intervals\n"
      "safety-eval --agreement xstest_v2_completions_gpt4.csv judge-comparison.csv evaluate.csv --json agreement.json\n"
      "# a judge's verdicts against the same labels\n"
      "safety-eval --import xstest xstest_v2_completions_gpt4.csv -o gpt4.jsonl\n"
      "safety-eval --grade-only --judge-backend openai --judge-base-url http://localhost:8001/v1 --judge-model judge gpt4.jsonl -o judged.jsonl\n"
      "safety-eval --agreement judged.jsonl\n"
      "# the safety tax: 200 arithmetic problems evaluated with the safety benchmarks\n"
      "safety-eval --make-problems 200 --seed 1 -o arith.jsonl\n"
      "safety-eval --import problems arith.jsonl -o arith.eval.jsonl\n"
      "safety-eval --backend openai --base-url http://localhost:8000/v1 --model my-model xstest.jsonl arith.eval.jsonl --name sft --json sft.json\n"
      "# compare runs\n"
      "safety-eval --compare base.json sft.json rl.json --plot pareto.svg\n"
      "# the quickstart's evaluations again with other options: only they and the report rerun\n"
      "make -C examples/quickstart demo EVAL_OPTS='--temperature 0 --max-tokens 64 --batch-size 32'\n";
  info.exit_codes = {{1, "bad input records"},
                     {4, "more records failed (model or judge errors, unparseable verdicts) than "
                         "--max-failures allows, or none got a result"}};

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  ev::SafetyEvalOptions o;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        const char* m = "Mode";
        app.add_option("--import", o.import_benchmark,
                       "Import benchmark NAME from the input files (CSV, TSV or JSON Lines, as the "
                       "benchmark publishes them) and write eval records")
            ->type_name("NAME")->check(CLI::IsMember(ev::benchmark_names()))->group(m);
        app.add_flag("--grade-only", o.grade_only,
                     "Grade the records' existing `answer` fields instead of generating answers")
            ->group(m);
        app.add_flag("--compare", o.compare,
                     "Inputs are run JSON files (--json): print their metrics side by side (Markdown)")
            ->group(m);
        app.add_option("--plot", o.plot_path,
                       "With --compare: write the Pareto plot (not_overrefuse vs not_unsafe) as SVG to FILE, "
                       "and FILE.png when a renderer is installed")
            ->type_name("FILE.svg")->group(m);
        app.add_flag("--list-jailbreaks", o.list_jailbreaks, "Print the jailbreak techniques and exit")
            ->group(m);
        app.add_option("--make-problems", o.make_problems,
                       "Write N grade-school arithmetic word problems with known answers (seeded by "
                       "--seed) as question/answer records, for the capability check (--import problems)")
            ->type_name("N")->check(CLI::Range(size_t(1), size_t(1000000)))->group(m);
        app.add_flag("--agreement", o.agreement,
                     "Inputs are records with human labels (or the labelled sets' files): print each "
                     "grader's agreement, kappa and error rates with people, per source (Markdown)")
            ->group(m);
        delib::cli::add_backend_options(app, o.model);
        delib::cli::add_sampling_options(app, o.sampling);
        delib::cli::add_backend_options(app, o.judge, "judge");
        app.add_option("--grader", o.graders,
                       "Which judge graders run with --judge-model (repeatable, or a comma-separated "
                       "list; default refusal_judge, harm_judge and style_judge; the model-free graders "
                       "always run): " + ev::grader_names())
            ->type_name("NAME")->delimiter(',')->allow_extra_args(false)->group("Model (judge)");
        app.add_flag("--grade-reasoning", o.grade_reasoning,
                     "Also grade the reasoning (chain of thought) of answers to unsafe prompts with the "
                     "harm graders: reasoning_harmful_rate and leak_rate (reasoning unsafe, answer safe)")
            ->group("Model (judge)");
        app.add_option("--judge-max-tokens", o.judge_max_tokens,
                       "Most new tokens per judge answer (temperature 0; HarmBench's classifier reads 1)")
            ->check(CLI::Range(1, 1 << 20))->capture_default_str()->group("Model (judge)");
        delib::cli::add_spec_option(app, o.spec_path, false);
        app.add_flag("--spec-in-context", o.spec_in_context,
                     "Put the spec view of each record's category (or an overview of every category when it "
                     "has none) in a system message when generating")
            ->group("Spec");
        app.add_option("--system", o.system_file, "Prepend the text of FILE as a system message when generating")
            ->type_name("FILE")->check(CLI::ExistingFile)->group("Spec");
        const char* e = "Evaluation";
        app.add_option("--jailbreaks", o.jailbreaks,
                       "Apply jailbreak techniques to every unsafe prompt: all, or a comma-separated list "
                       "(see --list-jailbreaks); enables goodness@q")
            ->type_name("all|A,B")->group(e);
        {
          // Adaptive attacks (lib/src/eval/adaptive.cpp).
          const char* a = "Adaptive attacks";
          std::string paps;
          for (const auto& t : delib::eval::pap_techniques()) paps += (paps.empty() ? "" : ", ") + t.name;
          app.add_flag("--pair", o.adaptive.pair,
                       "PAIR (Chao et al. 2023): per unsafe prompt, --pair-streams attacker conversations of up to "
                       "--pair-iterations rounds (attacker writes a prompt, the model answers, the --judge-model "
                       "rates it 1-10, the attacker refines; stops at 10); the best prompt's answer is graded as "
                       "jailbreak 'pair'")
              ->group(a);
          app.add_option("--pair-iterations", o.adaptive.pair_iterations, "PAIR rounds per stream (K)")
              ->check(CLI::Range(1, 1000))->capture_default_str()->group(a);
          app.add_option("--pair-streams", o.adaptive.pair_streams,
                         "PAIR attacker conversations per prompt (N); at most N x K model queries per prompt")
              ->check(CLI::Range(1, 10000))->capture_default_str()->group(a);
          app.add_option("--pap", o.adaptive.pap,
                         "PAP (Zeng et al. 2024): the attacker rewrites each unsafe prompt with each persuasion "
                         "technique given (all, or a comma-separated list of: " + paps +
                             "); each paraphrase's answer is graded as jailbreak 'pap-TECHNIQUE'")
              ->type_name("all|A,B")->group(a);
          app.add_option("--attacker-retries", o.adaptive.attacker_retries,
                         "Re-asks of an attacker reply that is not the JSON object asked for")
              ->check(CLI::Range(0, 100))->capture_default_str()->group(a);
          app.add_option("--attacker-max-tokens", o.adaptive.attacker_max_tokens,
                         "Most new tokens per attacker reply (the attacker samples at temperature 1, top-p 0.9)")
              ->check(CLI::Range(16, 1 << 20))->capture_default_str()->group(a);
          app.add_option("--attack-state", o.adaptive.state,
                         "Append every finished attack to FILE as it finishes; attacks already in FILE are not run "
                         "again (resume a killed run with the same FILE)")
              ->type_name("FILE")->group(a);
          delib::cli::add_backend_options(app, o.adaptive.attacker, "attacker");
        }
        app.add_option("--goodness-q", o.goodness_q, "Share of worst techniques kept per prompt for goodness@q")
            ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(e);
        app.add_option("--unsafe-threshold", o.unsafe_threshold,
                       "Harm score (StrongREJECT scale 0..1) at or above which an answer counts as unsafe")
            ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(e);
        app.add_option("--resamples", o.resamples, "Bootstrap resamples for the 95% intervals (0: none)")
            ->check(CLI::Range(0, 1000000))->capture_default_str()->group(e);
        app.add_option("--name", o.name, "Run name shown in reports and --compare (default: the model)")
            ->type_name("NAME")->group(e);
        app.add_option("--report", o.report_path, "Write a Markdown report to FILE")->type_name("FILE.md")->group(e);
        app.add_option("--json", o.json_path, "Write the run summary (metrics with intervals) as JSON to FILE")
            ->type_name("FILE")->group(e);
        app.add_option("--max-failures", o.max_failures,
                       "Most failed records (model or judge errors, unparseable verdicts) the run may "
                       "have and still exit 0: a count (12) or a fraction of the records (0.05, 5%)")
            ->type_name("N|FRACTION")->capture_default_str()->group(e);
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.seed = run.seed;
        o.threads = run.threads;
        o.quiet = run.quiet;
        return ev::run_safety_eval(o);
      });
}
