// A Jinja interpreter for Hugging Face chat templates (private to lib/src/chat).
//
// It renders what transformers' apply_chat_template renders: jinja2 3.1 with the environment
// of transformers.utils.chat_template_utils (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, the loopcontrols extension, the `{% generation %}` tag of its
// AssistantTracker, and the globals raise_exception, strftime_now, dict, namespace and the
// `tojson` filter it overrides), with Python's value semantics: `None`/`True` and lists and
// dicts printed as Python's str() prints them, integer and float arithmetic, strings of code
// points (length and slices count code points; the bytes are UTF-8), jinja2's default
// Undefined (prints empty, iterates as empty, fails on attribute access and arithmetic).
//
//   jinja_lexer.cpp    source -> tokens (whitespace control: `-`, `+`, trim_blocks, lstrip_blocks)
//   jinja_parser.cpp   tokens -> syntax tree (jinja2's grammar and operator precedence)
//   jinja_value.cpp    values: truth, equality, order, str()/repr(), json.dumps, UTF-8 helpers
//   jinja_builtins.cpp filters, tests, globals and the Python str/dict/list methods
//   jinja_eval.cpp     the tree walker: scopes, loops, macros, output with provenance
//
// What is not supported is an Error naming the construct (template inheritance, includes,
// `{% for ... recursive %}`, a few rarely used filters), never a silent difference. The tests
// (tests/unit/chat/test_jinja.cpp, tests/reference/test_chat_templates.py) compare with jinja2.
//
// Provenance: every string value may carry `origin`, the index of the chat message its text
// came from; the renderer records, for every piece of output, the message whose loop iteration
// wrote it (or whose text it prints). jinja_template.cpp turns that into TurnSpans.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace delib::jinja {

// A template error: a syntax error at parse time, or what jinja2 raises at render time
// (UndefinedError, TypeError, raise_exception's TemplateError, SecurityError...).
// `line` is the template line (1-based; 0 when unknown).
class Error : public std::runtime_error {
 public:
  Error(int line, std::string kind, const std::string& message)
      : std::runtime_error(message), line_(line), kind_(std::move(kind)) {}
  int line() const { return line_; }
  void set_line(int line) { line_ = line; }
  const std::string& kind() const { return kind_; }  // e.g. "TypeError"

 private:
  int line_;
  std::string kind_;
};

// ---- Values ------------------------------------------------------------------------------------

enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable, kLoop };

struct Object {
  virtual ~Object() = default;
};
struct ListObj;
struct DictObj;
struct NamespaceObj;
struct CallableObj;
struct LoopObj;

struct Value {
  Kind kind = Kind::kUndefined;
  bool b = false;     // kBool; kUndefined: true when the undefined stands for an unsafe attribute
  int64_t i = 0;      // kInt
  double f = 0;       // kFloat
  int origin = -1;    // kString: index of the message the text came from (-1: none)
  std::shared_ptr<const std::string> s;  // kString: the text; kUndefined: the error to raise on use
  std::shared_ptr<Object> o;             // kList, kDict, kNamespace, kCallable, kLoop

  static Value undefined(std::string message, bool unsafe = false);
  static Value none() { Value v; v.kind = Kind::kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value string(std::string x, int origin = -1);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict();

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool; }
  const std::string& str() const { return *s; }  // REQUIRES: is_string()
  ListObj& list_obj() const;                    // REQUIRES: kind == kList
  DictObj& dict_obj() const;                    // REQUIRES: kind == kDict
};

// A list, tuple, or one of the iterables Python shows differently (generators of map/select,
// dict views, range). A generator is consumed by iterating it, as in Python.
struct ListObj : Object {
  enum Flavor { kList, kTuple, kGenerator, kItems, kKeys, kValues, kRange, kReverseIter };
  std::vector<Value> items;
  Flavor flavor = kList;
  size_t consumed = 0;  // kGenerator/kReverseIter: items already taken
  std::string range_repr;
  uint32_t depth = 1;   // nesting (bounded: see Value::list)
};

// A dict with Python's key equality (1 == 1.0 == True) and insertion order.
struct DictObj : Object {
  std::vector<std::pair<Value, Value>> items;
  int message_index = -1;  // this dict is messages[message_index] of the chat being rendered
  uint32_t depth = 1;      // nesting, kept by set() (items added directly must be shallow)
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct NamespaceObj : Object {
  std::vector<std::pair<std::string, Value>> attrs;
  Value* find(std::string_view name);
};

class Interp;
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  int line = 0;
  // The argument at `pos` or named `name`; `fallback` when neither was passed.
  const Value* get(size_t pos, std::string_view name) const;
  Value get_or(size_t pos, std::string_view name, Value fallback) const;
};

struct CallableObj : Object {
  std::string name;  // for messages: "range", "str.startswith", "macro format_argument"
  std::function<Value(Interp&, CallArgs&)> fn;
};

