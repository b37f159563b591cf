// The semantic checks of spec-lint (the parser's own checks live in spec.cpp). Each check has
// a stable id listed in spec_checks() and documented in delib-spec(5), section LINT CHECKS.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "spec/spec_internal.h"

namespace delib {

using namespace spec_detail;

namespace {

class Linter {
 public:
  Linter(const Spec& spec, const LintOptions& options) : s_(spec), o_(options) {}

  std::vector<SpecDiagnostic> run() {
    ids();
    categories();
    styles();
    examples();
    xrefs();
    definitions();
    budget();
    taxonomy();
    std::stable_sort(out_.begin(), out_.end(), [&](const auto& a, const auto& b) {
      return std::tuple(a.file != s_.path, a.file, a.line, a.col) <
             std::tuple(b.file != s_.path, b.file, b.line, b.col);
    });
    return std::move(out_);
  }

 private:
  const Spec& s_;
  const LintOptions& o_;
  std::vector<SpecDiagnostic> out_;

  void diag(int line, int col, std::string check, std::string msg, Severity sev = Severity::kError) {
    out_.push_back({s_.path, line, col, sev, std::move(msg), std::move(check)});
  }

  // Column of `needle` on source line `line` (1 when not found): diagnostics point at the id.
  int col_of(int line, std::string_view needle) const {
    if (line <= 0) return 0;
    std::string_view l = line_text(line);
    size_t at = needle.empty() ? std::string_view::npos : l.find(needle);
    return at == std::string_view::npos ? 1 : column_of(l, at);
  }
  std::string_view line_text(int line) const {
    if (!lines_) lines_ = split_source(s_.text);
    if (line <= 0 || size_t(line) > lines_->lines.size()) return {};
    return lines_->lines[line - 1];
  }
  mutable std::optional<SourceLines> lines_;

  // id-duplicate
  void ids() {
    std::map<std::string, int> cats;
    for (const auto& c : s_.categories) {
      auto [it, fresh] = cats.emplace(c.id, c.line);
      if (!fresh)
        diag(c.line, col_of(c.line, c.id), "id-duplicate",
             fmt::format("duplicate category '{}' (first defined on line {})", c.id, it->second));
      std::map<std::string, std::pair<const char*, int>> seen;
      auto check = [&](const std::string& id, const char* kind, int line) {
        if (id.empty()) return;
        auto [jt, ok] = seen.emplace(id, std::pair(kind, line));
        if (!ok)
          diag(line, col_of(line, "**" + id) + 2, "id-duplicate",
               fmt::format("duplicate id '{}.{}' ({} on line {})", c.id, id, jt->second.first, jt->second.second));
      };
      for (const auto& l : c.levels) check(l.id, "level", l.line);
      for (const auto& r : c.rules) check(r.id, "rule", r.line);
      for (const auto& e : c.examples) check(e.id, "example", e.line);
      std::map<std::string, int> terms;
      for (size_t i = 0; i < c.definitions.size(); ++i) {
        int line = i < c.definition_lines.size() ? c.definition_lines[i] : 0;
        auto [jt, ok] = terms.emplace(lower_ascii(c.definitions[i].first), line);
        if (!ok)
          diag(line, col_of(line, c.definitions[i].first), "id-duplicate",
               fmt::format("term '{}' is defined twice in '{}' (first on line {})", c.definitions[i].first,
                           c.id, jt->second));
      }
    }
  }

  static int rank(Action a) { return a == Action::kComply ? 0 : a == Action::kSafeComplete ? 1 : 2; }

