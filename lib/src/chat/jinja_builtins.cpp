// Jinja builtins as transformers' sandboxed environment provides them: attribute and item
// access, the Python str/dict/list methods templates call, jinja2's filters and tests, and the
// globals (range, dict, namespace, raise_exception, strftime_now, joiner).
//
// Each follows jinja2 3.1 (jinja2/filters.py, tests.py, sandbox.py) and CPython; where a detail
// is not reproduced, the builtin raises an Error saying so rather than rendering something else.
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "chat/jinja.h"

namespace delib::jinja {
namespace {

[[noreturn]] void fail_undefined(const Value& v, int line) {
  throw Error(line, v.b ? "SecurityError" : "UndefinedError", *v.s);
}

[[noreturn]] void unsupported(const std::string& what, int line) {
  throw Error(line, "NotSupported", what + " is not supported by delib's chat-template engine");
}

Value make_fn(std::string name, std::function<Value(Interp&, CallArgs&)> fn) {
  auto obj = std::make_shared<CallableObj>();
  obj->name = std::move(name);
  obj->fn = std::move(fn);
  Value v;
  v.kind = Kind::kCallable;
  v.o = std::move(obj);
  return v;
}

Value generator(std::vector<Value> items, ListObj::Flavor flavor = ListObj::kGenerator) {
  Value v = Value::list(std::move(items));
  v.list_obj().flavor = flavor;
  return v;
}

// str(x) as jinja2's soft_str does for filter arguments.
std::string sstr(const Value& v) { return to_str(v); }

const std::string& need_str(const Value& v, const char* what, int line) {
  if (v.is_undefined()) fail_undefined(v, line);
  if (!v.is_string()) throw Error(line, "TypeError", std::string(what) + " must be str, not " + type_name(v));
  return *v.s;
}

// A width argument (center, ljust, zfill, indent): bounded so that a template cannot ask for
// gigabytes of padding.
int64_t need_width(const Value& v, const char* what, int line);

int64_t need_int(const Value& v, const char* what, int line) {
  if (v.kind == Kind::kInt) return v.i;
  if (v.kind == Kind::kBool) return v.b;
  if (v.is_undefined()) fail_undefined(v, line);
  throw Error(line, "TypeError", std::string(what) + ": '" + type_name(v) + "' object cannot be interpreted as an integer");
}

int64_t need_width(const Value& v, const char* what, int line) {
  int64_t w = need_int(v, what, line);
  if (w > (int64_t(1) << 24)) throw Error(line, "MemoryError", std::string(what) + " " + std::to_string(w) + " is too large");
  return w;
}

double need_num(const Value& v, int line) {
  if (v.kind == Kind::kFloat) return v.f;
  if (v.kind == Kind::kInt) return double(v.i);
  if (v.kind == Kind::kBool) return v.b;
  if (v.is_undefined()) fail_undefined(v, line);
  throw Error(line, "TypeError", "must be real number, not " + type_name(v));
}

// Code-point offset -> byte offset (clamped), with Python's negative index rules.
size_t cp_to_byte(std::string_view s, int64_t cp, const std::vector<std::string_view>& cs) {
  int64_t n = int64_t(cs.size());
  if (cp < 0) cp = std::max<int64_t>(0, cp + n);
  if (cp >= n) return s.size();
  return size_t(cs[size_t(cp)].data() - s.data());
}

size_t byte_to_cp(std::string_view s, size_t b) { return utf8_len(s.substr(0, b)); }

// [start, end) of s as bytes for str methods with optional start/end code-point arguments.
std::pair<size_t, size_t> str_range(std::string_view s, const CallArgs& a, size_t first_pos) {
  const Value* st = a.get(first_pos, "start");
  const Value* en = a.get(first_pos + 1, "end");
  if ((!st || st->is_none()) && (!en || en->is_none())) return {0, s.size()};
  auto cs = utf8_chars(s);
  size_t b = st && !st->is_none() ? cp_to_byte(s, need_int(*st, "start", a.line), cs) : 0;
  size_t e = en && !en->is_none() ? cp_to_byte(s, need_int(*en, "end", a.line), cs) : s.size();
  if (e < b) e = b;
  return {b, e};
}

bool is_word_char(uint32_t cp) {
  if (cp == '_') return true;
  if (cp < 0x80) return std::isalnum(int(cp)) != 0;
  auto c = utf8proc_category(utf8proc_int32_t(cp));
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) ||
         c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC;
}

uint32_t first_cp(std::string_view c) {
  utf8proc_int32_t cp = 0;
  if (utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(c.data()), utf8proc_ssize_t(c.size()), &cp) <= 0)
    return static_cast<unsigned char>(c[0]);
  return uint32_t(cp);
}