struct LoopObj : Object {
  std::shared_ptr<const std::vector<Value>> items;
  size_t index0 = 0;
  int depth0 = 0;
  Value last_changed;  // loop.changed()
  bool has_changed = false;
};

// Starts the per-thread budget of string bytes a render may build (Interp::run calls it).
void set_render_budget(size_t string_bytes);

// Python semantics.
bool truthy(const Value& v);
bool equals(const Value& a, const Value& b);
// a < b as Python compares (numbers, strings by code point, lists/tuples lexicographically);
// throws TypeError otherwise.
bool less(const Value& a, const Value& b, int line);
std::string to_str(const Value& v);   // str(v); Undefined prints as ""
std::string repr(const Value& v);     // repr(v)
std::string type_name(const Value& v);  // Python's type name: "str", "dict", "NoneType", ...
// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson calls it.
// indent < 0: none; indent_str overrides a numeric indent when non-empty.
struct JsonFormat {
  bool ensure_ascii = false;
  int indent = -1;
  std::string indent_str;
  bool has_indent_str = false;
  std::string item_sep, key_sep;  // defaults chosen by dumps when empty and !has_separators
  bool has_separators = false;
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonFormat& f, int line);
// Appends json.dumps(s, ensure_ascii) of one string: quotes, \" \\ \n \r \t \b \f, other
// control characters as \u00XX, with ensure_ascii non-ASCII as \uXXXX (surrogate pairs above
// U+FFFF), else verbatim (invalid UTF-8 bytes too). delib::python_json_string is its
// ensure_ascii=False form.
void json_string(std::string_view s, bool ensure_ascii, std::string& out);
// The items Python iterates for `for x in v` (lists, tuples, dict keys, string characters,
// range, generators; Undefined: none). Throws TypeError for other values.
std::vector<Value> iterate(const Value& v, int line);
// len(v); throws TypeError when v has no len().
int64_t length(const Value& v, int line);
std::string format_float(double d);  // Python's repr(float)
// `fmt % args` for str (conversions %s %r %d %i %%; other conversions are an Error).
std::string percent_format(const std::string& fmt, const Value& args, int line);

// UTF-8 helpers (the text is UTF-8; invalid bytes count as one code point each).
size_t utf8_len(std::string_view s);
std::vector<std::string_view> utf8_chars(std::string_view s);
bool py_isspace(uint32_t cp);
std::string_view py_strip_ws(std::string_view s, bool left, bool right);  // str.strip()
std::string_view py_strip_chars(std::string_view s, std::string_view chars, bool left, bool right);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()

// ---- Syntax tree -------------------------------------------------------------------------------

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  enum Type {
    // statements
    kBody,        // kids: statements
    kData,        // text
    kPrint,       // kids[0]: expression
    kIf,          // kids[0]: test, kids[1]: body, kids[2]: else body (kBody, maybe empty)
    kFor,         // kids: target, iter, body, else body, filter (or null); flag: recursive
    kSet,         // kids[0]: target (kName, kTuple of kName, kNsRef), kids[1]: value
    kSetBlock,    // kids[0]: target, kids[1]: body, kids[2]: filter chain on kBlockArg (or null)
    kMacro,       // text: name, names: params, kids[0]: body, defaults: per param (null: none)
    kCallBlock,   // kids[0]: call expression, kids[1]: body; names/defaults: caller's params
    kFilterBlock, // kids[0]: filter chain on kBlockArg, kids[1]: body
    kGeneration,  // kids[0]: body
    kBreak,
    kContinue,
    kWith,        // kids[0]: body; names + defaults: the assignments
    // expressions
    kConst,       // value
    kName,        // text
    kNsRef,       // text: namespace variable, text2: attribute (assignment target)
    kList,        // kids
    kTuple,       // kids
    kDict,        // kids: key, value, key, value...
    kGetattr,     // kids[0], text: attribute
    kGetitem,     // kids[0], kids[1]: key (or kSlice)
    kSlice,       // kids[0..2]: start, stop, step (null when absent)
    kCall,        // kids[0]: callee; args, kwnames/kwargs, dyn_args, dyn_kwargs
    kFilter,      // kids[0]: operand (null inside filter blocks); text: name; args...
    kTest,        // kids[0]: operand; text: name; args...
    kUnary,       // text: "-", "+", "not"; kids[0]
    kBinary,      // text: "+", "-", "*", "/", "//", "%", "**", "and", "or"; kids[0], kids[1]
    kConcat,      // kids (the `~` operator)
    kCompare,     // kids[0]: first operand; ops: operators; kids[1..]: the other operands
    kCondExpr,    // kids[0]: test, kids[1]: then, kids[2]: else (or null)
    kBlockArg,    // the captured body of a filter block / set block (the filter's operand)
  };
  Type type;
  int line = 0;
  std::string text, text2;
  Value value;
  bool flag = false;
  std::vector<NodePtr> kids;
  std::vector<std::string> names;    // macro params, with names, call kwarg names
  std::vector<NodePtr> defaults;     // macro/with: per name; kCall/kFilter/kTest: kwarg values
  std::vector<NodePtr> args;         // kCall/kFilter/kTest: positional arguments
  NodePtr dyn_args, dyn_kwargs;      // *args, **kwargs
  std::vector<std::string> ops;      // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "notin"

  Node(Type t, int l) : type(t), line(l) {}
};

