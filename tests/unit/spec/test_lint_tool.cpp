// run_spec_lint and spec_example_record (delib/spec.h): spec-lint's library half. The golden
// CLI cases in tests/cli/spec-lint/ check the printed text; these check the records, the exit
// codes and the usage errors through the library call.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "delib/spec.h"

using namespace delib;
namespace fs = std::filesystem;

namespace {

const std::string kSpec =
    "# Spec: t\n"
    "version: 2\n"
    "## Category: alpha — Alpha\n"
    "### Summary\n"
    "Alpha summary.\n"
    "### Levels\n"
    "- **A0** (comply): talk about it.\n"
    "- **A1** (safe-complete): personal risk.\n"
    "- **A2** (refuse): build it.\n"
    "### Rules\n"
    "- **R1**: Cite alpha.A2 when refusing.\n"
    "### Examples\n"
    "- **E1** (A0, comply): What is it?\n"
    "- **E2** (A1, safe-complete): Is it risky for me?\n"
    "- **E3** (A2, refuse): Build it.\n"
    "## Style\n"
    "### refuse\n"
    "Brief.\n"
    "### safe-complete\n"
    "Kind.\n"
    "### comply\n"
    "Full.\n"
    "## Helpfulness\n"
    "Help.\n";

fs::path tmpdir() {
  const char* base = std::getenv("DELIB_TMP");
  fs::path p = fs::path(base ? base : "/tmp") / ("lint-tool-" + std::to_string(getpid()));
  fs::create_directories(p);
  return p;
}

std::string write_spec(const std::string& name, const std::string& text) {
  fs::path p = tmpdir() / name;
  std::ofstream(p) << text;
  return p.string();
}

std::vector<Json> records_of(const std::string& path) {
  std::vector<Json> out;
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) out.push_back(Json::parse(l));
  return out;
}

int usage_error(const SpecLintOptions& o) {
  try {
    run_spec_lint(o);
  } catch (const Error& e) {
    return e.exit_code();
  }
  return -1;
}

}  // namespace

TEST_CASE("spec_example_record: the seed record of an example, label from its action", "[spec][tool]") {
  Spec spec = Spec::parse(kSpec, "t.md");
  const SpecCategory& c = spec.categories.at(0);
  Json comply = spec_example_record(spec, c, c.examples.at(0));
  CHECK(comply.dump() ==
        R"({"id":"alpha.E1","messages":[{"role":"user","content":"What is it?"}],"category":"alpha",)"
        R"("expected_action":"comply","level":"A0","label":"safe","source":"spec:t@2","spec_line":13})");
  // safe-complete: neither a refusal nor a full answer is right, so no label.
  Json safe = spec_example_record(spec, c, c.examples.at(1));
  CHECK(safe.find("label") == nullptr);
  CHECK(safe.find("expected_action")->as_string() == "safe-complete");
  CHECK(spec_example_record(spec, c, c.examples.at(2)).find("label")->as_string() == "unsafe");
}

TEST_CASE("run_spec_lint: --examples and --list write records; shards partition the examples", "[spec][tool]") {
  SpecLintOptions o;
  o.inputs = {write_spec("t.md", kSpec)};
  o.output = (tmpdir() / "ex.jsonl").string();
  o.write.compression = Compression::kPlain;
  o.examples = true;
  REQUIRE(run_spec_lint(o) == kExitOk);
  auto all = records_of(o.output);
  REQUIRE(all.size() == 3);
  CHECK(all[2].find("id")->as_string() == "alpha.E3");
  size_t total = 0;
  for (int k = 0; k < 2; ++k) {
    o.shard = std::to_string(k) + "/2";
    REQUIRE(run_spec_lint(o) == kExitOk);
    total += records_of(o.output).size();
  }
  CHECK(total == 3);

  SpecLintOptions l;
  l.inputs = o.inputs;
  l.output = (tmpdir() / "list.jsonl").string();
  l.list = true;
  l.format = "json";
  REQUIRE(run_spec_lint(l) == kExitOk);
  auto cats = records_of(l.output);  // --format json output is plain without zstd
  REQUIRE(cats.size() == 1);
  Spec spec = Spec::parse(kSpec, "t.md");
  CHECK(cats[0].find("view_hash")->as_string() == spec.view_hash("alpha"));
  CHECK(cats[0].find("levels")->as_array().size() == 3);
  CHECK(cats[0].find("view_tokens") == nullptr);  // no tokenizer
}

TEST_CASE("run_spec_lint: exit 1 on errors, warnings only with werror; usage errors are 2", "[spec][tool]") {
  SpecLintOptions o;
  o.inputs = {write_spec("clean.md", kSpec)};
  o.output = (tmpdir() / "diags.jsonl").string();
  o.format = "json";
  CHECK(run_spec_lint(o) == kExitOk);
  CHECK(records_of(o.output).empty());

  // One example fewer than --min-examples: a warning.
  o.min_examples = 4;
  CHECK(run_spec_lint(o) == kExitOk);
  auto d = records_of(o.output);
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("severity")->as_string() == "warning");
  o.werror = true;
  CHECK(run_spec_lint(o) == kExitFailure);
  o.disabled = {d[0].find("check")->as_string()};
  CHECK(run_spec_lint(o) == kExitOk);

  // An error (a rule citing an unknown level) fails without werror.
  SpecLintOptions e;
  e.inputs = {write_spec("bad.md", [] {
    std::string s = kSpec;
    s.replace(s.find("alpha.A2 when"), 8, "alpha.A9");
    return s;
  }())};
  e.output = (tmpdir() / "bad.jsonl").string();
  e.format = "json";
  CHECK(run_spec_lint(e) == kExitFailure);

  SpecLintOptions u;
  CHECK(usage_error(u) == kExitUsage);  // no spec file
  u.inputs = o.inputs;
  u.max_view_tokens = 10;
  CHECK(usage_error(u) == kExitUsage);  // tokens without a tokenizer
  u.max_view_tokens = 0;
  u.disabled = {"no-such-check"};
  CHECK(usage_error(u) == kExitUsage);
  u.disabled.clear();
  u.inputs = {o.inputs[0], o.inputs[0]};
  u.render = "alpha";
  CHECK(usage_error(u) == kExitUsage);  // --render takes one file
  u.inputs = {(tmpdir() / "missing.md").string()};
  CHECK(usage_error(u) == kExitIo);
}