// Python's str.splitlines() line boundaries.
bool is_line_break(std::string_view c) {
  if (c.size() == 1) return c[0] == '\n' || c[0] == '\r' || c[0] == '\x0b' || c[0] == '\x0c' || c[0] == '\x1c' ||
                            c[0] == '\x1d' || c[0] == '\x1e';
  uint32_t cp = first_cp(c);
  return cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  auto cs = utf8_chars(s);
  std::string cur;
  for (size_t k = 0; k < cs.size(); ++k) {
    if (is_line_break(cs[k])) {
      std::string end(cs[k]);
      if (cs[k] == "\r" && k + 1 < cs.size() && cs[k + 1] == "\n") {
        end = "\r\n";
        ++k;
      }
      if (keepends) cur += end;
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.append(cs[k]);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// str.split / str.rsplit.
std::vector<std::string> py_split(std::string_view s, const Value* sep, int64_t maxsplit, bool from_right, int line) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    // Runs of whitespace; no empty strings.
    std::vector<std::string_view> cs = utf8_chars(s);
    auto ws = [&](size_t k) { return py_isspace(first_cp(cs[k])); };
    if (!from_right) {
      size_t k = 0;
      while (k < cs.size()) {
        while (k < cs.size() && ws(k)) ++k;
        if (k >= cs.size()) break;
        if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
          size_t b = size_t(cs[k].data() - s.data());
          out.emplace_back(s.substr(b));  // the rest as it is, trailing whitespace included
          return out;
        }
        std::string word;
        while (k < cs.size() && !ws(k)) word.append(cs[k++]);
        out.push_back(std::move(word));
      }
      return out;
    }
    size_t k = cs.size();
    while (k > 0) {
      while (k > 0 && ws(k - 1)) --k;
      if (k == 0) break;
      if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
        size_t e = size_t(cs[k - 1].data() - s.data()) + cs[k - 1].size();
        out.emplace_back(s.substr(0, e));  // leading whitespace included
        break;
      }
      size_t e = k;
      while (k > 0 && !ws(k - 1)) --k;
      std::string word;
      for (size_t q = k; q < e; ++q) word.append(cs[q]);
      out.push_back(std::move(word));
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::string& d = need_str(*sep, "separator", line);
  if (d.empty()) throw Error(line, "ValueError", "empty separator");
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || int64_t(out.size()) < maxsplit) {
      size_t f = s.find(d, pos);
      if (f == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, f - pos));
      pos = f + d.size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t end = s.size();
  while (maxsplit < 0 || int64_t(out.size()) < maxsplit) {
    if (end < d.size()) break;
    size_t f = s.rfind(d, end - d.size());
    if (f == std::string_view::npos) break;
    out.emplace_back(s.substr(f + d.size(), end - f - d.size()));
    end = f;
  }
  out.emplace_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `repl` between every character (and at both ends).
    auto cs = utf8_chars(s);
    int64_t done = 0;
    for (size_t k = 0; k <= cs.size(); ++k) {
      if (count < 0 || done < count) {
        out.append(repl);
        ++done;
      }
      if (k < cs.size()) out.append(cs[k]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t f = s.find(old, pos);
    if (f == std::string_view::npos) break;
    out.append(s.substr(pos, f - pos));
    out.append(repl);
    pos = f + old.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

Value str_list(const std::vector<std::string>& parts, int origin) {
  std::vector<Value> items;
  for (const auto& p : parts) items.push_back(Value::string(p, origin));
  return Value::list(std::move(items));
}

bool cased_test(std::string_view s, bool want_lower) {
  bool any = false;
  for (std::string_view c : utf8_chars(s)) {
    uint32_t cp = first_cp(c);
    auto cat = utf8proc_category(utf8proc_int32_t(cp));
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) {
      if (want_lower) return false;
      any = true;
    } else if (cat == UTF8PROC_CATEGORY_LL) {
      if (!want_lower) return false;
      any = true;
    }
  }
  return any;
}

template <typename Pred>
bool all_chars(std::string_view s, Pred p) {
  if (s.empty()) return false;
  for (std::string_view c : utf8_chars(s))
    if (!p(first_cp(c))) return false;
  return true;
}

// str.format with positional/named fields and !s/!r conversions (no format specs).
std::string py_format(std::string_view fmt, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
      continue;
    }
    if (c == '}') throw Error(a.line, "ValueError", "Single '}' encountered in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string_view::npos) throw Error(a.line, "ValueError", "Single '{' encountered in format string");
    std::string field(fmt.substr(i + 1, close - i - 1));
    i = close;
    char conv = 's';
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 's';
      field = field.substr(0, bang);
    }
    if (field.find(':') != std::string::npos || field.find('.') != std::string::npos || field.find('[') != std::string::npos)
      unsupported("str.format with format specs or attribute access ('{" + field + "}')", a.line);
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_idx < a.args.size() ? &a.args[auto_idx] : nullptr;
      ++auto_idx;
    } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
      size_t k = field.size() > 6 ? a.args.size() : std::stoul(field);
      v = k < a.args.size() ? &a.args[k] : nullptr;
    } else {
      for (const auto& [k, x] : a.kwargs)
        if (k == field) v = &x;
    }
    if (!v) throw Error(a.line, field.empty() || isdigit(field[0]) ? "IndexError" : "KeyError",
                        "format field '" + field + "' has no argument");
    out += conv == 'r' ? repr(*v) : to_str(*v);
  }
  return out;
}

