// The safety spec: a Markdown policy parsed into categories, levels, rules, examples and style
// guidelines (format: delib-spec(5)); category views spec(category). Area: spec (core).
// cot-gen, cot-judge, sft-train, rl-train and safety-eval use specs only through what is
// declared here.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delib/records.h"

namespace delib {

enum class Action { kComply, kSafeComplete, kRefuse };
const char* action_name(Action a);            // "comply" | "safe-complete" | "refuse"
std::optional<Action> parse_action(std::string_view s);

// Every element keeps the 1-based source line it starts on (0 when absent from the file).
// Ids of levels, rules and examples match [A-Z]+[0-9]+ and are unique within their category;
// they are cited as CATEGORY.ID (`illicit.K3`).
struct SpecLevel { std::string id; std::string description; Action action; int line = 0; };
struct SpecRule { std::string id; std::string text; int line = 0; };
struct SpecExample {
  std::string prompt; Action action; std::string level; std::string ideal; int line = 0;
  std::string id;  // e.g. "E1"; the example's record id is CATEGORY.ID
};
struct SpecCategory {
  std::string id, title, summary;
  std::vector<std::pair<std::string, std::string>> definitions;  // term, definition
  std::vector<SpecLevel> levels;
  std::vector<SpecRule> rules;
  std::vector<SpecExample> examples;
  std::string style;  // category-specific style guidance ("" when none)
  int line = 0;
  // Source lines of the parts above (0 when the part is absent). definition_lines[i] is the
  // line of definitions[i].
  std::vector<int> definition_lines;
  int summary_line = 0, style_line = 0;
  // Whether the category has a `### Rules` heading (an empty one is a lint error).
  bool has_rules_section = false;

  const SpecLevel* level(std::string_view id) const;  // nullptr if unknown
};

class Spec {
 public:
  // Parses a spec file. Throws Error(FILE:LINE) on errors that prevent parsing; lint-level
  // problems are reported by spec-lint, not here.
  // (Owner's note: the errors that throw are those of the parser's checks `parse`, `utf8`,
  // `id-malformed` and `level-action`, the first one in file order, its message ending in
  // `[check]`. load: path "-" is stdin; Error(kExitIo) when the file cannot be read.)
  static Spec load(const std::string& path);
  static Spec parse(const std::string& text, const std::string& source = "<spec>");

  std::string name, version, path;
  std::vector<SpecCategory> categories;
  // style guidelines per action ("comply", "safe-complete", "refuse") and the general
  // helpfulness principles.
  std::vector<std::pair<std::string, std::string>> style;
  std::string helpfulness;

  const SpecCategory* category(std::string_view id) const;  // nullptr if unknown
  // The category view spec(category): every category's summary, the style and helpfulness
  // principles, and the full text of `category`. Deterministic bytes. Throws Error naming the
  // category when unknown.
  std::string render_view(std::string_view category) const;
  // 16 hex digits (XXH3-64) of render_view(category): goes to provenance.spec_view_hash.
  std::string view_hash(std::string_view category) const;
  // 16 hex digits of the whole spec file.
  std::string spec_hash() const;
  std::string text;  // the file's text

  // Source lines of the elements above, and the text under `# Spec:` before the first `##`.
  std::string intro;                 // rendered at the top of every view ("" when none)
  int name_line = 0, version_line = 0, helpfulness_line = 0;
  std::vector<int> style_lines;      // style_lines[i] is the line of style[i]
  // The style guideline for an action (`## Style` / `### refuse`), nullptr when none.
  const std::string* style_for(Action a) const;
  // Resolves a citable id: CATEGORY, CATEGORY.ID (level, rule or example), CATEGORY.style,
  // CATEGORY.summary, style, style.ACTION, helpfulness. Returns the source line of what it names
  // (0 for elements built in code), or nullopt when the id does not exist.
  std::optional<int> resolve(std::string_view ref) const;
};

// ---- Diagnostics and lint (spec-lint) --------------------------------------------------------

enum class Severity { kWarning, kError };

// One problem found in a spec: printed as `FILE:LINE:COL: error|warning: message [check]`.
// line and col are 1-based (col counts Unicode code points); 0 when unknown.
struct SpecDiagnostic {
  std::string file;
  int line = 0, col = 0;
  Severity severity = Severity::kError;
  std::string message;
  std::string check;  // stable check id, see spec_checks()

