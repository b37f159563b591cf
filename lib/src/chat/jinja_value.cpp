// Values of the Jinja interpreter with Python's semantics: truth, ==, <, str(), repr(),
// json.dumps, iteration and len(), and the UTF-8 string helpers the builtins share.
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja.h"
#include "common/utf8.h"

namespace delib::jinja {

Value Value::undefined(std::string message, bool unsafe) {
  Value v;
  v.kind = Kind::kUndefined;
  v.s = std::make_shared<const std::string>(std::move(message));
  v.b = unsafe;
  return v;
}

namespace {

// Bounds on what one render may build (see set_render_budget): hostile templates end in an
// Error instead of exhausting memory or time.
constexpr size_t kMaxString = size_t(64) << 20;
constexpr size_t kMaxItems = 10000000;
constexpr uint32_t kMaxDepth = 500;
thread_local size_t t_string_bytes = 0;
thread_local size_t t_string_budget = size_t(4) << 30;

uint32_t depth_of(const Value& v) {
  if (v.kind == Kind::kList) return static_cast<const ListObj&>(*v.o).depth;
  if (v.kind == Kind::kDict) return static_cast<const DictObj&>(*v.o).depth;
  return 0;
}

void check_depth(uint32_t d) {
  if (d > kMaxDepth)
    throw Error(0, "RecursionError", "values nested more than " + std::to_string(kMaxDepth) + " deep");
}

}  // namespace

void set_render_budget(size_t string_bytes) {
  t_string_bytes = 0;
  t_string_budget = string_bytes;
}

Value Value::string(std::string x, int origin) {
  if (x.size() > kMaxString)
    throw Error(0, "MemoryError", "a string of " + std::to_string(x.size() >> 20) + " MiB (more than 64 MiB)");
  t_string_bytes += x.size();
  if (t_string_bytes > t_string_budget)
    throw Error(0, "MemoryError", "the template built more than " + std::to_string(t_string_budget >> 20) +
                                      " MiB of strings in one render");
  Value v;
  v.kind = Kind::kString;
  v.s = std::make_shared<const std::string>(std::move(x));
  v.origin = origin;
  return v;
}

Value Value::list(std::vector<Value> items) {
  if (items.size() > kMaxItems) throw Error(0, "MemoryError", "a list of more than 10000000 items");
  auto l = std::make_shared<ListObj>();
  for (const Value& x : items) l->depth = std::max(l->depth, depth_of(x) + 1);
  check_depth(l->depth);
  l->items = std::move(items);
  Value v;
  v.kind = Kind::kList;
  v.o = std::move(l);
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.list_obj().flavor = ListObj::kTuple;
  return v;
}

Value Value::dict() {
  Value v;
  v.kind = Kind::kDict;
  v.o = std::make_shared<DictObj>();
  return v;
}

ListObj& Value::list_obj() const { return static_cast<ListObj&>(*o); }
DictObj& Value::dict_obj() const { return static_cast<DictObj&>(*o); }

const Value* DictObj::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* DictObj::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.kind == Kind::kString && *k.s == key) return &v;
  return nullptr;
}

void DictObj::set(Value key, Value value) {
  depth = std::max(depth, std::max(depth_of(key), depth_of(value)) + 1);
  check_depth(depth);
  for (auto& [k, v] : items)
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  items.emplace_back(std::move(key), std::move(value));
}

