// Failure accounting for tools that call a model or server per record (safety-eval, cot-judge,
// rl-train): how many records failed, of which kind, and whether that is too many.
//
// A failure is never silent: a tool counts each failed record under a short kind ("backend",
// "parse", ...), prints the counts on stderr at the end (FailureCounts::summary), records them
// in its output, and exits with kExitBackend (4) when FailureBudget::exceeded says so.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace delib {

// --max-failures: the most failed records a run may have and still succeed, as a count ("0",
// "12") or a fraction of the records attempted ("0.05", "5%").
// Default: "0" (strict: any failed record fails the run).
struct FailureBudget {
  bool fraction = false;  // true: `limit` is a fraction in [0, 1]
  double limit = 0;       // a count (fraction == false) or a fraction

  // Parses a count or a fraction; throws Error (kExitUsage) naming `flag` on anything else.
  static FailureBudget parse(const std::string& text, const std::string& flag = "--max-failures");

  // True when `failed` of `attempted` records is over the budget, or when nothing succeeded
  // (attempted > 0 and failed == attempted): a run with no result is never a success.
  bool exceeded(int64_t failed, int64_t attempted) const;

  // "0", "12", "5%": for messages and run records.
  std::string str() const;
};

// Failed records counted per kind.
class FailureCounts {
 public:
  void add(const std::string& kind, int64_t n = 1) { counts_[kind] += n; total_ += n; }
  int64_t total() const { return total_; }
  const std::map<std::string, int64_t>& by_kind() const { return counts_; }
  // "3 of 40 records failed (backend 2, parse 1)"; "" when none failed.
  std::string summary(int64_t attempted, const std::string& what = "records") const;

 private:
  std::map<std::string, int64_t> counts_;
  int64_t total_ = 0;
};

// What a run says about its failed items at the end (enforce_failure_budget); each tool has
// its own words.
struct FailureMessages {
  // The Error's message when the failures are over the budget and some item got a result.
  std::string over;
  // The Error's message when every item failed.
  std::string all_failed;
  // The warning when the failures are within the budget; "" prints nothing (a tool that has
  // reported its counts already).
  std::string within;
  // True: an interrupted run (interrupted() != 0: it stopped early, and the tool exits 130)
  // is never over the budget. Default: true.
  bool pass_when_interrupted = true;
};

// The verdict on `failed` of `attempted` items, the same in every tool with --max-failures
// (cot-gen, cot-judge, safety-eval): returns when failed is 0; throws
// Error(messages.over or, when failed == attempted, messages.all_failed, kExitBackend) when
// budget.exceeded(failed, attempted) (unless pass_when_interrupted and interrupted); otherwise
// warns messages.within (delib::warn) when it is not empty.
void enforce_failure_budget(int64_t failed, int64_t attempted, const FailureBudget& budget,
                            const FailureMessages& messages);

}  // namespace delib
