// spec-lint's run (delib/spec.h run_spec_lint): the modes --list-checks, --coverage, --render,
// --list, --examples and lint, each printing its text or writing its records.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "delib/fs.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"

namespace delib {
namespace {

// Cuts `s` to at most `n` code points, marking the cut with "…".
std::string clip(const std::string& s, size_t n) {
  if (count_chars(s) <= n) return s;
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > n - 1) break;
  }
  return s.substr(0, i) + "…";
}

void out(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) throw BrokenPipe{};
}

// The writer of --format json output: plain unless --zstd.
std::unique_ptr<RecordWriter> json_writer(const SpecLintOptions& o) {
  if (o.format != "json") return nullptr;
  WriteOptions wo = o.write;
  if (!o.zstd) wo.compression = Compression::kPlain;
  return std::make_unique<RecordWriter>(o.output, wo);
}

Json category_list_record(const Spec& spec, const SpecCategory& c, size_t chars,
                          std::optional<size_t> tokens, const std::string& hash) {
  Json j = Json::object();
  j.set("spec", spec.name);
  j.set("category", c.id);
  j.set("title", c.title);
  j.set("line", c.line);
  Json levels = Json::array();
  for (const auto& lv : c.levels) {
    Json x = Json::object();
    x.set("id", lv.id);
    x.set("action", action_name(lv.action));
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
  return j;
}

int list_categories(const SpecLintOptions& o, const Tokenizer* tok) {
  std::unique_ptr<RecordWriter> w = json_writer(o);
  for (const auto& path : o.inputs) {
    Spec spec = Spec::load(path);
    if (!w)
      out(fmt::format("{}: spec {} version {}, {} categories, spec hash {}\n", path, spec.name, spec.version,
                      spec.categories.size(), spec.spec_hash()));
    for (const auto& c : spec.categories) {
      std::string view = spec.render_view(c.id);
      size_t chars = count_chars(view);
      std::optional<size_t> tokens;
      if (tok) tokens = tok->encode(view).size();
      std::string hash = hex64(hash64(view));
      if (w) {
        w->write_line(category_list_record(spec, c, chars, tokens, hash).dump());
        continue;
      }
      auto n = [](size_t k, const char* what) { return fmt::format("{} {}{}", k, what, k == 1 ? "" : "s"); };
      out(fmt::format("{} — {}: {}, {}, {}; view {} chars{}, hash {}\n", c.id, c.title, n(c.levels.size(), "level"),
                      n(c.rules.size(), "rule"), n(c.examples.size(), "example"), chars,
                      tokens ? fmt::format(", {} tokens", *tokens) : "", hash));
      for (const auto& lv : c.levels)
        out(fmt::format("  {:<4} {:<13} {}\n", lv.id, action_name(lv.action), clip(lv.description, 60)));
    }
  }
  if (w) w->close();
  return kExitOk;
}

int write_examples(const SpecLintOptions& o) {
  std::optional<Shard> shard;
  if (!o.shard.empty()) shard = Shard::parse(o.shard);
  RecordWriter w(o.output, o.write);
  for (const auto& path : o.inputs) {
    Spec spec = Spec::load(path);
    for (const auto& c : spec.categories) {
      for (const auto& ex : c.examples) {
        if (shard && !shard->contains(c.id + "." + ex.id)) continue;
        w.write_line(spec_example_record(spec, c, ex).dump());
      }
    }
  }
  w.close();
  return kExitOk;
}

int lint(const SpecLintOptions& o, std::shared_ptr<const Tokenizer> tok) {
  LintOptions lo;
  lo.max_view_chars = o.max_view_chars;
  lo.max_view_tokens = o.max_view_tokens;
  lo.tokenizer = std::move(tok);
  lo.min_examples = o.min_examples;
  if (!o.taxonomy.empty()) lo.taxonomy = read_taxonomy(o.taxonomy);
  std::set<std::string> off(o.disabled.begin(), o.disabled.end());

  std::unique_ptr<RecordWriter> w = json_writer(o);
  size_t errors = 0, warnings = 0;
  for (const auto& path : o.inputs) {
    std::string text = read_spec_file(path);
    std::vector<SpecDiagnostic> diags;
    Spec spec = parse_spec_lenient(text, path, diags);
    // The semantic checks assume a readable structure; after parse errors they would mostly
    // repeat them, so they run only on a spec that parsed.
    bool parsed = true;
    for (const auto& d : diags) parsed &= d.severity != Severity::kError;
    if (parsed) {
      auto more = lint_spec(spec, lo);
      diags.insert(diags.end(), more.begin(), more.end());
    }
    for (const auto& d : diags) {
      if (off.count(d.check)) continue;
      (d.severity == Severity::kError ? errors : warnings)++;
      if (w) w->write_line(d.to_json().dump());
      else out(d.str() + "\n");
    }
  }
  if (w) w->close();
  std::fflush(stdout);
  if (errors || warnings)
    fmt::print(stderr, "spec-lint: {} error{}, {} warning{}\n", errors, errors == 1 ? "" : "s", warnings,
               warnings == 1 ? "" : "s");
  return errors || (o.werror && warnings) ? kExitFailure : kExitOk;
}

// --coverage: every record of the inputs against the --spec; the table or JSON, and the plot.
int coverage(const SpecLintOptions& o) {
  if (o.spec.empty()) throw Error("--coverage needs --spec FILE (the inputs are records)", kExitUsage);
  std::vector<std::string> inputs = o.inputs.empty() ? std::vector<std::string>{"-"} : o.inputs;
  if (o.spec == "-" && std::count(inputs.begin(), inputs.end(), "-"))
    throw Error("--coverage: the spec and the records cannot both be stdin", kExitUsage);
  if (!std::isfinite(o.flag_below)) throw Error("--flag-below must be a number", kExitUsage);
  Spec spec = Spec::load(o.spec);
  SpecCoverage cov(spec, {o.flag_below});
  RecordReader reader(inputs);
  for (Record r; reader.next(r);) cov.add(r);
  if (o.format == "json") {
    std::unique_ptr<RecordWriter> w = json_writer(o);
    w->write_line(cov.to_json().dump());
    w->close();
  } else {
    out(cov.table());
  }
  if (!o.plot.empty()) write_file_atomic(o.plot, cov.svg(), "--plot");
  std::fflush(stdout);
  if (cov.without_reasoning() > 0)  // never silent: these records count nowhere else
    fmt::print(stderr, "spec-lint: {} of {} record(s) have no reasoning and were not counted\n",
               cov.without_reasoning(), cov.records());
  if (cov.records() == cov.without_reasoning())
    throw Error(fmt::format("--coverage: no record with reasoning in {} record(s)", cov.records()));
  return kExitOk;
}

}  // namespace

