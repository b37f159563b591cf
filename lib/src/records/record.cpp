// Record: a parsed JSONL line that remembers its original text.
//
// Parsing validates the whole line with simdjson (UTF-8 and JSON), then a small scanner over
// the (now known-valid) text finds the byte span of each top-level value, so untouched values
// are written back verbatim. Nested access parses only the field asked for.
#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "delib/records.h"

namespace delib {
namespace {

// The scanner below only runs on text simdjson accepted, so it can be simple.
size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

size_t scan_string(std::string_view s, size_t i) {  // s[i] == '"'; returns one past the close
  ++i;
  while (i < s.size()) {
    const void* p = std::memchr(s.data() + i, '"', s.size() - i);
    if (!p) return s.size();
    size_t q = static_cast<const char*>(p) - s.data();
    size_t bs = 0;  // count the backslashes before the quote
    while (q - bs > i && s[q - bs - 1] == '\\') ++bs;
    if (bs % 2 == 0) return q + 1;
    i = q + 1;
  }
  return i;
}

size_t scan_value(std::string_view s, size_t i) {
  char c = s[i];
  if (c == '"') return scan_string(s, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < s.size()) {
      char d = s[i];
      if (d == '"') {
        i = scan_string(s, i);
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
         s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
    ++i;
  return i;
}

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

[[noreturn]] void type_error(const Location& where, std::string_view key, const char* want) {
  throw Error(where, fmt::format("field '{}': expected {}", key, want));
}

}  // namespace

Record::Record(const Record& o)
    : line_(o.line_), fields_(o.fields_), dirty_(o.dirty_), where_(o.where_) {}

Record& Record::operator=(const Record& o) {
  if (this != &o) {
    line_ = o.line_;
    fields_ = o.fields_;
    dirty_ = o.dirty_;
    where_ = o.where_;
  }
  return *this;
}

Record Record::parse(std::string_view line, Location where) {
  Record r;
  r.where_ = std::move(where);
  auto& parser = thread_parser();
  simdjson::dom::element root;
  auto err = parser.parse(line.data(), line.size(), /*realloc_if_needed=*/true).get(root);
  if (err) {
    if (err == simdjson::UTF8_ERROR) throw Error(r.where_, "invalid UTF-8");
    throw Error(r.where_, fmt::format("invalid JSON: {}", simdjson::error_message(err)));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) throw Error(r.where_, "not a JSON object");
  r.line_.assign(line);
  std::string_view s = r.line_;
  size_t i = skip_ws(s, 0) + 1;  // past '{'
  for (auto kv : obj) {
    i = skip_ws(s, i);
    if (s[i] == ',') i = skip_ws(s, i + 1);
    size_t key_end = scan_string(s, i);
    Field f;
    f.raw_key.assign(s.substr(i, key_end - i));
    f.key.assign(kv.key);
    i = skip_ws(s, key_end) + 1;  // past ':'
    i = skip_ws(s, i);
    size_t vend = scan_value(s, i);
    f.raw.assign(s.substr(i, vend - i));
    i = vend;
    r.fields_.push_back(std::move(f));
  }
  return r;
}

Record Record::from_json(const Json& obj, Location where) {
  Record r;
  r.where_ = std::move(where);
  r.dirty_ = true;
  for (auto& [k, v] : obj.as_object()) {
    Field f;
    f.key = k;
    f.value = v;
    f.edited = true;
    r.fields_.push_back(std::move(f));
  }
  return r;
}

const Record::Field* Record::find(std::string_view key) const {
  for (auto& f : fields_)
    if (f.key == key) return &f;
  return nullptr;
}

bool Record::has(std::string_view key) const { return find(key) != nullptr; }

std::optional<std::string> Record::raw(std::string_view key) const {
  const Field* f = find(key);
  if (!f) return std::nullopt;
  return f->edited ? f->value.dump() : f->raw;
}

std::optional<Json> Record::get(std::string_view key) const {
  const Field* f = find(key);
  if (!f) return std::nullopt;
  if (f->edited) return f->value;
  return Json::parse(f->raw);
}

std::optional<Json> Record::path(std::string_view dotted) const {
  size_t dot = dotted.find('.');
  auto top = get(dotted.substr(0, dot));
  if (!top || dot == std::string_view::npos) return top;
  const Json* cur = &*top;
  std::string_view rest = dotted.substr(dot + 1);
  while (!rest.empty()) {
    size_t d = rest.find('.');
    std::string_view part = rest.substr(0, d);
    if (cur->is_object()) {
      cur = cur->find(part);
      if (!cur) return std::nullopt;
    } else if (cur->is_array()) {
      size_t idx = 0;
      auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (ec != std::errc() || p != part.data() + part.size() || idx >= cur->as_array().size())
        return std::nullopt;
      cur = &cur->as_array()[idx];
    } else {
      return std::nullopt;
    }
    rest = d == std::string_view::npos ? std::string_view() : rest.substr(d + 1);
  }
  return *cur;
}

std::optional<std::string> Record::get_string(std::string_view key) const {
  auto v = get(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) type_error(where_, key, "a string");
  return v->as_string();
}

std::optional<double> Record::get_number(std::string_view key) const {
  auto v = get(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) type_error(where_, key, "a number");
  return v->as_double();
}

std::optional<int64_t> Record::get_int(std::string_view key) const {
  auto v = get(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_int()) return v->as_int();
  if (v->is_double() && v->as_double() == double(int64_t(v->as_double())))
    return int64_t(v->as_double());
  type_error(where_, key, "an integer");
}

std::optional<bool> Record::get_bool(std::string_view key) const {
  auto v = get(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) type_error(where_, key, "true or false");
  return v->as_bool();
}

std::vector<std::string> Record::keys() const {
  std::vector<std::string> k;
  k.reserve(fields_.size());
  for (auto& f : fields_) k.push_back(f.key);
  return k;
}

void Record::set(std::string_view key, Json value) {
  dirty_ = true;
  for (auto& f : fields_) {
    if (f.key == key) {
      f.value = std::move(value);
      f.edited = true;
      f.raw.clear();
      return;
    }
  }
  Field f;
  f.key.assign(key);
  f.value = std::move(value);
  f.edited = true;
  fields_.push_back(std::move(f));
}

void Record::erase(std::string_view key) {
  for (auto it = fields_.begin(); it != fields_.end(); ++it) {
    if (it->key == key) {
      fields_.erase(it);
      dirty_ = true;
      return;
    }
  }
}

void Record::append_json(std::string& out) const {
  if (!dirty_ && !line_.empty()) {
    out += line_;
    return;
  }
  out.push_back('{');
  bool first = true;
  for (auto& f : fields_) {
    if (!first) out.push_back(',');
    first = false;
    if (f.raw_key.empty())
      json_escape(f.key, out);
    else
      out += f.raw_key;
    out.push_back(':');
    if (f.edited)
      f.value.dump_to(out);
    else
      out += f.raw;
  }
  out.push_back('}');
}

std::string Record::to_json() const {
  std::string s;
  append_json(s);
  return s;
}

uint64_t hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string hex64(uint64_t h) { return fmt::format("{:016x}", h); }

std::string Record::id() const {
  if (const Field* f = find("id")) {
    Json v = f->edited ? f->value : Json::parse(f->raw);
    if (v.is_string()) return v.as_string();
    if (!v.is_null()) return v.dump();
  }
  return hex64(hash64(line_.empty() ? to_json() : line_));
}

std::string Record::ensure_id() {
  std::string id_ = id();
  if (!has("id")) {
    // The id goes first: it is the field people look for.
    Field f;
    f.key = "id";
    f.value = Json(id_);
    f.edited = true;
    fields_.insert(fields_.begin(), std::move(f));
    dirty_ = true;
  }
  return id_;
}

namespace {

std::string content_text(const Json& c, const Location& where, size_t i) {
  if (c.is_string()) return c.as_string();
  if (c.is_null()) return "";
  if (c.is_array()) {  // [{"type":"text","text":"..."}, ...]
    std::string s;
    for (auto& part : c.as_array()) {
      const Json* t = part.find("text");
      if (!t || !t->is_string())
        throw Error(where, fmt::format("field 'messages[{}].content': only text parts are supported", i));
      s += t->as_string();
    }
    return s;
  }
  throw Error(where, fmt::format("field 'messages[{}].content': expected a string", i));
}

}  // namespace

std::vector<Message> Record::messages() const {
  std::vector<Message> out;
  if (auto m = get("messages"); m && !m->is_null()) {
    if (!m->is_array()) type_error(where_, "messages", "an array of {role, content} objects");
    size_t i = 0;
    for (auto& e : m->as_array()) {
      if (!e.is_object())
        throw Error(where_, fmt::format("field 'messages[{}]': expected an object", i));
      Message msg;
      const Json* role = e.find("role");
      if (!role || !role->is_string())
        throw Error(where_, fmt::format("field 'messages[{}].role': missing or not a string", i));
      msg.role = role->as_string();
      if (const Json* c = e.find("content")) msg.content = content_text(*c, where_, i);
      for (const char* k : {"reasoning", "reasoning_content", "thinking"}) {
        if (const Json* r = e.find(k); r && r->is_string()) {
          msg.reasoning = r->as_string();
          break;
        }
      }
      if (const Json* n = e.find("name"); n && n->is_string()) msg.name = n->as_string();
      // A Message has no slot for tool calls: dropping them would train on (or judge) a
      // conversation other than the record's. chat-render renders them through the template.
      if (const Json* t = e.find("tool_calls");
          t && !t->is_null() && !(t->is_array() && t->as_array().empty()))
        throw Error(where_, fmt::format("field 'messages[{}].tool_calls': tool calls are not supported "
                                        "here yet (only chat-render renders them)", i));
      out.push_back(std::move(msg));
      ++i;
    }
    if (out.empty()) throw Error(where_, "field 'messages': empty conversation");
    return out;
  }
  if (auto p = get_string("prompt")) {
    out.push_back(Message{"user", *p, "", ""});
    return out;
  }
  throw Error(where_, "record has neither 'messages' nor 'prompt'");
}

Json messages_to_json(const std::vector<Message>& messages) {
  Json a = Json::array();
  for (auto& m : messages) {
    Json o = Json::object();
    o.set("role", m.role);
    o.set("content", m.content);
    if (!m.reasoning.empty()) o.set("reasoning", m.reasoning);
    if (!m.name.empty()) o.set("name", m.name);
    a.push(std::move(o));
  }
  return a;
}

Shard Shard::parse(std::string_view text) {
  Shard s;
  size_t slash = text.find('/');
  auto bad = [&]() {
    return Error(fmt::format("--shard '{}': expected K/N with 0 <= K < N", text), kExitUsage);
  };
  if (slash == std::string_view::npos) throw bad();
  auto a = std::from_chars(text.data(), text.data() + slash, s.k);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), s.n);
  if (a.ec != std::errc() || a.ptr != text.data() + slash || b.ec != std::errc() ||
      b.ptr != text.data() + text.size() || s.n <= 0 || s.k < 0 || s.k >= s.n)
    throw bad();
  return s;
}

bool Shard::contains(std::string_view id) const {
  return n <= 1 || hash64(id) % uint64_t(n) == uint64_t(k);
}

}  // namespace delib