Value* NamespaceObj::find(std::string_view name) {
  for (auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}

const Value* CallArgs::get(size_t pos, std::string_view name) const {
  if (pos < args.size()) return &args[pos];
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

Value CallArgs::get_or(size_t pos, std::string_view name, Value fallback) const {
  const Value* v = get(pos, name);
  return v ? *v : std::move(fallback);
}

// ---- Python semantics --------------------------------------------------------------------------

namespace {

double as_double(const Value& v) {
  return v.kind == Kind::kFloat ? v.f : v.kind == Kind::kInt ? double(v.i) : v.b ? 1.0 : 0.0;
}

bool is_listlike(const Value& v) { return v.kind == Kind::kList; }

}  // namespace

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: case Kind::kNone: return false;
    case Kind::kBool: return v.b;
    case Kind::kInt: return v.i != 0;
    case Kind::kFloat: return v.f != 0;
    case Kind::kString: return !v.s->empty();
    case Kind::kList: {
      const ListObj& l = v.list_obj();
      if (l.flavor == ListObj::kGenerator || l.flavor == ListObj::kReverseIter) return true;
      return !l.items.empty();
    }
    case Kind::kDict: return !v.dict_obj().items.empty();
    default: return true;
  }
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::kFloat && b.kind != Kind::kFloat)
      return (a.kind == Kind::kInt ? a.i : int64_t(a.b)) == (b.kind == Kind::kInt ? b.i : int64_t(b.b));
    return as_double(a) == as_double(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined: case Kind::kNone: return true;
    case Kind::kString: return *a.s == *b.s;
    case Kind::kList: {
      const ListObj &x = a.list_obj(), &y = b.list_obj();
      if (a.o == b.o) return true;
      bool seq_x = x.flavor == ListObj::kList || x.flavor == ListObj::kTuple || x.flavor == ListObj::kRange;
      if (!seq_x || x.flavor != y.flavor || x.items.size() != y.items.size()) return false;
      for (size_t k = 0; k < x.items.size(); ++k)
        if (!equals(x.items[k], y.items[k])) return false;
      return true;
    }
    case Kind::kDict: {
      const DictObj &x = a.dict_obj(), &y = b.dict_obj();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* w = y.find(k);
        if (!w || !equals(v, *w)) return false;
      }
      return true;
    }
    default: return a.o == b.o;
  }
}

