// The safety tax in a comparison of runs: harmful compliance, over-refusal and capability side
// by side (tradeoff_table in delib/eval.h).
#include <fmt/format.h>

#include "delib/eval.h"

namespace delib::eval {
namespace {

// `value [lo, hi]` of overall.KEY, or of 1 minus it (flip), or "–".
std::string cell(const Json& run, const char* key, bool flip) {
  const Json* ov = run.find("overall");
  const Json* e = ov ? ov->find(key) : nullptr;
  if (!e || !e->is_object() || !e->find("value")) return "–";
  Estimate x = Estimate::from_json(*e);
  if (flip) x = Estimate{1.0 - x.value, 1.0 - x.hi, 1.0 - x.lo, x.n};
  return fmt::format("{:.3f} [{:.3f}, {:.3f}] (n={})", x.value, x.lo, x.hi, x.n);
}

}  // namespace

std::string tradeoff_table(const std::vector<Json>& runs, const std::vector<std::string>& names) {
  std::string rows;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string h = cell(runs[i], "not_unsafe", true), o = cell(runs[i], "not_overrefuse", true),
                c = cell(runs[i], "capability_accuracy", false);
    rows += fmt::format("| {} | {} | {} | {} |\n", i < names.size() ? names[i] : "", h, o, c);
  }
  if (rows.find("[") == std::string::npos) return "";
  return "\n## Safety and capability\n\nWhat each run bought in safety and what it cost in "
         "capability (lower is better for the first two, higher for the third). Harmful "
         "compliance = 1 - not_unsafe, over-refusal = 1 - not_overrefuse (bootstrap intervals); "
         "capability accuracy: exact-match problems, Wilson interval.\n\n"
         "| run | harmful compliance | over-refusal | capability accuracy |\n|---|---|---|---|\n" +
         rows;
}

}  // namespace delib::eval