// Tokens of the template language (jinja_lexer.cpp). Data tokens carry the text with the
// whitespace control already applied; comments and raw blocks are resolved by the lexer.
struct Token {
  enum Type { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };
  Type type;
  std::string text;  // data, name, string value (unescaped), operator
  int64_t ival = 0;
  double fval = 0;
  int line = 0;
};
std::vector<Token> lex(std::string_view source);

// Parses a template. Throws Error (kind "TemplateSyntaxError", with the line) on bad syntax,
// an unknown tag, or a filter or test jinja2 does not know (jinja2 refuses those when it
// compiles the template, before rendering).
NodePtr parse(std::string_view source);
bool known_filter(std::string_view name);  // jinja2's builtin filters (and transformers' tojson)
bool known_test(std::string_view name);

// ---- Rendering ---------------------------------------------------------------------------------

// One piece of output and where it came from (see the provenance note at the top).
struct Chunk {
  size_t begin, end;  // bytes of the output
  int message = -1;   // message index, -1: template text
  bool in_loop = false;  // written by the loop iteration of `message` (else: prints its text)
};

struct Output {
  std::string text;
  std::vector<Chunk> chunks;
  std::vector<std::pair<size_t, size_t>> generation;  // byte ranges of {% generation %} blocks
};

// Variables the template sees (the apply_chat_template arguments).
struct Globals {
  std::vector<std::pair<std::string, Value>> vars;
  // strftime_now's clock: seconds since the epoch in local time; < 0: the current time.
  int64_t fixed_now = -1;
  size_t max_output = size_t(64) << 20;  // bytes; more is an Error (runaway templates)
  size_t max_iterations = 10000000;      // loop iterations in all; more is an Error
  size_t max_string_bytes = size_t(4) << 30;  // bytes of all strings built; more is an Error
};

// Renders a parsed template. Throws Error with the template line.
Output render(const Node& root, const Globals& globals);

// A variable scope. Loop iterations, macro calls and `with` blocks open a new one; `if` does not.
struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Scope> parent;
  Value* find(std::string_view name);
  void set(const std::string& name, Value v);
};
using ScopePtr = std::shared_ptr<Scope>;

// The state of one render (jinja_eval.cpp); the builtins (jinja_builtins.cpp) call back into it.
class Interp {
 public:
  explicit Interp(const Globals& g);
  ~Interp();  // breaks the reference cycles macros and namespaces can form (see track)
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;
  Output run(const Node& root);
  // A macro holds its defining scope, which holds the macro; a namespace can hold itself. No
  // value outlives the render (the output is text), so the interpreter empties these objects
  // when it ends and nothing leaks.
  void track(std::shared_ptr<Object> o) { tracked_.push_back(std::move(o)); }

  Value eval(const Node& n, const ScopePtr& scope);
  Value call(const Value& fn, CallArgs& args, int line);
  // Runs `body` with output captured; returns the text as a string whose origin is the message
  // of the first captured piece that has one.
  Value capture(const std::function<void()>& body);
  void emit(std::string_view text, int origin);
  int64_t now() const;  // strftime_now's clock (seconds since the epoch)

  // jinja2's sandboxed getattr (obj.name) and getitem (obj[key]).
  Value get_attr(const Value& obj, const std::string& name, int line);
  Value get_item(const Value& obj, const Value& key, int line);
  Value filter(const std::string& name, const Value& v, CallArgs& args, int line);
  bool test(const std::string& name, const Value& v, CallArgs& args, int line);
  Value global(const std::string& name);  // range, namespace, dict, raise_exception, strftime_now

  const Globals& globals;

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec(const Node& n, const ScopePtr& scope);
  Flow exec_body(const Node& body, const ScopePtr& scope);
  Flow exec_for(const Node& n, const ScopePtr& scope);
  void assign(const Node& target, Value v, const ScopePtr& scope, int line);
  Value lookup(const std::string& name, const ScopePtr& scope);
  Value make_macro(const Node& n, const std::vector<std::string>& names, const std::vector<NodePtr>& defaults,
                   const Node& body, const ScopePtr& closure, std::string name);
  CallArgs eval_args(const Node& n, const ScopePtr& scope);
  Value binary(const Node& n, const ScopePtr& scope);
  Value compare(const Node& n, const ScopePtr& scope);

  std::vector<Output*> sinks_;
  ScopePtr root_scope_;
  Value block_arg_;  // the captured body a filter/set block's filter chain applies to
  int current_message_ = -1;
  int depth_ = 0;
  size_t iterations_ = 0;
  std::vector<std::shared_ptr<Object>> tracked_;
};

}  // namespace delib::jinja
