// Category views: content, determinism and hashes.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "delib/spec.h"

using delib::Spec;

namespace {

std::string spec_src() {
  const char* s = std::getenv("DELIB_SRC");
  return s ? s : ".";
}

const char* kTwo =
    "# Spec: two\n"
    "version: 1\n"
    "\n"
    "Preamble.\n"
    "\n"
    "## Category: alpha — Alpha things\n"
    "### Summary\n"
    "Alpha summary\n"
    "on two lines.\n"
    "### Levels\n"
    "- **A0** (comply): alpha-allowed.\n"
    "- **A1** (refuse): alpha-forbidden.\n"
    "### Rules\n"
    "- **R1**: alpha-rule.\n"
    "### Examples\n"
    "- **E1** (A1, refuse): alpha prompt\n"
    "  Ideal: alpha ideal\n"
    "### Style\n"
    "alpha-style.\n"
    "## Category: beta — Beta things\n"
    "### Summary\n"
    "Beta summary.\n"
    "### Definitions\n"
    "- **bee**: beta-definition.\n"
    "### Levels\n"
    "- **B0** (comply): beta-allowed.\n"
    "## Style\n"
    "### refuse\n"
    "refuse-style.\n"
    "### comply\n"
    "comply-style.\n"
    "## Helpfulness\n"
    "helpful-text.\n";

}  // namespace

TEST_CASE("a view holds every summary, the style, helpfulness and one category in full", "[spec][view]") {
  Spec s = Spec::parse(kTwo, "two.md");
  std::string a = s.render_view("alpha");
  for (const char* part : {"two", "Preamble.", "Alpha summary on two lines.", "Beta summary.", "refuse-style.",
                           "comply-style.", "helpful-text.", "alpha-allowed.", "alpha-forbidden.", "alpha-rule.",
                           "alpha prompt", "alpha ideal", "alpha-style.", "alpha.A1", "alpha.R1", "alpha.E1",
                           "style.refuse"}) {
    INFO(part);
    CHECK(a.find(part) != std::string::npos);
  }
  for (const char* part : {"beta-allowed.", "beta-definition.", "beta.B0"}) {
    INFO(part);
    CHECK(a.find(part) == std::string::npos);
  }
  std::string b = s.render_view("beta");
  CHECK(b.find("beta-definition.") != std::string::npos);
  CHECK(b.find("alpha-forbidden.") == std::string::npos);
  CHECK(b.find("Alpha summary on two lines.") != std::string::npos);
  // The order: overview, style, helpfulness, then the category.
  CHECK(a.find("Beta summary.") < a.find("refuse-style."));
  CHECK(a.find("refuse-style.") < a.find("helpful-text."));
  CHECK(a.find("helpful-text.") < a.find("alpha-allowed."));
  CHECK(a.back() == '\n');
  CHECK(a.substr(a.size() - 2) != "\n\n");
}

TEST_CASE("views are deterministic and their hash is XXH3-64 of the bytes", "[spec][view]") {
  Spec s1 = Spec::parse(kTwo, "two.md");
  Spec s2 = Spec::parse(kTwo, "elsewhere.md");
  for (const char* c : {"alpha", "beta"}) {
    std::string v = s1.render_view(c);
    CHECK(v == s1.render_view(c));
    CHECK(v == s2.render_view(c));  // the path does not enter the view
    std::string h = s1.view_hash(c);
    CHECK(h.size() == 16);
    CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(h == delib::hex64(delib::hash64(v)));
    CHECK(h == s2.view_hash(c));
  }
  CHECK(s1.view_hash("alpha") != s1.view_hash("beta"));
  CHECK(s1.spec_hash() == delib::hex64(delib::hash64(kTwo)));
}

TEST_CASE("formatting that does not change content keeps view hashes", "[spec][view]") {
  Spec s = Spec::parse(kTwo);
  std::string reformatted = kTwo;
  // A comment, extra blank lines and trailing spaces.
  reformatted.insert(reformatted.find("## Category: beta"), "<!-- reviewer note -->\n\n\n");
  reformatted.replace(reformatted.find("alpha-rule."), 11, "alpha-rule.   ");
  Spec r = Spec::parse(reformatted);
  CHECK(r.spec_hash() != s.spec_hash());
  CHECK(r.view_hash("alpha") == s.view_hash("alpha"));
  CHECK(r.view_hash("beta") == s.view_hash("beta"));

  // A content change in beta changes every view (summaries are shared) only when it is in the
  // summary; a change to beta's levels changes only beta's view.
  std::string changed = kTwo;
  changed.replace(changed.find("beta-allowed."), 13, "beta-allowed, revised.");
  Spec c = Spec::parse(changed);
  CHECK(c.view_hash("alpha") == s.view_hash("alpha"));
  CHECK(c.view_hash("beta") != s.view_hash("beta"));
  changed.replace(changed.find("Beta summary."), 13, "Beta summary, revised.");
  Spec d = Spec::parse(changed);
  CHECK(d.view_hash("alpha") != s.view_hash("alpha"));
}

TEST_CASE("an unknown category is an error naming it", "[spec][view]") {
  Spec s = Spec::parse(kTwo, "two.md");
  try {
    s.render_view("gamma");
    FAIL("no throw");
  } catch (const delib::Error& e) {
    std::string m = e.what();
    CHECK(m.find("'gamma'") != std::string::npos);
    CHECK(m.find("alpha, beta") != std::string::npos);
  }
  CHECK_THROWS_AS(s.view_hash("gamma"), delib::Error);
}

TEST_CASE("the shipped specs' views fit their character budgets", "[spec][view]") {
  // The token budget (2,000 Qwen3 tokens) is checked by the CLI test view-budget-tokens with
  // the real tokenizer. Characters need none: on these specs Qwen3 averages 4.3-4.4
  // characters per token (measured with HF tokenizers, 2026-11-27), so 8,000 characters keeps a
  // view under about 1,850 tokens.
  for (const char* name : {"specs/small.md", "specs/default.md"}) {
    Spec s = Spec::load(spec_src() + "/" + name);
    for (const auto& c : s.categories) {
      INFO(name << " " << c.id);
      std::string v = s.render_view(c.id);
      CHECK(delib::count_chars(v) <= 8000);
      CHECK(v == s.render_view(c.id));
    }
  }
}