  std::string str() const;   // the one-line text form (no '\n')
  Json to_json() const;      // {"file","line","col","severity","message","check"}
};

// The stable check ids with one-line descriptions, in documentation order.
const std::vector<std::pair<std::string, std::string>>& spec_checks();

// Parses without throwing: every problem the parser finds (checks `parse`, `id-malformed`,
// `level-action`, `utf8`) is appended to `diags` and parsing goes on with the next element; the
// returned Spec holds everything that could be read. Spec::parse throws on the first error
// diagnostic this returns.
Spec parse_spec_lenient(const std::string& text, const std::string& source,
                        std::vector<SpecDiagnostic>& diags);

class Tokenizer;

struct LintOptions {
  // Budget for each category view; 0 = unchecked. Tokens need `tokenizer`.
  size_t max_view_chars = 0;   // counted in Unicode code points
  size_t max_view_tokens = 0;
  std::shared_ptr<const Tokenizer> tokenizer;
  // Category ids that must exist, each with the place that named it (check taxonomy-missing).
  std::vector<std::pair<std::string, Location>> taxonomy;
  // Warn when a category has fewer labelled examples than this (0 = unchecked).
  size_t min_examples = 0;
};

// The semantic checks over a parsed spec (everything but the parser's own checks). Diagnostics
// name spec.path as their file. Returned in source order.
std::vector<SpecDiagnostic> lint_spec(const Spec& spec, const LintOptions& options = {});

// Reads a taxonomy file: one category id per line (blank lines and `#` comments ignored), or
// JSONL records whose `category` field (a string or an array of strings) names categories;
// plain or zstd. Each id once, with the line that first named it. Throws Error.
std::vector<std::pair<std::string, Location>> read_taxonomy(const std::string& path);

// The bytes of a spec file ("-" is stdin). Throws Error(kExitIo) when it cannot be read.
std::string read_spec_file(const std::string& path);

// Number of Unicode code points in UTF-8 text (the character budget's unit).
size_t count_chars(std::string_view utf8);

// ---- Spec coverage (spec-lint --coverage, lib/src/spec/coverage.cpp) --------------------------

// A citation of the spec in a text: the token CATEGORY.ID, where CATEGORY is a category of the
// spec and ID one of its level, rule or example ids, both spelled exactly as in the spec
// (`illicit.K3`, `self-harm.R1`; the form the category views write, delib-spec(5)). The token
// is the longest run of [a-z0-9-] before a '.' followed by [A-Z]+[0-9]+: the character before
// it must not be a letter, digit, '_' or '.', and the one after it not a letter, digit or '_'
// (so `illicit.K3.` and `**illicit.K3**` cite K3, `illicit.K30` and `xillicit.K3` do not).
// A bare `K3` or `R1` is not a citation: rule ids repeat in every category.
struct SpecCitations {
  std::vector<std::string> known;    // ids of the spec cited, each once, in first-citation order
  std::vector<std::string> unknown;  // CATEGORY.ID of a spec category whose ID does not exist
};
SpecCitations find_citations(std::string_view text, const Spec& spec);

// How often records' reasoning cites each id of a spec, and how the judge scored the records
// that cite it. A record is read as:
//   reasoning    string: the text searched for citations (absent, null or "": the record
//                counts under `without_reasoning` and nowhere else)
//   category     string or null: the record's category (counted per category; one not in
//                the spec counts under `other_categories`)
//   judge        object written by cot-judge: judge.score (a number, or null with
//                judge.error) and judge.rationale (string). cot-judge's verdict names no rule,
//                so "the judge called the cited rule wrong" is counted as: the record cites
//                the id and judge.score < flag_below (`flagged`); of those, `named` counts the
//                records whose judge.rationale cites the same id. rl-train's rollouts have no
//                judge object (their judge reward never sees the reasoning): not judged.
// A field of the wrong type throws Error(FILE:LINE, "field 'NAME': expected ...").
struct CoverageOptions {
  // A judged record is flagged when judge.score < flag_below. Default 7: below the judge
  // rubric's "right action with small flaws" band (serious flaws, wrong reasons or action).
  double flag_below = 7;
};

class SpecCoverage {
 public:
  // REQUIRES: spec outlives this.
  SpecCoverage(const Spec& spec, CoverageOptions options = {});
  void add(const Record& r);

  struct IdCount {
    std::string id;    // CATEGORY.ID
    std::string kind;  // "level" | "rule" | "example"
    int line = 0;      // its line in the spec
    size_t cited = 0;    // records whose reasoning cites it
    size_t judged = 0;   // of those, records with a judge score
    size_t flagged = 0;  // of those, score < flag_below
    size_t named = 0;    // of those, the judge's rationale cites it too
  };
  struct CategoryCount {
    std::string id;
    size_t records = 0;    // records of this category (field `category`), with reasoning
    size_t citing = 0;     // records (any category) whose reasoning cites an id of it
    std::vector<IdCount> ids;  // levels, rules, examples in spec order
  };
  const std::vector<CategoryCount>& categories() const { return cats_; }
  size_t records() const { return records_; }
  size_t without_reasoning() const { return no_reasoning_; }
  size_t judged() const { return judged_; }        // records with reasoning and a judge score
  size_t judge_errors() const { return judge_errors_; }  // a judge object without a score
  size_t citing_none() const { return citing_none_; }    // reasoning that cites no id
  const std::map<std::string, size_t>& unknown() const { return unknown_; }  // id -> records
  const std::map<std::string, size_t>& other_categories() const { return other_; }
  std::vector<std::string> never_cited() const;

