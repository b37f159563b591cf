// find_citations and SpecCoverage (delib/spec.h): what counts as a citation of a spec id, and
// the counts per id. tests/cli/spec-lint/coverage.sh checks the printed table, JSON and plot.
#include <catch2/catch.hpp>

#include "delib/error.h"
#include "delib/spec.h"

using namespace delib;

namespace {

const char* kSpec =
    "# Spec: t\n"
    "version: 1\n"
    "## Category: alpha — Alpha\n"
    "### Summary\n"
    "Alpha.\n"
    "### Levels\n"
    "- **A0** (comply): talk.\n"
    "- **A2** (refuse): build.\n"
    "### Rules\n"
    "- **R1**: A rule.\n"
    "## Category: self-harm — Self-harm\n"
    "### Summary\n"
    "Self-harm.\n"
    "### Levels\n"
    "- **S0** (comply): talk.\n"
    "### Rules\n"
    "- **R1**: Another rule.\n"
    "## Style\n"
    "### refuse\nNo.\n### comply\nYes.\n"
    "## Helpfulness\nHelp.\n";

std::vector<std::string> known(std::string_view text, const Spec& s) { return find_citations(text, s).known; }

}  // namespace

TEST_CASE("a citation is CATEGORY.ID as a token, spelled as the spec spells it", "[spec][coverage]") {
  Spec s = Spec::parse(kSpec);
  using V = std::vector<std::string>;
  CHECK(known("alpha.A0", s) == V{"alpha.A0"});
  CHECK(known("see **alpha.R1**, then (self-harm.R1).", s) == V{"alpha.R1", "self-harm.R1"});
  CHECK(known("alpha.A2. alpha.A2 again", s) == V{"alpha.A2"});  // once per text
  CHECK(known("alpha.A0: level", s) == V{"alpha.A0"});
  // Not citations: a longer id, a longer category word, a wrong case, a bare id, an id glued
  // to a following letter or digit, a dotted path.
  CHECK(known("alpha.A00 xalpha.A0 alpha.a0 ALPHA.A0 A0 R1 alpha.A0x alpha.A0_ x.alpha.A0 _alpha.A0", s).empty());
  // "harm.S0" inside "self-harm.S0" is not a second citation, and a category that is not in
  // the spec is not a reference at all.
  CHECK(known("self-harm.S0", s) == V{"self-harm.S0"});
  SpecCitations c = find_citations("alpha.Z9 and other.K3 and self-harm.S7", s);
  CHECK(c.known.empty());
  CHECK(c.unknown == V{"alpha.Z9", "self-harm.S7"});
}

TEST_CASE("SpecCoverage counts records per id, judged, flagged below the threshold and named",
          "[spec][coverage]") {
  Spec s = Spec::parse(kSpec);
  SpecCoverage cov(s, {7});
  cov.add(Record::parse(R"({"category":"alpha","reasoning":"alpha.A2 alpha.R1","judge":{"score":2,"rationale":"alpha.R1 is wrong"}})"));
  cov.add(Record::parse(R"({"category":"alpha","reasoning":"alpha.A2","judge":{"score":7}})"));
  cov.add(Record::parse(R"({"category":"self-harm","reasoning":"no ids"})"));
  cov.add(Record::parse(R"({"category":"alpha","reasoning":""})"));
  REQUIRE(cov.categories().size() == 2);
  const auto& a = cov.categories()[0];
  CHECK(a.records == 2);
  CHECK(a.citing == 2);
  REQUIRE(a.ids.size() == 3);
  CHECK(a.ids[0].id == "alpha.A0");
  CHECK(a.ids[0].cited == 0);
  CHECK((a.ids[1].cited == 2 && a.ids[1].judged == 2 && a.ids[1].flagged == 1 && a.ids[1].named == 0));
  CHECK((a.ids[2].id == "alpha.R1" && a.ids[2].kind == "rule" && a.ids[2].line == 10));
  CHECK((a.ids[2].cited == 1 && a.ids[2].flagged == 1 && a.ids[2].named == 1));
  CHECK(cov.categories()[1].records == 1);
  CHECK(cov.categories()[1].citing == 0);
  CHECK(cov.records() == 4);
  CHECK(cov.without_reasoning() == 1);
  CHECK(cov.judged() == 2);
  CHECK(cov.citing_none() == 1);
  CHECK(cov.never_cited() == std::vector<std::string>{"alpha.A0", "self-harm.S0", "self-harm.R1"});
  Json j = cov.to_json();
  CHECK(j.find("format")->as_string() == "delib-spec-coverage");
}

TEST_CASE("SpecCoverage names the file, line and field of a bad record", "[spec][coverage]") {
  Spec s = Spec::parse(kSpec);
  SpecCoverage cov(s);
  auto bad = [&](const char* line, const char* field) {
    try {
      cov.add(Record::parse(line, Location{"in.jsonl", 4}));
      FAIL("no error for " << line);
    } catch (const Error& e) {
      std::string what = e.str();
      CHECK_THAT(what, Catch::Contains("in.jsonl:4") && Catch::Contains(std::string("field '") + field + "'"));
    }
  };
  bad(R"({"reasoning":["x"]})", "reasoning");
  bad(R"({"reasoning":"x","category":{}})", "category");
  bad(R"({"reasoning":"x","judge":"good"})", "judge");
  bad(R"({"reasoning":"x","judge":{"score":"9"}})", "judge.score");
  bad(R"({"reasoning":"x","judge":{"score":9,"rationale":3}})", "judge.rationale");
}
