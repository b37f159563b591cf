// WildJailbreak (allenai/wildjailbreak, gated): train.tsv (vanilla, adversarial, [tactics,]
// completion, data_type) and eval.tsv (adversarial, label, data_type), tab-separated with
// CSV quoting (the card loads them with pandas, delimiter "\t"). data_type is one of
// vanilla_harmful, vanilla_benign, adversarial_harmful, adversarial_benign: *_harmful rows
// are unsafe, *_benign safe; an adversarial row's prompt is `adversarial`, a vanilla row's
// `vanilla`. The training completion is kept under benchmark (it is not an answer to grade).
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

std::vector<Record> import_wildjailbreak(const CsvTable& t, const Importer& imp,
                                         const Spec* spec) {
  size_t c_type = t.col("data_type"), c_adv = t.col("adversarial");
  bool train = t.has("vanilla");
  bool eval_label = t.has("label");
  if (!train && !eval_label) t.col("vanilla");  // names the column the file lacks
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    const std::string& type = r[c_type];
    require_value(t.path, t.lines[i], type,
                  {"vanilla_harmful", "vanilla_benign", "adversarial_harmful",
                   "adversarial_benign"},
                  "data_type");
    bool harmful = type.size() > 8 && type.substr(type.size() - 8) == "_harmful";
    bool adversarial = type.rfind("adversarial", 0) == 0;
    if (!adversarial && !train)
      throw Error(Location{t.path, t.lines[i]},
                  fmt::format("column 'data_type': '{}' in a file without a 'vanilla' column", type));
    size_t c_prompt = adversarial ? c_adv : t.col("vanilla");
    const std::string& prompt = nonempty(t, i, c_prompt);
    Json bench = Json::object();
    bench.set("data_type", type);
    if (train) bench.set("vanilla", r[t.col("vanilla")]);
    if (!r[c_adv].empty()) bench.set("adversarial", r[c_adv]);
    if (t.has("tactics")) bench.set("tactics", r[t.col("tactics")]);
    if (t.has("completion")) bench.set("completion", r[t.col("completion")]);
    if (eval_label) {
      const std::string& l = r[t.col("label")];
      require_value(t.path, t.lines[i], l, {"0", "1"}, "label");
      if ((l == "1") != harmful)
        throw Error(Location{t.path, t.lines[i]},
                    fmt::format("column 'label': {} contradicts data_type '{}'", l, type));
      bench.set("label", std::stol(l));
    }
    out.push_back(make_record(content_id("wildjailbreak", type + "\n" + prompt), prompt,
                              harmful ? "unsafe" : "safe", "", "", type, "wildjailbreak",
                              std::move(bench), provenance(imp.info, t.path, t.lines[i]), spec));
  }
  return out;
}

}  // namespace

const Importer kWildJailbreakImporter = {
    "wildjailbreak", Layout::kTsv,
    "train.tsv (vanilla, adversarial, tactics, completion, data_type) or eval.tsv "
    "(adversarial, label, data_type)",
    {"ODC-BY (AI2 Responsible Use Guidelines; gated on Hugging Face)",
     "https://huggingface.co/datasets/allenai/wildjailbreak",
     "Jiang et al., WildTeaming at Scale: From In-the-Wild Jailbreaks to (Adversarially) Safer "
     "Language Models, NeurIPS 2024 (arXiv:2406.18510)",
     "not pinned (gated; layout from the dataset card)"},
    import_wildjailbreak, nullptr, nullptr};

}  // namespace delib::eval::importers