  // {"format": "delib-spec-coverage", "version": 1, "spec", "spec_hash", "flag_below",
  //  "records", "without_reasoning", "judged", "judge_errors", "citing_none",
  //  "categories": [{"id", "records", "citing", "ids": [{"id", "kind", "line", "cited",
  //  "judged", "flagged", "named"}]}], "never_cited": [...], "unknown": {ID: records},
  //  "other_categories": {CATEGORY: records}}
  Json to_json() const;
  // The same as an aligned text table, one row per id under a row per category, then the
  // never-cited ids and the unknown ones.
  std::string table() const;
  // A horizontal bar per id (records citing it, the flagged part in red), grouped by category,
  // in the look of safety-eval's Pareto plot (common/svg.h).
  std::string svg() const;

 private:
  const Spec& spec_;
  CoverageOptions o_;
  std::vector<CategoryCount> cats_;
  std::map<std::string, std::pair<size_t, size_t>> index_;  // id -> (category, id) position
  size_t records_ = 0, no_reasoning_ = 0, judged_ = 0, judge_errors_ = 0, citing_none_ = 0;
  std::map<std::string, size_t> unknown_, other_;
};

// ---- spec-lint: the tool's run (lib/src/spec/lint_tool.cpp) ----------------------------------

// The record `spec-lint --examples` writes for one labelled example of category `c` of `spec`:
// {"id": "CATEGORY.ID", "messages": [{"role": "user", "content": PROMPT}], "category",
// "expected_action", "level", "ideal" (only when the example has one), "label" ("safe" for
// comply, "unsafe" for refuse, absent for safe-complete, where neither a refusal nor a full
// answer is right), "source": "spec:NAME[@VERSION]", "spec_line"}, keys in that order.
Json spec_example_record(const Spec& spec, const SpecCategory& c, const SpecExample& example);

// Everything one spec-lint run does; each field is the flag of the same name. The mode is the
// first that is set of list_checks, coverage, render, list, examples; none: lint.
struct SpecLintOptions {
  // Spec files ("-": stdin). REQUIRES (except with list_checks): at least one; exactly one with
  // render. Error(kExitUsage) otherwise.
  std::vector<std::string> inputs;
  // Where --examples records and --format json output go ("-": stdout).
  std::string output = "-";
  // How they are written. --format json output (diagnostics, --list) is plain unless `zstd`
  // (the --zstd flag) is set; --examples records follow `write` as given.
  WriteOptions write;
  bool zstd = false;
  // --examples: only the examples of shard "K/N" (by a hash of the example id); "": all.
  // Parsed only in that mode (Error(kExitUsage) when malformed).
  std::string shard;

  // Lint: diagnostics as "text" (FILE:LINE:COL: severity: message [check]) or "json" (one
  // SpecDiagnostic::to_json record each); "json" also makes --list write records.
  std::string format = "text";
  bool werror = false;                 // warnings fail too (exit 1)
  std::vector<std::string> disabled;   // check ids turned off (unknown id: Error(kExitUsage))
  std::string taxonomy;                // read_taxonomy file ("" = none)
  size_t max_view_chars = 0;           // LintOptions budgets (0: no limit)
  size_t max_view_tokens = 0;          // REQUIRES: tokenizer when set (Error(kExitUsage))
  std::string tokenizer;               // Tokenizer::load path for tokens (budget and --list)
  size_t min_examples = 0;

  // The other modes.
  bool list_checks = false;  // print spec_checks() as "ID  WHAT" lines
  std::string render;        // print render_view(render) of the one input
  bool list = false;         // print each category: levels, view size (chars, tokens), view hash
  bool examples = false;     // write spec_example_record for every example of every input
  // --coverage: inputs are records (plain or zstd, "-": stdin) measured with SpecCoverage
  // against the spec `spec` (--spec, required); prints SpecCoverage::table() (--format json:
  // to_json() as one line, to `output`), and writes svg() to `plot` when set.
  bool coverage = false;
  std::string spec;          // --spec FILE (only with coverage)
  std::string plot;          // --plot FILE.svg (only with coverage)
  double flag_below = 7;     // --flag-below (CoverageOptions::flag_below)
};

// Runs spec-lint as `o` says: prints to stdout (or writes records to o.output) and returns the
// exit code: kExitOk, or kExitFailure when linting found errors (or warnings with werror). After
// linting with any diagnostics, "spec-lint: N error(s), M warning(s)" goes to stderr. Throws
// Error: kExitUsage for a bad combination of options, kExitIo when a file cannot be read, and
// the parser's Error for --render/--list/--examples of a spec that does not parse.
int run_spec_lint(const SpecLintOptions& o);

}  // namespace delib
