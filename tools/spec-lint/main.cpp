// spec-lint: check a safety spec, show its category views, list it, emit its examples.
// The checks and the views live in the library (delib/spec.h); this file parses flags and
// prints.
#include <cstdio>
#include <set>

#include <fmt/format.h>

#include "delib/cli.h"
#include "delib/records.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"

namespace {

// Cuts `s` to at most `n` code points, marking the cut with "…".
std::string clip(const std::string& s, size_t n) {
  if (delib::count_chars(s) <= n) return s;
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > n - 1) break;
  }
  return s.substr(0, i) + "…";
}

void out(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) throw delib::BrokenPipe{};
}

}  // namespace

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "spec-lint";
  info.summary = "check a safety spec and show the category views a model is given";
  info.description =
      "spec-lint parses each safety spec FILE (Markdown, format in delib-spec(5)) and prints every "
      "problem it finds as FILE:LINE:COL: error|warning: message [check-id], the form editors and CI "
      "annotate, or with --format json one record per diagnostic. It exits 0 when there are no "
      "errors, 1 when there are (warnings count only with --werror), 2 on a bad command line and 3 "
      "when a file cannot be read. Every check has a stable id (--list-checks) that --disable "
      "turns off.\n"
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
      "spec-lint --examples specs/default.md -o seeds.jsonl\n";
  info.see_also = "delib-spec(5), delib-records(5), cot-gen(1), cot-judge(1)";

  delib::cli::IoOptions io;
  std::string format = "text", taxonomy, tokenizer_path, render;
  bool werror = false, list = false, examples = false, list_checks = false;
  size_t max_chars = 0, max_tokens = 0, min_examples = 0;
  std::vector<std::string> disabled;

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
        app.add_option("--format", format,
                       "Diagnostics as text (FILE:LINE:COL: severity: message [check]) or json (one record each, "
                       "plain JSONL: file, line, col, severity, message, check); also shapes --list")
            ->check(CLI::IsMember({"text", "json"}))->capture_default_str()->group(g);
        app.add_flag("--werror", werror, "Warnings fail too (exit 1)")->group(g);
        app.add_option("--disable", disabled, "Turn off a check by id (repeatable; see --list-checks)")
            ->allow_extra_args(false)
            ->type_name("CHECK")->group(g);
        app.add_option("--taxonomy", taxonomy,
                       "Every category this file names must be in the spec: one id per line ('#' comments), or "
                       "records whose 'category' field (string or array) names them, plain or zstd")
            ->type_name("FILE")->group(g);
        app.add_option("--max-view-chars", max_chars,
                       "Fail when a category view is over N characters (Unicode code points; 0: no limit)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_option("--max-view-tokens", max_tokens,
                       "Fail when a category view is over N tokens of --tokenizer (0: no limit)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_option("--tokenizer", tokenizer_path,
                       "Tokenizer for --max-view-tokens and --list: a model directory or tokenizer.json (plain or zstd)")
            ->type_name("PATH")->group(g);
        app.add_option("--min-examples", min_examples,
                       "Warn when a category has fewer than N labelled examples (0: no minimum)")
            ->type_name("N")->capture_default_str()->group(g);
        app.add_flag("--list-checks", list_checks, "Print the check ids with what each one finds, and exit")->group(g);

        const char* m = "Other modes";
        auto* r = app.add_option("--render", render, "Print the category view spec(CATEGORY) exactly as models see it")
                      ->type_name("CATEGORY")->group(m);
        auto* l = app.add_flag("--list", list, "Print categories, their levels, view sizes and view hashes")->group(m);
        auto* e = app.add_flag("--examples", examples,
                               "Write the labelled examples as records (to -o, default stdout)")->group(m);
        r->excludes(l)->excludes(e);
        l->excludes(e);
      },
      [&]() -> int {
        if (list_checks) {
          for (const auto& [id, what] : delib::spec_checks()) out(fmt::format("{:<18} {}\n", id, what));
          return delib::kExitOk;
        }
        if (io.inputs.empty())
          throw delib::Error("no spec file given (name one, or '-' for stdin)", delib::kExitUsage);
        if (max_tokens && tokenizer_path.empty())
          throw delib::Error("--max-view-tokens needs --tokenizer PATH", delib::kExitUsage);
        for (const auto& d : disabled) {
          bool known = false;
          for (const auto& [id, what] : delib::spec_checks()) known |= id == d;
          if (!known) throw delib::Error("--disable: unknown check '" + d + "' (see --list-checks)", delib::kExitUsage);
        }
        std::shared_ptr<const delib::Tokenizer> tok;
        if (!tokenizer_path.empty()) tok = delib::Tokenizer::load(tokenizer_path);

        // ---- --render ----
        if (!render.empty()) {
          if (io.inputs.size() != 1) throw delib::Error("--render takes exactly one spec file", delib::kExitUsage);
          delib::Spec spec = delib::Spec::load(io.inputs[0]);
          out(spec.render_view(render));
          return delib::kExitOk;
        }

        // ---- --list ----
        if (list) {
          std::unique_ptr<delib::RecordWriter> w;
          if (format == "json") {
            auto wo = io.write_options();
            if (!io.zstd) wo.compression = delib::Compression::kPlain;
            w = std::make_unique<delib::RecordWriter>(io.output, wo);
          }
          for (const auto& path : io.inputs) {
            delib::Spec spec = delib::Spec::load(path);
            if (!w) out(fmt::format("{}: spec {} version {}, {} categories, spec hash {}\n", path, spec.name,
                                    spec.version, spec.categories.size(), spec.spec_hash()));
            for (const auto& c : spec.categories) {
              std::string view = spec.render_view(c.id);
              size_t chars = delib::count_chars(view);
              std::optional<size_t> tokens;
              if (tok) tokens = tok->encode(view).size();
              std::string hash = delib::hex64(delib::hash64(view));
              if (w) {
                delib::Json j = delib::Json::object();
                j.set("spec", spec.name);
                j.set("category", c.id);
                j.set("title", c.title);
                j.set("line", c.line);
                delib::Json levels = delib::Json::array();
                for (const auto& lv : c.levels) {
                  delib::Json x = delib::Json::object();
                  x.set("id", lv.id);
                  x.set("action", delib::action_name(lv.action));
                  x.set("description", lv.description);
                  x.set("line", lv.line);
                  levels.push(std::move(x));
                }
                j.set("levels", std::move(levels));
                j.set("rules", c.rules.size());
                j.set("examples", c.examples.size());
                j.set("view_chars", chars);
                if (tokens) j.set("view_tokens", *tokens);
                j.set("view_hash", hash);
                w->write_line(j.dump());
                continue;
              }
              auto n = [](size_t k, const char* what) { return fmt::format("{} {}{}", k, what, k == 1 ? "" : "s"); };
              out(fmt::format("{} — {}: {}, {}, {}; view {} chars{}, hash {}\n", c.id, c.title,
                              n(c.levels.size(), "level"), n(c.rules.size(), "rule"), n(c.examples.size(), "example"), chars,
                              tokens ? fmt::format(", {} tokens", *tokens) : "", hash));
              for (const auto& lv : c.levels)
                out(fmt::format("  {:<4} {:<13} {}\n", lv.id, delib::action_name(lv.action), clip(lv.description, 60)));
            }
          }
          if (w) w->close();
          return delib::kExitOk;
        }

        // ---- --examples ----
        if (examples) {
          std::optional<delib::Shard> shard;
          if (!io.shard.empty()) shard = delib::Shard::parse(io.shard);
          delib::RecordWriter w(io.output, io.write_options());
          for (const auto& path : io.inputs) {
            delib::Spec spec = delib::Spec::load(path);
            for (const auto& c : spec.categories) {
              for (const auto& ex : c.examples) {
                std::string id = c.id + "." + ex.id;
                if (shard && !shard->contains(id)) continue;
                delib::Json j = delib::Json::object();
                j.set("id", id);
                delib::Json msg = delib::Json::object();
                msg.set("role", "user");
                msg.set("content", ex.prompt);
                j.set("messages", delib::Json::Array{std::move(msg)});
                j.set("category", c.id);
                j.set("expected_action", delib::action_name(ex.action));
                j.set("level", ex.level);
                if (!ex.ideal.empty()) j.set("ideal", ex.ideal);
                // label as eval sets use it: comply -> safe, refuse -> unsafe (safe-complete has none:
                // neither a refusal nor a full answer is right).
                if (ex.action == delib::Action::kComply) j.set("label", "safe");
                if (ex.action == delib::Action::kRefuse) j.set("label", "unsafe");
                j.set("source", "spec:" + spec.name + (spec.version.empty() ? "" : "@" + spec.version));
                j.set("spec_line", ex.line);
                w.write_line(j.dump());
              }
            }
          }
          w.close();
          return delib::kExitOk;
        }

        // ---- lint ----
        delib::LintOptions lo;
        lo.max_view_chars = max_chars;
        lo.max_view_tokens = max_tokens;
        lo.tokenizer = tok;
        lo.min_examples = min_examples;
        if (!taxonomy.empty()) lo.taxonomy = delib::read_taxonomy(taxonomy);
        std::set<std::string> off(disabled.begin(), disabled.end());

        std::unique_ptr<delib::RecordWriter> w;
        if (format == "json") {
          auto wo = io.write_options();
          if (!io.zstd) wo.compression = delib::Compression::kPlain;
          w = std::make_unique<delib::RecordWriter>(io.output, wo);
        }
        size_t errors = 0, warnings = 0;
        for (const auto& path : io.inputs) {
          std::string text = delib::read_spec_file(path);
          std::vector<delib::SpecDiagnostic> diags;
          delib::Spec spec = delib::parse_spec_lenient(text, path, diags);
          // The semantic checks assume a readable structure; after parse errors they would mostly
          // repeat them, so they run only on a spec that parsed.
          bool parsed = true;
          for (const auto& d : diags) parsed &= d.severity != delib::Severity::kError;
          if (parsed) {
            auto more = delib::lint_spec(spec, lo);
            diags.insert(diags.end(), more.begin(), more.end());
          }
          for (const auto& d : diags) {
            if (off.count(d.check)) continue;
            (d.severity == delib::Severity::kError ? errors : warnings)++;
            if (w) w->write_line(d.to_json().dump());
            else out(d.str() + "\n");
          }
        }
        if (w) w->close();
        std::fflush(stdout);
        if (errors || warnings)
          fmt::print(stderr, "spec-lint: {} error{}, {} warning{}\n", errors, errors == 1 ? "" : "s", warnings,
                     warnings == 1 ? "" : "s");
        return errors || (werror && warnings) ? delib::kExitFailure : delib::kExitOk;
      });
}
