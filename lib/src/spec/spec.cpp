// The spec parser and category views. The format is documented in man/delib-spec.5; this file
// follows that page section by section. The parser is line based and never throws on bad
// input itself: every problem becomes a SpecDiagnostic and parsing continues, so spec-lint can
// report all of them at once. Spec::parse turns the first error into a thrown Error.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "delib/fs.h"
#include "delib/spec.h"
#include "spec/spec_internal.h"

namespace delib {

// ---- Actions ----------------------------------------------------------------------------------

const char* action_name(Action a) {
  switch (a) {
    case Action::kComply: return "comply";
    case Action::kSafeComplete: return "safe-complete";
    case Action::kRefuse: return "refuse";
  }
  return "?";
}

std::optional<Action> parse_action(std::string_view s) {
  std::string l = spec_detail::lower_ascii(spec_detail::trim(s));
  if (l == "comply") return Action::kComply;
  if (l == "safe-complete") return Action::kSafeComplete;
  if (l == "refuse") return Action::kRefuse;
  return std::nullopt;
}

namespace spec_detail {

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return s.substr(b, e - b);
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

int column_of(std::string_view line, size_t byte) {
  int col = 1;
  for (size_t i = 0; i < byte && i < line.size(); ++i)
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++col;
  return col;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as in RFC 3629).
static size_t utf8_seq(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

SourceLines split_source(std::string_view text) {
  SourceLines out;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string line;
    int bad = 0;
    for (size_t i = 0; i < raw.size();) {
      size_t n = utf8_seq(raw, i);
      if (n == 0) {
        if (!bad) bad = column_of(raw, i);
        line += "\xEF\xBF\xBD";
        ++i;
      } else {
        line.append(raw.substr(i, n));
        i += n;
      }
    }
    out.lines.push_back(std::move(line));
    out.bad_utf8_col.push_back(bad);
  }
  // HTML comments: a line whose first non-blank characters are `<!--` opens one; it ends on the
  // line that contains `-->` (possibly the same line). Those lines are blank to the parser.
  out.in_comment.assign(out.lines.size(), false);
  int open = 0;
  for (size_t i = 0; i < out.lines.size(); ++i) {
    std::string_view t = trim(out.lines[i]);
    if (!open && t.substr(0, 4) == "<!--") {
      open = int(i) + 1;
      t.remove_prefix(4);
    }
    if (open) {
      out.in_comment[i] = true;
      if (t.find("-->") != std::string_view::npos) open = 0;
      out.lines[i].clear();
    }
  }
  out.unterminated_comment = open;
  return out;
}

bool reserved_category_id(std::string_view id) {
  return id == "style" || id == "helpfulness" || id == "spec";
}

bool valid_category_id(std::string_view id) {
  if (id.empty() || !(id[0] >= 'a' && id[0] <= 'z')) return false;
  char prev = 0;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && prev == '-')) return false;
    prev = c;
  }
  return id.back() != '-' && !reserved_category_id(id);
}

bool valid_element_id(std::string_view id) {
  size_t i = 0;
  while (i < id.size() && id[i] >= 'A' && id[i] <= 'Z') ++i;
  if (i == 0 || i == id.size()) return false;
  for (size_t k = i; k < id.size(); ++k)
    if (!(id[k] >= '0' && id[k] <= '9')) return false;
  return id.size() - i <= 9;
}

std::pair<std::string, long> split_element_id(std::string_view id) {
  size_t i = 0;
  while (i < id.size() && id[i] >= 'A' && id[i] <= 'Z') ++i;
  return {std::string(id.substr(0, i)), std::stol(std::string(id.substr(i)))};
}

}  // namespace spec_detail

using namespace spec_detail;

// ---- Diagnostics ------------------------------------------------------------------------------

std::string SpecDiagnostic::str() const {
  std::string out = file;
  if (line > 0) {
    out += fmt::format(":{}", line);
    if (col > 0) out += fmt::format(":{}", col);
  }
  if (!out.empty()) out += ": ";
  out += severity == Severity::kError ? "error: " : "warning: ";
  out += message;
  if (!check.empty()) out += " [" + check + "]";
  return out;
}

