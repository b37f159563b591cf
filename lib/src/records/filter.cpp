// Predicate: recursive-descent parser and evaluator for the --where language (see filter.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "delib/filter.h"

#include <pcre2.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace delib {

struct Predicate::Node {
  enum Kind { kOr, kAnd, kNot, kTest, kCmp } kind;
  std::unique_ptr<Node> a, b;
  std::string path;
  std::string op;
  Json value;
  std::shared_ptr<pcre2_code> regex;
};

namespace {

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  std::unique_ptr<Predicate::Node> parse() {
    auto n = parse_or();
    ws();
    if (i_ != s_.size()) fail("unexpected text");
    return n;
  }

 private:
  using Node = Predicate::Node;
  const std::string& s_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what) {
    throw Error(fmt::format("--where: column {}: {} in '{}'", i_ + 1, what, s_), kExitUsage);
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(std::string_view tok) {
    ws();
    if (s_.compare(i_, tok.size(), tok) == 0) {
      i_ += tok.size();
      return true;
    }
    return false;
  }
  std::unique_ptr<Node> parse_or() {
    auto l = parse_and();
    while (eat("||")) {
      auto n = std::make_unique<Node>();
      n->kind = Node::kOr;
      n->a = std::move(l);
      n->b = parse_and();
      l = std::move(n);
    }
    return l;
  }
  std::unique_ptr<Node> parse_and() {
    auto l = parse_unary();
    while (eat("&&")) {
      auto n = std::make_unique<Node>();
      n->kind = Node::kAnd;
      n->a = std::move(l);
      n->b = parse_unary();
      l = std::move(n);
    }
    return l;
  }
  std::unique_ptr<Node> parse_unary() {
    ws();
    if (i_ < s_.size() && s_[i_] == '!' && (i_ + 1 >= s_.size() || s_[i_ + 1] != '=')) {
      ++i_;
      auto n = std::make_unique<Node>();
      n->kind = Node::kNot;
      n->a = parse_unary();
      return n;
    }
    if (eat("(")) {
      auto n = parse_or();
      if (!eat(")")) fail("expected ')'");
      return n;
    }
    return parse_test();
  }
  std::unique_ptr<Node> parse_test() {
    ws();
    size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                              s_[i_] == '.' || s_[i_] == '-' || s_[i_] == '$'))
      ++i_;
    if (i_ == start) fail("expected a field path");
    auto n = std::make_unique<Node>();
    n->path = s_.substr(start, i_ - start);
    n->kind = Node::kTest;
    ws();
    for (const char* op : {"==", "!=", "<=", ">=", "=~", "<", ">"}) {
      if (eat(op)) {
        n->kind = Node::kCmp;
        n->op = op;
        n->value = parse_value();
        if (n->op == "=~") {
          if (!n->value.is_string()) fail("=~ needs a quoted regular expression");
          int err;
          PCRE2_SIZE off;
          auto& re = n->value.as_string();
          pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                           PCRE2_UTF, &err, &off, nullptr);
          if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail(fmt::format("bad regular expression at offset {}: {}", off, reinterpret_cast<char*>(msg)));
          }
          pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
          n->regex = std::shared_ptr<pcre2_code>(code, pcre2_code_free);
        }
        break;
      }
    }
    return n;
  }
  Json parse_value() {
    ws();
    if (i_ >= s_.size()) fail("expected a value");
    char c = s_[i_];
    if (c == '"' || c == '\'') {
      ++i_;
      std::string v;
      while (i_ < s_.size() && s_[i_] != c) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        v += s_[i_++];
      }
      if (i_ >= s_.size()) fail("unterminated string");
      ++i_;
      return Json(v);
    }
    for (auto [word, val] : {std::pair{"true", Json(true)}, {"false", Json(false)}, {"null", Json()}}) {
      if (eat(word)) return val;
    }
    double d;
    auto [p, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), d);
    if (ec != std::errc()) fail("expected a number, a quoted string, true, false or null");
    i_ = p - s_.data();
    return Json(d);
  }
};

bool truthy(const Json& v) {
  if (v.is_null()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_number()) return v.as_double() != 0;
  if (v.is_string()) return !v.as_string().empty();
  return true;
}

bool eval_node(const Predicate::Node& n, const Record& r) {
  using Node = Predicate::Node;
  switch (n.kind) {
    case Node::kOr: return eval_node(*n.a, r) || eval_node(*n.b, r);
    case Node::kAnd: return eval_node(*n.a, r) && eval_node(*n.b, r);
    case Node::kNot: return !eval_node(*n.a, r);
    case Node::kTest: {
      auto v = r.path(n.path);
      return v && truthy(*v);
    }
    case Node::kCmp: break;
  }
  auto v = r.path(n.path);
  const bool ne = n.op == "!=";
  if (!v) return ne;
  if (n.op == "=~") {
    if (!v->is_string()) return false;
    auto& s = v->as_string();
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(n.regex.get(), nullptr);
    int rc = pcre2_match(n.regex.get(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    return rc >= 0;
  }
  int cmp;
  if (v->is_number() && n.value.is_number()) {
    double a = v->as_double(), b = n.value.as_double();
    cmp = a < b ? -1 : a > b ? 1 : 0;
  } else if (v->is_string() && n.value.is_string()) {
    cmp = v->as_string().compare(n.value.as_string());
    cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
  } else if (v->is_bool() && n.value.is_bool()) {
    cmp = int(v->as_bool()) - int(n.value.as_bool());
  } else if (v->is_null() && n.value.is_null()) {
    cmp = 0;
  } else {
    return ne;
  }
  if (n.op == "==") return cmp == 0;
  if (ne) return cmp != 0;
  if (n.op == "<") return cmp < 0;
  if (n.op == "<=") return cmp <= 0;
  if (n.op == ">") return cmp > 0;
  return cmp >= 0;
}

}  // namespace

Predicate::Predicate() = default;
Predicate::Predicate(Predicate&&) noexcept = default;
Predicate& Predicate::operator=(Predicate&&) noexcept = default;
Predicate::~Predicate() = default;

Predicate Predicate::parse(const std::string& text) {
  Predicate p;
  Parser parser(text);
  p.root_ = parser.parse();
  return p;
}

bool Predicate::eval(const Record& r) const { return eval_node(*root_, r); }

}  // namespace delib
