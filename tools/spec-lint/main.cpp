// spec-lint: check a safety spec, show its category views, list it, emit its examples.
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
      "tokens of the --tokenizer (a model directory or tokenizer.json).";
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
      "# the quickstart's lint stage (every later stage waits for it)\n"
      "make -C examples/quickstart lint\n";
  info.see_also = "delib-spec(5), delib-records(5), cot-gen(1), cot-judge(1)";
  info.exit_codes = {{0, "no errors (warnings allowed unless --werror)"},
                     {1, "the spec has errors (or warnings, with --werror)"}};

  delib::cli::IoOptions io;
  delib::SpecLintOptions o;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        app.get_option("inputs")->description("Spec files (Markdown, see delib-spec(5)); '-' reads stdin");
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
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.output = io.output;
        o.write = io.write_options();
        o.zstd = io.zstd;
        o.shard = io.shard;
        return delib::run_spec_lint(o);
      });
}