  // category-summary, category-levels, level-order, empty, example-count
  void categories() {
    for (const auto& c : s_.categories) {
      if (trim(c.summary).empty()) {
        diag(c.summary_line ? c.summary_line : c.line, 1, "category-summary",
             "category '" + c.id + "' has no summary (write a one-paragraph '### Summary'; every view lists it)");
      } else if (c.summary.find("\n\n") != std::string::npos) {
        diag(c.summary_line, 1, "category-summary",
             "the summary of '" + c.id + "' has several paragraphs; views show it as one", Severity::kWarning);
      }
      if (c.levels.empty())
        diag(c.line, 1, "category-levels", "category '" + c.id + "' has no levels (add a '### Levels' list)");

      const SpecLevel* prev = nullptr;
      std::string prefix;
      long prev_no = -1;
      for (const auto& l : c.levels) {
        if (trim(l.description).empty())
          diag(l.line, col_of(l.line, "**" + l.id) + 2, "empty", "level '" + c.id + "." + l.id + "' has no description");
        if (!valid_element_id(l.id)) { prev = &l; continue; }
        auto [p, no] = split_element_id(l.id);
        if (prefix.empty()) prefix = p;
        if (p != prefix) {
          diag(l.line, col_of(l.line, "**" + l.id) + 2, "level-order",
               fmt::format("level '{}' does not share the prefix '{}' of the first level of '{}'", l.id, prefix, c.id));
        } else if (prev_no >= 0 && no <= prev_no) {
          diag(l.line, col_of(l.line, "**" + l.id) + 2, "level-order",
               fmt::format("levels out of order: '{}' comes after '{}{}' (list levels from allowed to disallowed, "
                           "numbers increasing)", l.id, prefix, prev_no));
        }
        if (p == prefix) prev_no = std::max(prev_no, no);
        if (prev && rank(l.action) < rank(prev->action))
          diag(l.line, col_of(l.line, "(") + 1, "level-order",
               fmt::format("level '{}' ({}) is less restrictive than '{}' ({}) before it; levels should go from "
                           "allowed to disallowed", l.id, action_name(l.action), prev->id, action_name(prev->action)),
               Severity::kWarning);
        prev = &l;
      }
      for (const auto& r : c.rules)
        if (trim(r.text).empty())
          diag(r.line, col_of(r.line, "**" + r.id) + 2, "empty", "rule '" + c.id + "." + r.id + "' has no text");
      if (c.has_rules_section && c.rules.empty())
        diag(c.line, 1, "empty", "category '" + c.id + "' has a '### Rules' section without rules");
      for (size_t i = 0; i < c.definitions.size(); ++i)
        if (trim(c.definitions[i].second).empty()) {
          int line = i < c.definition_lines.size() ? c.definition_lines[i] : 0;
          diag(line, col_of(line, c.definitions[i].first), "empty",
               "term '" + c.definitions[i].first + "' has no definition");
        }
      for (const auto& e : c.examples)
        if (trim(e.prompt).empty())
          diag(e.line, col_of(e.line, "**" + e.id) + 2, "empty", "example '" + c.id + "." + e.id + "' has no prompt");
      if (o_.min_examples && c.examples.size() < o_.min_examples)
        diag(c.line, 1, "example-count",
             fmt::format("category '{}' has {} labelled example{}, fewer than --min-examples {}", c.id,
                         c.examples.size(), c.examples.size() == 1 ? "" : "s", o_.min_examples),
             Severity::kWarning);
    }
  }

  // style-missing: every action a level uses needs a non-empty guideline.
  void styles() {
    for (Action a : {Action::kComply, Action::kSafeComplete, Action::kRefuse}) {
      const std::string* g = s_.style_for(a);
      if (g && !trim(*g).empty()) continue;
      for (const auto& c : s_.categories) {
        const SpecLevel* user = nullptr;
        for (const auto& l : c.levels) if (l.action == a) { user = &l; break; }
        if (!user) continue;
        diag(user->line, col_of(user->line, std::string("(") + action_name(a)) + 1, "style-missing",
             fmt::format("action '{}' (used by '{}.{}') has no style guideline: add '### {}' under '## Style'",
                         action_name(a), c.id, user->id, action_name(a)));
        break;  // once per action, at its first use
      }
    }
    if (trim(s_.helpfulness).empty())
      diag(s_.name_line ? s_.name_line : 1, 1, "style-missing",
           "the spec has no '## Helpfulness' section (views carry it next to the style guidelines)",
           Severity::kWarning);
  }

  // example-level, example-action, example-conflict
  void examples() {
    struct Seen { std::string where; Action action; int line; };
    std::map<std::string, Seen> prompts;
    for (const auto& c : s_.categories) {
      for (const auto& e : c.examples) {
        const SpecLevel* l = c.level(e.level);
        int col = col_of(e.line, "(") + 1;
        if (!l) {
          diag(e.line, col, "example-level",
               fmt::format("example '{}.{}' names level '{}', which '{}' does not define", c.id, e.id, e.level, c.id));
        } else if (l->action != e.action) {
          diag(e.line, col, "example-action",
               fmt::format("example '{}.{}' expects '{}' but its level '{}.{}' says '{}'", c.id, e.id,
                           action_name(e.action), c.id, l->id, action_name(l->action)));
        }
        if (trim(e.prompt).empty()) continue;
        // Same prompt up to case and spacing.
        std::string key;
        for (char ch : lower_ascii(e.prompt)) {
          if (ch == ' ' || ch == '\t' || ch == '\n') { if (!key.empty() && key.back() != ' ') key += ' '; }
          else key += ch;
        }
        while (!key.empty() && key.back() == ' ') key.pop_back();
        std::string where = c.id + "." + e.id;
        auto [it, fresh] = prompts.emplace(key, Seen{where, e.action, e.line});
        if (fresh) continue;
        if (it->second.action != e.action)
          diag(e.line, col_of(e.line, "**" + e.id) + 2, "example-conflict",
               fmt::format("example '{}' has the prompt of '{}' (line {}) with a different action ({} vs {})", where,
                           it->second.where, it->second.line, action_name(e.action), action_name(it->second.action)));
        else
          diag(e.line, col_of(e.line, "**" + e.id) + 2, "example-conflict",
               fmt::format("example '{}' repeats the prompt of '{}' (line {})", where, it->second.where,
                           it->second.line),
               Severity::kWarning);
      }
    }
  }

