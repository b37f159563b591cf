// ChatTemplate for any Jinja chat template: the engine renders the text (jinja.h); this file
// turns a chat into the variables transformers passes, and the engine's provenance into
// TurnSpans, and learns from probe renders what delib's conventions need (the assistant
// header, the end-of-turn text, whether and how the template writes reasoning).
//
// Probes, rendered once when the template is loaded, with sentinel texts:
//   A  [user]                        + generation prompt -> generation_prompt()
//   B  [user, assistant, user, assistant]                -> assistant header, end-of-turn text
//   C  [user, assistant with reasoning]                  -> whether/how reasoning is rendered
// A probe the template refuses (raise_exception) leaves the defaults: no header, no end text,
// no native reasoning; rendering real chats is unaffected.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>

#include "chat/chat_internal.h"
#include "chat/jinja.h"
#include "delib/error.h"

namespace delib::chat_detail {
namespace {

using jinja::Value;

// Sentinels: letters and digits that no template trims, escapes or splits.
constexpr const char* kProbe = "xDlbProbe";

// Reasoning formats delib knows, by the tags a template writes (docs/chat-templates.md).
// A template whose text holds both tags of a row uses that row (the first that matches):
// parse_completion splits on them, and keep_reasoning writes a turn's reasoning as
// open + after_open + REASONING + close before its answer where the template drops it (except
// "think": delib's convention, see render_chat).
struct ReasoningTags {
  const char* name;
  const char* open;
  const char* close;
  const char* after_open;  // what the model writes between open and the reasoning
};
constexpr ReasoningTags kReasoningTags[] = {
    {"seed", "<seed:think>", "</seed:think>", ""},
    {"think", "<think>", "</think>", ""},
    // Gemma 4: "<|channel>thought\n...<channel|>" before the answer (the generation prompt
    // writes an empty one when thinking is off).
    {"gemma4", "<|channel>thought", "<channel|>", "\n"},
    // Command-R7B: "<|START_THINKING|>...<|END_THINKING|>" before <|START_RESPONSE|>.
    {"command-r", "<|START_THINKING|>", "<|END_THINKING|>", ""},
};

// Stop strings that go with an end-of-turn text.
struct StopRow {
  const char* turn_end;
  std::vector<const char*> more;
};
const StopRow kStopRows[] = {
    {"<|im_end|>", {"<|endoftext|>"}},
    {"<|eot_id|>", {"<|eom_id|>", "<|end_of_text|>"}},
};

Value from_json(const Json& j, int origin) {
  if (j.is_null()) return Value::none();
  if (j.is_bool()) return Value::boolean(j.as_bool());
  if (j.is_int()) return Value::integer(j.as_int());
  if (j.is_double()) return Value::number(j.as_double());
  if (j.is_string()) return Value::string(j.as_string(), origin);
  if (j.is_array()) {
    std::vector<Value> items;
    for (const Json& x : j.as_array()) items.push_back(from_json(x, origin));
    return Value::list(std::move(items));
  }
  if (j.is_object()) {
    Value d = Value::dict();
    for (const auto& [k, v] : j.as_object()) d.dict_obj().set(Value::string(k), from_json(v, origin));
    return d;
  }
  // Json::raw: parse it.
  return from_json(Json::parse(j.dump()), origin);
}

// What one render needs besides the template.
struct Chat {
  Value messages = Value::list({});
  std::vector<std::string> roles;
  std::vector<std::string> reasoning;  // per message; empty: none
  Value tools = Value::none();
  Value documents = Value::none();
  std::vector<std::pair<std::string, Value>> kwargs;
};

void set_key(jinja::DictObj& d, const std::string& k, Value v) { d.set(Value::string(k), std::move(v)); }

// transformers' _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r}.
Value alias_reasoning(const jinja::DictObj& m, const std::string* reasoning, int index) {
  Value d = Value::dict();
  auto& out = d.dict_obj();
  out.message_index = index;
  if (reasoning) out.items.emplace_back(Value::string("thinking"), Value::string(*reasoning, index));
  for (const auto& [k, v] : m.items) out.set(k, v);
  if (reasoning) set_key(out, "reasoning_content", Value::string(*reasoning, index));
  return d;
}

void add_message(Chat& c, const jinja::DictObj& m, const std::string* reasoning) {
  int index = int(c.roles.size());
  c.messages.list_obj().items.push_back(alias_reasoning(m, reasoning, index));
  const Value* role = m.find(std::string_view("role"));
  c.roles.push_back(role && role->is_string() ? *role->s : "");
  c.reasoning.push_back(reasoning ? *reasoning : "");
}

// A delib Message as transformers sees the record message {role, content, name?, reasoning?}.
void add_message(Chat& c, const Message& m) {
  int index = int(c.roles.size());
  jinja::DictObj d;
  set_key(d, "role", Value::string(m.role, index));
  set_key(d, "content", Value::string(m.content, index));
  if (!m.name.empty()) set_key(d, "name", Value::string(m.name, index));
  if (!m.reasoning.empty()) set_key(d, "reasoning", Value::string(m.reasoning, index));
  add_message(c, d, m.reasoning.empty() ? nullptr : &m.reasoning);
}

// A JSON message: keys with null values dropped (transformers' _normalize_chat_messages).
void add_message(Chat& c, const Json& m, size_t i) {
  if (!m.is_object()) throw Error("message " + std::to_string(i) + ": expected an object");
  int index = int(c.roles.size());
  jinja::DictObj d;
  const std::string* reasoning = nullptr;
  for (const auto& [k, v] : m.as_object()) {
    if (v.is_null()) continue;
    d.set(Value::string(k), from_json(v, index));
  }
  std::string r;
  for (const char* k : {"reasoning_content", "thinking", "reasoning"})
    if (const Value* v = d.find(std::string_view(k)); v && !v->is_none()) {
      if (!v->is_string()) throw Error("message " + std::to_string(i) + ": `" + k + "` is not a string");
      r = *v->s;
      reasoning = &r;
      break;
    }
  add_message(c, d, reasoning);
}

// "YYYY-MM-DD[ HH:MM[:SS]]" (or with T) in local time -> seconds since the epoch.
int64_t parse_now(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, se = 0;
  int n = std::sscanf(s.c_str(), "%d-%d-%d%*[ T]%d:%d:%d", &y, &mo, &d, &h, &mi, &se);
  if (n < 3 || mo < 1 || mo > 12 || d < 1 || d > 31)
    throw Error("current date '" + s + "': expected YYYY-MM-DD (optionally with HH:MM[:SS])", kExitUsage);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  tm.tm_isdst = -1;
  return int64_t(std::mktime(&tm));
}

size_t common_prefix(std::string_view a, std::string_view b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

class JinjaTemplate : public ChatTemplate {
 public:
  JinjaTemplate(const std::string& text, std::string name, const ChatOptions& o,
                const std::vector<std::pair<std::string, std::string>>& extra)
      : name_(std::move(name)), options_(o) {
    try {
      root_ = jinja::parse(text);
    } catch (const jinja::Error& e) {
      throw Error(Location{name_, e.line()}, e.what());
    }
    // Later entries win (the root scope keeps the last value of a name): the tokenizer's other
    // special tokens, then kwargs, then the named options.
    for (const auto& [k, v] : extra) vars_.emplace_back(k, Value::string(v));
    if (o.kwargs.is_object())
      for (const auto& [k, v] : o.kwargs.as_object()) vars_.emplace_back(k, from_json(v, -1));
    else if (!o.kwargs.is_null())
      throw Error("chat template keyword arguments must be a JSON object", kExitUsage);
    if (o.bos_token) vars_.emplace_back("bos_token", Value::string(*o.bos_token));
    if (o.eos_token) vars_.emplace_back("eos_token", Value::string(*o.eos_token));
    if (o.date_string) vars_.emplace_back("date_string", Value::string(*o.date_string));
    if (o.reasoning_effort) vars_.emplace_back("reasoning_effort", Value::string(*o.reasoning_effort));
    if (o.model_identity) vars_.emplace_back("model_identity", Value::string(*o.model_identity));
    if (o.enable_thinking) vars_.emplace_back("enable_thinking", Value::boolean(*o.enable_thinking));
    if (o.current_date) now_ = parse_now(*o.current_date);
    harmony_ = text.find("<|channel|>") != std::string::npos && text.find("<|message|>") != std::string::npos &&
               text.find("<|start|>") != std::string::npos;
    for (const auto& t : kReasoningTags)
      if (text.find(t.open) != std::string::npos && text.find(t.close) != std::string::npos) {
        tags_ = &t;
        break;
      }
    probe();
  }

  ChatFamily family() const override { return family_; }
  std::string variant() const override { return chat_family_name(family_); }
  std::string generation_prompt() const override { return gen_prompt_; }

  Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                  bool keep_reasoning) const override {
    try {
      Chat c;
      for (const Message& m : messages) add_message(c, m);
      return render_chat(c, add_generation_prompt, keep_reasoning);
    } catch (const jinja::Error& e) {  // building the variables (e.g. a text over the size bound)
      throw Error("chat template " + name_ + ": " + e.kind() + ": " + e.what());
    }
  }

  Rendered render_request(const ChatRequest& r) const override {
    try {
      return render_request_unchecked(r);
    } catch (const jinja::Error& e) {
      throw Error("chat template " + name_ + ": " + e.kind() + ": " + e.what());
    }
  }

  Rendered render_request_unchecked(const ChatRequest& r) const {
    Chat c;
    if (!r.messages.is_array()) throw Error("`messages` is not an array");
    for (size_t i = 0; i < r.messages.as_array().size(); ++i) add_message(c, r.messages.as_array()[i], i);
    if (!r.tools.is_null()) c.tools = from_json(r.tools, -1);
    if (!r.documents.is_null()) c.documents = from_json(r.documents, -1);
    if (r.kwargs.is_object())
      for (const auto& [k, v] : r.kwargs.as_object()) c.kwargs.emplace_back(k, from_json(v, -1));
    else if (!r.kwargs.is_null())
      throw Error("chat template keyword arguments must be a JSON object");
    return render_chat(c, r.add_generation_prompt, r.keep_reasoning);
  }

  ParsedCompletion parse_completion(const std::string& completion) const override {
    if (harmony_) {
      std::string_view s(completion);
      for (const auto& stop : stop_strings())
        if (s.size() >= stop.size() && s.substr(s.size() - stop.size()) == stop) {
          s.remove_suffix(stop.size());
          break;
        }
      return parse_harmony(s);
    }
    const ReasoningTags& t = tags_ ? *tags_ : kReasoningTags[1];
    ParsedCompletion p = parse_tagged(completion, stop_strings(), t.open, t.close);
    // The template's own wrapper around an answer (Command-R's <|START_RESPONSE|>) is markup.
    std::string_view open = py_strip(history_open_, " \t\r\n");
    if (p.ok && !open.empty() && starts_with(p.answer, open)) p.answer.erase(0, open.size());
    // ... and its wrapper's close when the completion stopped after it (Command-R's turn end
    // is "<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"; a server stopping at the second leaves the
    // first).
    for (const std::string& stop : stop_strings())
      if (p.ok && turn_end_.size() > stop.size() && ends_with(turn_end_, stop)) {
        std::string_view close = std::string_view(turn_end_).substr(0, turn_end_.size() - stop.size());
        std::string_view answer = py_rstrip(p.answer, " \t\r\n");
        if (ends_with(answer, close)) {
          p.answer.resize(answer.size() - close.size());
          break;
        }
      }
    return p;
  }

  std::vector<std::string> stop_strings() const override {
    std::vector<std::string> out;
    auto add = [&](const std::string& s) {
      if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    if (harmony_) {
      add("<|return|>");
      add("<|call|>");
    } else {
      add(turn_end_);
      for (const auto& row : kStopRows)
        if (turn_end_ == row.turn_end)
          for (const char* m : row.more) add(m);
    }
    if (options_.eos_token) add(*options_.eos_token);
    return out;
  }

 private:
  std::string name_;
  ChatOptions options_;
  jinja::NodePtr root_;
  std::vector<std::pair<std::string, Value>> vars_;
  int64_t now_ = -1;
  bool harmony_ = false;
  const ReasoningTags* tags_ = nullptr;
  // Learned by probe().
  ChatFamily family_ = ChatFamily::kOther;
  std::string gen_prompt_;
  std::string header_;       // opens every assistant turn (the shared part of the generation prompt)
  std::string history_open_; // what follows the header before an earlier turn's content
  std::string turn_end_;     // written after an assistant message's content, whitespace excluded
  std::string turn_sep_;     // the whitespace after it
  bool native_reasoning_ = false;
  std::string reasoning_open_, reasoning_close_;  // around the reasoning, then up to the content
  mutable std::atomic<bool> warned_convention_{false};

  jinja::Output run(const Chat& c, bool gen) const {
    jinja::Globals g;
    g.vars = vars_;
    for (auto& kv : c.kwargs) g.vars.push_back(kv);
    g.vars.emplace_back("messages", c.messages);
    g.vars.emplace_back("tools", c.tools);
    g.vars.emplace_back("documents", c.documents);
    g.vars.emplace_back("add_generation_prompt", Value::boolean(gen));
    g.fixed_now = now_;
    try {
      return jinja::render(*root_, g);
    } catch (const jinja::Error& e) {
      throw Error("chat template " + name_ + ":" + std::to_string(e.line()) + ": " + e.kind() + ": " + e.what());
    }
  }

  Rendered render_chat(Chat& c, bool gen, bool keep_reasoning) const {
    jinja::Output out = run(c, gen);
    std::vector<TurnSpan> spans = make_spans(out, c.roles, gen);
    Rendered r{std::move(out.text), std::move(spans)};
    if (keep_reasoning) add_kept_reasoning(c, gen, r);
    return r;
  }

  // ---- Spans -----------------------------------------------------------------------------------

  struct Interval {
    int message;
    size_t begin, end;
    bool first_in_loop, last_in_loop;
  };

  std::vector<TurnSpan> make_spans(const jinja::Output& out, const std::vector<std::string>& roles, bool gen) const {
    const size_t n = roles.size();
    const size_t len = out.text.size();
    // Each message's chunks: first and last.
    std::vector<Interval> iv;
    {
      std::vector<int> slot(n, -1);
      for (const jinja::Chunk& ch : out.chunks) {
        if (ch.message < 0 || size_t(ch.message) >= n) continue;
        int& s = slot[size_t(ch.message)];
        if (s < 0) {
          s = int(iv.size());
          iv.push_back({ch.message, ch.begin, ch.end, ch.in_loop, ch.in_loop});
        } else {
          iv[size_t(s)].end = ch.end;
          iv[size_t(s)].last_in_loop = ch.in_loop;
        }
      }
    }
    std::sort(iv.begin(), iv.end(), [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
    // A message whose text lies inside another's turn is absorbed by it (empty span).
    std::vector<Interval> merged;
    for (const Interval& x : iv) {
      if (!merged.empty() && x.begin < merged.back().end) {
        if (x.end > merged.back().end) {
          merged.back().end = x.end;
          merged.back().last_in_loop = x.last_in_loop;
        }
        continue;
      }
      merged.push_back(x);
    }
    // Template text between turns joins a neighbour (see ChatTemplate::render).
    std::vector<TurnSpan> spans;
    size_t lead_end = merged.empty() ? len : merged.front().begin;
    if (!merged.empty() && !merged.front().first_in_loop) {
      merged.front().begin = 0;
      lead_end = 0;
    }
    for (size_t k = 0; k + 1 < merged.size(); ++k) {
      Interval &a = merged[k], &b = merged[k + 1];
      if (a.end == b.begin) continue;
      if (!b.first_in_loop || a.last_in_loop) b.begin = a.end;
      else a.end = b.begin;
    }
    // After the last message (all of the text when no message wrote any): the generation
    // prompt's span, or template text.
    size_t tail_begin = merged.empty() ? 0 : merged.back().end;
    if (!merged.empty() && !gen && !merged.back().last_in_loop) {
      merged.back().end = len;
      tail_begin = len;
    }
    if (!merged.empty() && lead_end > 0) spans.push_back({kTemplateText, "", 0, lead_end});
    for (const Interval& x : merged)
      spans.push_back({size_t(x.message), roles[size_t(x.message)], x.begin, x.end});
    if (gen) spans.push_back({n, "assistant", tail_begin, len});
    else if (tail_begin < len) spans.push_back({kTemplateText, "", tail_begin, len});
    // Messages without a span of their own: empty, after the previous message's.
    std::vector<bool> has(n, false);
    for (const Interval& x : merged) has[size_t(x.message)] = true;
    for (size_t m = 0; m < n; ++m) {
      if (has[m]) continue;
      size_t at = 0;
      for (size_t k = 0; k < spans.size(); ++k)
        if (spans[k].message_index < m) at = k + 1;
      size_t pos = at == 0 ? 0 : spans[at - 1].end;
      spans.insert(spans.begin() + long(at), TurnSpan{m, roles[m], pos, pos});
      has[m] = true;
    }
    for (TurnSpan& s : spans)
      if (s.message_index < n) set_target(s, out);
    return spans;
  }

  void set_target(TurnSpan& s, const jinja::Output& out) const {
    if (s.message_index == kTemplateText || s.role != "assistant" || s.end <= s.begin) return;
    if (!out.generation.empty()) {
      size_t b = std::string::npos, e = 0;
      for (const auto& [gb, ge] : out.generation)
        if (gb < s.end && ge > s.begin && ge > gb) {
          b = std::min(b, std::max(gb, s.begin));
          e = std::max(e, std::min(ge, s.end));
        }
      if (b != std::string::npos && e > b) {
        s.target_begin = b;
        s.target_end = e;
      }
      return;
    }
    std::string_view turn = std::string_view(out.text).substr(s.begin, s.end - s.begin);
    size_t tb = s.begin;
    if (!header_.empty()) {
      size_t h = turn.find(header_);
      if (h != std::string_view::npos) tb = s.begin + h + header_.size();
    }
    size_t te = s.end;
    if (!turn_sep_.empty() && turn.size() >= turn_sep_.size() &&
        turn.substr(turn.size() - turn_sep_.size()) == turn_sep_ && s.end - turn_sep_.size() > tb)
      te = s.end - turn_sep_.size();
    if (te > tb) {
      s.target_begin = tb;
      s.target_end = te;
    }
  }

  // ---- keep_reasoning --------------------------------------------------------------------------

  void add_kept_reasoning(Chat& c, bool gen, Rendered& r) const {
    // Which turns does the template render the reasoning of? Render again with sentinels.
    std::vector<size_t> want;
    for (size_t i = 0; i < c.roles.size(); ++i)
      if (c.roles[i] == "assistant" && !c.reasoning[i].empty()) want.push_back(i);
    if (want.empty()) return;
    Chat probe = c;
    probe.messages = Value::list({});
    for (size_t i = 0; i < c.roles.size(); ++i) {
      const auto& src = c.messages.list_obj().items[i].dict_obj();
      Value d = Value::dict();
      d.dict_obj().items = src.items;
      d.dict_obj().depth = src.depth;
      d.dict_obj().message_index = src.message_index;
      if (!c.reasoning[i].empty())
        for (const char* k : {"thinking", "reasoning_content", "reasoning"})
          if (d.dict_obj().find(std::string_view(k)))
            set_key(d.dict_obj(), k, Value::string(std::string(kProbe) + "R" + std::to_string(i) + "Z", int(i)));
      probe.messages.list_obj().items.push_back(d);
    }
    std::string probed = run(probe, gen).text;
    // Insertions, last first so that earlier offsets stay valid.
    for (auto it = want.rbegin(); it != want.rend(); ++it) {
      size_t i = *it;
      if (probed.find(std::string(kProbe) + "R" + std::to_string(i) + "Z") != std::string::npos) continue;
      TurnSpan* s = nullptr;
      for (TurnSpan& x : r.spans)
        if (x.message_index == i && x.target_end > x.target_begin) s = &x;
      if (!s) continue;
      const std::string& reasoning = c.reasoning[i];
      size_t at = s->target_begin, remove = 0;
      std::string insert;
      const ReasoningTags& t = tags_ ? *tags_ : kReasoningTags[1];
      std::string_view target = std::string_view(r.text).substr(at, s->target_end - at);
      size_t ws = target.find_first_not_of(" \t\r\n");
      if (native_reasoning_ && r.text.compare(at, history_open_.size(), history_open_) == 0) {
        // As the template writes reasoning in the turns where it keeps it.
        remove = history_open_.size();
        insert = reasoning_open_ + reasoning + reasoning_close_;
      } else if (harmony_) {
        insert = "<|channel|>analysis<|message|>" + reasoning + "<|end|><|start|>assistant";
      } else if (ws != std::string_view::npos && target.substr(ws, std::strlen(t.open)) == t.open &&
                 target.find(t.close) == std::string_view::npos) {
        // The turn opens a reasoning block it never closes (Nemotron's "<think>\n\n" before the
        // answer): the reasoning and the closing tag go inside it.
        size_t after = ws + std::strlen(t.open);
        while (after < target.size() && (target[after] == '\n' || target[after] == ' ')) ++after;
        at += after;
        insert = std::string(py_strip(reasoning, "\n")) + "\n" + t.close + "\n\n";
      } else if (tags_ && std::string_view(tags_->name) != "think") {
        // The template's own reasoning tags (a row of kReasoningTags other than "think").
        insert = std::string(t.open) + t.after_open + std::string(py_strip(reasoning, "\n")) + t.close;
      } else {
        insert = think_block(reasoning);  // delib's convention (docs/chat-templates.md)
        if (!warned_convention_.exchange(true))
          warn("chat template " + name_ + " has no reasoning format: assistant reasoning is written as "
               "\"<think>\\nREASONING\\n</think>\\n\\n\" before the answer (delib's convention, see "
               "docs/chat-templates.md)");
      }
      r.text.replace(at, remove, insert);
      long delta = long(insert.size()) - long(remove);
      for (TurnSpan& x : r.spans) {
        auto shift = [&](size_t& p, bool at_end) {
          if (p > at || (p == at && at_end && &x == s)) p = size_t(long(p) + delta);
        };
        shift(x.begin, false);
        shift(x.end, true);
        if (x.target_end > x.target_begin) {
          shift(x.target_begin, false);
          shift(x.target_end, true);
        }
      }
    }
  }

  // ---- Probes ----------------------------------------------------------------------------------

  std::string sentinel(const char* what) const { return std::string(kProbe) + what + "Z"; }

  void probe() {
    auto user = [&](const char* t) {
      Message m;
      m.role = "user";
      m.content = sentinel(t);
      return m;
    };
    auto assistant = [&](const char* t, const char* reasoning) {
      Message m;
      m.role = "assistant";
      m.content = sentinel(t);
      if (reasoning) m.reasoning = sentinel(reasoning);
      return m;
    };
    try {  // A: the generation prompt
      Rendered a = render({user("U1")}, true, false);
      for (const TurnSpan& s : a.spans)
        if (s.message_index == 1) gen_prompt_ = a.text.substr(s.begin, s.end - s.begin);
    } catch (const Error&) {
    }
    try {  // B: an earlier assistant turn
      Rendered b = render({user("U1"), assistant("A1", nullptr), user("U2"), assistant("A2", nullptr)}, false, false);
      const std::string a1 = sentinel("A1");
      size_t at = b.text.find(a1);
      for (const TurnSpan& s : b.spans) {
        if (s.message_index != 1 || at == std::string::npos || at < s.begin || at + a1.size() > s.end) continue;
        std::string open = b.text.substr(s.begin, at - s.begin);
        header_ = gen_prompt_.substr(0, common_prefix(gen_prompt_, open));
        history_open_ = open.substr(header_.size());
        std::string close = b.text.substr(at + a1.size(), s.end - at - a1.size());
        size_t keep = close.size();
        while (keep > 0 && std::isspace(static_cast<unsigned char>(close[keep - 1]))) --keep;
        turn_end_ = close.substr(0, keep);
        turn_sep_ = close.substr(keep);
      }
    } catch (const Error&) {
    }
    try {  // C: a last assistant turn with reasoning
      Rendered c = render({user("U1"), assistant("A2", "R1")}, false, false);
      const std::string r1 = sentinel("R1"), a2 = sentinel("A2");
      size_t r = c.text.find(r1), a = c.text.find(a2);
      for (const TurnSpan& s : c.spans) {
        if (s.message_index != 1 || r == std::string::npos || a == std::string::npos || r > a || r < s.begin) continue;
        size_t tb = s.target_end > s.target_begin ? s.target_begin : s.begin;
        if (r < tb) continue;
        native_reasoning_ = true;
        reasoning_open_ = c.text.substr(tb, r - tb);
        reasoning_close_ = c.text.substr(r + r1.size(), a - r - r1.size());
      }
    } catch (const Error&) {
    }
    if (harmony_) family_ = ChatFamily::kGptOss;
    else if (turn_end_ == "<|eot_id|>") family_ = ChatFamily::kLlama3;
    else if (turn_end_ == "<|im_end|>")
      family_ = native_reasoning_ && tags_ && std::string(tags_->name) == "think" ? ChatFamily::kQwen3 : ChatFamily::kChatML;
  }
};

}  // namespace

std::unique_ptr<ChatTemplate> make_jinja(const std::string& text, const std::string& name, const ChatOptions& o,
                                         const std::vector<std::pair<std::string, std::string>>& extra) {
  return std::make_unique<JinjaTemplate>(text, name, o, extra);
}

}  // namespace delib::chat_detail