Json SpecDiagnostic::to_json() const {
  Json j = Json::object();
  j.set("file", file);
  j.set("line", line);
  j.set("col", col);
  j.set("severity", severity == Severity::kError ? "error" : "warning");
  j.set("message", message);
  j.set("check", check);
  return j;
}

const std::vector<std::pair<std::string, std::string>>& spec_checks() {
  static const std::vector<std::pair<std::string, std::string>> kChecks = {
      {"parse", "the file does not follow the format (headings, sections, list items)"},
      {"utf8", "the file is not valid UTF-8"},
      {"id-malformed", "a category, level, rule or example id does not match its pattern"},
      {"id-duplicate", "an id (or definition term) is defined twice"},
      {"category-summary", "a category has no summary, or one of several paragraphs"},
      {"category-levels", "a category has no levels"},
      {"level-action", "a level has no action, or an unknown one"},
      {"level-order", "level numbers do not increase, or an action is less restrictive than the level before"},
      {"style-missing", "an action used by a level has no style guideline; no helpfulness section"},
      {"xref", "a cross-reference names an id that does not exist"},
      {"example-level", "an example names a level its category does not define"},
      {"example-action", "an example's expected action contradicts its level's action"},
      {"example-conflict", "the same example prompt appears twice (with different actions: error)"},
      {"empty", "a rule, level, definition or example without text, or a Rules section without rules"},
      {"definition-unused", "a defined term is not used anywhere else in its category"},
      {"view-budget", "a category view is over --max-view-tokens / --max-view-chars"},
      {"taxonomy-missing", "a category named in the --taxonomy file is not in the spec"},
      {"example-count", "a category has fewer labelled examples than --min-examples"},
  };
  return kChecks;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// ---- Parser -----------------------------------------------------------------------------------

namespace {

enum class Sec {
  kPreamble,     // after `# Spec:` before the first `##` (metadata, then intro text)
  kCategory,     // after `## Category:` before its first `###`
  kSummary, kDefinitions, kLevels, kRules, kExamples, kCatStyle,
  kStyle,        // after `## Style` before its first `###`
  kStyleAction,  // `### refuse` etc. under `## Style`
  kHelpfulness,
  kSkip,         // inside an unknown section: lines are ignored (the heading was reported)
};

// A list item being read: `- ` line plus indented continuation lines.
struct Item {
  int line = 0;
  std::string head;         // the first line after "- "
  size_t head_offset = 0;   // byte offset of `head` within its source line
  std::vector<std::string> cont;  // trimmed continuation lines
  std::vector<int> cont_lines;
};

// Free text being collected for a section.
struct Text {
  std::string* dst = nullptr;
  int* line_dst = nullptr;
  std::vector<std::string> lines;
  int first_line = 0;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& source, std::vector<SpecDiagnostic>& diags)
      : file_(source), diags_(diags) {
    spec_.text = text;
    spec_.path = source;
    src_ = split_source(text);
  }

  Spec run() {
    for (size_t i = 0; i < src_.lines.size(); ++i)
      if (src_.bad_utf8_col[i])
        diag(int(i) + 1, src_.bad_utf8_col[i], "invalid UTF-8 byte", "utf8");
    if (src_.unterminated_comment)
      diag(src_.unterminated_comment, 1, "'<!--' comment is never closed with '-->'");

    size_t i = 0;
    while (i < src_.lines.size() && trim(src_.lines[i]).empty()) ++i;
    if (i == src_.lines.size()) {
      diag(1, 1, "empty spec: expected '# Spec: NAME' and a 'version:' line");
      return std::move(spec_);
    }
    std::string_view first = src_.lines[i];
    if (first.substr(0, 8) == "# Spec: " && !trim(first.substr(8)).empty()) {
      spec_.name = std::string(trim(first.substr(8)));
      spec_.name_line = int(i) + 1;
      ++i;
    } else {
      diag(int(i) + 1, 1, "expected '# Spec: NAME' as the first line");
    }
    header_line_ = spec_.name_line ? spec_.name_line : int(i);
    sec_ = Sec::kPreamble;
    text_ = Text{&spec_.intro, nullptr, {}, 0};
    for (; i < src_.lines.size(); ++i) line(int(i) + 1, src_.lines[i]);
    end_section();
    if (spec_.version.empty())
      diag(header_line_ ? header_line_ : 1, 1, "missing 'version: ...' line after '# Spec: NAME'");
    return std::move(spec_);
  }

 private:
  std::string file_;
  std::vector<SpecDiagnostic>& diags_;
  SourceLines src_;
  Spec spec_;
  Sec sec_ = Sec::kPreamble;
  int header_line_ = 0;
  bool metadata_open_ = true;   // still reading `key: value` lines after `# Spec:`
  Text text_;                   // free text of the current section (dst null: none)
  std::optional<Item> item_;    // list item of the current list section
  bool in_fence_ = false;       // inside ``` in a free-text section
  int fence_line_ = 0;
  bool reported_stray_ = false; // one "text outside a section" per run of lines
  bool seen_style_ = false, seen_helpfulness_ = false;
  std::vector<std::string> cat_sections_;  // `###` names seen in the current category

  void diag(int line, int col, std::string msg, std::string check = "parse",
            Severity sev = Severity::kError) {
    diags_.push_back({file_, line, col, sev, std::move(msg), std::move(check)});
  }

  SpecCategory* cat() { return spec_.categories.empty() ? nullptr : &spec_.categories.back(); }

  bool free_text_section() const {
    return sec_ == Sec::kSummary || sec_ == Sec::kCatStyle || sec_ == Sec::kStyleAction ||
           sec_ == Sec::kHelpfulness || (sec_ == Sec::kPreamble && !metadata_open_);
  }
  bool list_section() const {
    return sec_ == Sec::kDefinitions || sec_ == Sec::kLevels || sec_ == Sec::kRules ||
           sec_ == Sec::kExamples;
  }

  void line(int no, const std::string& l) {
    std::string_view t = trim(l);
    // Fenced code in free text: headings inside are text.
    if (free_text_section() && t.substr(0, 3) == "```") {
      in_fence_ = !in_fence_;
      fence_line_ = no;
      add_text(no, l);
      return;
    }
    if (in_fence_) { add_text(no, l); return; }

    size_t hashes = 0;
    while (hashes < l.size() && l[hashes] == '#') ++hashes;
    bool heading = hashes > 0 && hashes < l.size() && l[hashes] == ' ';
    if (heading && hashes <= 3) { heading_line(no, int(hashes), trim(std::string_view(l).substr(hashes))); return; }
    if (heading && hashes > 3 && free_text_section()) { add_text(no, l); return; }
    if (heading) {
      diag(no, 1, "heading level " + std::to_string(hashes) + " is only allowed inside free-text sections");
      return;
    }

    switch (sec_) {
      case Sec::kPreamble:
        if (metadata_open_) {
          if (t.empty()) return;
          if (metadata(no, l)) return;
          metadata_open_ = false;
        }
        add_text(no, l);
        return;
      case Sec::kSummary: case Sec::kCatStyle: case Sec::kStyleAction: case Sec::kHelpfulness:
        add_text(no, l);
        return;
      case Sec::kDefinitions: case Sec::kLevels: case Sec::kRules: case Sec::kExamples:
        list_line(no, l);
        return;
      case Sec::kCategory: case Sec::kStyle:
        if (t.empty()) { reported_stray_ = false; return; }
        if (!reported_stray_)
          diag(no, 1, sec_ == Sec::kStyle
                          ? "text outside a section: expected '### refuse', '### safe-complete' or '### comply'"
                          : "text outside a section: expected a '### Summary', '### Definitions', '### Levels', "
                            "'### Rules', '### Examples' or '### Style' heading");
        reported_stray_ = true;
        return;
      case Sec::kSkip:
        return;
    }
  }

  // `key: value` under the spec heading. Returns false when the line is not metadata.
  bool metadata(int no, const std::string& l) {
    size_t colon = l.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string_view key(l.data(), colon);
    for (char c : key)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    std::string_view value = trim(std::string_view(l).substr(colon + 1));
    if (key == "version") {
      if (!spec_.version.empty()) diag(no, 1, "duplicate 'version:' line");
      if (value.empty()) diag(no, int(colon) + 2, "'version:' needs a value");
      spec_.version = std::string(value);
      spec_.version_line = no;
    } else {
      diag(no, 1, "unknown metadata key '" + std::string(key) + "' (known: version)");
    }
    return true;
  }

  void add_text(int no, const std::string& l) {
    if (!text_.dst) return;
    std::string_view v = l;
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.empty() && text_.lines.empty()) return;  // leading blank lines
    if (!text_.first_line) text_.first_line = no;
    text_.lines.emplace_back(v);
  }

  // Ends the current section: stores free text, finishes the pending list item.
  void end_section() {
    if (in_fence_) {
      diag(fence_line_, 1, "code fence '```' is never closed");
      in_fence_ = false;
    }
    finish_item();
    if (text_.dst) {
      // Trailing blank lines go; runs of blank lines inside collapse to one.
      while (!text_.lines.empty() && text_.lines.back().empty()) text_.lines.pop_back();
      std::string out;
      for (size_t k = 0; k < text_.lines.size(); ++k) {
        if (text_.lines[k].empty() && k > 0 && text_.lines[k - 1].empty()) continue;
        if (k > 0) out += '\n';
        out += text_.lines[k];
      }
      *text_.dst = std::move(out);
      if (text_.line_dst && text_.first_line) *text_.line_dst = text_.first_line;
    }
    text_ = Text{};
    reported_stray_ = false;
  }

  void start_text(std::string* dst, int* line_dst, int heading_line) {
    text_ = Text{dst, line_dst, {}, 0};
    if (line_dst) *line_dst = heading_line;  // replaced by the first text line when there is one
  }

  void heading_line(int no, int level, std::string_view title) {
    end_section();
    if (level == 1) {
      diag(no, 1, "only one '# ' heading is allowed: the '# Spec: NAME' line at the top");
      sec_ = Sec::kSkip;
      return;
    }
    metadata_open_ = false;
    if (level == 2) {
      top_ = Top::kOther;
      std::string lower = lower_ascii(title);
      if (lower.substr(0, 9) == "category:") {
        category_heading(no, title.substr(9));
      } else if (lower == "style") {
        if (seen_style_) diag(no, 1, "duplicate '## Style' section");
        seen_style_ = true;
        top_ = Top::kStyle;
        sec_ = Sec::kStyle;
      } else if (lower == "helpfulness") {
        if (seen_helpfulness_) diag(no, 1, "duplicate '## Helpfulness' section");
        seen_helpfulness_ = true;
        top_ = Top::kHelpfulness;
        sec_ = Sec::kHelpfulness;
        start_text(&spec_.helpfulness, &spec_.helpfulness_line, no);
      } else {
        diag(no, 4, "unknown section '## " + std::string(title) +
                        "' (expected '## Category: ID — Title', '## Style' or '## Helpfulness')");
        sec_ = Sec::kSkip;
      }
      return;
    }
    // level 3
    std::string lower = lower_ascii(title);
    if (top_ == Top::kStyle) {
      auto a = parse_action(lower);
      if (!a) {
        diag(no, 5, "unknown style section '### " + std::string(title) +
                        "' (expected refuse, safe-complete or comply)");
        sec_ = Sec::kSkip;
        return;
      }
      for (const auto& [k, v] : spec_.style)
        if (k == action_name(*a)) diag(no, 5, "duplicate '### " + k + "' style section");
      spec_.style.emplace_back(action_name(*a), "");
      spec_.style_lines.push_back(no);
      sec_ = Sec::kStyleAction;
      start_text(&spec_.style.back().second, &spec_.style_lines.back(), no);
      return;
    }
    if (top_ == Top::kOther) {  // under an unknown or malformed `##`, already reported
      sec_ = Sec::kSkip;
      return;
    }
    SpecCategory* c = cat();
    if (top_ != Top::kCategory || !c) {
      diag(no, 1, "'### " + std::string(title) + "' outside a '## Category:' or '## Style' section");
      sec_ = Sec::kSkip;
      return;
    }
    static const std::array<std::pair<const char*, Sec>, 6> kSubs = {{
        {"summary", Sec::kSummary}, {"definitions", Sec::kDefinitions}, {"levels", Sec::kLevels},
        {"rules", Sec::kRules}, {"examples", Sec::kExamples}, {"style", Sec::kCatStyle}}};
    for (const auto& [name, sec] : kSubs) {
      if (lower != name) continue;
      if (std::find(cat_sections_.begin(), cat_sections_.end(), lower) != cat_sections_.end())
        diag(no, 5, "duplicate '### " + std::string(title) + "' section in category '" + c->id + "'");
      cat_sections_.push_back(lower);
      sec_ = sec;
      if (sec == Sec::kSummary) start_text(&c->summary, &c->summary_line, no);
      if (sec == Sec::kCatStyle) start_text(&c->style, &c->style_line, no);
      if (sec == Sec::kRules) c->has_rules_section = true;
      return;
    }
    diag(no, 5, "unknown section '### " + std::string(title) +
                    "' (expected Summary, Definitions, Levels, Rules, Examples or Style)");
    sec_ = Sec::kSkip;
  }
  // The `##` section the parser is in (decides what a `###` heading means).
  enum class Top { kNone, kCategory, kStyle, kHelpfulness, kOther };
  Top top_ = Top::kNone;

  void category_heading(int no, std::string_view rest) {
    cat_sections_.clear();
    rest = trim(rest);
    size_t sp = rest.find_first_of(" \t");
    std::string_view id = rest.substr(0, sp);
    std::string_view after = sp == std::string_view::npos ? std::string_view() : trim(rest.substr(sp));
    std::string_view title;
    for (std::string_view sep : {"—", "–", "--", "-"}) {
      if (after.substr(0, sep.size()) == sep) {
        title = trim(after.substr(sep.size()));
        break;
      }
    }
    std::string_view line = src_.lines[no - 1];
    int id_col = column_of(line, size_t(id.data() - line.data()));
    if (id.empty() || title.empty()) {
      diag(no, 1, "expected '## Category: ID — Title'");
      sec_ = Sec::kSkip;
      return;
    }
    if (!valid_category_id(id))
      diag(no, id_col,
           reserved_category_id(id)
               ? "category id '" + std::string(id) + "' is reserved"
               : "malformed category id '" + std::string(id) +
                     "': use lower-case letters, digits and single hyphens ([a-z][a-z0-9-]*)",
           "id-malformed");
    SpecCategory c;
    c.id = std::string(id);
    c.title = std::string(title);
    c.line = no;
    spec_.categories.push_back(std::move(c));
    sec_ = Sec::kCategory;
    top_ = Top::kCategory;
  }

  // ---- list sections ----

  void list_line(int no, const std::string& l) {
    std::string_view t = trim(l);
    if (t.empty()) { reported_stray_ = false; return; }
    if ((l[0] == '-' || l[0] == '*') && l.size() > 1 && l[1] == ' ') {
      finish_item();
      item_ = Item{no, std::string(trim(std::string_view(l).substr(2))), 0, {}, {}};
      item_->head_offset = size_t(trim(std::string_view(l).substr(2)).data() - l.data());
      reported_stray_ = false;
      return;
    }
    if ((l[0] == ' ' || l[0] == '\t') && item_) {
      item_->cont.emplace_back(t);
      item_->cont_lines.push_back(no);
      return;
    }
    if (!reported_stray_) {
      diag(no, 1, std::string("expected a list item '- **") +
                      (sec_ == Sec::kDefinitions ? "term" : "ID") + "** ...' (continuation lines are indented)");
    }
    reported_stray_ = true;
  }

  // The parts of `- **ID** (PAREN): TEXT`.
  struct Bullet {
    std::string id; int id_col = 0;
    bool has_paren = false; std::string paren; int paren_col = 0;
    std::string text;
  };

  // Parses an item's head. Accepts `**ID**:` and `**ID:**`. Returns nullopt (and reports)
  // when the head is not of that shape.
  std::optional<Bullet> bullet(const Item& it, const char* shape) {
    std::string_view h = it.head;
    std::string_view line = src_.lines[it.line - 1];
    // `h` is a copy of the line's text from byte it.head_offset on.
    auto col = [&](std::string_view part) { return column_of(line, it.head_offset + size_t(part.data() - h.data())); };
    if (h.substr(0, 2) != "**") {
      diag(it.line, col(h), std::string("expected '") + shape + "'");
      return std::nullopt;
    }
    size_t close = h.find("**", 2);
    if (close == std::string_view::npos) {
      diag(it.line, col(h), std::string("unclosed '**' in '") + shape + "'");
      return std::nullopt;
    }
    Bullet b;
    std::string_view id = h.substr(2, close - 2);
    std::string_view rest = h.substr(close + 2);
    bool colon = false;
    if (!id.empty() && id.back() == ':') { id.remove_suffix(1); colon = true; }
    b.id = std::string(trim(id));
    b.id_col = col(h.substr(2));
    rest = trim(rest);
    if (!colon && !rest.empty() && rest[0] == '(') {
      size_t end = rest.find(')');
      if (end == std::string_view::npos) {
        diag(it.line, col(rest), "unclosed '(' after the id");
        return std::nullopt;
      }
      b.has_paren = true;
      b.paren = std::string(trim(rest.substr(1, end - 1)));
      b.paren_col = col(rest.substr(1));
      rest = trim(rest.substr(end + 1));
    }
    if (!colon) {
      if (rest.empty() || rest[0] != ':') {
        diag(it.line, rest.empty() ? int(count_chars(line)) + 1 : col(rest),
             std::string("expected ':' after the id in '") + shape + "'");
        return std::nullopt;
      }
      rest = trim(rest.substr(1));
    }
    b.text = std::string(rest);
    return b;
  }

  static std::string join(std::string head, const std::vector<std::string>& cont, size_t from, size_t to) {
    for (size_t k = from; k < to; ++k) {
      if (!head.empty()) head += ' ';
      head += cont[k];
    }
    return head;
  }

  void element_id(const Bullet& b, int line) {
    if (!valid_element_id(b.id))
      diag(line, b.id_col,
           "malformed id '" + b.id + "': use capital letters then digits ([A-Z]+[0-9]+, e.g. S2, R1, E3)",
           "id-malformed");
  }

  void finish_item() {
    if (!item_) return;
    Item it = std::move(*item_);
    item_.reset();
    SpecCategory* c = cat();
    if (!c) return;
    switch (sec_) {
      case Sec::kDefinitions: {
        auto b = bullet(it, "- **term**: definition");
        if (!b) return;
        if (b->has_paren) b->text = "(" + b->paren + ") " + b->text;  // `**term** (abbr.): text`
        if (b->id.empty()) diag(it.line, b->id_col, "empty definition term");
        c->definitions.emplace_back(b->id, join(b->text, it.cont, 0, it.cont.size()));
        c->definition_lines.push_back(it.line);
        return;
      }
      case Sec::kLevels: {
        auto b = bullet(it, "- **ID** (ACTION): description");
        if (!b) return;
        element_id(*b, it.line);
        SpecLevel lv{b->id, join(b->text, it.cont, 0, it.cont.size()), Action::kRefuse, it.line};
        if (!b->has_paren) {
          diag(it.line, b->id_col, "level '" + b->id + "' has no action: write '- **" + b->id +
                                       "** (comply|safe-complete|refuse): ...'", "level-action");
        } else if (auto a = parse_action(b->paren)) {
          lv.action = *a;
        } else {
          diag(it.line, b->paren_col, "level '" + b->id + "' has unknown action '" + b->paren +
                                          "' (expected comply, safe-complete or refuse)", "level-action");
        }
        c->levels.push_back(std::move(lv));
        return;
      }
      case Sec::kRules: {
        auto b = bullet(it, "- **ID**: text");
        if (!b) return;
        element_id(*b, it.line);
        if (b->has_paren) b->text = "(" + b->paren + ") " + b->text;
        c->rules.push_back({b->id, join(b->text, it.cont, 0, it.cont.size()), it.line});
        return;
      }
      case Sec::kExamples: {
        example(it, *c);
        return;
      }
      default:
        return;
    }
  }

  // `- **E1** (LEVEL, ACTION): prompt` + continuation lines, an indented `Ideal:` line starts
  // the ideal answer.
  void example(const Item& it, SpecCategory& c) {
    auto b = bullet(it, "- **ID** (LEVEL, ACTION): prompt");
    if (!b) return;
    element_id(*b, it.line);
    SpecExample ex;
    ex.id = b->id;
    ex.line = it.line;
    ex.action = Action::kRefuse;
    if (!b->has_paren) {
      diag(it.line, b->id_col, "example '" + b->id + "' needs its label: '- **" + b->id +
                                   "** (LEVEL, ACTION): prompt'");
      return;
    }
    std::string_view p = b->paren;
    size_t comma = p.find(',');
    std::string_view x = trim(p.substr(0, comma));
    std::string_view y = comma == std::string_view::npos ? std::string_view() : trim(p.substr(comma + 1));
    std::optional<Action> ax = parse_action(x), ay = parse_action(y);
    if (comma == std::string_view::npos || y.find(',') != std::string_view::npos || (ax.has_value() == ay.has_value())) {
      diag(it.line, b->paren_col, "example '" + b->id + "': expected '(LEVEL, ACTION)' with ACTION one of "
                                  "comply, safe-complete, refuse; got '(" + b->paren + ")'");
      return;
    }
    ex.action = ax ? *ax : *ay;
    ex.level = std::string(ax ? y : x);
    size_t ideal_at = it.cont.size();
    std::string ideal_first;
    for (size_t k = 0; k < it.cont.size(); ++k) {
      std::string l = lower_ascii(it.cont[k].substr(0, 13));
      size_t skip = l.rfind("ideal answer:", 0) == 0 ? 13 : l.rfind("ideal:", 0) == 0 ? 6 : 0;
      if (skip) {
        ideal_at = k;
        ideal_first = std::string(trim(std::string_view(it.cont[k]).substr(skip)));
        break;
      }
    }
    ex.prompt = join(b->text, it.cont, 0, ideal_at);
    if (ideal_at < it.cont.size()) ex.ideal = join(ideal_first, it.cont, ideal_at + 1, it.cont.size());
    // A prompt written in quotes: the quotes are not part of it.
    for (auto [open, close] : {std::pair<std::string_view, std::string_view>{"\"", "\""}, {"“", "”"}}) {
      std::string_view v = ex.prompt;
      if (v.size() >= open.size() + close.size() && v.substr(0, open.size()) == open &&
          v.substr(v.size() - close.size()) == close) {
        ex.prompt = std::string(v.substr(open.size(), v.size() - open.size() - close.size()));
        break;
      }
    }
    c.examples.push_back(std::move(ex));
  }
};

}  // namespace

