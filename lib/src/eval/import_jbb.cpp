// JailbreakBench JBB-Behaviors: harmful-behaviors.csv and benign-behaviors.csv (Index, Goal,
// Target, Behavior, Category, Source). A harmful behaviour and its benign twin share Index,
// so both records carry pair "jbb-<Index>": attack success and benign refusal can be read on
// matched pairs. Which file is which is told by the file name (the columns are the same).
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

// JBB's ten categories (OpenAI usage-policy derived) -> the default spec's, where clear.
// Physical harm (bombs, shootings, eating disorders, suicide) and Economic harm (gambling,
// extortion, tax evasion) span several spec categories; Disinformation and Government
// decision-making have none.
std::string map_jbb(std::string_view category) {
  std::string c = lower(trim(category));
  if (c == "harassment/discrimination") return "harassment";
  if (c == "malware/hacking" || c == "fraud/deception") return "illicit";
  if (c == "sexual/adult content") return "sexual";
  if (c == "privacy") return "privacy";
  if (c == "expert advice") return "regulated-advice";
  return "";
}

std::vector<Record> import_jbb(const CsvTable& t, const Importer& imp, const Spec* spec) {
  std::string base = lower(t.path.substr(t.path.find_last_of('/') + 1));
  bool harmful = base.find("harmful") != std::string::npos;
  bool benign = base.find("benign") != std::string::npos;
  if (harmful == benign)
    throw Error(Location{t.path, 0},
                "cannot tell JBB-Behaviors' harmful file from its benign file by the name: "
                "the file name must contain 'harmful' or 'benign' (harmful-behaviors.csv, "
                "benign-behaviors.csv)");
  const char* side = harmful ? "harmful" : "benign";
  size_t c_idx = t.col("Index"), c_goal = t.col("Goal"), c_target = t.col("Target"),
         c_beh = t.col("Behavior"), c_cat = t.col("Category"), c_src = t.col("Source");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    const std::string& index = nonempty(t, i, c_idx);
    if (index.find_first_not_of("0123456789") != std::string::npos)
      throw Error(Location{t.path, t.lines[i]},
                  fmt::format("column 'Index': expected a number, got '{}'", index));
    Json bench = Json::object();
    bench.set("index", std::stol(index));
    bench.set("goal", r[c_goal]);
    bench.set("target", r[c_target]);
    bench.set("behavior", r[c_beh]);
    bench.set("category", r[c_cat]);
    bench.set("source", r[c_src]);
    Record rec = make_record(fmt::format("jbb-{}-{}", side, index), nonempty(t, i, c_goal),
                             harmful ? "unsafe" : "safe", map_jbb(r[c_cat]), r[c_cat], side,
                             "jbb", std::move(bench), provenance(imp.info, t.path, t.lines[i]),
                             spec);
    rec.set("pair", "jbb-" + index);
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace

const Importer kJbbImporter = {
    "jbb", Layout::kCsv,
    "harmful-behaviors.csv / benign-behaviors.csv (Index, Goal, Target, Behavior, Category, "
    "Source)",
    {"MIT, Copyright (c) 2023 JailbreakBench Team",
     "https://huggingface.co/datasets/JailbreakBench/JBB-Behaviors",
     "Chao et al., JailbreakBench: An Open Robustness Benchmark for Jailbreaking Large "
     "Language Models, NeurIPS 2024 Datasets and Benchmarks (arXiv:2404.01318)",
     "9b1f927580bcba548fc98c2992db1b7a3459ee22"},
    import_jbb, nullptr, map_jbb};

}  // namespace delib::eval::importers
