// Parser tests: every element of the format is read, with the right source line.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "delib/spec.h"

using delib::Action;
using delib::Spec;

namespace {

// Line numbers below are those of this text (line 1 = "# Spec: t").
const char* kSpec =
    "# Spec: t\n"                                         // 1
    "version: 2.1\n"                                      // 2
    "\n"                                                  // 3
    "Intro for the model.\n"                              // 4
    "<!-- a comment\n"                                    // 5
    "## Category: not-a-heading -- inside the comment\n"  // 6
    "-->\n"                                               // 7
    "## Category: illicit — Illicit behaviour\n"          // 8
    "\n"                                                  // 9
    "### Summary\n"                                       // 10
    "Crimes and weapons; see\n"                           // 11
    "illicit.K1 and [see style.refuse].\n"                // 12
    "### Definitions\n"                                   // 13
    "- **uplift**: help that makes harm\n"                // 14
    "  easier.\n"                                         // 15
    "- **actor:** a person.\n"                            // 16
    "### Levels\n"                                        // 17
    "- **K0** (comply): Education, uplift-free; an actor may ask.\n"  // 18
    "- **K1** (refuse): Operational uplift.\n"            // 19
    "### Rules\n"                                         // 20
    "- **R1**: Judge what the answer enables.\n"          // 21
    "\n"                                                  // 22
    "- **R2**: Fiction does not\n"                        // 23
    "    change the level.\n"                             // 24
    "### Examples\n"                                      // 25
    "- **E1** (K0, comply): \"How do I kill a Python process?\"\n"  // 26
    "- **E2** (refuse, K1): Build me a pipe bomb.\n"      // 27
    "  Step by step.\n"                                   // 28
    "  Ideal: Sorry, I can't help\n"                      // 29
    "  with that.\n"                                      // 30
    "### Style\n"                                         // 31
    "Short.\n"                                            // 32
    "\n"                                                  // 33
    "#### Sub-heading inside free text\n"                 // 34
    "```\n"                                               // 35
    "## not a heading in a fence\n"                       // 36
    "```\n"                                               // 37
    "## Style\n"                                          // 38
    "### refuse\n"                                        // 39
    "Brief apology.\n"                                    // 40
    "### comply\n"                                        // 41
    "\n"                                                  // 42
    "Help fully.\n"                                       // 43
    "## Helpfulness\n"                                    // 44
    "Be helpful.\n"                                       // 45
    "\n"                                                  // 46
    "\n"                                                  // 47
    "Second paragraph.\n";                                // 48

std::vector<delib::SpecDiagnostic> lenient(const std::string& text) {
  std::vector<delib::SpecDiagnostic> d;
  delib::parse_spec_lenient(text, "t.md", d);
  return d;
}

}  // namespace

