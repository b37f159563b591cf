// The safety spec: a Markdown policy parsed into categories, levels, rules, examples and style
// guidelines (format: delib-spec(5)); category views spec(category). Area: spec (core).
// CONTRACT: cot-gen, cot-judge, sft-train, rl-train and safety-eval call only what is declared
// here; the owner may add, not rename.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delib/records.h"

namespace delib {

enum class Action { kComply, kSafeComplete, kRefuse };
const char* action_name(Action a);            // "comply" | "safe-complete" | "refuse"
std::optional<Action> parse_action(std::string_view s);

struct SpecLevel { std::string id; std::string description; Action action; int line = 0; };
struct SpecRule { std::string id; std::string text; int line = 0; };
struct SpecExample { std::string prompt; Action action; std::string level; std::string ideal; int line = 0; };
struct SpecCategory {
  std::string id, title, summary;
  std::vector<std::pair<std::string, std::string>> definitions;  // term, definition
  std::vector<SpecLevel> levels;
  std::vector<SpecRule> rules;
  std::vector<SpecExample> examples;
  std::string style;  // category-specific style guidance ("" when none)
  int line = 0;
};

class Spec {
 public:
  // Parses a spec file. Throws Error(FILE:LINE) on errors that prevent parsing; lint-level
  // problems are reported by spec-lint, not here.
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
};

}  // namespace delib