Spec parse_spec_lenient(const std::string& text, const std::string& source,
                        std::vector<SpecDiagnostic>& diags) {
  size_t first = diags.size();
  Parser p(text, source, diags);
  Spec s = p.run();
  std::stable_sort(diags.begin() + long(first), diags.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.col) < std::pair(b.line, b.col);
  });
  return s;
}

Spec Spec::parse(const std::string& text, const std::string& source) {
  std::vector<SpecDiagnostic> diags;
  Spec s = parse_spec_lenient(text, source, diags);
  for (const auto& d : diags)
    if (d.severity == Severity::kError)
      throw Error(Location{source, d.line}, d.message + " [" + d.check + "]");
  return s;
}

std::string read_spec_file(const std::string& path) {
  if (path != "-") return read_text_file(path, "spec");
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  if (std::cin.bad()) throw Error(Location{path, 0}, "cannot read spec", kExitIo);
  return ss.str();
}

Spec Spec::load(const std::string& path) { return parse(read_spec_file(path), path); }

// ---- Lookups ----------------------------------------------------------------------------------

const SpecLevel* SpecCategory::level(std::string_view id) const {
  for (const auto& l : levels) if (l.id == id) return &l;
  return nullptr;
}

const SpecCategory* Spec::category(std::string_view id) const {
  for (const auto& c : categories) if (c.id == id) return &c;
  return nullptr;
}

