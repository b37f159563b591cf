// A small comparison language over record fields, for `jsonl-cat --where` (no code is
// evaluated). Grammar:
//
//   expr    := and ( '||' and )*
//   and     := unary ( '&&' unary )*
//   unary   := '!' unary | '(' expr ')' | test
//   test    := PATH [ OP VALUE ]          PATH alone: present and not null/false/""/0
//   PATH    := dotted field path: judge.score, messages.0.role
//   OP      := == != < <= > >= =~         =~ matches a PCRE2 regular expression
//   VALUE   := number | "string" | 'string' | true | false | null
//
// Numbers compare numerically, strings byte-wise; a missing field or a type mismatch makes
// every comparison false except '!=' (true). Examples:
//   judge.score>=7 && format_ok==true
//   category=="self-harm" || label=="unsafe"
//   answer=~"(?i)^i can.t"
#pragma once
#include <memory>
#include <string>

#include "delib/records.h"

namespace delib {

class Predicate {
 public:
  // Throws Error(kExitUsage) with the column of the problem on a syntax error.
  static Predicate parse(const std::string& text);
  Predicate(Predicate&&) noexcept;
  Predicate& operator=(Predicate&&) noexcept;
  ~Predicate();
  bool eval(const Record& r) const;

  struct Node;  // the parsed expression (defined in filter.cpp)

 private:
  Predicate();
  std::unique_ptr<Node> root_;
};

}  // namespace delib