bool less(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::kInt && b.kind == Kind::kInt) return a.i < b.i;
    return as_double(a) < as_double(b);
  }
  if (a.kind == Kind::kString && b.kind == Kind::kString) return *a.s < *b.s;
  if (is_listlike(a) && is_listlike(b) && a.list_obj().flavor == b.list_obj().flavor &&
      (a.list_obj().flavor == ListObj::kList || a.list_obj().flavor == ListObj::kTuple)) {
    const auto &x = a.list_obj().items, &y = b.list_obj().items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (equals(x[k], y[k])) continue;
      return less(x[k], y[k], line);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined()) throw Error(line, "UndefinedError", *a.s);
  if (b.is_undefined()) throw Error(line, "UndefinedError", *b.s);
  throw Error(line, "TypeError",
              "'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList:
      switch (v.list_obj().flavor) {
        case ListObj::kList: return "list";
        case ListObj::kTuple: return "tuple";
        case ListObj::kGenerator: return "generator";
        case ListObj::kItems: return "dict_items";
        case ListObj::kKeys: return "dict_keys";
        case ListObj::kValues: return "dict_values";
        case ListObj::kRange: return "range";
        case ListObj::kReverseIter: return "list_reverseiterator";
      }
      return "list";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
    case Kind::kLoop: return "LoopContext";
  }
  return "object";
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci: [-]D[.DDD]e(+|-)XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp = std::stoi(sci.substr(e + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int decpt = exp + 1;
  std::string out = neg ? "-" : "";
  if (decpt > 16 || decpt < -3) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  } else if (decpt <= 0) {
    out += "0." + std::string(size_t(-decpt), '0') + digits;
  } else if (size_t(decpt) >= digits.size()) {
    out += digits + std::string(size_t(decpt) - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
  }
  return out;
}

namespace {



// Python's str.isprintable() for one code point.
bool py_isprintable(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

std::string repr_string(std::string_view s) {
  char quote = '\'';
  if (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) quote = '"';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = utf8_decode_lenient(s, i, cp);
    char buf[16];
    if (cp == uint32_t(quote) || cp == '\\') {
      out += '\\';
      out += char(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (py_isprintable(cp)) {
      out.append(s.substr(i, n));
    } else {
      if (cp <= 0xFF) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp <= 0xFFFF) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    }
    i += n;
  }
  out += quote;
  return out;
}

void repr_to(const Value& v, std::string& out, int depth);

void repr_items(const std::vector<Value>& items, std::string& out, int depth) {
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += ", ";
    repr_to(items[k], out, depth + 1);
  }
}

void repr_to(const Value& v, std::string& out, int depth) {
  if (depth > 200) throw Error(0, "RecursionError", "maximum recursion depth exceeded while getting the repr of an object");
  switch (v.kind) {
    case Kind::kString: out += repr_string(*v.s); return;
    case Kind::kList: {
      const ListObj& l = v.list_obj();
      switch (l.flavor) {
        case ListObj::kList: out += '['; repr_items(l.items, out, depth); out += ']'; return;
        case ListObj::kTuple:
          out += '(';
          repr_items(l.items, out, depth);
          out += l.items.size() == 1 ? ",)" : ")";
          return;
        case ListObj::kItems: case ListObj::kKeys: case ListObj::kValues:
          out += type_name(v) + "([";
          repr_items(l.items, out, depth);
          out += "])";
          return;
        case ListObj::kRange: out += l.range_repr; return;
        default: out += "<" + type_name(v) + " object>"; return;
      }
    }
    case Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.dict_obj().items) {
        if (!first) out += ", ";
        first = false;
        repr_to(k, out, depth + 1);
        out += ": ";
        repr_to(x, out, depth + 1);
      }
      out += '}';
      return;
    }
    case Kind::kNamespace: {
      out += "<Namespace {";
      bool first = true;
      for (const auto& [k, x] : static_cast<NamespaceObj&>(*v.o).attrs) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(k) + ": ";
        repr_to(x, out, depth + 1);
      }
      out += "}>";
      return;
    }
    case Kind::kUndefined: out += "Undefined"; return;
    default: out += to_str(v); return;
  }
}

}  // namespace

std::string repr(const Value& v) {
  std::string out;
  repr_to(v, out, 0);
  return out;
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return v.b ? "True" : "False";
    case Kind::kInt: return std::to_string(v.i);
    case Kind::kFloat: return format_float(v.f);
    case Kind::kString: return *v.s;
    case Kind::kCallable: return "<built-in method " + static_cast<CallableObj&>(*v.o).name + ">";
    case Kind::kLoop: {
      const LoopObj& l = static_cast<LoopObj&>(*v.o);
      return "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.items->size()) + ">";
    }
    default: return repr(v);
  }
}

// ---- json.dumps --------------------------------------------------------------------------------

void json_string(std::string_view s, bool ensure_ascii, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = utf8_decode_lenient(s, i, cp);
    char buf[16];
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20) {
          std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          out += buf;
        } else if (ensure_ascii && cp > 0x7F) {
          if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          out.append(s.substr(i, n));
        }
    }
    i += n;
  }
  out += '"';
}

namespace {

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return format_float(d);
}

struct JsonWriter {
  const JsonFormat& f;
  int line;
  std::string item_sep, key_sep, indent_unit;
  bool indented;
  std::string out;

  explicit JsonWriter(const JsonFormat& fmt, int l) : f(fmt), line(l) {
    indented = f.has_indent_str || f.indent >= 0;
    if (f.indent > 4096) throw Error(line, "MemoryError", "tojson indent " + std::to_string(f.indent) + " is too large");
    indent_unit = f.has_indent_str ? f.indent_str : std::string(size_t(std::max(0, f.indent)), ' ');
    if (f.has_separators) {
      item_sep = f.item_sep;
      key_sep = f.key_sep;
    } else {
      item_sep = indented ? "," : ", ";
      key_sep = ": ";
    }
  }

