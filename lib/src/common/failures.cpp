// FailureBudget, FailureCounts and enforce_failure_budget (delib/failures.h).
#include "delib/failures.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/records.h"  // interrupted()

namespace delib {

FailureBudget FailureBudget::parse(const std::string& text, const std::string& flag) {
  auto bad = [&]() {
    return Error(fmt::format("{}: '{}' is neither a count (0, 12) nor a fraction (0.05, 5%)", flag, text),
                 kExitUsage);
  };
  if (text.empty()) throw bad();
  std::string s = text;
  bool percent = s.back() == '%';
  if (percent) s.pop_back();
  if (s.empty()) throw bad();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) throw bad();
  FailureBudget b;
  if (percent) {
    if (v > 100) throw bad();
    b.fraction = true;
    b.limit = v / 100;
  } else if (s.find_first_of(".eE") != std::string::npos) {
    if (v > 1) throw Error(fmt::format("{}: a fraction must be at most 1 (got '{}'; a count has no decimal point)", flag, text), kExitUsage);
    b.fraction = true;
    b.limit = v;
  } else {
    b.limit = v;
  }
  return b;
}

bool FailureBudget::exceeded(int64_t failed, int64_t attempted) const {
  if (attempted > 0 && failed >= attempted) return true;
  if (fraction) return attempted > 0 && double(failed) > limit * double(attempted);
  return double(failed) > limit;
}

std::string FailureBudget::str() const {
  if (!fraction) return fmt::format("{}", int64_t(limit));
  return fmt::format("{:g}%", limit * 100);
}

std::string FailureCounts::summary(int64_t attempted, const std::string& what) const {
  if (total_ == 0) return "";
  std::string kinds;
  for (const auto& [k, n] : counts_) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", k, n);
  return fmt::format("{} of {} {} failed ({})", total_, attempted, what, kinds);
}

void enforce_failure_budget(int64_t failed, int64_t attempted, const FailureBudget& budget,
                            const FailureMessages& messages) {
  if (failed == 0) return;
  const bool stopped = messages.pass_when_interrupted && interrupted() != 0;
  if (!stopped && budget.exceeded(failed, attempted))
    throw Error(failed == attempted ? messages.all_failed : messages.over, kExitBackend);
  if (!messages.within.empty()) warn(messages.within);
}

}  // namespace delib