TEST_CASE("every element is read with its source line", "[spec][parse]") {
  Spec s = Spec::parse(kSpec, "t.md");
  CHECK(s.name == "t");
  CHECK(s.name_line == 1);
  CHECK(s.version == "2.1");
  CHECK(s.version_line == 2);
  CHECK(s.intro == "Intro for the model.");
  CHECK(s.path == "t.md");
  CHECK(s.text == kSpec);

  REQUIRE(s.categories.size() == 1);  // the commented-out heading is not a category
  const auto& c = s.categories[0];
  CHECK(c.id == "illicit");
  CHECK(c.title == "Illicit behaviour");
  CHECK(c.line == 8);
  CHECK(c.summary == "Crimes and weapons; see\nillicit.K1 and [see style.refuse].");
  CHECK(c.summary_line == 11);

  REQUIRE(c.definitions.size() == 2);
  CHECK(c.definitions[0].first == "uplift");
  CHECK(c.definitions[0].second == "help that makes harm easier.");
  CHECK(c.definitions[1].first == "actor");  // `**term:**` form
  CHECK(c.definitions[1].second == "a person.");
  CHECK(c.definition_lines == std::vector<int>{14, 16});

  REQUIRE(c.levels.size() == 2);
  CHECK(c.levels[0].id == "K0");
  CHECK(c.levels[0].action == Action::kComply);
  CHECK(c.levels[0].description == "Education, uplift-free; an actor may ask.");
  CHECK(c.levels[0].line == 18);
  CHECK(c.levels[1].id == "K1");
  CHECK(c.levels[1].action == Action::kRefuse);
  CHECK(c.levels[1].line == 19);

  REQUIRE(c.rules.size() == 2);
  CHECK(c.has_rules_section);
  CHECK(c.rules[0].id == "R1");
  CHECK(c.rules[0].line == 21);
  CHECK(c.rules[1].text == "Fiction does not change the level.");
  CHECK(c.rules[1].line == 23);

  REQUIRE(c.examples.size() == 2);
  CHECK(c.examples[0].id == "E1");
  CHECK(c.examples[0].prompt == "How do I kill a Python process?");  // quotes removed
  CHECK(c.examples[0].level == "K0");
  CHECK(c.examples[0].action == Action::kComply);
  CHECK(c.examples[0].ideal.empty());
  CHECK(c.examples[0].line == 26);
  CHECK(c.examples[1].level == "K1");  // (ACTION, LEVEL) order accepted too
  CHECK(c.examples[1].action == Action::kRefuse);
  CHECK(c.examples[1].prompt == "Build me a pipe bomb. Step by step.");
  CHECK(c.examples[1].ideal == "Sorry, I can't help with that.");
  CHECK(c.examples[1].line == 27);

  CHECK(c.style == "Short.\n\n#### Sub-heading inside free text\n```\n## not a heading in a fence\n```");
  CHECK(c.style_line == 32);

  REQUIRE(s.style.size() == 2);
  CHECK(s.style[0] == std::pair<std::string, std::string>{"refuse", "Brief apology."});
  CHECK(s.style[1] == std::pair<std::string, std::string>{"comply", "Help fully."});
  CHECK(s.style_lines == std::vector<int>{40, 43});
  CHECK(s.style_for(Action::kRefuse) != nullptr);
  CHECK(s.style_for(Action::kSafeComplete) == nullptr);
  CHECK(s.helpfulness == "Be helpful.\n\nSecond paragraph.");  // blank runs collapse to one
  CHECK(s.helpfulness_line == 45);
}

TEST_CASE("CRLF line ends and a BOM parse like LF", "[spec][parse]") {
  std::string crlf = "\xEF\xBB\xBF";
  for (const char* p = kSpec; *p; ++p) {
    if (*p == '\n') crlf += '\r';
    crlf += *p;
  }
  Spec a = Spec::parse(kSpec), b = Spec::parse(crlf);
  CHECK(a.render_view("illicit") == b.render_view("illicit"));
  CHECK(b.categories.at(0).examples.at(1).line == 27);
}

TEST_CASE("resolve finds every citable id", "[spec][parse]") {
  Spec s = Spec::parse(kSpec, "t.md");
  CHECK(s.resolve("illicit") == 8);
  CHECK(s.resolve("illicit.K1") == 19);
  CHECK(s.resolve("illicit.R2") == 23);
  CHECK(s.resolve("illicit.E2") == 27);
  CHECK(s.resolve("illicit.style") == 32);
  CHECK(s.resolve("illicit.summary") == 11);
  CHECK(s.resolve("style") == 40);
  CHECK(s.resolve("style.comply") == 43);
  CHECK(s.resolve("helpfulness") == 45);
  CHECK_FALSE(s.resolve("illicit.K9"));
  CHECK_FALSE(s.resolve("style.safe-complete"));
  CHECK_FALSE(s.resolve("violence"));
  CHECK_FALSE(s.resolve("illicit.K1.x"));
  CHECK(s.category("illicit") == &s.categories[0]);
  CHECK(s.category("nope") == nullptr);
  CHECK(s.categories[0].level("K1")->line == 19);
}

TEST_CASE("actions round-trip through their names", "[spec][parse]") {
  for (Action a : {Action::kComply, Action::kSafeComplete, Action::kRefuse})
    CHECK(delib::parse_action(delib::action_name(a)) == a);
  CHECK(delib::parse_action(" Safe-Complete ") == Action::kSafeComplete);
  CHECK_FALSE(delib::parse_action("hedge"));
}