Value str_method(const Value& self, const std::string& name, int line) {
  const std::string s = *self.s;
  const int origin = self.origin;
  auto m = [&](auto fn) { return make_fn("str." + name, fn); };
  if (name == "startswith" || name == "endswith") {
    bool start = name == "startswith";
    return m([s, start](Interp&, CallArgs& a) {
      const Value* p = a.get(0, "prefix");
      if (!p) throw Error(a.line, "TypeError", "startswith() takes at least 1 argument (0 given)");
      auto [b, e] = str_range(s, a, 1);
      std::string_view sub = std::string_view(s).substr(b, e - b);
      std::vector<Value> cands = p->kind == Kind::kList && p->list_obj().flavor == ListObj::kTuple ? p->list_obj().items
                                                                                                 : std::vector<Value>{*p};
      for (const Value& c : cands) {
        const std::string& x = need_str(c, start ? "startswith first arg" : "endswith first arg", a.line);
        if (start ? sub.substr(0, x.size()) == x : (sub.size() >= x.size() && sub.substr(sub.size() - x.size()) == x))
          return Value::boolean(true);
      }
      return Value::boolean(false);
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool l = name != "rstrip", r = name != "lstrip";
    return m([s, l, r, origin](Interp&, CallArgs& a) {
      const Value* c = a.get(0, "chars");
      if (!c || c->is_none()) return Value::string(std::string(py_strip_ws(s, l, r)), origin);
      return Value::string(std::string(py_strip_chars(s, need_str(*c, "strip arg", a.line), l, r)), origin);
    });
  }
  if (name == "split" || name == "rsplit") {
    bool right = name == "rsplit";
    return m([s, right, origin](Interp&, CallArgs& a) {
      const Value* sep = a.get(0, "sep");
      int64_t maxsplit = -1;
      if (const Value* ms = a.get(1, "maxsplit")) maxsplit = need_int(*ms, "maxsplit", a.line);
      return str_list(py_split(s, sep, maxsplit, right, a.line), origin);
    });
  }
  if (name == "splitlines")
    return m([s, origin](Interp&, CallArgs& a) {
      return str_list(splitlines(s, truthy(a.get_or(0, "keepends", Value::boolean(false)))), origin);
    });
  if (name == "replace")
    return m([s, origin](Interp&, CallArgs& a) {
      if (a.args.size() < 2) throw Error(a.line, "TypeError", "replace expected at least 2 arguments");
      int64_t count = a.args.size() > 2 ? need_int(a.args[2], "count", a.line) : -1;
      return Value::string(py_replace(s, need_str(a.args[0], "replace arg", a.line), need_str(a.args[1], "replace arg", a.line), count),
                           origin);
    });
  if (name == "upper") return m([s, origin](Interp&, CallArgs&) { return Value::string(py_upper(s), origin); });
  if (name == "lower") return m([s, origin](Interp&, CallArgs&) { return Value::string(py_lower(s), origin); });
  if (name == "title") return m([s, origin](Interp&, CallArgs&) { return Value::string(py_title(s), origin); });
  if (name == "capitalize") return m([s, origin](Interp&, CallArgs&) { return Value::string(py_capitalize(s), origin); });
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return m([s, name](Interp&, CallArgs& a) {
      const Value* sub = a.get(0, "sub");
      if (!sub) throw Error(a.line, "TypeError", name + "() takes at least 1 argument (0 given)");
      const std::string& x = need_str(*sub, "must be str", a.line);
      auto [b, e] = str_range(s, a, 1);
      std::string_view hay = std::string_view(s).substr(b, e - b);
      if (name == "count") {
        if (x.empty()) return Value::integer(int64_t(utf8_len(hay)) + 1);
        int64_t n = 0;
        for (size_t p = hay.find(x); p != std::string_view::npos; p = hay.find(x, p + x.size())) ++n;
        return Value::integer(n);
      }
      size_t f = name[0] == 'r' ? hay.rfind(x) : hay.find(x);
      if (f == std::string_view::npos) {
        if (name == "index" || name == "rindex") throw Error(a.line, "ValueError", "substring not found");
        return Value::integer(-1);
      }
      return Value::integer(int64_t(byte_to_cp(s, b + f)));
    });
  }
  if (name == "join")
    return m([s, origin](Interp&, CallArgs& a) {
      const Value* it = a.get(0, "iterable");
      if (!it) throw Error(a.line, "TypeError", "join() takes exactly one argument (0 given)");
      std::string out;
      int o = origin;
      size_t k = 0;
      for (const Value& x : iterate(*it, a.line)) {
        if (!x.is_string())
          throw Error(a.line, "TypeError", "sequence item " + std::to_string(k) + ": expected str instance, " + type_name(x) + " found");
        if (k++) out += s;
        if (o < 0) o = x.origin;
        out += *x.s;
      }
      return Value::string(std::move(out), o);
    });
  if (name == "format")
    return m([s, origin](Interp&, CallArgs& a) { return Value::string(py_format(s, a), origin); });
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal")
    return m([s](Interp&, CallArgs&) {
      return Value::boolean(all_chars(s, [](uint32_t cp) {
        auto c = utf8proc_category(utf8proc_int32_t(cp));
        return c == UTF8PROC_CATEGORY_ND;
      }));
    });
  if (name == "isalpha")
    return m([s](Interp&, CallArgs&) {
      return Value::boolean(all_chars(s, [](uint32_t cp) {
        auto c = utf8proc_category(utf8proc_int32_t(cp));
        return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
      }));
    });
  if (name == "isalnum")
    return m([s](Interp&, CallArgs&) {
      return Value::boolean(all_chars(s, [](uint32_t cp) { return cp != '_' && is_word_char(cp) &&
                                                                   utf8proc_category(utf8proc_int32_t(cp)) != UTF8PROC_CATEGORY_MN &&
                                                                   utf8proc_category(utf8proc_int32_t(cp)) != UTF8PROC_CATEGORY_MC; }));
    });
  if (name == "isspace") return m([s](Interp&, CallArgs&) { return Value::boolean(all_chars(s, py_isspace)); });
  if (name == "islower") return m([s](Interp&, CallArgs&) { return Value::boolean(cased_test(s, true)); });
  if (name == "isupper") return m([s](Interp&, CallArgs&) { return Value::boolean(cased_test(s, false)); });
  if (name == "removeprefix" || name == "removesuffix") {
    bool prefix = name == "removeprefix";
    return m([s, prefix, origin](Interp&, CallArgs& a) {
      const Value* x = a.get(0, "prefix");
      if (!x) throw Error(a.line, "TypeError", "missing argument");
      const std::string& p = need_str(*x, "argument", a.line);
      std::string_view v(s);
      if (prefix && v.substr(0, p.size()) == p) v.remove_prefix(p.size());
      if (!prefix && v.size() >= p.size() && v.substr(v.size() - p.size()) == p) v.remove_suffix(p.size());
      return Value::string(std::string(v), origin);
    });
  }
  if (name == "zfill")
    return m([s, origin](Interp&, CallArgs& a) {
      int64_t w = need_width(a.get_or(0, "width", Value::integer(0)), "width", a.line);
      int64_t n = int64_t(utf8_len(s));
      if (n >= w) return Value::string(s, origin);
      size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
      return Value::string(s.substr(0, sign) + std::string(size_t(w - n), '0') + s.substr(sign), origin);
    });
  if (name == "center" || name == "ljust" || name == "rjust") {
    return m([s, name, origin](Interp&, CallArgs& a) {
      int64_t w = need_width(a.get_or(0, "width", Value::integer(0)), "width", a.line);
      std::string fill = a.args.size() > 1 ? need_str(a.args[1], "fillchar", a.line) : " ";
      int64_t n = int64_t(utf8_len(s));
      if (n >= w) return Value::string(s, origin);
      int64_t pad = w - n, left = name == "ljust" ? 0 : name == "rjust" ? pad : pad / 2 + (pad & w & 1);
      std::string out;
      for (int64_t k = 0; k < left; ++k) out += fill;
      out += s;
      for (int64_t k = 0; k < pad - left; ++k) out += fill;
      return Value::string(std::move(out), origin);
    });
  }
  return Value::undefined("'str object' has no attribute '" + name + "'");
}

const char* const kListMutators[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
const char* const kDictMutators[] = {"clear", "pop", "popitem", "setdefault", "update"};

Value dict_items_view(const DictObj& d, ListObj::Flavor f) {
  std::vector<Value> items;
  for (const auto& [k, v] : d.items) {
    if (f == ListObj::kItems) items.push_back(Value::tuple({k, v}));
    else if (f == ListObj::kKeys) items.push_back(k);
    else items.push_back(v);
  }
  return generator(std::move(items), f);
}

Value dict_method(const Value& self, const std::string& name) {
  auto d = std::static_pointer_cast<DictObj>(self.o);
  if (name == "items" || name == "keys" || name == "values") {
    ListObj::Flavor f = name == "items" ? ListObj::kItems : name == "keys" ? ListObj::kKeys : ListObj::kValues;
    return make_fn("dict." + name, [d, f](Interp&, CallArgs&) { return dict_items_view(*d, f); });
  }
  if (name == "get")
    return make_fn("dict.get", [d](Interp&, CallArgs& a) {
      if (a.args.empty()) throw Error(a.line, "TypeError", "get expected at least 1 argument, got 0");
      const Value* v = d->find(a.args[0]);
      return v ? *v : a.args.size() > 1 ? a.args[1] : Value::none();
    });
  if (name == "copy")
    return make_fn("dict.copy", [d](Interp&, CallArgs&) {
      Value c = Value::dict();
      c.dict_obj().items = d->items;
      c.dict_obj().depth = d->depth;
      return c;
    });
  for (const char* mut : kDictMutators)
    if (name == mut) return Value::undefined("access to attribute '" + name + "' of 'dict' object is unsafe.", true);
  return Value();  // not a method
}

Value list_method(const Value& self, const std::string& name) {
  auto l = std::static_pointer_cast<ListObj>(self.o);
  if (l->flavor != ListObj::kList && l->flavor != ListObj::kTuple) return Value();
  if (name == "index" || name == "count")
    return make_fn("list." + name, [l, name](Interp&, CallArgs& a) {
      if (a.args.empty()) throw Error(a.line, "TypeError", name + "() takes exactly one argument (0 given)");
      int64_t n = 0;
      for (size_t k = 0; k < l->items.size(); ++k)
        if (equals(l->items[k], a.args[0])) {
          if (name == "index") return Value::integer(int64_t(k));
          ++n;
        }
      if (name == "index") throw Error(a.line, "ValueError", repr(a.args[0]) + " is not in list");
      return Value::integer(n);
    });
  if (name == "copy" && l->flavor == ListObj::kList)
    return make_fn("list.copy", [l](Interp&, CallArgs&) { return Value::list(l->items); });
  if (l->flavor == ListObj::kList)
    for (const char* mut : kListMutators)
      if (name == mut) return Value::undefined("access to attribute '" + name + "' of 'list' object is unsafe.", true);
  return Value();
}

Value loop_attr(const Value& self, const std::string& name) {
  auto l = std::static_pointer_cast<LoopObj>(self.o);
  int64_t n = int64_t(l->items->size()), i = int64_t(l->index0);
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem") return i > 0 ? (*l->items)[size_t(i - 1)] : Value::undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < n ? (*l->items)[size_t(i + 1)] : Value::undefined("there is no next item");
  if (name == "cycle")
    return make_fn("loop.cycle", [l](Interp&, CallArgs& a) {
      if (a.args.empty()) throw Error(a.line, "TypeError", "no items for cycling given");
      return a.args[l->index0 % a.args.size()];
    });
  if (name == "changed")
    return make_fn("loop.changed", [l](Interp&, CallArgs& a) {
      Value now = Value::list(a.args);
      if (l->has_changed && equals(now, l->last_changed)) return Value::boolean(false);
      l->last_changed = now;
      l->has_changed = true;
      return Value::boolean(true);
    });
  return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

// jinja2's make_attrgetter: dotted parts, integer parts as indexes.
Value attr_path(Interp& in, const Value& item, const std::string& path, int line) {
  Value v = item;
  size_t pos = 0;
  for (;;) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    v = in.get_item(v, digits && part.size() < 18 ? Value::integer(std::stoll(part)) : Value::string(part), line);
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

// sort key: the attribute(s) and lowercased strings unless case_sensitive.
Value sort_key(Interp& in, const Value& item, const Value* attribute, bool case_sensitive, int line) {
  Value k = item;
  if (attribute && !attribute->is_none()) {
    if (attribute->is_string() && attribute->s->find(',') != std::string::npos) {
      std::vector<Value> parts;
      std::string_view a = *attribute->s;
      size_t pos = 0;
      for (;;) {
        size_t c = a.find(',', pos);
        std::string part(py_strip_ws(a.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos), true, true));
        Value v = attr_path(in, item, part, line);
        if (!case_sensitive && v.is_string()) v = Value::string(py_lower(*v.s));
        parts.push_back(v);
        if (c == std::string_view::npos) break;
        pos = c + 1;
      }
      return Value::list(std::move(parts));
    }
    k = attribute->is_string() ? attr_path(in, item, *attribute->s, line) : in.get_item(item, *attribute, line);
  }
  if (!case_sensitive && k.is_string()) return Value::string(py_lower(*k.s));
  return k;
}

std::vector<Value> sorted(Interp& in, std::vector<Value> items, bool reverse, bool case_sensitive, const Value* attribute,
                          int line) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& x : items) keyed.emplace_back(sort_key(in, x, attribute, case_sensitive, line), std::move(x));
  // Python's sorted(reverse=True) keeps equal items in their original order, as stable_sort
  // with the swapped comparison does.
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? less(b.first, a.first, line) : less(a.first, b.first, line);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Python's round(x, n): correctly rounded decimal, ties to even (printf does exactly that).
double py_round(double x, int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", int(std::min<int64_t>(n, 300)), x);
    return std::strtod(buf, nullptr);
  }
  double p = std::pow(10.0, double(-n));
  double y = x / p;
  double r = std::nearbyint(y);
  return r * p;
}

std::optional<int64_t> parse_int(std::string_view text, int base) {
  std::string t(py_strip_ws(text, true, true));
  std::string digits;
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (t.size() > i + 1 && t[i] == '0' && std::strchr("xXoObB", t[i + 1])) {
      int b = std::tolower(t[i + 1]) == 'x' ? 16 : std::tolower(t[i + 1]) == 'o' ? 8 : 2;
      if (base != 0 && base != b) return std::nullopt;
      base = b;
      i += 2;
    } else if (base == 0) {
      base = 10;
    }
  }
  for (; i < t.size(); ++i) {
    if (t[i] == '_' && !digits.empty() && i + 1 < t.size() && t[i + 1] != '_') continue;
    digits += t[i];
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    int d = std::isdigit((unsigned char)c) ? c - '0' : std::isalpha((unsigned char)c) ? std::tolower(c) - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
  }
  try {
    int64_t v = std::stoll(digits, nullptr, base);
    return neg ? -v : v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> parse_float(std::string_view text) {
  std::string t(py_strip_ws(text, true, true));
  std::string clean;
  for (char c : t)
    if (c != '_') clean += c;
  if (clean.empty()) return std::nullopt;
  std::string low = py_lower(clean);
  if (low == "inf" || low == "+inf" || low == "infinity" || low == "+infinity") return HUGE_VAL;
  if (low == "-inf" || low == "-infinity") return -HUGE_VAL;
  if (low == "nan" || low == "+nan" || low == "-nan") return NAN;
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size() || low.find("x") != std::string::npos) return std::nullopt;
  return d;
}

JsonFormat json_format(const CallArgs& a) {
  JsonFormat f;
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  if (const Value* v = a.get(0, "ensure_ascii")) f.ensure_ascii = truthy(*v);
  if (const Value* v = a.get(1, "indent"); v && !v->is_none()) {
    if (v->is_string()) {
      f.indent_str = *v->s;
      f.has_indent_str = true;
    } else {
      f.indent = int(std::max<int64_t>(0, need_int(*v, "indent", a.line)));
    }
  }
  if (const Value* v = a.get(2, "separators"); v && !v->is_none()) {
    std::vector<Value> parts = iterate(*v, a.line);
    if (parts.size() != 2) throw Error(a.line, "ValueError", "separators must be a pair (item_separator, key_separator)");
    f.item_sep = need_str(parts[0], "separator", a.line);
    f.key_sep = need_str(parts[1], "separator", a.line);
    f.has_separators = true;
  }
  if (const Value* v = a.get(3, "sort_keys")) f.sort_keys = truthy(*v);
  return f;
}

Value select_items(Interp& in, const Value& seq, CallArgs& a, bool select, bool by_attr, int line) {
  size_t first = 0;
  std::string attr;
  if (by_attr) {
    const Value* at = a.get(0, "attribute");
    if (!at) throw Error(line, "FilterArgumentError", "Missing parameter for attribute name");
    attr = to_str(*at);
    first = 1;
  }
  std::string test_name;
  CallArgs targs;
  targs.line = line;
  if (a.args.size() > first) {
    test_name = need_str(a.args[first], "test name", line);
    targs.args.assign(a.args.begin() + long(first) + 1, a.args.end());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(seq, line)) {
    Value v = by_attr ? attr_path(in, item, attr, line) : item;
    bool ok = test_name.empty() ? truthy(v) : in.test(test_name, v, targs, line);
    if (ok == select) out.push_back(item);
  }
  return generator(std::move(out));
}

}  // namespace