Json spec_example_record(const Spec& spec, const SpecCategory& c, const SpecExample& ex) {
  Json j = Json::object();
  j.set("id", c.id + "." + ex.id);
  Json msg = Json::object();
  msg.set("role", "user");
  msg.set("content", ex.prompt);
  j.set("messages", Json::Array{std::move(msg)});
  j.set("category", c.id);
  j.set("expected_action", action_name(ex.action));
  j.set("level", ex.level);
  if (!ex.ideal.empty()) j.set("ideal", ex.ideal);
  // label as eval sets use it: comply -> safe, refuse -> unsafe (safe-complete has none:
  // neither a refusal nor a full answer is right).
  if (ex.action == Action::kComply) j.set("label", "safe");
  if (ex.action == Action::kRefuse) j.set("label", "unsafe");
  j.set("source", "spec:" + spec.name + (spec.version.empty() ? "" : "@" + spec.version));
  j.set("spec_line", ex.line);
  return j;
}

int run_spec_lint(const SpecLintOptions& o) {
  if (o.list_checks) {
    for (const auto& [id, what] : spec_checks()) out(fmt::format("{:<18} {}\n", id, what));
    return kExitOk;
  }
  if (!o.coverage && (!o.spec.empty() || !o.plot.empty()))
    throw Error("--spec and --plot go with --coverage", kExitUsage);
  if (o.coverage) {
    if (!o.render.empty() || o.list || o.examples)
      throw Error("--coverage excludes --render, --list and --examples", kExitUsage);
    if (o.werror || !o.disabled.empty() || !o.taxonomy.empty() || o.max_view_chars || o.max_view_tokens ||
        !o.tokenizer.empty() || o.min_examples)
      throw Error("--coverage does not lint: --werror, --disable, --taxonomy, --max-view-chars, "
                  "--max-view-tokens, --tokenizer and --min-examples do not apply",
                  kExitUsage);
    return coverage(o);
  }
  if (o.inputs.empty()) throw Error("no spec file given (name one, or '-' for stdin)", kExitUsage);
  if (o.max_view_tokens && o.tokenizer.empty()) throw Error("--max-view-tokens needs --tokenizer PATH", kExitUsage);
  for (const auto& d : o.disabled) {
    bool known = false;
    for (const auto& [id, what] : spec_checks()) known |= id == d;
    if (!known) throw Error("--disable: unknown check '" + d + "' (see --list-checks)", kExitUsage);
  }
  std::shared_ptr<const Tokenizer> tok;
  if (!o.tokenizer.empty()) tok = Tokenizer::load(o.tokenizer);

  if (!o.render.empty()) {
    if (o.inputs.size() != 1) throw Error("--render takes exactly one spec file", kExitUsage);
    out(Spec::load(o.inputs[0]).render_view(o.render));
    return kExitOk;
  }
  if (o.list) return list_categories(o, tok.get());
  if (o.examples) return write_examples(o);
  return lint(o, std::move(tok));
}

}  // namespace delib
