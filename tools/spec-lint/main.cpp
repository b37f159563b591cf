// spec-lint: check a safety spec, show its category views, list it, emit its examples, and
// measure how records' reasoning covers it (--coverage).
// Parses flags into delib::SpecLintOptions and calls delib::run_spec_lint
// (lib/src/spec/lint_tool.cpp); the checks and views live in the library (delib/spec.h).
#include "delib/cli.h"
#include "delib/spec.h"

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "spec-lint";
  info.summary = "check a safety spec and show the category views a model is given";
  info.description =
      "spec-lint parses each safety spec FILE (Markdown, format in delib-spec(5)) and prints every "
      "problem it finds as FILE:LINE:COL: error|warning: message [check-id], the form editors and CI "
      "annotate, or with --format json one record per diagnostic. Every check has a stable id "
      "(--list-checks) that --disable turns off.\n"
      "\n"
      "--render CATEGORY prints the exact category view spec(category) the model is given during "
      "data generation and judging (every category's summary, the style and helpfulness "
      "principles, and the full text of CATEGORY); its XXH3-64 hash is the spec_view_hash other "
      "tools record in provenance. --list prints each category with its levels, view size and "
      "hash. --examples writes the spec's labelled examples as records (id, messages, category, "
      "expected_action, level, ideal, label, source), seed prompts and test cases for later "
      "stages.\n"
      "\n"
      "View budgets: --max-view-chars N counts Unicode characters; --max-view-tokens N counts "
      "tokens of the --tokenizer (a model directory or tokenizer.json).\n"
      "\n"
      "Coverage: --coverage --spec SPEC FILE... reads records with reasoning (plain or zstd, '-' "
      "for stdin) and reports, per category and id of SPEC, how many records' reasoning cites it "
      "(cited), how many of those carry a judge score (judged: cot-judge's judge.score), how many "
      "of those scored below --flag-below (flagged, default 7: the judge found serious flaws or "
      "the wrong action; cot-judge's verdict names no rule, so this is the nearest count of the "
      "judge calling a cited rule wrong) and how many of those the judge's rationale cites too "
      "(named); rl-train's judge reward does not count (that judge never sees the reasoning); then the ids never cited, and ids cited that the spec does not have. A citation "
      "is the token CATEGORY.ID exactly as the category views write it (illicit.K3), not "
      "preceded by a letter, digit, '_' or '.' and not followed by a letter, digit or '_'; a "
      "bare R1 is not one (rule ids repeat in every category). Each record counts once per id. "
      "Records without reasoning are counted and reported, nothing else; a field of the wrong "
      "type is an error naming FILE:LINE and the field. --format json prints the same as one "
      "JSON object; --plot FILE.svg draws a bar per id.";
  info.examples =
      "spec-lint specs/default.md\n"
      "# CI: warnings fail too, and every view must fit 2,000 Qwen3 tokens\n"
      "spec-lint --werror --max-view-tokens 2000 --tokenizer models/qwen3 specs/default.md\n"
      "# every category used by a data set must exist in the spec\n"
      "spec-lint --taxonomy prompts.jsonl.zst specs/default.md\n"
      "# what the model sees for self-harm prompts\n"
      "spec-lint --render self-harm specs/default.md\n"
      "# seed prompts for cot-gen\n"
      "spec-lint --examples specs/default.md -o seeds.jsonl\n"
      "# which rules the judged training data cites, and where the judge objected\n"
      "spec-lint --coverage --spec specs/default.md judged.jsonl.zst --plot coverage.svg\n"
      "# the quickstart's lint stage (every later stage waits for it)\n"
      "make -C examples/quickstart lint\n";
  info.see_also = "delib-spec(5), delib-records(5), cot-gen(1), cot-judge(1)";
  info.exit_codes = {{0, "no errors (warnings allowed unless --werror)"},
                     {1, "the spec has errors (or warnings, with --werror); with --coverage, a bad "
                         "record or no record with reasoning"}};

  delib::cli::IoOptions io;
  delib::SpecLintOptions o;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        app.get_option("inputs")->description(
            "Spec files (Markdown, see delib-spec(5)), or with --coverage record files; '-' reads stdin");
        // Spec files are not record streams: these record-reading options do not apply.
        app.remove_option(app.get_option("--on-error"));
        app.remove_option(app.get_option("--rejects"));
        app.get_option("--shard")->description(
            "With --examples: emit only shard K of N of the examples, chosen by a hash of the example id");
        app.get_option("-o")->description("With --examples or --format json: write records to FILE instead of stdout");

        const char* g = "Checks";
        app.add_option("--format", o.format,
                       "Diagnostics as text (FILE:LINE:COL: severity: message [check]) or json (one record each, "
                       "plain JSONL: file, line, col, severity, message, check); also shapes --list")
            ->check(CLI::IsMember({"text", "json"}))->capture_default_str()->group(g);
        app.add_flag("--werror", o.werror, "Warnings fail too (exit 1)")->group(g);
        app.add_option("--disable", o.disabled, "Turn off a check by id (repeatable; see --list-checks)")
            ->allow_extra_args(false)
            ->type_name("CHECK")->group(g);
        app.add_option("--taxonomy", o.taxonomy,
                       "Every category this file names must be in the spec: one id per line ('#' comments), or "
                       "records whose 'category' field (string or array) names them, plain or zstd")
            ->type_name("FILE")->group(g);
        app.add_option("--max-view-chars", o.max_view_chars,
                       "Fail when a category view is over N characters (Unicode code points; 0: no limit)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_option("--max-view-tokens", o.max_view_tokens,
                       "Fail when a category view is over N tokens of --tokenizer (0: no limit)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_option("--tokenizer", o.tokenizer,
                       "Tokenizer for --max-view-tokens and --list: a model directory or tokenizer.json (plain or zstd)")
            ->type_name("PATH")->group(g);
        app.add_option("--min-examples", o.min_examples,
                       "Warn when a category has fewer than N labelled examples (0: no minimum)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_flag("--list-checks", o.list_checks, "Print the check ids with what each one finds, and exit")->group(g);

        const char* m = "Other modes";
        auto* r = app.add_option("--render", o.render, "Print the category view spec(CATEGORY) exactly as models see it")
                      ->type_name("CATEGORY")->group(m);
        auto* l = app.add_flag("--list", o.list, "Print categories, their levels, view sizes and view hashes")->group(m);
        auto* e = app.add_flag("--examples", o.examples,
                               "Write the labelled examples as records (to -o, default stdout)")->group(m);
        r->excludes(l)->excludes(e);
        l->excludes(e);

        const char* c = "Coverage";
        auto* cov = app.add_flag("--coverage", o.coverage,
                                 "The inputs are records with reasoning (cot-gen, cot-judge, rl-train rollouts, "
                                 "safety-eval output): print how often the reasoning cites each id of --spec "
                                 "(CATEGORY.ID as a token), how the judge scored the records citing it, and "
                                 "which ids are never cited")
                        ->group(c);
        delib::cli::add_spec_option(app, o.spec, false);
        app.get_option("--spec")->description("With --coverage: the spec whose ids are counted")->group(c);
        app.add_option("--plot", o.plot, "With --coverage: also write the counts as a bar chart (SVG) to FILE")
            ->type_name("FILE.svg")->group(c);
        app.add_option("--flag-below", o.flag_below,
                       "With --coverage: a record whose judge.score is below S counts as flagged for the ids it "
                       "cites (cot-judge's verdict names no rule)")
            ->type_name("S")->capture_default_str()->group(c);
        cov->excludes(r)->excludes(l)->excludes(e);
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.output = io.output;
        o.write = io.write_options();
        o.zstd = io.zstd;
        o.shard = io.shard;
        if (o.coverage && !o.shard.empty()) throw delib::Error("--shard goes with --examples", delib::kExitUsage);
        return delib::run_spec_lint(o);
      });
}