  void newline(int level) {
    out += '\n';
    for (int k = 0; k < level; ++k) out += indent_unit;
  }

  std::string key_text(const Value& k) {
    switch (k.kind) {
      case Kind::kString: return *k.s;
      case Kind::kInt: return std::to_string(k.i);
      case Kind::kFloat: return json_float(k.f);
      case Kind::kBool: return k.b ? "true" : "false";
      case Kind::kNone: return "null";
      default:
        throw Error(line, "TypeError", "keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void write(const Value& v, int level) {
    if (level > 200) throw Error(line, "RecursionError", "maximum recursion depth exceeded while encoding a JSON object");
    switch (v.kind) {
      case Kind::kNone: out += "null"; return;
      case Kind::kBool: out += v.b ? "true" : "false"; return;
      case Kind::kInt: out += std::to_string(v.i); return;
      case Kind::kFloat: out += json_float(v.f); return;
      case Kind::kString: json_string(*v.s, f.ensure_ascii, out); return;
      case Kind::kList: {
        const ListObj& l = v.list_obj();
        if (l.flavor != ListObj::kList && l.flavor != ListObj::kTuple) break;
        if (l.items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t k = 0; k < l.items.size(); ++k) {
          if (k) out += item_sep;
          if (indented) newline(level + 1);
          write(l.items[k], level + 1);
        }
        if (indented) newline(level);
        out += ']';
        return;
      }
      case Kind::kDict: {
        const auto& items = v.dict_obj().items;
        if (items.empty()) {
          out += "{}";
          return;
        }
        std::vector<size_t> order(items.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = k;
        if (f.sort_keys)
          std::stable_sort(order.begin(), order.end(),
                           [&](size_t a, size_t b) { return less(items[a].first, items[b].first, line); });
        out += '{';
        bool first = true;
        for (size_t k : order) {
          if (!first) out += item_sep;
          first = false;
          if (indented) newline(level + 1);
          json_string(key_text(items[k].first), f.ensure_ascii, out);
          out += key_sep;
          write(items[k].second, level + 1);
        }
        if (indented) newline(level);
        out += '}';
        return;
      }
      default: break;
    }
    throw Error(line, "TypeError", "Object of type " + type_name(v) + " is not JSON serializable");
  }
};

}  // namespace

std::string to_json(const Value& v, const JsonFormat& f, int line) {
  JsonWriter w(f, line);
  w.write(v, 0);
  return std::move(w.out);
}

// ---- Iteration ---------------------------------------------------------------------------------

std::vector<Value> iterate(const Value& v, int line) {
  switch (v.kind) {
    case Kind::kUndefined: return {};
    case Kind::kString: {
      std::vector<Value> out;
      for (std::string_view c : utf8_chars(*v.s)) out.push_back(Value::string(std::string(c), v.origin));
      return out;
    }
    case Kind::kList: {
      ListObj& l = v.list_obj();
      if (l.flavor == ListObj::kGenerator || l.flavor == ListObj::kReverseIter) {
        std::vector<Value> out(l.items.begin() + long(std::min(l.consumed, l.items.size())), l.items.end());
        l.consumed = l.items.size();
        return out;
      }
      return l.items;
    }
    case Kind::kDict: {
      std::vector<Value> out;
      for (const auto& [k, x] : v.dict_obj().items) out.push_back(k);
      return out;
    }
    default:
      throw Error(line, "TypeError", "'" + type_name(v) + "' object is not iterable");
  }
}

int64_t length(const Value& v, int line) {
  switch (v.kind) {
    case Kind::kUndefined: return 0;
    case Kind::kString: return int64_t(utf8_len(*v.s));
    case Kind::kList: {
      const ListObj& l = v.list_obj();
      if (l.flavor == ListObj::kGenerator || l.flavor == ListObj::kReverseIter)
        throw Error(line, "TypeError", "object of type '" + type_name(v) + "' has no len()");
      return int64_t(l.items.size());
    }
    case Kind::kDict: return int64_t(v.dict_obj().items.size());
    default:
      throw Error(line, "TypeError", "object of type '" + type_name(v) + "' has no len()");
  }
}

// ---- UTF-8 and Python string helpers -----------------------------------------------------------

size_t utf8_len(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    uint32_t cp;
    i += utf8_decode_lenient(s, i, cp);
  }
  return n;
}

std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = utf8_decode_lenient(s, i, cp);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool py_isspace(uint32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string_view py_strip_ws(std::string_view s, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      uint32_t cp;
      size_t n = utf8_decode_lenient(s, b, cp);
      if (!py_isspace(cp)) break;
      b += n;
    }
  }
  if (right) {
    while (e > b) {
      size_t start = e - 1;
      while (start > b && (static_cast<unsigned char>(s[start]) >> 6) == 2 && e - start < 4) --start;
      uint32_t cp;
      size_t n = utf8_decode_lenient(s, start, cp);
      if (n != e - start) start = e - 1, n = 1, cp = static_cast<unsigned char>(s[e - 1]);
      if (!py_isspace(cp)) break;
      e = start;
    }
  }
  return s.substr(b, e - b);
}