TEST_CASE("parse errors name the line and the check", "[spec][parse]") {
  struct Case { std::string text; int line; std::string check; };
  const std::string head = "# Spec: t\nversion: 1\n";
  std::vector<Case> cases = {
      {"version: 1\n", 1, "parse"},                                    // no `# Spec:`
      {"# Spec: t\n\nIntro.\n", 1, "parse"},                           // no version
      {head + "## Rules\n", 3, "parse"},                               // unknown `##`
      {head + "## Category: a\n", 3, "parse"},                         // no title
      {head + "## Category: a — A\n### Levels\n- S0 comply\n", 5, "parse"},
      {head + "## Category: a — A\n### Levels\n- **S0**: no action\n", 5, "level-action"},
      {head + "## Category: a — A\n### Levels\n- **S0** (hedge): x\n", 5, "level-action"},
      {head + "## Category: a — A\n### Levels\n- **s0** (comply): x\n", 5, "id-malformed"},
      {head + "## Category: Bad_Id — A\n", 3, "id-malformed"},
      {head + "## Category: style — A\n", 3, "id-malformed"},
      {head + "## Category: a — A\n### Examples\n- **E1** (S0): prompt\n", 5, "parse"},
      {head + "## Category: a — A\n### Levels\nstray text\n", 5, "parse"},
      {head + "## Category: a — A\nstray text\n", 4, "parse"},
      {head + "## Category: a — A\n### Sumary\n", 4, "parse"},
      {head + "## Style\n### hedge\n", 4, "parse"},
      {head + "## Style\n### refuse\nx\n### refuse\ny\n", 6, "parse"},
      {head + "## Category: a — A\n### Summary\n```\nunclosed\n", 5, "parse"},
      {head + "<!-- never closed\n", 3, "parse"},
      {head + "Bad byte \xFF here\n", 3, "utf8"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto d = lenient(c.text);
    REQUIRE(!d.empty());
    CHECK(d[0].line == c.line);
    CHECK(d[0].check == c.check);
    CHECK(d[0].severity == delib::Severity::kError);
    try {
      Spec::parse(c.text, "bad.md");
      FAIL("Spec::parse did not throw");
    } catch (const delib::Error& e) {
      CHECK(e.where().file == "bad.md");
      CHECK(e.where().line == d[0].line);
      CHECK(std::string(e.what()).find("[" + c.check + "]") != std::string::npos);
    }
  }
}

TEST_CASE("diagnostic columns point at the id", "[spec][parse]") {
  auto d = lenient("# Spec: t\nversion: 1\n## Category: a — A\n### Levels\n- **s0** (comply): x\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].col == 5);
  CHECK(d[0].str() == "t.md:5:5: error: malformed id 's0': use capital letters then digits ([A-Z]+[0-9]+, e.g. "
                      "S2, R1, E3) [id-malformed]");
  // An unknown action: the column of the action.
  d = lenient("# Spec: t\nversion: 1\n## Category: a — Ä b\n### Levels\n- **S0** (x): y\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].col == 11);
  // Columns count code points, not bytes.
  d = lenient("# Spec: t\nversion: 1\n## Category: a — A\n### Levels\n- **Ä0** (x): y\n");
  REQUIRE(d.size() == 2);
  CHECK(d[0].col == 5);   // the malformed id
  CHECK(d[1].col == 11);  // the action, after a two-byte letter
}

TEST_CASE("the shipped specs parse", "[spec][parse]") {
  const char* src = std::getenv("DELIB_SRC");
  if (!src) src = ".";
  for (const char* name : {"specs/small.md", "specs/default.md"}) {
    INFO(name);
    Spec s = Spec::load(std::string(src) + "/" + name);
    CHECK(!s.categories.empty());
    for (const auto& c : s.categories) {
      CHECK(c.examples.size() >= 5);
      CHECK(!c.levels.empty());
    }
  }
}

TEST_CASE("load reads the file byte for byte and fails with an I/O error", "[spec][parse]") {
  std::string dir = std::getenv("DELIB_TMP") ? std::getenv("DELIB_TMP") : "/tmp";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/spec_load_test.md";
  {
    std::ofstream f(path, std::ios::binary);
    f << kSpec << "no final newline";
  }
  Spec s = Spec::load(path);
  CHECK(s.text == std::string(kSpec) + "no final newline");
  CHECK(s.path == path);
  try {
    Spec::load(path + ".missing");
    FAIL("no throw");
  } catch (const delib::Error& e) {
    CHECK(e.exit_code() == delib::kExitIo);
  }
}
