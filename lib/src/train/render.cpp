// Records -> token ids and loss labels for SFT (delib/train.h).
#include <algorithm>
#include <memory>
#include <new>
#include <set>

#include <fmt/format.h>
#include <xxhash.h>

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "delib/train.h"

namespace delib::train {
namespace {

void append(TokenizedExample& e, const std::vector<int32_t>& ids, bool target) {
  e.ids.insert(e.ids.end(), ids.begin(), ids.end());
  for (int32_t id : ids) e.labels.push_back(target ? id : int32_t(kIgnoreIndex));
}

// Raw pair: the context is not trained on, the target is (plus eos). Both are encoded with
// parse_special = false: record text never becomes control tokens.
TokenizedExample render_raw(const std::string& context, const std::string& target,
                            const Tokenizer& tok, const RenderOptions& o) {
  TokenizedExample e;
  append(e, tok.encode(context, false), false);
  append(e, tok.encode(target, false), true);
  if (o.append_eos)
    if (auto eos = tok.eos_id()) append(e, {*eos}, true);
  return e;
}

std::string_view strip(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

bool has_special_text(std::string_view s, const Tokenizer& tok) {
  for (const std::string& sp : tok.special_tokens())
    if (!sp.empty() && s.find(sp) != std::string_view::npos) return true;
  return false;
}

// Locates `content` (verbatim, else with surrounding whitespace stripped as templates do)
// inside text[from, to). Returns [begin, end) or nullopt.
std::optional<std::pair<size_t, size_t>> locate(const std::string& text, size_t from, size_t to,
                                                std::string_view content) {
  for (std::string_view c : {content, strip(content)}) {
    if (c.empty()) return std::nullopt;
    size_t p = std::string_view(text).substr(0, to).find(c, from);
    if (p != std::string::npos) return std::make_pair(p, p + c.size());
  }
  return std::nullopt;
}

}  // namespace

TokenizedExample render_example(const Record& record, const Tokenizer& tok,
                                const ChatTemplate* tmpl, const RenderOptions& options) {
  const Location& where = record.where();
  // Raw shapes first: they are how models without a chat template are trained.
  if (auto target = record.get_string("target")) {
    auto text = record.get_string("text");
    if (!text) throw Error(where, "field 'target' needs a 'text' field (the context)");
    return render_raw(*text, *target, tok, options);
  }
  if (auto completion = record.get_string("completion")) {
    auto prompt = record.get_string("prompt");
    if (!prompt) throw Error(where, "field 'completion' needs a 'prompt' string");
    return render_raw(*prompt, *completion, tok, options);
  }

  std::vector<Message> msgs = record.messages();
  if (auto answer = record.get_string("answer")) {
    Message m;
    m.role = "assistant";
    m.content = *answer;
    m.reasoning = record.get_string("reasoning").value_or("");
    msgs.push_back(std::move(m));
  } else if (msgs.empty() || msgs.back().role != "assistant") {
    throw Error(where, "no training target: expected 'answer' (with optional 'reasoning'), a final "
                       "assistant message, 'text'+'target' or 'prompt'+'completion'");
  }
  if (!tmpl)
    throw Error(where, "chat record but the model has no chat template; HINT: give --chat-template "
                       "or use 'text'+'target' records");
  const Rendered r = tmpl->render(msgs, /*add_generation_prompt=*/false, /*keep_reasoning=*/true);
  const size_t last = msgs.size() - 1;
  const TurnSpan* turn = nullptr;
  for (const TurnSpan& s : r.spans)
    if (s.message_index == last) turn = &s;
  if (!turn || turn->target_end <= turn->target_begin)
    throw Error(where, "the chat template rendered no target span for the final assistant turn");

  // Byte ranges encoded as literal text (message contents): parse_special = false there.
  std::vector<std::pair<size_t, size_t>> literal;
  for (const TurnSpan& s : r.spans) {
    if (s.message_index >= msgs.size()) continue;  // template text, generation prompt
    const Message& m = msgs[s.message_index];
    size_t from = s.begin;
    for (const std::string* part : {&m.reasoning, &m.content}) {
      if (part->empty()) continue;
      if (auto at = locate(r.text, from, s.end, *part)) {
        literal.push_back(*at);
        from = at->second;
      } else if (has_special_text(*part, tok)) {
        // We cannot tell markup from content here, and the content could inject control
        // tokens: refuse rather than train on an ambiguous encoding.
        throw Error(where, fmt::format("message {} ({}) contains special-token text and the chat "
                                       "template did not render it verbatim", s.message_index, m.role));
      }
    }
  }
  std::set<size_t> cuts{0, r.text.size(), turn->target_begin, turn->target_end};
  for (const auto& [b, e] : literal) { cuts.insert(b); cuts.insert(e); }
  TokenizedExample ex;
  for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
    const size_t b = *it, e = *std::next(it);
    const bool is_literal = std::any_of(literal.begin(), literal.end(),
                                        [&](const auto& l) { return l.first <= b && e <= l.second; });
    const bool target = turn->target_begin <= b && e <= turn->target_end;
    append(ex, tok.encode(std::string_view(r.text).substr(b, e - b), /*parse_special=*/!is_literal), target);
  }
  return ex;
}

SpecLeakDetector::SpecLeakDetector(const Spec* spec) {
  if (!spec) return;
  for (const SpecCategory& c : spec->categories) {
    views_.push_back(spec->render_view(c.id));
    for (const SpecRule& rule : c.rules)
      if (rule.text.size() >= 40) rules_.push_back(rule.text);
  }
}

namespace {

// The first line of every view Spec::render_view writes ("# Safety spec: NAME ..."); a test
// (tests/unit/train/test_render.cpp) pins it to render_view's output.
constexpr std::string_view kViewHeading = "# Safety spec: ";

// True when `text` contains a spec view whose hash64 (XXH3-64, as Spec::view_hash and
// cot-gen's provenance.spec_view_hash) is `hex`: a view starts at a line that begins with
// kViewHeading and ends at a line end (with or without that newline) or at the end of the
// text (with or without a final newline added). cot-gen's own system message is instructions + "# Safety specification" + view, and
// a copied view may be followed by more text, so the whole message rarely hashes to the view.
// One streaming XXH3 pass per heading: digests of a growing prefix equal one-shot hashes.
bool contains_view_with_hash(std::string_view text, std::string_view hex) {
  if (hex64(hash64(text)) == hex) return true;
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(XXH3_createState(), XXH3_freeState);
  if (!state) throw std::bad_alloc();
  XXH3_state_t* st = state.get();
  bool found = false;
  for (size_t at = text.find(kViewHeading); at != std::string_view::npos && !found;
       at = text.find(kViewHeading, at + 1)) {
    if (at > 0 && text[at - 1] != '\n') continue;
    XXH3_64bits_reset(st);
    size_t done = at;
    while (!found) {
      const size_t nl = text.find('\n', done);
      const size_t end = nl == std::string_view::npos ? text.size() : nl;
      XXH3_64bits_update(st, text.data() + done, end - done);
      found = hex64(XXH3_64bits_digest(st)) == hex;  // up to the line end, without '\n'
      if (found) break;
      // With it; at the end of the text, with the final newline a view ends in (render_view)
      // but a pipeline that trims messages cuts.
      XXH3_64bits_update(st, "\n", 1);
      found = hex64(XXH3_64bits_digest(st)) == hex;
      if (nl == std::string_view::npos) break;
      done = nl + 1;
    }
  }
  return found;
}

}  // namespace

bool SpecLeakDetector::system_contains_spec_view(const Record& record) const {
  std::optional<std::string> hash;
  if (auto h = record.path("provenance.spec_view_hash"); h && h->is_string()) hash = h->as_string();
  if (!hash && views_.empty()) return false;
  std::vector<Message> msgs;
  try {
    msgs = record.messages();
  } catch (const Error&) {
    return false;  // raw records have no system message
  }
  for (const Message& m : msgs) {
    if (m.role != "system" && m.role != "developer") continue;
    if (hash && contains_view_with_hash(m.content, *hash)) return true;
    for (const auto& v : views_)
      if (m.content.find(v) != std::string::npos) return true;
    for (const auto& r : rules_)
      if (m.content.find(r) != std::string::npos) return true;
  }
  return false;
}

}  // namespace delib::train