const std::string* Spec::style_for(Action a) const {
  for (const auto& [k, v] : style) if (k == action_name(a)) return &v;
  return nullptr;
}

std::optional<int> Spec::resolve(std::string_view ref) const {
  auto line_at = [](const std::vector<int>& lines, size_t i) { return i < lines.size() ? lines[i] : 0; };
  size_t dot = ref.find('.');
  std::string_view head = ref.substr(0, dot);
  std::string_view tail = dot == std::string_view::npos ? std::string_view() : ref.substr(dot + 1);
  if (dot != std::string_view::npos && tail.find('.') != std::string_view::npos) return std::nullopt;
  if (head == "helpfulness" && dot == std::string_view::npos) {
    if (helpfulness.empty() && !helpfulness_line) return std::nullopt;
    return helpfulness_line;
  }
  if (head == "style") {
    if (style.empty()) return std::nullopt;
    if (dot == std::string_view::npos) return line_at(style_lines, 0);
    for (size_t i = 0; i < style.size(); ++i)
      if (style[i].first == tail) return line_at(style_lines, i);
    return std::nullopt;
  }
  const SpecCategory* c = category(head);
  if (!c) return std::nullopt;
  if (dot == std::string_view::npos) return c->line;
  if (tail == "style") return c->style.empty() && !c->style_line ? std::nullopt : std::optional<int>(c->style_line);
  if (tail == "summary") return c->summary.empty() && !c->summary_line ? std::nullopt : std::optional<int>(c->summary_line);
  for (const auto& l : c->levels) if (l.id == tail) return l.line;
  for (const auto& r : c->rules) if (r.id == tail) return r.line;
  for (const auto& e : c->examples) if (e.id == tail) return e.line;
  return std::nullopt;
}