std::string_view py_strip_chars(std::string_view s, std::string_view chars, bool left, bool right) {
  std::vector<std::string_view> set = utf8_chars(chars);
  auto in_set = [&](std::string_view c) { return std::find(set.begin(), set.end(), c) != set.end(); };
  std::vector<std::string_view> cs = utf8_chars(s);
  size_t b = 0, e = cs.size();
  if (left)
    while (b < e && in_set(cs[b])) ++b;
  if (right)
    while (e > b && in_set(cs[e - 1])) --e;
  if (b == e) return s.substr(0, 0);
  size_t begin = size_t(cs[b].data() - s.data());
  size_t end = size_t(cs[e - 1].data() - s.data()) + cs[e - 1].size();
  return s.substr(begin, end - begin);
}

namespace {

// Python's full case mappings where they differ from utf8proc's simple ones.
bool special_upper(uint32_t cp, std::string& out) {
  if (cp == 0xDF) {  // ß
    out += "SS";
    return true;
  }
  return false;
}

bool is_cased(uint32_t cp) {
  auto c = utf8proc_category(utf8proc_int32_t(cp));
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

template <typename F>
std::string map_chars(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = utf8_decode_lenient(s, i, cp);
    f(cp, s.substr(i, n), out);
    i += n;
  }
  return out;
}

}  // namespace

std::string py_upper(std::string_view s) {
  return map_chars(s, [](uint32_t cp, std::string_view raw, std::string& out) {
    if (cp < 0x80) out += char(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
    else if (!special_upper(cp, out)) utf8_append(uint32_t(utf8proc_toupper(utf8proc_int32_t(cp))), out);
  });
}

std::string py_lower(std::string_view s) {
  return map_chars(s, [](uint32_t cp, std::string_view raw, std::string& out) {
    if (cp < 0x80) out += char(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    else utf8_append(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))), out);
  });
}

std::string py_title(std::string_view s) {
  bool prev_cased = false;
  return map_chars(s, [&](uint32_t cp, std::string_view raw, std::string& out) {
    if (prev_cased) utf8_append(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))), out);
    else if (!special_upper(cp, out)) utf8_append(uint32_t(utf8proc_totitle(utf8proc_int32_t(cp))), out);
    prev_cased = is_cased(cp);
  });
}

std::string py_capitalize(std::string_view s) {
  bool first = true;
  return map_chars(s, [&](uint32_t cp, std::string_view raw, std::string& out) {
    if (first) utf8_append(uint32_t(utf8proc_totitle(utf8proc_int32_t(cp))), out);
    else utf8_append(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))), out);
    first = false;
  });
}

}  // namespace delib::jinja
