// Jinja parser: tokens -> syntax tree, following jinja2.parser.Parser (3.1) rule by rule, so
// that precedence and the odd corners agree: `is` tests and filters bind tighter than
// arithmetic, `-x|abs` is abs(-x), `not a is b` is not (a is b), a `for` iterable has no
// conditional expression (its `if` filters items), adjacent string literals concatenate.
#include <algorithm>
#include <set>

#include "chat/jinja.h"

namespace delib::jinja {
namespace {

// jinja2's builtin filters and tests, plus transformers' additions. A name outside these is
// refused like jinja2 refuses it (at parse time, or when reached inside an `if` body).
const std::set<std::string, std::less<>> kFilters = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
    "wordwrap", "xmlattr"};
const std::set<std::string, std::less<>> kTests = {
    "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false", "true",
    "integer", "float", "number", "string", "mapping", "sequence", "iterable", "callable", "sameas", "escaped",
    "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", "ge", ">=", "<", "lt", "lessthan", "<=",
    "le", "lower", "upper"};

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  NodePtr parse_template() {
    auto body = subparse({});
    if (cur().type != Token::kEof) fail("unexpected '" + describe(cur()) + "'");
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  int in_loop_ = 0;  // break/continue are valid inside a for body
  int depth_ = 0;    // nesting of expressions and blocks (the parser and evaluator recurse)

  // Bounds recursion on hostile input (jinja2 is bounded by Python's recursion limit).
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > 250) p.fail("too deeply nested (more than 250 levels of blocks and operators)");
    }
    ~Nest() { --p.depth_; }
  };

  const Token& cur() const { return t_[p_]; }
  const Token& look() const { return t_[std::min(p_ + 1, t_.size() - 1)]; }
  Token next() {
    Token tok = t_[p_];
    if (p_ + 1 < t_.size()) ++p_;
    return tok;
  }
  [[noreturn]] void fail(const std::string& msg, int line = -1) const {
    throw Error(line < 0 ? cur().line : line, "TemplateSyntaxError", msg);
  }
  static std::string describe(const Token& tok) {
    switch (tok.type) {
      case Token::kEof: return "end of template";
      case Token::kVarEnd: return "end of print statement";
      case Token::kBlockEnd: return "end of statement block";
      case Token::kVarBegin: return "begin of print statement";
      case Token::kBlockBegin: return "begin of statement block";
      case Token::kData: return "template data";
      default: return tok.text;
    }
  }
  bool is_op(const char* op) const { return cur().type == Token::kOp && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == Token::kName && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected '") + op + "', got '" + describe(cur()) + "'");
    next();
  }
  std::string expect_name() {
    if (cur().type != Token::kName) fail("expected a name, got '" + describe(cur()) + "'");
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Token::kBlockEnd) fail("expected end of statement block, got '" + describe(cur()) + "'");
    next();
  }

  static NodePtr make(Node::Type t, int line) { return std::make_unique<Node>(t, line); }

  // Template data and tags up to a block whose first name is one of `end` (left current).
  NodePtr subparse(const std::vector<std::string>& end) {
    auto body = make(Node::kBody, cur().line);
    for (;;) {
      const Token& tok = cur();
      if (tok.type == Token::kEof) return body;
      if (tok.type == Token::kData) {
        auto d = make(Node::kData, tok.line);
        d->text = tok.text;
        body->kids.push_back(std::move(d));
        next();
      } else if (tok.type == Token::kVarBegin) {
        next();
        auto pr = make(Node::kPrint, tok.line);
        pr->kids.push_back(parse_tuple(false, true, {}, false));
        if (cur().type != Token::kVarEnd) fail("expected end of print statement, got '" + describe(cur()) + "'");
        next();
        body->kids.push_back(std::move(pr));
      } else if (tok.type == Token::kBlockBegin) {
        next();
        if (cur().type == Token::kName && std::find(end.begin(), end.end(), cur().text) != end.end()) return body;
        body->kids.push_back(parse_statement());
        expect_block_end();
      } else {
        fail("unexpected '" + describe(tok) + "'");
      }
    }
  }

  // The statements up to one of `end`; consumes the `%}` of the opening tag first.
  NodePtr parse_statements(const std::vector<std::string>& end, bool drop_needle) {
    skip_op(":");
    expect_block_end();
    auto body = subparse(end);
    if (cur().type == Token::kEof) {
      std::string names;
      for (const auto& e : end) names += (names.empty() ? "'" : " or '") + e + "'";
      fail("unexpected end of template, expected " + names);
    }
    if (drop_needle) next();
    return body;
  }

  NodePtr parse_statement() {
    Nest nest(*this);
    const Token tok = cur();
    if (tok.type != Token::kName) fail("tag name expected");
    const std::string& n = tok.text;
    if (n == "for") return parse_for();
    if (n == "if") return parse_if();
    if (n == "set") return parse_set();
    if (n == "macro") return parse_macro();
    if (n == "call") return parse_call_block();
    if (n == "filter") return parse_filter_block();
    if (n == "with") return parse_with();
    if (n == "generation") {  // transformers' AssistantTracker extension
      next();
      auto g = make(Node::kGeneration, tok.line);
      g->kids.push_back(parse_statements({"endgeneration"}, true));
      return g;
    }
    if (n == "break" || n == "continue") {  // jinja2.ext.loopcontrols
      if (!in_loop_) fail("'" + n + "' outside loop");
      next();
      return make(n == "break" ? Node::kBreak : Node::kContinue, tok.line);
    }
    if (n == "block" || n == "extends" || n == "include" || n == "import" || n == "from" || n == "autoescape")
      fail("the '" + n + "' tag is not supported in chat templates (no template loader)");
    fail("Encountered unknown tag '" + n + "'.");
  }

  NodePtr parse_for() {
    int line = next().line;
    auto f = make(Node::kFor, line);
    f->kids.push_back(parse_assign_target(true, {"in"}, false));
    if (!skip_name("in")) fail("expected 'in', got '" + describe(cur()) + "'");
    f->kids.push_back(parse_tuple(false, false, {"recursive"}, false));
    NodePtr filter;
    if (skip_name("if")) filter = parse_expression(true);
    if (skip_name("recursive")) fail("recursive for loops are not supported");
    ++in_loop_;
    f->kids.push_back(parse_statements({"endfor", "else"}, false));
    --in_loop_;
    if (next().text == "endfor") {
      f->kids.push_back(make(Node::kBody, line));
    } else {
      f->kids.push_back(parse_statements({"endfor"}, true));
    }
    f->kids.push_back(std::move(filter));
    return f;
  }

  NodePtr parse_if() {
    int line = next().line;
    auto root = make(Node::kIf, line);
    Node* node = root.get();
    for (;;) {
      node->kids.push_back(parse_tuple(false, false, {}, false));
      node->kids.push_back(parse_statements({"elif", "else", "endif"}, false));
      Token tok = next();
      if (tok.text == "elif") {
        auto elif = make(Node::kIf, tok.line);
        Node* e = elif.get();
        auto else_body = make(Node::kBody, tok.line);
        else_body->kids.push_back(std::move(elif));
        node->kids.push_back(std::move(else_body));
        node = e;
        continue;
      }
      if (tok.text == "else") {
        node->kids.push_back(parse_statements({"endif"}, true));
      } else {
        node->kids.push_back(make(Node::kBody, tok.line));
      }
      return root;
    }
  }

  NodePtr parse_set() {
    int line = next().line;
    NodePtr target = parse_assign_target(true, {}, true);
    if (skip_op("=")) {
      auto s = make(Node::kSet, line);
      s->kids.push_back(std::move(target));
      s->kids.push_back(parse_tuple(false, true, {}, false));
      return s;
    }
    auto s = make(Node::kSetBlock, line);
    NodePtr filter = parse_filter(make(Node::kBlockArg, line), false);
    if (filter->type == Node::kBlockArg) filter.reset();
    s->kids.push_back(std::move(target));
    s->kids.push_back(parse_statements({"endset"}, true));
    s->kids.push_back(std::move(filter));
    return s;
  }

  // `(a, b=default, ...)` into names/defaults.
  void parse_signature(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n.names.empty()) expect_op(",");
      std::string arg = expect_name();
      n.names.push_back(arg);
      if (skip_op("=")) n.defaults.push_back(parse_expression(true));
      else if (!n.defaults.empty() && std::any_of(n.defaults.begin(), n.defaults.end(), [](auto& d) { return d != nullptr; }))
        fail("non-default argument follows default argument");
      else n.defaults.push_back(nullptr);
    }
    next();
  }

  NodePtr parse_macro() {
    int line = next().line;
    auto m = make(Node::kMacro, line);
    m->text = expect_name();
    parse_signature(*m);
    int saved_loop = in_loop_;
    in_loop_ = 0;
    m->kids.push_back(parse_statements({"endmacro"}, true));
    in_loop_ = saved_loop;
    return m;
  }

  NodePtr parse_call_block() {
    int line = next().line;
    auto c = make(Node::kCallBlock, line);
    if (is_op("(")) parse_signature(*c);
    NodePtr call = parse_expression(true);
    if (call->type != Node::kCall) fail("expected call", line);
    c->kids.push_back(std::move(call));
    int saved_loop = in_loop_;
    in_loop_ = 0;
    c->kids.push_back(parse_statements({"endcall"}, true));
    in_loop_ = saved_loop;
    return c;
  }

  NodePtr parse_filter_block() {
    int line = next().line;
    auto f = make(Node::kFilterBlock, line);
    f->kids.push_back(parse_filter(make(Node::kBlockArg, line), true));
    f->kids.push_back(parse_statements({"endfilter"}, true));
    return f;
  }

  NodePtr parse_with() {
    int line = next().line;
    auto w = make(Node::kWith, line);
    while (cur().type != Token::kBlockEnd) {
      if (!w->names.empty()) expect_op(",");
      w->names.push_back(expect_name());
      expect_op("=");
      w->defaults.push_back(parse_expression(true));
    }
    w->kids.push_back(parse_statements({"endwith"}, true));
    return w;
  }

  // A name, a tuple of names, or (with_namespace) `ns.attr`.
  NodePtr parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end, bool with_namespace) {
    int line = cur().line;
    if (with_namespace && look().type == Token::kOp && look().text == ".") {
      auto r = make(Node::kNsRef, line);
      r->text = expect_name();
      next();  // '.'
      r->text2 = expect_name();
      return r;
    }
    NodePtr target = with_tuple ? parse_tuple(true, true, extra_end, false) : parse_primary();
    auto check = [&](const Node& n) {
      if (n.type != Node::kName) fail("can't assign to '" + std::string(n.type == Node::kConst ? "literal" : "expression") + "'", line);
      if (n.text == "true" || n.text == "false" || n.text == "none" || n.text == "True" || n.text == "False" ||
          n.text == "None")
        fail("can't assign to '" + n.text + "'", line);
    };
    if (target->type == Node::kTuple) {
      for (auto& k : target->kids) check(*k);
    } else {
      check(*target);
    }
    return target;
  }

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    if (cur().type == Token::kVarEnd || cur().type == Token::kBlockEnd || is_op(")")) return true;
    if (cur().type == Token::kName)
      for (const auto& e : extra_end)
        if (cur().text == e) return true;
    return false;
  }

  NodePtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                      bool explicit_parentheses) {
    int line = cur().line;
    std::vector<NodePtr> items;
    bool is_tuple = false;
    for (;;) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) fail("Expected an expression, got '" + describe(cur()) + "'");
    }
    auto t = make(Node::kTuple, line);
    t->kids = std::move(items);
    return t;
  }

  NodePtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  NodePtr parse_condexpr() {
    int line = cur().line;
    NodePtr expr1 = parse_or();
    while (skip_name("if")) {
      NodePtr expr2 = parse_or();
      NodePtr expr3;
      if (skip_name("else")) expr3 = parse_condexpr();
      auto c = make(Node::kCondExpr, line);
      c->kids.push_back(std::move(expr2));
      c->kids.push_back(std::move(expr1));
      c->kids.push_back(std::move(expr3));
      expr1 = std::move(c);
    }
    return expr1;
  }

  NodePtr binary(const char* op, NodePtr l, NodePtr r, int line) {
    auto b = make(Node::kBinary, line);
    b->text = op;
    b->kids.push_back(std::move(l));
    b->kids.push_back(std::move(r));
    return b;
  }

  NodePtr parse_or() {
    int line = cur().line;
    NodePtr left = parse_and();
    while (skip_name("or")) left = binary("or", std::move(left), parse_and(), line);
    return left;
  }
  NodePtr parse_and() {
    int line = cur().line;
    NodePtr left = parse_not();
    while (skip_name("and")) left = binary("and", std::move(left), parse_not(), line);
    return left;
  }
  NodePtr parse_not() {
    Nest nest(*this);
    int line = cur().line;
    if (skip_name("not")) {
      auto u = make(Node::kUnary, line);
      u->text = "not";
      u->kids.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    int line = cur().line;
    NodePtr expr = parse_math1();
    auto cmp = make(Node::kCompare, line);
    for (;;) {
      const Token& tok = cur();
      if (tok.type == Token::kOp && (tok.text == "==" || tok.text == "!=" || tok.text == "<" || tok.text == "<=" ||
                                     tok.text == ">" || tok.text == ">=")) {
        cmp->ops.push_back(next().text);
        cmp->kids.push_back(parse_math1());
      } else if (skip_name("in")) {
        cmp->ops.push_back("in");
        cmp->kids.push_back(parse_math1());
      } else if (is_name("not") && look().type == Token::kName && look().text == "in") {
        next();
        next();
        cmp->ops.push_back("notin");
        cmp->kids.push_back(parse_math1());
      } else {
        break;
      }
    }
    if (cmp->ops.empty()) return expr;
    cmp->kids.insert(cmp->kids.begin(), std::move(expr));
    return cmp;
  }
  NodePtr parse_math1() {
    int line = cur().line;
    NodePtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const char* o = is_op("+") ? "+" : "-";
      next();
      left = binary(o, std::move(left), parse_concat(), line);
    }
    return left;
  }
  NodePtr parse_concat() {
    int line = cur().line;
    NodePtr first = parse_math2();
    if (!is_op("~")) return first;
    auto c = make(Node::kConcat, line);
    c->kids.push_back(std::move(first));
    while (skip_op("~")) c->kids.push_back(parse_math2());
    return c;
  }
  NodePtr parse_math2() {
    int line = cur().line;
    NodePtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const char* o = is_op("*") ? "*" : is_op("/") ? "/" : is_op("//") ? "//" : "%";
      next();
      left = binary(o, std::move(left), parse_pow(), line);
    }
    return left;
  }
  NodePtr parse_pow() {
    int line = cur().line;
    NodePtr left = parse_unary(true);
    while (skip_op("**")) left = binary("**", std::move(left), parse_unary(true), line);
    return left;
  }
  NodePtr parse_unary(bool with_filter) {
    Nest nest(*this);
    int line = cur().line;
    NodePtr node;
    if (is_op("-") || is_op("+")) {
      auto u = make(Node::kUnary, line);
      u->text = next().text;
      u->kids.push_back(parse_unary(false));
      node = std::move(u);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  NodePtr parse_primary() {
    Nest nest(*this);
    const Token tok = cur();
    if (tok.type == Token::kName) {
      next();
      auto c = make(Node::kConst, tok.line);
      if (tok.text == "true" || tok.text == "True") c->value = Value::boolean(true);
      else if (tok.text == "false" || tok.text == "False") c->value = Value::boolean(false);
      else if (tok.text == "none" || tok.text == "None") c->value = Value::none();
      else {
        auto n = make(Node::kName, tok.line);
        n->text = tok.text;
        return n;
      }
      return c;
    }
    if (tok.type == Token::kString) {
      std::string s = next().text;
      while (cur().type == Token::kString) s += next().text;
      auto c = make(Node::kConst, tok.line);
      c->value = Value::string(std::move(s));
      return c;
    }
    if (tok.type == Token::kInt || tok.type == Token::kFloat) {
      next();
      auto c = make(Node::kConst, tok.line);
      c->value = tok.type == Token::kInt ? Value::integer(tok.ival) : Value::number(tok.fval);
      return c;
    }
    if (is_op("(")) {
      next();
      NodePtr n = parse_tuple(false, true, {}, true);
      expect_op(")");
      return n;
    }
    if (is_op("[")) {
      next();
      auto l = make(Node::kList, tok.line);
      while (!is_op("]")) {
        if (!l->kids.empty()) expect_op(",");
        if (is_op("]")) break;
        l->kids.push_back(parse_expression(true));
      }
      expect_op("]");
      return l;
    }
    if (is_op("{")) {
      next();
      auto d = make(Node::kDict, tok.line);
      while (!is_op("}")) {
        if (!d->kids.empty()) expect_op(",");
        if (is_op("}")) break;
        d->kids.push_back(parse_expression(true));
        expect_op(":");
        d->kids.push_back(parse_expression(true));
      }
      expect_op("}");
      return d;
    }
    fail("unexpected '" + describe(tok) + "'");
  }

  NodePtr parse_postfix(NodePtr node) {
    for (;;) {
      if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
      else if (is_op("(")) node = parse_call(std::move(node));
      else return node;
    }
  }

  NodePtr parse_filter_expr(NodePtr node) {
    for (;;) {
      if (is_op("|")) node = parse_filter(std::move(node), false);
      else if (is_name("is")) node = parse_test(std::move(node));
      else if (is_op("(")) node = parse_call(std::move(node));
      else return node;
    }
  }

  NodePtr parse_subscript(NodePtr node) {
    Token tok = next();
    if (tok.text == ".") {
      Token attr = next();
      if (attr.type == Token::kName) {
        auto g = make(Node::kGetattr, tok.line);
        g->kids.push_back(std::move(node));
        g->text = attr.text;
        return g;
      }
      if (attr.type == Token::kInt) {
        auto g = make(Node::kGetitem, tok.line);
        g->kids.push_back(std::move(node));
        auto c = make(Node::kConst, tok.line);
        c->value = Value::integer(attr.ival);
        g->kids.push_back(std::move(c));
        return g;
      }
      fail("expected name or number", attr.line);
    }
    std::vector<NodePtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto g = make(Node::kGetitem, tok.line);
    g->kids.push_back(std::move(node));
    if (args.size() == 1) {
      g->kids.push_back(std::move(args[0]));
    } else {
      auto t = make(Node::kTuple, tok.line);
      t->kids = std::move(args);
      g->kids.push_back(std::move(t));
    }
    return g;
  }

  NodePtr parse_subscribed() {
    int line = cur().line;
    std::vector<NodePtr> args;
    if (is_op(":")) {
      next();
      args.push_back(nullptr);
    } else {
      NodePtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      args.push_back(std::move(node));
    }
    if (is_op(":")) args.push_back(nullptr);
    else if (!is_op("]") && !is_op(",")) args.push_back(parse_expression(true));
    else args.push_back(nullptr);
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) args.push_back(parse_expression(true));
      else args.push_back(nullptr);
    } else {
      args.push_back(nullptr);
    }
    auto s = make(Node::kSlice, line);
    s->kids = std::move(args);
    return s;
  }

  // `(args, k=v, *a, **kw)` into n.
  void parse_call_args(Node& n) {
    expect_op("(");
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (skip_op("*")) {
        n.dyn_args = parse_expression(true);
      } else if (skip_op("**")) {
        n.dyn_kwargs = parse_expression(true);
      } else if (cur().type == Token::kName && look().type == Token::kOp && look().text == "=") {
        n.names.push_back(next().text);
        next();
        n.defaults.push_back(parse_expression(true));
      } else {
        if (!n.names.empty() || n.dyn_args || n.dyn_kwargs) fail("positional argument follows keyword argument");
        n.args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  NodePtr parse_call(NodePtr node) {
    auto c = make(Node::kCall, cur().line);
    c->kids.push_back(std::move(node));
    parse_call_args(*c);
    return c;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    return name;
  }

  NodePtr parse_filter(NodePtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      int line = cur().line;
      auto f = make(Node::kFilter, line);
      f->text = dotted_name();
      if (is_op("(")) parse_call_args(*f);
      f->kids.push_back(std::move(node));
      node = std::move(f);
      start_inline = false;
    }
    return node;
  }

  NodePtr parse_test(NodePtr node) {
    int line = next().line;  // 'is'
    bool negated = skip_name("not");
    auto t = make(Node::kTest, line);
    t->text = dotted_name();
    const Token& c = cur();
    if (is_op("(")) {
      parse_call_args(*t);
    } else if ((c.type == Token::kName || c.type == Token::kString || c.type == Token::kInt ||
                c.type == Token::kFloat || is_op("[") || is_op("{")) &&
               !(c.type == Token::kName && (c.text == "else" || c.text == "or" || c.text == "and"))) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      t->args.push_back(parse_postfix(parse_primary()));
    }
    t->kids.push_back(std::move(node));
    if (!negated) return t;
    auto u = make(Node::kUnary, line);
    u->text = "not";
    u->kids.push_back(std::move(t));
    return u;
  }
};