// ---- Attribute and item access (jinja2.sandbox.SandboxedEnvironment) --------------------------

Value Interp::get_attr(const Value& obj, const std::string& name, int line) {
  switch (obj.kind) {
    case Kind::kUndefined: fail_undefined(obj, line);
    case Kind::kDict: {
      if (name[0] != '_') {
        Value m = dict_method(obj, name);
        if (!(m.is_undefined() && !m.s)) return m;
      }
      if (const Value* v = obj.dict_obj().find(std::string_view(name))) return *v;
      return Value::undefined("'dict object' has no attribute '" + name + "'");
    }
    case Kind::kString:
      if (name[0] == '_') break;
      return str_method(obj, name, line);
    case Kind::kList: {
      if (name[0] == '_') break;
      Value m = list_method(obj, name);
      if (!(m.is_undefined() && !m.s)) return m;
      break;
    }
    case Kind::kNamespace: {
      if (Value* v = static_cast<NamespaceObj&>(*obj.o).find(name)) return *v;
      break;
    }
    case Kind::kLoop: return loop_attr(obj, name);
    default: break;
  }
  if (!name.empty() && name[0] == '_')
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.", true);
  return Value::undefined("'" + type_name(obj) + " object' has no attribute '" + name + "'");
}

Value Interp::get_item(const Value& obj, const Value& key, int line) {
  switch (obj.kind) {
    case Kind::kUndefined: fail_undefined(obj, line);
    case Kind::kDict:
      if (const Value* v = obj.dict_obj().find(key)) return *v;
      break;
    case Kind::kList: {
      const ListObj& l = obj.list_obj();
      bool seq = l.flavor == ListObj::kList || l.flavor == ListObj::kTuple || l.flavor == ListObj::kRange;
      if (seq && (key.kind == Kind::kInt || key.kind == Kind::kBool)) {
        int64_t i = key.kind == Kind::kInt ? key.i : key.b, n = int64_t(l.items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return l.items[size_t(i)];
        return Value::undefined("'" + type_name(obj) + " object' has no element " + repr(key));
      }
      break;
    }
    case Kind::kString:
      if (key.kind == Kind::kInt || key.kind == Kind::kBool) {
        auto cs = utf8_chars(*obj.s);
        int64_t i = key.kind == Kind::kInt ? key.i : key.b, n = int64_t(cs.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return Value::string(std::string(cs[size_t(i)]), obj.origin);
        return Value::undefined("'str object' has no element " + repr(key));
      }
      break;
    default: break;
  }
  if (key.is_string()) return get_attr(obj, *key.s, line);
  return Value::undefined("'" + type_name(obj) + " object' has no element " + repr(key));
}

// ---- Filters -----------------------------------------------------------------------------------

namespace {

// A filter: `v | name(args)` on line `line` (args.line is set too).
using FilterFn = Value (*)(Interp& in, const Value& v, CallArgs& a, int line);

Value filter_default(Interp&, const Value& v, CallArgs& a, int) {
  Value dflt = a.get_or(0, "default_value", Value::string(""));
  bool boolean = truthy(a.get_or(1, "boolean", Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v))) return dflt;
  return v;
}

Value filter_trim(Interp&, const Value& v, CallArgs& a, int line) {
  const Value* chars = a.get(0, "chars");
  std::string s = sstr(v);
  int o = v.is_string() ? v.origin : -1;
  if (!chars || chars->is_none()) return Value::string(std::string(py_strip_ws(s, true, true)), o);
  return Value::string(std::string(py_strip_chars(s, need_str(*chars, "chars", line), true, true)), o);
}

Value filter_length(Interp&, const Value& v, CallArgs&, int line) { return Value::integer(length(v, line)); }

Value filter_upper(Interp&, const Value& v, CallArgs&, int) { return Value::string(py_upper(sstr(v)), v.origin); }

Value filter_lower(Interp&, const Value& v, CallArgs&, int) { return Value::string(py_lower(sstr(v)), v.origin); }

Value filter_capitalize(Interp&, const Value& v, CallArgs&, int) {
  return Value::string(py_capitalize(sstr(v)), v.origin);
}

Value filter_title(Interp&, const Value& v, CallArgs&, int) {
  // jinja2: re.split(r"([-\s({\[<]+)") and item[0].upper() + item[1:].lower() for each piece.
  std::string s = sstr(v), out;
  auto cs = utf8_chars(s);
  auto sep = [](std::string_view c) {
    return c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || py_isspace(first_cp(c));
  };
  bool start = true;
  for (std::string_view c : cs) {
    if (sep(c)) {
      out.append(c);
      start = true;
    } else if (start) {
      out += py_upper(c);
      start = false;
    } else {
      out += py_lower(c);
    }
  }
  return Value::string(std::move(out), v.origin);
}

Value filter_replace(Interp&, const Value& v, CallArgs& a, int line) {
  if (a.args.size() < 2 && !(a.get(0, "old") && a.get(1, "new")))
    throw Error(line, "TypeError", "replace() missing required arguments 'old' and 'new'");
  const Value* c = a.get(2, "count");
  int64_t count = c && !c->is_none() ? need_int(*c, "count", line) : -1;
  return Value::string(py_replace(sstr(v), sstr(*a.get(0, "old")), sstr(*a.get(1, "new")), count), v.origin);
}

Value filter_tojson(Interp&, const Value& v, CallArgs& a, int line) {
  return Value::string(to_json(v, json_format(a), line), v.is_string() ? v.origin : -1);
}

Value filter_string(Interp&, const Value& v, CallArgs&, int) {
  return Value::string(sstr(v), v.is_string() ? v.origin : -1);
}

Value filter_escape(Interp&, const Value& v, CallArgs&, int) { return Value::string(html_escape(sstr(v)), v.origin); }

Value filter_items(Interp&, const Value& v, CallArgs&, int line) {
  if (v.is_undefined()) return generator({});
  if (v.kind != Kind::kDict) throw Error(line, "TypeError", "Can only get item pairs from a mapping.");
  return generator(iterate(dict_items_view(v.dict_obj(), ListObj::kItems), line));
}

Value filter_list(Interp&, const Value& v, CallArgs&, int line) { return Value::list(iterate(v, line)); }

Value filter_first(Interp&, const Value& v, CallArgs&, int line) {
  if (v.kind == Kind::kList &&
      (v.list_obj().flavor == ListObj::kGenerator || v.list_obj().flavor == ListObj::kReverseIter)) {
    ListObj& l = v.list_obj();
    if (l.consumed < l.items.size()) return l.items[l.consumed++];
    return Value::undefined("No first item, sequence was empty.");
  }
  std::vector<Value> items = iterate(v, line);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value filter_last(Interp&, const Value& v, CallArgs&, int line) {
  if (v.kind == Kind::kList && (v.list_obj().flavor == ListObj::kGenerator || v.list_obj().flavor == ListObj::kItems ||
                                v.list_obj().flavor == ListObj::kReverseIter))
    throw Error(line, "TypeError", "'" + type_name(v) + "' object is not reversible");
  std::vector<Value> items = iterate(v, line);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value filter_join(Interp& in, const Value& v, CallArgs& a, int line) {
  std::string d = a.args.empty() && !a.get(0, "d") ? "" : sstr(*a.get(0, "d"));
  const Value* attr = a.get(1, "attribute");
  std::string out;
  int o = -1;
  size_t k = 0;
  for (Value x : iterate(v, line)) {
    if (attr && !attr->is_none()) x = attr_path(in, x, to_str(*attr), line);
    if (k++) out += d;
    if (o < 0 && x.is_string()) o = x.origin;
    out += sstr(x);
  }
  return Value::string(std::move(out), o);
}

Value filter_int(Interp&, const Value& v, CallArgs& a, int line) {
  Value dflt = a.get_or(0, "default", Value::integer(0));
  int64_t base = need_int(a.get_or(1, "base", Value::integer(10)), "base", line);
  if (v.is_string()) {
    if (auto i = parse_int(*v.s, int(base))) return Value::integer(*i);
    if (auto f = parse_float(*v.s); f && std::isfinite(*f)) return Value::integer(int64_t(*f));
    return dflt;
  }
  if (v.kind == Kind::kInt) return v;
  if (v.kind == Kind::kBool) return Value::integer(v.b);
  if (v.kind == Kind::kFloat) return std::isfinite(v.f) ? Value::integer(int64_t(v.f)) : dflt;
  return dflt;
}

Value filter_float(Interp&, const Value& v, CallArgs& a, int) {
  Value dflt = a.get_or(0, "default", Value::number(0.0));
  if (v.is_string()) {
    if (auto f = parse_float(*v.s)) return Value::number(*f);
    return dflt;
  }
  if (v.is_number()) return Value::number(v.kind == Kind::kFloat ? v.f : double(v.kind == Kind::kInt ? v.i : v.b));
  return dflt;
}

Value filter_abs(Interp&, const Value& v, CallArgs&, int line) {
  if (v.kind == Kind::kFloat) return Value::number(std::fabs(v.f));
  if (v.kind == Kind::kInt) return Value::integer(v.i < 0 ? -v.i : v.i);
  if (v.kind == Kind::kBool) return Value::integer(v.b);
  if (v.is_undefined()) fail_undefined(v, line);
  throw Error(line, "TypeError", "bad operand type for abs(): '" + type_name(v) + "'");
}

Value filter_round(Interp&, const Value& v, CallArgs& a, int line) {
  int64_t precision = need_int(a.get_or(0, "precision", Value::integer(0)), "precision", line);
  std::string method = sstr(a.get_or(1, "method", Value::string("common")));
  if (method != "common" && method != "ceil" && method != "floor")
    throw Error(line, "FilterArgumentError", "method must be common, ceil or floor");
  if (method == "common") {
    if (v.kind == Kind::kInt || v.kind == Kind::kBool) return Value::integer(v.kind == Kind::kInt ? v.i : v.b);
    return Value::number(py_round(need_num(v, line), precision));
  }
  double p = std::pow(10.0, double(precision));
  double x = need_num(v, line) * p;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value filter_sum(Interp& in, const Value& v, CallArgs& a, int line) {
  const Value* attr = a.get(0, "attribute");
  Value total = a.get_or(1, "start", Value::integer(0));
  for (Value x : iterate(v, line)) {
    if (attr && !attr->is_none()) x = attr_path(in, x, to_str(*attr), line);
    if (!x.is_number() || !total.is_number())
      throw Error(line, "TypeError",
                  "unsupported operand type(s) for +: '" + type_name(total) + "' and '" + type_name(x) + "'");
    if (total.kind == Kind::kFloat || x.kind == Kind::kFloat)
      total = Value::number(need_num(total, line) + need_num(x, line));
    else
      total = Value::integer((total.kind == Kind::kInt ? total.i : total.b) + (x.kind == Kind::kInt ? x.i : x.b));
  }
  return total;
}

Value min_or_max(Interp& in, const Value& v, CallArgs& a, int line, bool smallest) {
  bool cs = truthy(a.get_or(0, "case_sensitive", Value::boolean(false)));
  const Value* attr = a.get(1, "attribute");
  std::vector<Value> items = iterate(v, line);
  if (items.empty())
    return Value::undefined(std::string("No ") + (smallest ? "smallest" : "largest") + " item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(in, items[0], attr, cs, line);
  for (size_t k = 1; k < items.size(); ++k) {
    Value key = sort_key(in, items[k], attr, cs, line);
    if (smallest ? less(key, best_key, line) : less(best_key, key, line)) {
      best = k;
      best_key = key;
    }
  }
  return items[best];
}

Value filter_min(Interp& in, const Value& v, CallArgs& a, int line) { return min_or_max(in, v, a, line, true); }

Value filter_max(Interp& in, const Value& v, CallArgs& a, int line) { return min_or_max(in, v, a, line, false); }

Value filter_sort(Interp& in, const Value& v, CallArgs& a, int line) {
  bool reverse = truthy(a.get_or(0, "reverse", Value::boolean(false)));
  bool cs = truthy(a.get_or(1, "case_sensitive", Value::boolean(false)));
  const Value* attr = a.get(2, "attribute");
  return Value::list(sorted(in, iterate(v, line), reverse, cs, attr, line));
}

Value filter_dictsort(Interp& in, const Value& v, CallArgs& a, int line) {
  if (v.kind != Kind::kDict) throw Error(line, "FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  bool cs = truthy(a.get_or(0, "case_sensitive", Value::boolean(false)));
  std::string by = sstr(a.get_or(1, "by", Value::string("key")));
  bool reverse = truthy(a.get_or(2, "reverse", Value::boolean(false)));
  if (by != "key" && by != "value") throw Error(line, "FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  Value pos = Value::integer(by == "key" ? 0 : 1);
  std::vector<Value> items = iterate(dict_items_view(v.dict_obj(), ListObj::kItems), line);
  return Value::list(sorted(in, std::move(items), reverse, cs, &pos, line));
}

Value filter_unique(Interp& in, const Value& v, CallArgs& a, int line) {
  bool cs = truthy(a.get_or(0, "case_sensitive", Value::boolean(false)));
  const Value* attr = a.get(1, "attribute");
  std::vector<Value> seen, out;
  for (const Value& x : iterate(v, line)) {
    Value key = sort_key(in, x, attr, cs, line);
    bool dup = false;
    for (const Value& s : seen)
      if (equals(s, key)) dup = true;
    if (dup) continue;
    seen.push_back(key);
    out.push_back(x);
  }
  return generator(std::move(out));
}

Value filter_reverse(Interp&, const Value& v, CallArgs&, int line) {
  if (v.is_string()) {
    auto cs = utf8_chars(*v.s);
    std::string out;
    for (size_t k = cs.size(); k-- > 0;) out.append(cs[k]);
    return Value::string(std::move(out), v.origin);
  }
  std::vector<Value> items = iterate(v, line);
  std::reverse(items.begin(), items.end());
  bool reversible = v.kind == Kind::kDict ||
                    (v.kind == Kind::kList && v.list_obj().flavor != ListObj::kGenerator);
  return reversible ? generator(std::move(items), ListObj::kReverseIter) : Value::list(std::move(items));
}

Value filter_map(Interp& in, const Value& v, CallArgs& a, int line) {
  std::vector<Value> out;
  if (a.args.empty() && a.get(0, "attribute")) {
    std::string attr = to_str(*a.get(0, "attribute"));
    const Value* dflt = nullptr;
    for (const auto& [k, x] : a.kwargs)
      if (k == "default") dflt = &x;
    for (const Value& item : iterate(v, line)) {
      Value r = attr_path(in, item, attr, line);
      if (dflt && !dflt->is_none() && r.is_undefined()) r = *dflt;
      out.push_back(std::move(r));
    }
    return generator(std::move(out));
  }
  if (a.args.empty()) throw Error(line, "FilterArgumentError", "map requires a filter argument");
  std::string fname = need_str(a.args[0], "filter name", line);
  if (!known_filter(fname)) throw Error(line, "FilterArgumentError", "No filter named '" + fname + "'.");
  for (const Value& item : iterate(v, line)) {
    CallArgs fa;
    fa.line = line;
    fa.args.assign(a.args.begin() + 1, a.args.end());
    fa.kwargs = a.kwargs;
    out.push_back(in.filter(fname, item, fa, line));
  }
  return generator(std::move(out));
}

Value filter_select(Interp& in, const Value& v, CallArgs& a, int line) {
  return select_items(in, v, a, true, false, line);
}

Value filter_reject(Interp& in, const Value& v, CallArgs& a, int line) {
  return select_items(in, v, a, false, false, line);
}

Value filter_selectattr(Interp& in, const Value& v, CallArgs& a, int line) {
  return select_items(in, v, a, true, true, line);
}

Value filter_rejectattr(Interp& in, const Value& v, CallArgs& a, int line) {
  return select_items(in, v, a, false, true, line);
}

Value filter_attr(Interp& in, const Value& v, CallArgs& a, int line) {
  return in.get_attr(v, sstr(a.get_or(0, "name", Value::string(""))), line);
}

Value filter_batch(Interp&, const Value& v, CallArgs& a, int line) {
  int64_t n = need_int(a.get_or(0, "linecount", Value::integer(0)), "linecount", line);
  if (n <= 0) throw Error(line, "ValueError", "batch size must be positive");
  const Value* fill = a.get(1, "fill_with");
  std::vector<Value> out, cur;
  for (const Value& x : iterate(v, line)) {
    cur.push_back(x);
    if (int64_t(cur.size()) == n) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (int64_t(cur.size()) < n) cur.push_back(*fill);
    out.push_back(Value::list(std::move(cur)));
  }
  return generator(std::move(out));
}

Value filter_indent(Interp&, const Value& v, CallArgs& a, int line) {
  Value w = a.get_or(0, "width", Value::integer(4));
  std::string ind = w.is_string() ? *w.s : std::string(size_t(std::max<int64_t>(0, need_width(w, "width", line))), ' ');
  bool first = truthy(a.get_or(1, "first", Value::boolean(false)));
  bool blank = truthy(a.get_or(2, "blank", Value::boolean(false)));
  std::string s = sstr(v) + "\n";
  std::vector<std::string> lines = splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind + lines[k]);
  }
  if (first) rv = ind + rv;
  return Value::string(std::move(rv), v.origin);
}

Value filter_wordcount(Interp&, const Value& v, CallArgs&, int) {
  int64_t n = 0;
  bool in_word = false;
  for (std::string_view c : utf8_chars(sstr(v))) {
    bool w = is_word_char(first_cp(c));
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value filter_center(Interp& in, const Value& v, CallArgs& a, int line) {
  int64_t w = need_width(a.get_or(0, "width", Value::integer(80)), "width", line);
  Value s = Value::string(sstr(v), v.origin);
  CallArgs ca;
  ca.line = line;
  ca.args.push_back(Value::integer(w));
  return in.call(str_method(s, "center", line), ca, line);
}

Value filter_format(Interp&, const Value& v, CallArgs& a, int line) {
  std::string fmt = sstr(v);
  if (!a.kwargs.empty()) unsupported("the format filter with keyword arguments", line);
  return Value::string(percent_format(fmt, Value::tuple(a.args), line), v.origin);
}

Value filter_pprint(Interp&, const Value& v, CallArgs&, int line) {
  std::string r = repr(v);
  if (utf8_len(r) > 80) unsupported("pprint of values longer than 80 characters", line);
  return Value::string(std::move(r));
}

// The filters Interp::filter applies, by name. To add one: write a FilterFn above that does what
// jinja2's filter does (its arguments by position or keyword through CallArgs::get/get_or, errors
// as Error with jinja2's exception name), add a row here for each name it answers to, and add the
// name to kFilters in jinja_parser.cpp (known_filter) so templates using it parse; a name that
// known_filter knows but that has no row here is rendered as an unsupported-feature Error.
const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table{
      {"default", filter_default},
      {"d", filter_default},
      {"trim", filter_trim},
      {"length", filter_length},
      {"count", filter_length},
      {"upper", filter_upper},
      {"lower", filter_lower},
      {"capitalize", filter_capitalize},
      {"title", filter_title},
      {"replace", filter_replace},
      {"tojson", filter_tojson},
      {"string", filter_string},
      {"safe", filter_string},
      {"e", filter_escape},
      {"escape", filter_escape},
      {"forceescape", filter_escape},
      {"items", filter_items},
      {"list", filter_list},
      {"first", filter_first},
      {"last", filter_last},
      {"join", filter_join},
      {"int", filter_int},
      {"float", filter_float},
      {"abs", filter_abs},
      {"round", filter_round},
      {"sum", filter_sum},
      {"min", filter_min},
      {"max", filter_max},
      {"sort", filter_sort},
      {"dictsort", filter_dictsort},
      {"unique", filter_unique},
      {"reverse", filter_reverse},
      {"map", filter_map},
      {"select", filter_select},
      {"reject", filter_reject},
      {"selectattr", filter_selectattr},
      {"rejectattr", filter_rejectattr},
      {"attr", filter_attr},
      {"batch", filter_batch},
      {"indent", filter_indent},
      {"wordcount", filter_wordcount},
      {"center", filter_center},
      {"format", filter_format},
      {"pprint", filter_pprint},
  };
  return table;
}

}  // namespace

Value Interp::filter(const std::string& name, const Value& v, CallArgs& a, int line) {
  a.line = line;
  auto it = filters().find(name);
  if (it != filters().end()) return it->second(*this, v, a, line);
  if (known_filter(name)) unsupported("the '" + name + "' filter", line);
  throw Error(line, "TemplateAssertionError", "No filter named '" + name + "'.");
}

// ---- Tests -------------------------------------------------------------------------------------

bool Interp::test(const std::string& name, const Value& v, CallArgs& a, int line) {
  a.line = line;
  auto arg = [&]() -> const Value& {
    if (a.args.empty()) throw Error(line, "TypeError", "test '" + name + "' needs an argument");
    return a.args[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == Kind::kBool;
  if (name == "true") return v.kind == Kind::kBool && v.b;
  if (name == "false") return v.kind == Kind::kBool && !v.b;
  if (name == "integer") return v.kind == Kind::kInt;
  if (name == "float") return v.kind == Kind::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.kind == Kind::kDict;
  if (name == "iterable")
    return v.kind == Kind::kUndefined || v.is_string() || v.kind == Kind::kList || v.kind == Kind::kDict || v.kind == Kind::kLoop;
  if (name == "sequence") {
    if (v.is_undefined() || v.is_string() || v.kind == Kind::kDict) return true;
    if (v.kind != Kind::kList) return false;
    auto f = v.list_obj().flavor;
    return f == ListObj::kList || f == ListObj::kTuple || f == ListObj::kRange;
  }
  if (name == "callable") return v.kind == Kind::kCallable;
  if (name == "escaped") return false;
  if (name == "sameas") {
    const Value& o = arg();
    if (v.kind != o.kind) return false;
    if (v.o || o.o) return v.o == o.o;
    return equals(v, o) && (v.kind != Kind::kString || v.s == o.s);
  }
  if (name == "odd" || name == "even") {
    if (v.is_undefined()) fail_undefined(v, line);
    if (v.kind != Kind::kInt && v.kind != Kind::kBool) throw Error(line, "TypeError", "not all arguments converted during string formatting");
    int64_t x = v.kind == Kind::kInt ? v.i : v.b;
    bool odd = ((x % 2) + 2) % 2 == 1;
    return name == "odd" ? odd : !odd;
  }
  if (name == "divisibleby") {
    const Value& d = arg();
    if (need_num(d, line) == 0) throw Error(line, "ZeroDivisionError", "integer division or modulo by zero");
    if (v.kind == Kind::kFloat || d.kind == Kind::kFloat) return std::fmod(need_num(v, line), need_num(d, line)) == 0;
    return need_int(v, "value", line) % need_int(d, "divisor", line) == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, arg());
  if (name == "ne" || name == "!=") return !equals(v, arg());
  if (name == "lt" || name == "lessthan" || name == "<") return less(v, arg(), line);
  if (name == "gt" || name == "greaterthan" || name == ">") return less(arg(), v, line);
  if (name == "le" || name == "<=") return !less(arg(), v, line);
  if (name == "ge" || name == ">=") return !less(v, arg(), line);
  if (name == "in") {
    CallArgs none;
    Value seq = arg();
    if (seq.is_string()) {
      if (!v.is_string()) throw Error(line, "TypeError", "'in <string>' requires string as left operand, not " + type_name(v));
      return seq.s->find(*v.s) != std::string::npos;
    }
    if (seq.kind == Kind::kDict) return seq.dict_obj().find(v) != nullptr;
    for (const Value& x : iterate(seq, line))
      if (equals(x, v)) return true;
    return false;
  }
  if (name == "lower") return cased_test(sstr(v), true);
  if (name == "upper") return cased_test(sstr(v), false);
  if (name == "filter") return known_filter(sstr(v));
  if (name == "test") return known_test(sstr(v));
  throw Error(line, "TemplateAssertionError", "No test named '" + name + "'.");
}

// ---- Globals -----------------------------------------------------------------------------------

Value Interp::global(const std::string& name) {
  if (name == "range")
    return make_fn("range", [](Interp&, CallArgs& a) {
      if (a.args.empty() || a.args.size() > 3) throw Error(a.line, "TypeError", "range expected 1 to 3 arguments");
      int64_t start = 0, stop, step = 1;
      if (a.args.size() == 1) {
        stop = need_int(a.args[0], "range", a.line);
      } else {
        start = need_int(a.args[0], "range", a.line);
        stop = need_int(a.args[1], "range", a.line);
        if (a.args.size() == 3) step = need_int(a.args[2], "range", a.line);
      }
      if (step == 0) throw Error(a.line, "ValueError", "range() arg 3 must not be zero");
      std::vector<Value> items;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        // jinja2.sandbox.safe_range
        if (items.size() >= 100000)
          throw Error(a.line, "OverflowError",
                      "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        items.push_back(Value::integer(k));
      }
      Value r = generator(std::move(items), ListObj::kRange);
      r.list_obj().range_repr = "range(" + std::to_string(start) + ", " + std::to_string(stop) +
                                (step != 1 ? ", " + std::to_string(step) : "") + ")";
      return r;
    });
  if (name == "namespace")
    return make_fn("namespace", [](Interp& in, CallArgs& a) {
      auto ns = std::make_shared<NamespaceObj>();
      in.track(ns);
      auto add = [&](const std::string& k, const Value& v) {
        if (!k.empty() && k[0] == '_')
          throw Error(a.line, "SecurityError",
                      "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + k +
                          "'. Please rename the attribute.");
        if (Value* x = ns->find(k)) *x = v;
        else ns->attrs.emplace_back(k, v);
      };
      for (const Value& arg : a.args) {
        if (arg.kind != Kind::kDict) throw Error(a.line, "TypeError", "namespace() takes a mapping or keyword arguments");
        for (const auto& [k, v] : arg.dict_obj().items) add(to_str(k), v);
      }
      for (const auto& [k, v] : a.kwargs) add(k, v);
      Value v;
      v.kind = Kind::kNamespace;
      v.o = ns;
      return v;
    });
  if (name == "dict")
    return make_fn("dict", [](Interp&, CallArgs& a) {
      Value d = Value::dict();
      if (a.args.size() > 1) throw Error(a.line, "TypeError", "dict expected at most 1 argument");
      if (!a.args.empty()) {
        const Value& src = a.args[0];
        if (src.kind == Kind::kDict) {
          d.dict_obj().items = src.dict_obj().items;
          d.dict_obj().depth = src.dict_obj().depth;
        } else {
          for (const Value& pair : iterate(src, a.line)) {
            std::vector<Value> kv = iterate(pair, a.line);
            if (kv.size() != 2) throw Error(a.line, "ValueError", "dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
            d.dict_obj().set(kv[0], kv[1]);
          }
        }
      }
      for (const auto& [k, v] : a.kwargs) d.dict_obj().set(Value::string(k), v);
      return d;
    });
  if (name == "raise_exception")
    return make_fn("raise_exception", [](Interp&, CallArgs& a) -> Value {
      throw Error(a.line, "TemplateError", a.args.empty() ? std::string() : to_str(a.args[0]));
    });
  if (name == "strftime_now")
    return make_fn("strftime_now", [](Interp& in, CallArgs& a) {
      if (a.args.empty()) throw Error(a.line, "TypeError", "strftime_now() missing 1 required positional argument: 'format'");
      std::string fmt = need_str(a.args[0], "format", a.line);
      std::time_t t = std::time_t(in.now());
      std::tm tm{};
      localtime_r(&t, &tm);
      std::string out(256, '\0');
      size_t n = fmt.empty() ? 0 : std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
      if (n == 0 && !fmt.empty()) {
        out.resize(4096);
        n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
      }
      out.resize(n);
      return Value::string(std::move(out));
    });
  if (name == "joiner")
    return make_fn("joiner", [](Interp&, CallArgs& a) {
      std::string sep = a.args.empty() ? ", " : to_str(a.args[0]);
      auto used = std::make_shared<bool>(false);
      return make_fn("joiner", [sep, used](Interp&, CallArgs&) {
        if (!*used) {
          *used = true;
          return Value::string("");
        }
        return Value::string(sep);
      });
    });
  if (name == "cycler" || name == "lipsum")
    return make_fn(name, [name](Interp&, CallArgs& a) -> Value { unsupported("the '" + name + "' global", a.line); });
  return Value::undefined("'" + name + "' is undefined");
}

}  // namespace delib::jinja
