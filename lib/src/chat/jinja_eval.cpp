// The Jinja tree walker: statements, expressions, scopes, loops, macros, and the output with
// its provenance (see jinja.h).
//
// Scoping follows jinja2: every loop iteration, macro call, `with` and `set` block opens a new
// scope whose assignments vanish when it ends (each iteration starts again from the enclosing
// values); `if` opens none. Macros resolve free names when they run, in the scope where they
// were defined. Undefined names are jinja2's default Undefined (see jinja.h).
#include <cmath>
#include <ctime>
#include <limits>

#include "chat/jinja.h"

namespace delib::jinja {

Value* Scope::find(std::string_view name) {
  for (Scope* s = this; s; s = s->parent.get())
    for (auto& [k, v] : s->vars)
      if (k == name) return &v;
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& [k, x] : vars)
    if (k == name) {
      x = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

namespace {

constexpr int kMaxDepth = 200;  // macro call nesting (jinja2's is Python's recursion limit)

struct SinkGuard {
  std::vector<Output*>& sinks;
  SinkGuard(std::vector<Output*>& s, Output* o) : sinks(s) { sinks.push_back(o); }
  ~SinkGuard() { sinks.pop_back(); }
};

[[noreturn]] void fail_undefined(const Value& v, int line) {
  throw Error(line, v.b ? "SecurityError" : "UndefinedError", *v.s);
}

bool mentions(const Node& n, const char* name) {
  if (n.type == Node::kName && n.text == name) return true;
  for (const auto* v : {&n.kids, &n.args, &n.defaults})
    for (const auto& k : *v)
      if (k && mentions(*k, name)) return true;
  return (n.dyn_args && mentions(*n.dyn_args, name)) || (n.dyn_kwargs && mentions(*n.dyn_kwargs, name));
}

int64_t checked(long double r, int line) {
  if (r > static_cast<long double>(std::numeric_limits<int64_t>::max()) ||
      r < static_cast<long double>(std::numeric_limits<int64_t>::min()))
    throw Error(line, "OverflowError", "integer result out of the 64-bit range delib's templates support");
  return int64_t(r);
}

int64_t as_int(const Value& v) { return v.kind == Kind::kInt ? v.i : int64_t(v.b); }
double as_num(const Value& v) { return v.kind == Kind::kFloat ? v.f : double(as_int(v)); }

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args, int line) {
  std::vector<Value> vals;
  if (args.kind == Kind::kList && args.list_obj().flavor == ListObj::kTuple) vals = args.list_obj().items;
  else vals.push_back(args);
  std::string out;
  size_t k = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw Error(line, "ValueError", "incomplete format");
    char c = fmt[i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (k >= vals.size()) throw Error(line, "TypeError", "not enough arguments for format string");
    const Value& v = vals[k++];
    if (c == 's') out += to_str(v);
    else if (c == 'r') out += repr(v);
    else if ((c == 'd' || c == 'i') && v.is_number()) out += std::to_string(v.kind == Kind::kFloat ? int64_t(v.f) : as_int(v));
    else throw Error(line, "ValueError", std::string("unsupported format character '") + c + "' (delib supports %s %r %d %i)");
  }
  if (k < vals.size()) throw Error(line, "TypeError", "not all arguments converted during string formatting");
  return out;
}

namespace {

Value arith(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) fail_undefined(a, line);
  if (b.is_undefined()) fail_undefined(b, line);
  auto unsupported = [&]() -> Error {
    return Error(line, "TypeError",
                 "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
  };
  if (a.is_number() && b.is_number()) {
    bool ints = a.kind != Kind::kFloat && b.kind != Kind::kFloat;
    if (op == "+") return ints ? Value::integer(checked((long double)as_int(a) + as_int(b), line)) : Value::number(as_num(a) + as_num(b));
    if (op == "-") return ints ? Value::integer(checked((long double)as_int(a) - as_int(b), line)) : Value::number(as_num(a) - as_num(b));
    if (op == "*") return ints ? Value::integer(checked((long double)as_int(a) * as_int(b), line)) : Value::number(as_num(a) * as_num(b));
    if (op == "/") {
      if (as_num(b) == 0) throw Error(line, "ZeroDivisionError", "division by zero");
      return Value::number(as_num(a) / as_num(b));
    }
    if (op == "//" || op == "%") {
      if (as_num(b) == 0)
        throw Error(line, "ZeroDivisionError", ints ? "integer division or modulo by zero" : "float modulo");
      if (ints) {
        int64_t x = as_int(a), y = as_int(b);
        if (x == std::numeric_limits<int64_t>::min() && y == -1) checked(-(long double)x, line);
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          --q;
          r += y;
        }
        return Value::integer(op == "//" ? q : r);
      }
      // CPython's float_divmod.
      double x = as_num(a), y = as_num(b);
      double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0) {
        if ((y < 0) != (mod < 0)) {
          mod += y;
          div -= 1.0;
        }
      } else {
        mod = std::copysign(0.0, y);
      }
      if (op == "%") return Value::number(mod);
      double floordiv;
      if (div != 0) {
        floordiv = std::floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
      } else {
        floordiv = std::copysign(0.0, x / y);
      }
      return Value::number(floordiv);
    }
    if (op == "**") {
      if (ints && as_int(b) >= 0) {
        long double r = 1, base = as_int(a);
        for (int64_t k = 0; k < as_int(b); ++k) {
          r *= base;
          checked(r, line);
        }
        return Value::integer(checked(r, line));
      }
      if (as_num(a) == 0 && as_num(b) < 0)
        throw Error(line, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
      return Value::number(std::pow(as_num(a), as_num(b)));
    }
    throw unsupported();
  }
  if (op == "+") {
    if (a.is_string() && b.is_string())
      return Value::string(*a.s + *b.s, a.origin >= 0 ? a.origin : b.origin);
    if (a.kind == Kind::kList && b.kind == Kind::kList) {
      const ListObj &x = a.list_obj(), &y = b.list_obj();
      if ((x.flavor == ListObj::kList || x.flavor == ListObj::kTuple) && x.flavor == y.flavor) {
        std::vector<Value> items = x.items;
        items.insert(items.end(), y.items.begin(), y.items.end());
        Value r = Value::list(std::move(items));
        r.list_obj().flavor = x.flavor;
        return r;
      }
    }
    if (a.is_string())
      throw Error(line, "TypeError", "can only concatenate str (not \"" + type_name(b) + "\") to str");
    if (a.kind == Kind::kList && a.list_obj().flavor == ListObj::kList)
      throw Error(line, "TypeError", "can only concatenate list (not \"" + type_name(b) + "\") to list");
    throw unsupported();
  }
  if (op == "*") {
    const Value* seq = a.is_number() ? &b : &a;
    const Value* n = a.is_number() ? &a : &b;
    if (n->kind != Kind::kFloat && n->is_number() && (seq->is_string() || seq->kind == Kind::kList)) {
      int64_t times = std::max<int64_t>(0, as_int(*n));
      if (seq->is_string()) {
        if (times * seq->s->size() > (size_t(64) << 20)) throw Error(line, "MemoryError", "string repetition too large");
        std::string out;
        for (int64_t k = 0; k < times; ++k) out += *seq->s;
        return Value::string(std::move(out), seq->origin);
      }
      const ListObj& l = seq->list_obj();
      if (l.flavor == ListObj::kList || l.flavor == ListObj::kTuple) {
        if (times * l.items.size() > 1000000) throw Error(line, "MemoryError", "list repetition too large");
        std::vector<Value> items;
        for (int64_t k = 0; k < times; ++k) items.insert(items.end(), l.items.begin(), l.items.end());
        Value r = Value::list(std::move(items));
        r.list_obj().flavor = l.flavor;
        return r;
      }
    }
    throw unsupported();
  }
  if (op == "%" && a.is_string()) return Value::string(percent_format(*a.s, b, line), a.origin);
  throw unsupported();
}

bool contains(const Value& container, const Value& item, int line) {
  switch (container.kind) {
    case Kind::kString:
      if (!item.is_string())
        throw Error(line, "TypeError", "'in <string>' requires string as left operand, not " + type_name(item));
      return container.s->find(*item.s) != std::string::npos;
    case Kind::kDict: return container.dict_obj().find(item) != nullptr;
    case Kind::kUndefined: return false;
    case Kind::kList:
      for (const Value& x : iterate(container, line))
        if (equals(x, item)) return true;
      return false;
    default:
      throw Error(line, "TypeError", "argument of type '" + type_name(container) + "' is not iterable");
  }
}

// Python slice indices for a sequence of `len` items.
std::vector<size_t> slice_indices(int64_t len, const Value* start, const Value* stop, const Value* step, int line) {
  auto get = [&](const Value* v, bool& given) -> int64_t {
    given = v && !v->is_none() && !v->is_undefined();
    if (!given) return 0;
    if (v->kind != Kind::kInt && v->kind != Kind::kBool)
      throw Error(line, "TypeError", "slice indices must be integers or None or have an __index__ method");
    return as_int(*v);
  };
  bool has_start, has_stop, has_step;
  int64_t b = get(start, has_start), e = get(stop, has_stop), st = get(step, has_step);
  if (!has_step) st = 1;
  if (st == 0) throw Error(line, "ValueError", "slice step cannot be zero");
  auto clamp = [&](int64_t x, bool given, int64_t dflt) {
    if (!given) return dflt;
    if (x < 0) x += len;
    if (st > 0) return std::clamp<int64_t>(x, 0, len);
    return std::clamp<int64_t>(x, -1, len - 1);
  };
  b = clamp(b, has_start, st > 0 ? 0 : len - 1);
  e = clamp(e, has_stop, st > 0 ? len : -1);
  std::vector<size_t> idx;
  if (st > 0)
    for (int64_t k = b; k < e; k += st) idx.push_back(size_t(k));
  else
    for (int64_t k = b; k > e; k += st) idx.push_back(size_t(k));
  return idx;
}

}  // namespace

Interp::Interp(const Globals& g) : globals(g) {}

Interp::~Interp() {
  for (auto& o : tracked_) {
    if (auto* c = dynamic_cast<CallableObj*>(o.get())) c->fn = nullptr;
    else if (auto* n = dynamic_cast<NamespaceObj*>(o.get())) n->attrs.clear();
  }
  if (root_scope_) root_scope_->vars.clear();
}

int64_t Interp::now() const { return globals.fixed_now >= 0 ? globals.fixed_now : int64_t(std::time(nullptr)); }

Output Interp::run(const Node& root) {
  set_render_budget(globals.max_string_bytes);
  Output out;
  SinkGuard guard(sinks_, &out);
  root_scope_ = std::make_shared<Scope>();
  for (const auto& [k, v] : globals.vars) root_scope_->set(k, v);
  exec_body(root, root_scope_);
  return out;
}

void Interp::emit(std::string_view text, int origin) {
  if (text.empty()) return;
  Output& o = *sinks_.back();
  if (o.text.size() + text.size() > globals.max_output)
    throw Error(0, "MemoryError", "the rendered text exceeds " + std::to_string(globals.max_output >> 20) + " MiB");
  int msg = current_message_ >= 0 ? current_message_ : origin;
  bool in_loop = current_message_ >= 0;
  size_t begin = o.text.size();
  o.text.append(text);
  if (!o.chunks.empty() && o.chunks.back().message == msg && o.chunks.back().in_loop == in_loop &&
      o.chunks.back().end == begin) {
    o.chunks.back().end = o.text.size();
  } else {
    o.chunks.push_back({begin, o.text.size(), msg, in_loop});
  }
}

Value Interp::capture(const std::function<void()>& body) {
  Output buf;
  {
    SinkGuard guard(sinks_, &buf);
    body();
  }
  int origin = -1;
  for (const Chunk& c : buf.chunks)
    if (c.message >= 0) {
      origin = c.message;
      break;
    }
  return Value::string(std::move(buf.text), origin);
}

Value Interp::lookup(const std::string& name, const ScopePtr& scope) {
  if (Value* v = scope->find(name)) return *v;
  return global(name);
}

Interp::Flow Interp::exec_body(const Node& body, const ScopePtr& scope) {
  for (const auto& k : body.kids) {
    Flow f = exec(*k, scope);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interp::Flow Interp::exec(const Node& n, const ScopePtr& scope) {
  try {
    switch (n.type) {
      case Node::kBody: return exec_body(n, scope);
      case Node::kData: emit(n.text, -1); return Flow::kNormal;
      case Node::kPrint: {
        Value v = eval(*n.kids[0], scope);
        emit(to_str(v), v.is_string() ? v.origin : -1);
        return Flow::kNormal;
      }
      case Node::kIf:
        return exec_body(truthy(eval(*n.kids[0], scope)) ? *n.kids[1] : *n.kids[2], scope);
      case Node::kFor: return exec_for(n, scope);
      case Node::kSet: assign(*n.kids[0], eval(*n.kids[1], scope), scope, n.line); return Flow::kNormal;
      case Node::kSetBlock: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        Value v = capture([&] { exec_body(*n.kids[1], inner); });
        if (n.kids[2]) {
          Value saved = block_arg_;
          block_arg_ = v;
          v = eval(*n.kids[2], scope);
          block_arg_ = saved;
        }
        assign(*n.kids[0], std::move(v), scope, n.line);
        return Flow::kNormal;
      }
      case Node::kMacro:
        scope->set(n.text, make_macro(n, n.names, n.defaults, *n.kids[0], scope, n.text));
        return Flow::kNormal;
      case Node::kCallBlock: {
        const Node& call_node = *n.kids[0];
        Value fn = eval(*call_node.kids[0], scope);
        CallArgs args = eval_args(call_node, scope);
        args.kwargs.emplace_back("caller", make_macro(n, n.names, n.defaults, *n.kids[1], scope, "caller"));
        Value v = call(fn, args, n.line);
        emit(to_str(v), v.is_string() ? v.origin : -1);
        return Flow::kNormal;
      }
      case Node::kFilterBlock: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        Value body = capture([&] { exec_body(*n.kids[1], inner); });
        Value saved = block_arg_;
        block_arg_ = body;
        Value v = eval(*n.kids[0], scope);
        block_arg_ = saved;
        emit(to_str(v), v.is_string() ? v.origin : -1);
        return Flow::kNormal;
      }
      case Node::kGeneration: {
        Output& o = *sinks_.back();
        size_t begin = o.text.size();
        Flow f = exec_body(*n.kids[0], scope);
        if (sinks_.size() == 1) o.generation.emplace_back(begin, o.text.size());
        return f;
      }
      case Node::kBreak: return Flow::kBreak;
      case Node::kContinue: return Flow::kContinue;
      case Node::kWith: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        for (size_t k = 0; k < n.names.size(); ++k) inner->set(n.names[k], eval(*n.defaults[k], scope));
        return exec_body(*n.kids[0], inner);
      }
      default:
        throw Error(n.line, "TemplateSyntaxError", "not a statement");
    }
  } catch (Error& e) {
    if (e.line() == 0) e.set_line(n.line);
    throw;
  }
}