  static bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  // A reference token: `word` or `word.Word` ([a-z][a-z0-9-]* then optionally .[A-Za-z0-9-]+).
  static bool ref_token(std::string_view t) {
    size_t dot = t.find('.');
    std::string_view a = t.substr(0, dot);
    if (a.empty() || !(a[0] >= 'a' && a[0] <= 'z')) return false;
    for (char c : a) if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (dot == std::string_view::npos) return true;
    std::string_view b = t.substr(dot + 1);
    if (b.empty()) return false;
    for (char c : b) if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
  }

  bool known_prefix(std::string_view p) const {
    return p == "style" || p == "helpfulness" || s_.category(p) != nullptr;
  }

  void unresolved(int line, std::string_view l, size_t at, std::string_view ref) {
    std::string hint;
    size_t dot = ref.find('.');
    if (dot != std::string_view::npos && !known_prefix(ref.substr(0, dot)))
      hint = " (no category '" + std::string(ref.substr(0, dot)) + "')";
    // Columns by a cursor that moves forward along the line, so that many references on one
    // long line cost linear time, not quadratic.
    if (line != cursor_line_ || at < cursor_byte_) { cursor_line_ = line; cursor_byte_ = 0; cursor_col_ = 1; }
    for (; cursor_byte_ < at && cursor_byte_ < l.size(); ++cursor_byte_)
      if ((static_cast<unsigned char>(l[cursor_byte_]) & 0xC0) != 0x80) ++cursor_col_;
    diag(line, cursor_col_, "xref", "reference to unknown id '" + std::string(ref) + "'" + hint);
  }
  int cursor_line_ = 0, cursor_col_ = 1;
  size_t cursor_byte_ = 0;

  // xref: every line of the file (outside comments) is scanned. A bracketed reference list
  // `[see a.B, c.D]` (or `[a.B]`: ids with a dot need no "see") must resolve in full; a bare
  // `prefix.ID` in running text is checked when prefix is `style`, `helpfulness` or a category.
  void xrefs() {
    if (!lines_) lines_ = split_source(s_.text);
    for (size_t n = 0; n < lines_->lines.size(); ++n) {
      const std::string& l = lines_->lines[n];
      int line = int(n) + 1;
      std::vector<std::pair<size_t, size_t>> masked;
      // Innermost brackets, in one left-to-right pass (linear in the line's length).
      size_t open = std::string::npos;
      for (size_t close = 0; close < l.size(); ++close) {
        if (l[close] == '[') { open = close; continue; }
        if (l[close] != ']' || open == std::string::npos) continue;
        size_t this_open = open;
        open = std::string::npos;
        if (close + 1 < l.size() && l[close + 1] == '(') continue;  // a Markdown link
        std::string_view body(l.data() + this_open + 1, close - this_open - 1);
        size_t body_at = this_open + 1;
        bool see = false;
        for (std::string_view p : {"see also ", "See also ", "see ", "See ", "cf. "}) {
          if (body.substr(0, p.size()) == p) { body.remove_prefix(p.size()); body_at += p.size(); see = true; break; }
        }
        std::vector<std::pair<size_t, std::string_view>> toks;
        bool all = !body.empty(), dotted = true;
        size_t pos = 0;
        while (pos <= body.size()) {
          size_t end = body.find_first_of(",;", pos);
          if (end == std::string_view::npos) end = body.size();
          std::string_view raw = body.substr(pos, end - pos);
          std::string_view t = trim(raw);
          if (t.substr(0, 4) == "and ") t = trim(t.substr(4));
          if (!ref_token(t)) { all = false; break; }
          if (t.find('.') == std::string_view::npos) dotted = false;
          toks.emplace_back(body_at + size_t(t.data() - body.data()), t);
          pos = end + 1;
        }
        if (!all || (!see && !dotted)) continue;
        masked.emplace_back(this_open, close);
        for (auto [at, t] : toks)
          if (!s_.resolve(t)) unresolved(line, l, at, t);
      }
      // Bare references.
      size_t mask = 0;
      for (size_t i = 0; i < l.size(); ++i) {
        if (!(l[i] >= 'a' && l[i] <= 'z') || (i > 0 && (id_char(l[i - 1]) || l[i - 1] == '.'))) continue;
        while (mask < masked.size() && masked[mask].second < i) ++mask;  // masks are in order
        bool in_mask = mask < masked.size() && i > masked[mask].first && i < masked[mask].second;
        size_t j = i;
        while (j < l.size() && ((l[j] >= 'a' && l[j] <= 'z') || (l[j] >= '0' && l[j] <= '9') || l[j] == '-')) ++j;
        std::string_view prefix(l.data() + i, j - i);
        size_t k = j + 1;
        if (j < l.size() && l[j] == '.' && k < l.size() && (id_char(l[k]) && l[k] != '_')) {
          size_t e = k;
          while (e < l.size() && id_char(l[e]) && l[e] != '_') ++e;
          while (e > k && l[e - 1] == '-') --e;
          std::string_view ref(l.data() + i, e - i);
          if (!in_mask && known_prefix(prefix) && !s_.resolve(ref)) unresolved(line, l, i, ref);
          i = e;
        } else {
          i = j;
        }
      }
    }
  }

