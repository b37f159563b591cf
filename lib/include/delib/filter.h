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
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// ---- jsonl-cat: field selection and the record pipeline (lib/src/records/select.cpp) -------

// The dotted paths of a --select list: "a,b.c" -> {"a", "b.c"}; empty entries are dropped.
std::vector<std::string> parse_field_list(std::string_view list);

// A record of only the fields of `r` at the dotted `paths`, nested as in `r`: {"a", "b.c"} gives
// {"a": r.a, "b": {"c": r.b.c}}. Paths absent from `r` are left out; array elements by index
// (`messages.0`) become object keys ("messages": {"0": ...}). Keys are in the order their paths
// first name them. The result carries r.where().
Record select_fields(const Record& r, const std::vector<std::string>& paths);

// Everything one jsonl-cat run does; each field is the flag of the same name.
struct CatOptions {
  // Inputs in order ("-" or none: stdin) and how they are read: on-error policy, rejects file,
  // and read.shard, the first filter.
  std::vector<std::string> inputs;
  ReadOptions read;
  // Where the records go ("-": stdout) and how they are compressed. Not opened with count or
  // stats, which print instead of the records.
  std::string output = "-";
  WriteOptions write;

  // The filters, applied in this order after read.shard:
  // Keep records for which this Predicate holds ("": all). A syntax error throws Error(kExitUsage).
  std::string where;
  // Keep the first record for each value of this dotted path (XXH3 of its JSON; a missing field
  // is one value of its own). "": off.
  std::string dedupe;
  // 0: off. In (0, 1): keep each record with this probability, decided by XXH3 of seed and the
  // record id (stable across runs). >= 1: keep exactly floor(sample) records by reservoir
  // sampling (Algorithm R with a mt19937_64 seeded with `seed`), written in input order.
  double sample = 0;
  uint64_t seed = 0;
  // Stop after this many output records (< 0: no limit).
  long head = -1;
  // Write only these dotted paths of each record (select_fields); empty: whole records, byte
  // for byte.
  std::vector<std::string> select;

  // Instead of writing records, print to stdout the number of records that pass the filters
  // (count: "N\n"), or (stats) "records\tN", "bytes\tB" (of the JSON lines, with '\n') and
  // one "field\tNAME\tCOUNT" line per top-level field, most frequent first.
  bool count = false;
  bool stats = false;
  // A progress line on stderr (the caller decides: a terminal and no --quiet).
  bool progress = false;
};

// Runs jsonl-cat as `options` say and returns its exit code, kExitOk (an interrupt ends the
// input early: what was read is written and the stream closed; cli::run_tool then exits
// 128 + the signal). Bad input throws Error (on_error fail); lines skipped with on_error skip
// are counted and reported on stderr: "jsonl-cat: warning: skipped N bad line(s)[ (written to
// REJECTS)]".
int run_cat(const CatOptions& options);

}  // namespace delib