// ---- Category views ---------------------------------------------------------------------------
//
// spec(category) (Guan et al. 2024, sec. 2.2): every category's summary, the style and
// helpfulness principles, and the full text of the one category. The layout is fixed here
// and documented in delib-spec(5) ("CATEGORY VIEWS"); ids are written fully qualified
// (`self-harm.S3`) so that a chain of thought can cite exactly what it read. Only the parsed
// content enters the view (never source lines or comments), so reformatting a spec without
// changing its content leaves every view_hash unchanged.

namespace {

// Summary paragraphs flattened to one line for the overview list.
std::string one_line(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == ' ' || c == '\t') { space = !out.empty(); continue; }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

void section(std::string& out, std::string_view heading, std::string_view body) {
  out += heading;
  out += '\n';
  out += body;
  out += "\n\n";
}

}  // namespace

std::string Spec::render_view(std::string_view id) const {
  const SpecCategory* c = category(id);
  if (!c) {
    std::string known;
    for (const auto& k : categories) known += (known.empty() ? "" : ", ") + k.id;
    throw Error(Location{path, 0}, "unknown spec category '" + std::string(id) + "' (spec categories: " +
                                       (known.empty() ? "none" : known) + ")");
  }
  std::string out;
  out += "# Safety spec: " + name;
  if (!version.empty()) out += " (version " + version + ")";
  out += "\n\n";
  if (!intro.empty()) out += intro + "\n\n";

  out += "## Categories\n";
  for (const auto& k : categories) {
    out += "- " + k.id + " (" + k.title + "): " + one_line(k.summary) + "\n";
  }
  out += '\n';

  if (!style.empty()) {
    out += "## Style\n\n";
    for (const auto& [action, text] : style) section(out, "### style." + action, text);
  }
  if (!helpfulness.empty()) section(out, "## Helpfulness", helpfulness);

  out += "## Category: " + c->id + " (" + c->title + ")\n\n";
  if (!c->summary.empty()) section(out, "### Summary", c->summary);
  if (!c->definitions.empty()) {
    out += "### Definitions\n";
    for (const auto& [term, def] : c->definitions) out += "- **" + term + "**: " + def + "\n";
    out += '\n';
  }
  if (!c->levels.empty()) {
    out += "### Levels\n";
    for (const auto& l : c->levels)
      out += "- **" + c->id + "." + l.id + "** (" + action_name(l.action) + "): " + l.description + "\n";
    out += '\n';
  }
  if (!c->rules.empty()) {
    out += "### Rules\n";
    for (const auto& r : c->rules) out += "- **" + c->id + "." + r.id + "**: " + r.text + "\n";
    out += '\n';
  }
  if (!c->examples.empty()) {
    out += "### Examples\n";
    for (const auto& e : c->examples) {
      out += "- **" + c->id + "." + e.id + "** (" + e.level + ", " + action_name(e.action) +
             "): \"" + e.prompt + "\"\n";
      if (!e.ideal.empty()) out += "  Ideal: " + e.ideal + "\n";
    }
    out += '\n';
  }
  if (!c->style.empty()) section(out, "### " + c->id + ".style", c->style);
  while (out.size() >= 2 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') out.pop_back();
  return out;
}

std::string Spec::view_hash(std::string_view category) const { return hex64(hash64(render_view(category))); }

std::string Spec::spec_hash() const { return hex64(hash64(text)); }

}  // namespace delib