Interp::Flow Interp::exec_for(const Node& n, const ScopePtr& scope) {
  std::vector<Value> items = iterate(eval(*n.kids[1], scope), n.line);
  if (const Node* filter = n.kids[4].get()) {
    std::vector<Value> kept;
    for (Value& x : items) {
      auto test = std::make_shared<Scope>();
      test->parent = scope;
      assign(*n.kids[0], x, test, n.line);
      if (truthy(eval(*filter, test))) kept.push_back(std::move(x));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    exec_body(*n.kids[3], inner);
    return Flow::kNormal;
  }
  auto shared = std::make_shared<const std::vector<Value>>(std::move(items));
  Value last_changed;
  bool has_changed = false;
  for (size_t k = 0; k < shared->size(); ++k) {
    if (++iterations_ > globals.max_iterations)
      throw Error(n.line, "RuntimeError",
                  "the template ran more than " + std::to_string(globals.max_iterations) + " loop iterations");
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    const Value& item = (*shared)[k];
    assign(*n.kids[0], item, inner, n.line);
    auto loop = std::make_shared<LoopObj>();
    loop->items = shared;
    loop->index0 = k;
    loop->last_changed = last_changed;
    loop->has_changed = has_changed;
    Value lv;
    lv.kind = Kind::kLoop;
    lv.o = loop;
    inner->set("loop", lv);
    int saved = current_message_;
    if (item.kind == Kind::kDict && item.dict_obj().message_index >= 0) current_message_ = item.dict_obj().message_index;
    Flow f;
    try {
      f = exec_body(*n.kids[2], inner);
    } catch (...) {
      current_message_ = saved;
      throw;
    }
    current_message_ = saved;
    last_changed = loop->last_changed;
    has_changed = loop->has_changed;
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interp::assign(const Node& target, Value v, const ScopePtr& scope, int line) {
  switch (target.type) {
    case Node::kName: scope->set(target.text, std::move(v)); return;
    case Node::kTuple: {
      if (v.kind != Kind::kList && v.kind != Kind::kString && v.kind != Kind::kDict)
        throw Error(line, "TypeError", "cannot unpack non-iterable " + type_name(v) + " object");
      std::vector<Value> items = iterate(v, line);
      if (items.size() != target.kids.size())
        throw Error(line, "ValueError",
                    items.size() > target.kids.size()
                        ? "too many values to unpack (expected " + std::to_string(target.kids.size()) + ")"
                        : "not enough values to unpack (expected " + std::to_string(target.kids.size()) + ", got " +
                              std::to_string(items.size()) + ")");
      for (size_t k = 0; k < items.size(); ++k) assign(*target.kids[k], items[k], scope, line);
      return;
    }
    case Node::kNsRef: {
      Value ns = lookup(target.text, scope);
      if (ns.kind != Kind::kNamespace)
        throw Error(line, "TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      if (!target.text2.empty() && target.text2[0] == '_')
        throw Error(line, "SecurityError",
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
                        target.text2 + "'. Please rename the attribute.");
      auto& obj = static_cast<NamespaceObj&>(*ns.o);
      if (Value* x = obj.find(target.text2)) *x = std::move(v);
      else obj.attrs.emplace_back(target.text2, std::move(v));
      return;
    }
    default:
      throw Error(line, "TemplateSyntaxError", "cannot assign to this expression");
  }
}

Value Interp::make_macro(const Node& n, const std::vector<std::string>& names, const std::vector<NodePtr>& defaults,
                         const Node& body, const ScopePtr& closure, std::string name) {
  const bool uses_varargs = mentions(body, "varargs");
  const bool uses_kwargs = mentions(body, "kwargs");
  const bool uses_caller = mentions(body, "caller");
  auto obj = std::make_shared<CallableObj>();
  obj->name = "macro " + name;
  const Node* body_ptr = &body;
  const std::vector<std::string>* names_ptr = &names;
  const std::vector<NodePtr>* defaults_ptr = &defaults;
  obj->fn = [=](Interp& in, CallArgs& a) -> Value {
    if (in.depth_ >= kMaxDepth) throw Error(a.line, "RecursionError", "maximum recursion depth exceeded in macro '" + name + "'");
    auto sc = std::make_shared<Scope>();
    sc->parent = closure;
    const auto& ps = *names_ptr;
    std::vector<bool> given(ps.size(), false);
    std::vector<Value> extra;
    for (size_t k = 0; k < a.args.size(); ++k) {
      if (k < ps.size()) {
        sc->set(ps[k], a.args[k]);
        given[k] = true;
      } else if (uses_varargs) {
        extra.push_back(a.args[k]);
      } else {
        throw Error(a.line, "TypeError",
                    "macro '" + name + "' takes not more than " + std::to_string(ps.size()) + " argument(s)");
      }
    }
    Value kw = Value::dict();
    bool caller_given = false;
    for (auto& [k, v] : a.kwargs) {
      auto it = std::find(ps.begin(), ps.end(), k);
      if (it != ps.end()) {
        size_t idx = size_t(it - ps.begin());
        if (given[idx]) throw Error(a.line, "TypeError", "macro '" + name + "' got multiple values for argument '" + k + "'");
        sc->set(k, v);
        given[idx] = true;
      } else if (k == "caller" && uses_caller) {
        sc->set("caller", v);
        caller_given = true;
      } else if (uses_kwargs) {
        kw.dict_obj().set(Value::string(k), v);
      } else {
        throw Error(a.line, "TypeError", "macro '" + name + "' takes no keyword argument '" + k + "'");
      }
    }
    for (size_t k = 0; k < ps.size(); ++k) {
      if (given[k]) continue;
      const NodePtr& d = (*defaults_ptr)[k];
      sc->set(ps[k], d ? in.eval(*d, sc) : Value::undefined("parameter '" + ps[k] + "' was not provided"));
    }
    if (uses_varargs) sc->set("varargs", Value::tuple(std::move(extra)));
    if (uses_kwargs) sc->set("kwargs", kw);
    if (uses_caller && !caller_given) sc->set("caller", Value::undefined("No caller defined"));
    ++in.depth_;
    struct Dec {
      int& d;
      ~Dec() { --d; }
    } dec{in.depth_};
    return in.capture([&] { in.exec_body(*body_ptr, sc); });
  };
  (void)n;
  track(obj);
  Value v;
  v.kind = Kind::kCallable;
  v.o = std::move(obj);
  return v;
}

CallArgs Interp::eval_args(const Node& n, const ScopePtr& scope) {
  CallArgs a;
  a.line = n.line;
  for (const auto& x : n.args) a.args.push_back(eval(*x, scope));
  for (size_t k = 0; k < n.names.size(); ++k) a.kwargs.emplace_back(n.names[k], eval(*n.defaults[k], scope));
  if (n.dyn_args)
    for (Value& x : iterate(eval(*n.dyn_args, scope), n.line)) a.args.push_back(std::move(x));
  if (n.dyn_kwargs) {
    Value d = eval(*n.dyn_kwargs, scope);
    if (d.kind != Kind::kDict) throw Error(n.line, "TypeError", "argument after ** must be a mapping, not " + type_name(d));
    for (const auto& [k, x] : d.dict_obj().items) {
      if (!k.is_string()) throw Error(n.line, "TypeError", "keywords must be strings");
      a.kwargs.emplace_back(*k.s, x);
    }
  }
  return a;
}

Value Interp::call(const Value& fn, CallArgs& args, int line) {
  if (args.line == 0) args.line = line;
  if (fn.kind == Kind::kCallable) return static_cast<CallableObj&>(*fn.o).fn(*this, args);
  if (fn.is_undefined()) fail_undefined(fn, line);
  throw Error(line, "TypeError", "'" + type_name(fn) + "' object is not callable");
}

Value Interp::binary(const Node& n, const ScopePtr& scope) {
  if (n.text == "and") {
    Value a = eval(*n.kids[0], scope);
    return truthy(a) ? eval(*n.kids[1], scope) : a;
  }
  if (n.text == "or") {
    Value a = eval(*n.kids[0], scope);
    return truthy(a) ? a : eval(*n.kids[1], scope);
  }
  Value a = eval(*n.kids[0], scope);
  Value b = eval(*n.kids[1], scope);
  return arith(n.text, a, b, n.line);
}

Value Interp::compare(const Node& n, const ScopePtr& scope) {
  Value left = eval(*n.kids[0], scope);
  for (size_t k = 0; k < n.ops.size(); ++k) {
    Value right = eval(*n.kids[k + 1], scope);
    const std::string& op = n.ops[k];
    bool r;
    if (op == "==") r = equals(left, right);
    else if (op == "!=") r = !equals(left, right);
    else if (op == "<") r = less(left, right, n.line);
    else if (op == ">") r = less(right, left, n.line);
    else if (op == "<=") r = !less(right, left, n.line);
    else if (op == ">=") r = !less(left, right, n.line);
    else if (op == "in") r = contains(right, left, n.line);
    else r = !contains(right, left, n.line);
    if (!r) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interp::eval(const Node& n, const ScopePtr& scope) {
  try {
    switch (n.type) {
      case Node::kConst: return n.value;
      case Node::kName: return lookup(n.text, scope);
      case Node::kBlockArg: return block_arg_;
      case Node::kList: case Node::kTuple: {
        std::vector<Value> items;
        for (const auto& k : n.kids) items.push_back(eval(*k, scope));
        return n.type == Node::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Node::kDict: {
        Value d = Value::dict();
        for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
          Value key = eval(*n.kids[k], scope);
          if (key.kind == Kind::kList || key.kind == Kind::kDict || key.kind == Kind::kNamespace) {
            if (!(key.kind == Kind::kList && key.list_obj().flavor == ListObj::kTuple))
              throw Error(n.line, "TypeError", "unhashable type: '" + type_name(key) + "'");
          }
          d.dict_obj().set(std::move(key), eval(*n.kids[k + 1], scope));
        }
        return d;
      }
      case Node::kGetattr: return get_attr(eval(*n.kids[0], scope), n.text, n.line);
      case Node::kGetitem: {
        Value obj = eval(*n.kids[0], scope);
        const Node& key = *n.kids[1];
        if (key.type != Node::kSlice) return get_item(obj, eval(key, scope), n.line);
        if (obj.is_undefined()) fail_undefined(obj, n.line);
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (key.kids[size_t(k)]) parts[k] = eval(*key.kids[size_t(k)], scope);
        const Value* p[3];
        for (int k = 0; k < 3; ++k) p[k] = key.kids[size_t(k)] ? &parts[k] : nullptr;
        if (obj.is_string()) {
          std::vector<std::string_view> cs = utf8_chars(*obj.s);
          std::string out;
          for (size_t i : slice_indices(int64_t(cs.size()), p[0], p[1], p[2], n.line)) out.append(cs[i]);
          return Value::string(std::move(out), obj.origin);
        }
        if (obj.kind == Kind::kList) {
          const ListObj& l = obj.list_obj();
          if (l.flavor == ListObj::kList || l.flavor == ListObj::kTuple || l.flavor == ListObj::kRange) {
            std::vector<Value> items;
            for (size_t i : slice_indices(int64_t(l.items.size()), p[0], p[1], p[2], n.line)) items.push_back(l.items[i]);
            Value r = Value::list(std::move(items));
            r.list_obj().flavor = l.flavor == ListObj::kTuple ? ListObj::kTuple : ListObj::kList;
            return r;
          }
        }
        // jinja2 compiles a slice to Python's own obj[a:b]: no sandbox fallback to Undefined.
        if (obj.kind == Kind::kDict) throw Error(n.line, "TypeError", "unhashable type: 'slice'");
        throw Error(n.line, "TypeError", "'" + type_name(obj) + "' object is not subscriptable");
      }
      case Node::kCall: {
        Value fn = eval(*n.kids[0], scope);
        CallArgs args = eval_args(n, scope);
        return call(fn, args, n.line);
      }
      case Node::kFilter: {
        Value v = n.kids[0] ? eval(*n.kids[0], scope) : block_arg_;
        CallArgs args = eval_args(n, scope);
        return filter(n.text, v, args, n.line);
      }
      case Node::kTest: {
        Value v = eval(*n.kids[0], scope);
        CallArgs args = eval_args(n, scope);
        return Value::boolean(test(n.text, v, args, n.line));
      }
      case Node::kUnary: {
        Value v = eval(*n.kids[0], scope);
        if (n.text == "not") return Value::boolean(!truthy(v));
        if (v.is_undefined()) fail_undefined(v, n.line);
        if (!v.is_number()) throw Error(n.line, "TypeError", "bad operand type for unary " + n.text + ": '" + type_name(v) + "'");
        if (n.text == "+") return v.kind == Kind::kBool ? Value::integer(v.b) : v;
        if (v.kind == Kind::kFloat) return Value::number(-v.f);
        return Value::integer(checked(-(long double)as_int(v), n.line));
      }
      case Node::kBinary: return binary(n, scope);
      case Node::kConcat: {
        std::string out;
        int origin = -1;
        for (const auto& k : n.kids) {
          Value v = eval(*k, scope);
          if (origin < 0 && v.is_string()) origin = v.origin;
          out += to_str(v);
        }
        return Value::string(std::move(out), origin);
      }
      case Node::kCompare: return compare(n, scope);
      case Node::kCondExpr:
        if (truthy(eval(*n.kids[0], scope))) return eval(*n.kids[1], scope);
        if (n.kids[2]) return eval(*n.kids[2], scope);
        return Value::undefined("the inline if-expression on line " + std::to_string(n.line) +
                                " evaluated to false and no else section was defined.");
      default:
        throw Error(n.line, "TemplateSyntaxError", "not an expression");
    }
  } catch (Error& e) {
    if (e.line() == 0) e.set_line(n.line);
    throw;
  }
}

Output render(const Node& root, const Globals& globals) {
  Interp in(globals);
  return in.run(root);
}

}  // namespace delib::jinja