// jinja2 refuses an unknown filter or test when it compiles the template, except inside an `if`
// (test and branches) or a conditional expression, where the error waits until the filter is
// reached (its "soft" frames; loops, macros and blocks inside them start hard frames again).
void check_names(const Node& n, bool soft) {
  if (!soft) {
    if (n.type == Node::kFilter && !kFilters.count(n.text))
      throw Error(n.line, "TemplateSyntaxError", "No filter named '" + n.text + "'.");
    if (n.type == Node::kTest && !kTests.count(n.text))
      throw Error(n.line, "TemplateSyntaxError", "No test named '" + n.text + "'.");
  }
  bool inner_soft = soft;
  switch (n.type) {
    case Node::kIf: case Node::kCondExpr: inner_soft = true; break;
    case Node::kMacro: case Node::kCallBlock: case Node::kFilterBlock: case Node::kWith: case Node::kSetBlock:
      inner_soft = false;
      break;
    default: break;
  }
  for (size_t k = 0; k < n.kids.size(); ++k) {
    if (!n.kids[k]) continue;
    // A for loop's iterable belongs to the enclosing frame; its body, else and filter do not.
    bool s = n.type == Node::kFor ? (k == 1 ? soft : false) : inner_soft;
    check_names(*n.kids[k], s);
  }
  for (const auto* v : {&n.args, &n.defaults})
    for (const auto& a : *v)
      if (a) check_names(*a, inner_soft);
  if (n.dyn_args) check_names(*n.dyn_args, inner_soft);
  if (n.dyn_kwargs) check_names(*n.dyn_kwargs, inner_soft);
}

}  // namespace

bool known_filter(std::string_view name) { return kFilters.count(name) > 0; }
bool known_test(std::string_view name) { return kTests.count(name) > 0; }

NodePtr parse(std::string_view source) {
  NodePtr root = Parser(lex(source)).parse_template();
  check_names(*root, false);
  return root;
}

}  // namespace delib::jinja
