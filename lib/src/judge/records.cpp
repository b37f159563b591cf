// Record-level pieces of cot-gen and cot-judge: a record's spec category, and which samples of
// an id --best-per-id keeps.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "delib/judge.h"

namespace delib {

std::string record_category(const Record& r, const Spec& spec) {
  auto cat = r.get_string("category");
  if (!cat) throw Error(r.where(), "field 'category' is missing (a spec category id)");
  if (!spec.category(*cat)) {
    std::string known;
    for (const auto& c : spec.categories) known += (known.empty() ? "" : ", ") + c.id;
    throw Error(r.where(), fmt::format("unknown category '{}' (the spec has: {})", *cat, known));
  }
  return *cat;
}

std::vector<bool> select_best_per_id(const std::vector<std::optional<double>>& scores, int n,
                                     double min_score) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return scores[a].value_or(-1) > scores[b].value_or(-1);
  });
  std::vector<bool> keep(scores.size(), false);
  int kept = 0;
  for (size_t m : order) {
    if (kept >= n) break;
    if (scores[m] && (min_score < 0 || *scores[m] >= min_score)) {
      keep[m] = true;
      ++kept;
    }
  }
  return keep;
}

}  // namespace delib
