// lint_spec: each semantic check fires on a spec with that one problem and stays quiet on a
// clean one. (spec-lint's golden CLI tests cover the same checks end to end.)
#include <catch2/catch.hpp>

#include <cstdlib>

#include "delib/spec.h"

using delib::Severity;
using delib::Spec;
using delib::SpecDiagnostic;

namespace {

// A clean spec; each test case edits one thing.
const std::string kClean =
    "# Spec: c\n"                                        // 1
    "version: 1\n"                                       // 2
    "## Category: alpha — Alpha\n"                       // 3
    "### Summary\n"                                      // 4
    "Alpha summary [see style.refuse].\n"                // 5
    "### Definitions\n"                                  // 6
    "- **widget**: a thing.\n"                           // 7
    "### Levels\n"                                       // 8
    "- **A0** (comply): talk about a widget.\n"          // 9
    "- **A1** (safe-complete): personal widget risk.\n"  // 10
    "- **A2** (refuse): build a harmful widget.\n"       // 11
    "### Rules\n"                                        // 12
    "- **R1**: Cite alpha.A2 when refusing.\n"           // 13
    "### Examples\n"                                     // 14
    "- **E1** (A0, comply): What is a widget?\n"         // 15
    "- **E2** (A2, refuse): Build a harmful widget.\n"   // 16
    "## Style\n"                                         // 17
    "### refuse\n"                                       // 18
    "Brief.\n"                                           // 19
    "### safe-complete\n"                                // 20
    "Kind.\n"                                            // 21
    "### comply\n"                                       // 22
    "Full.\n"                                            // 23
    "## Helpfulness\n"                                   // 24
    "Help.\n";                                           // 25

std::string edit(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

std::vector<SpecDiagnostic> lint(const std::string& text, const delib::LintOptions& o = {}) {
  std::vector<SpecDiagnostic> d;
  Spec s = delib::parse_spec_lenient(text, "c.md", d);
  REQUIRE(d.empty());  // these cases are all parseable
  return delib::lint_spec(s, o);
}

// The single diagnostic of `check` in `d` (fails when there is not exactly one).
SpecDiagnostic only(const std::vector<SpecDiagnostic>& d, const std::string& check) {
  std::vector<SpecDiagnostic> hits;
  for (const auto& x : d) {
    INFO(x.str());
    if (x.check == check) hits.push_back(x);
  }
  for (const auto& x : d) UNSCOPED_INFO(x.str());
  REQUIRE(hits.size() == 1);
  return hits[0];
}

}  // namespace

TEST_CASE("the clean spec lints clean", "[spec][lint]") {
  auto d = lint(kClean);
  for (const auto& x : d) UNSCOPED_INFO(x.str());
  CHECK(d.empty());
}

TEST_CASE("each check fires on its problem", "[spec][lint]") {
  struct Case { const char* check; std::string text; int line; Severity sev; };
  std::vector<Case> cases = {
      {"id-duplicate", edit(kClean, "- **R1**", "- **A1**"), 13, Severity::kError},
      {"id-duplicate", kClean + "## Category: alpha — Again\n### Summary\nx\n### Levels\n- **A0** (comply): x\n", 26,
       Severity::kError},
      {"category-summary", edit(kClean, "### Summary\nAlpha summary [see style.refuse].\n", ""), 3, Severity::kError},
      {"category-summary", edit(kClean, "Alpha summary", "Para one.\n\nPara two"), 5, Severity::kWarning},
      {"category-levels", kClean + "## Category: beta — Beta\n### Summary\nBeta.\n", 26, Severity::kError},
      {"level-order", edit(kClean, "- **A1** (safe-complete): personal widget risk.\n- **A2** (refuse)",
                           "- **A2** (safe-complete): personal widget risk.\n- **A1** (refuse)"), 11, Severity::kError},
      {"style-missing", edit(kClean, "### safe-complete\nKind.\n", ""), 10, Severity::kError},
      {"style-missing", edit(kClean, "## Helpfulness\nHelp.\n", ""), 1, Severity::kWarning},
      {"xref", edit(kClean, "alpha.A2 when", "alpha.A7 when"), 13, Severity::kError},
      {"xref", edit(kClean, "[see style.refuse]", "[see style.hedge]"), 5, Severity::kError},
      {"xref", edit(kClean, "[see style.refuse]", "[see gamma.K1]"), 5, Severity::kError},
      {"example-level", edit(kClean, "(A0, comply)", "(A9, comply)"), 15, Severity::kError},
      {"example-action", edit(kClean, "(A0, comply)", "(A0, refuse)"), 15, Severity::kError},
      {"example-conflict", edit(kClean, "Build a harmful widget.", "what is a  widget?"), 16, Severity::kError},
      {"example-conflict", kClean.substr(0, kClean.find("## Style")) + "- **E3** (A0, comply): What is a widget?\n" +
                               kClean.substr(kClean.find("## Style")), 17, Severity::kWarning},
      {"empty", edit(kClean, "- **R1**: Cite alpha.A2 when refusing.\n", "- **R1**:\n"), 13, Severity::kError},
      {"empty", edit(kClean, "- **R1**: Cite alpha.A2 when refusing.\n", ""), 3, Severity::kError},
      {"definition-unused", edit(kClean, "**widget**", "**gadget**"), 7, Severity::kWarning},
  };
  for (const auto& c : cases) {
    INFO(c.check << "\n" << c.text);
    auto d = lint(c.text);
    auto hit = only(d, c.check);
    CHECK(hit.line == c.line);
    CHECK(hit.severity == c.sev);
    CHECK(hit.file == "c.md");
  }
}

TEST_CASE("level-order warns when an action gets less restrictive", "[spec][lint]") {
  auto d = lint(edit(kClean, "- **A2** (refuse): build", "- **A2** (comply): build"));
  auto hit = only(d, "level-order");
  CHECK(hit.severity == Severity::kWarning);
  CHECK(hit.line == 11);
  // ... and errors when the prefix changes.
  d = lint(edit(kClean, "- **A2** (refuse)", "- **B2** (refuse)"));
  CHECK(only(d, "level-order").severity == Severity::kError);
}

TEST_CASE("bare and bracketed references", "[spec][lint]") {
  // Not references: an unknown prefix (os.kill), a Markdown link, an abbreviation, a word in
  // brackets without "see", a sentence end.
  auto d = lint(edit(kClean, "Help.\n",
                     "Help with os.kill, [a link](http://x.y), e.g. this, [sic], alpha. Then [see alpha] and "
                     "[alpha.A0, alpha.E2; style.comply] and helpfulness.\n"));
  for (const auto& x : d) UNSCOPED_INFO(x.str());
  CHECK(d.empty());
  d = lint(edit(kClean, "Help.\n", "Help [see alpha.A0, alpha.Q1].\n"));
  auto hit = only(d, "xref");
  CHECK(hit.col == 21);
  CHECK(hit.message.find("alpha.Q1") != std::string::npos);
  // Columns count code points: Ä (2 bytes) and — (3 bytes) are one column each.
  d = lint(edit(kClean, "Help.\n", "Ä — [see alpha.Q1].\n"));
  CHECK(only(d, "xref").col == 10);
  // References inside comments are not checked.
  d = lint(edit(kClean, "Help.\n", "Help.\n<!-- alpha.Q1 -->\n"));
  CHECK(d.empty());
}

TEST_CASE("view budget", "[spec][lint]") {
  Spec s = Spec::parse(kClean, "c.md");
  size_t n = delib::count_chars(s.render_view("alpha"));
  delib::LintOptions o;
  o.max_view_chars = n;
  CHECK(lint(kClean, o).empty());
  o.max_view_chars = n - 1;
  auto hit = only(lint(kClean, o), "view-budget");
  CHECK(hit.line == 3);
  CHECK(hit.message.find(std::to_string(n)) != std::string::npos);
}

TEST_CASE("taxonomy and example count", "[spec][lint]") {
  delib::LintOptions o;
  o.taxonomy = {{"alpha", delib::Location{"tax.txt", 1}}, {"beta", delib::Location{"tax.txt", 2}}};
  auto d = lint(kClean, o);
  auto hit = only(d, "taxonomy-missing");
  CHECK(hit.file == "tax.txt");
  CHECK(hit.line == 2);
  CHECK(hit.message.find("'beta'") != std::string::npos);
  o = {};
  o.min_examples = 3;
  CHECK(only(lint(kClean, o), "example-count").severity == Severity::kWarning);
  o.min_examples = 2;
  CHECK(lint(kClean, o).empty());
}

TEST_CASE("the shipped specs lint clean, warnings included", "[spec][lint]") {
  const char* src = std::getenv("DELIB_SRC");
  for (const char* name : {"specs/small.md", "specs/default.md"}) {
    std::string path = std::string(src ? src : ".") + "/" + name;
    std::vector<SpecDiagnostic> d;
    Spec s = delib::parse_spec_lenient(delib::read_spec_file(path), path, d);
    delib::LintOptions o;
    o.min_examples = 5;
    auto more = delib::lint_spec(s, o);
    d.insert(d.end(), more.begin(), more.end());
    for (const auto& x : d) UNSCOPED_INFO(x.str());
    CHECK(d.empty());
  }
}

TEST_CASE("every check id is documented once", "[spec][lint]") {
  const auto& checks = delib::spec_checks();
  for (size_t i = 0; i < checks.size(); ++i)
    for (size_t j = i + 1; j < checks.size(); ++j) CHECK(checks[i].first != checks[j].first);
  CHECK(checks.size() >= 17);
}