  // definition-unused: a term must appear (case-insensitive, at the start of a word, so
  // "minor" matches "minors") in the category's other text.
  void definitions() {
    for (const auto& c : s_.categories) {
      for (size_t i = 0; i < c.definitions.size(); ++i) {
        // (appends piecewise: GCC 12 warns falsely (-Wrestrict) on "\n" + std::string chains)
        std::string hay;
        auto add = [&hay](std::string_view t) { hay += lower_ascii(t); hay += '\n'; };
        add(c.summary);
        add(c.style);
        for (size_t k = 0; k < c.definitions.size(); ++k) if (k != i) add(c.definitions[k].second);
        for (const auto& l : c.levels) add(l.description);
        for (const auto& r : c.rules) add(r.text);
        for (const auto& e : c.examples) { add(e.prompt); add(e.ideal); }
        std::string term = lower_ascii(trim(c.definitions[i].first));
        if (term.empty()) continue;
        bool used = false;
        for (size_t at = hay.find(term); at != std::string::npos; at = hay.find(term, at + 1))
          if (at == 0 || !id_char(hay[at - 1])) { used = true; break; }
        if (!used) {
          int line = i < c.definition_lines.size() ? c.definition_lines[i] : 0;
          diag(line, col_of(line, c.definitions[i].first), "definition-unused",
               "term '" + c.definitions[i].first + "' is defined but not used elsewhere in '" + c.id + "'",
               Severity::kWarning);
        }
      }
    }
  }

  // view-budget
  void budget() {
    if (!o_.max_view_chars && !o_.max_view_tokens) return;
    for (const auto& c : s_.categories) {
      if (s_.category(c.id) != &c) continue;  // a duplicate id renders as its first definition
      std::string view = s_.render_view(c.id);
      if (o_.max_view_chars) {
        size_t n = count_chars(view);
        if (n > o_.max_view_chars)
          diag(c.line, 1, "view-budget",
               fmt::format("view of '{}' is {} characters, over --max-view-chars {}", c.id, n, o_.max_view_chars));
      }
      if (o_.max_view_tokens && o_.tokenizer) {
        size_t n = o_.tokenizer->encode(view).size();
        if (n > o_.max_view_tokens)
          diag(c.line, 1, "view-budget",
               fmt::format("view of '{}' is {} tokens, over --max-view-tokens {}", c.id, n, o_.max_view_tokens));
      }
    }
  }

  // taxonomy-missing
  void taxonomy() {
    for (const auto& [id, where] : o_.taxonomy) {
      if (s_.category(id)) continue;
      out_.push_back({where.file, int(where.line), where.line ? 1 : 0, Severity::kError,
                      "category '" + id + "' is in the taxonomy but not in spec " + s_.path, "taxonomy-missing"});
    }
  }
};

}  // namespace

std::vector<SpecDiagnostic> lint_spec(const Spec& spec, const LintOptions& options) {
  return Linter(spec, options).run();
}

std::vector<std::pair<std::string, Location>> read_taxonomy(const std::string& path) {
  std::vector<std::pair<std::string, Location>> out;
  std::set<std::string> seen;
  LineReader reader(path);
  std::string line;
  auto add = [&](std::string id, long no) {
    if (!id.empty() && seen.insert(id).second) out.emplace_back(std::move(id), Location{path, no});
  };
  while (reader.next(line)) {
    long no = reader.line_number();
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t[0] == '{') {
      Record r = Record::parse(t, Location{path, no});
      auto v = r.get("category");
      if (!v || v->is_null()) continue;
      if (v->is_string()) {
        add(v->as_string(), no);
      } else if (v->is_array()) {
        for (const auto& e : v->as_array()) {
          if (!e.is_string()) throw Error(Location{path, no}, "field 'category': expected a string or an array of strings");
          add(e.as_string(), no);
        }
      } else {
        throw Error(Location{path, no}, "field 'category': expected a string or an array of strings");
      }
      continue;
    }
    size_t hash = t.find(" #");
    add(std::string(trim(t.substr(0, hash))), no);
  }
  return out;
}

}  // namespace delib
