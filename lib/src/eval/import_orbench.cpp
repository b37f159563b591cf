// OR-Bench (bench-llm/or-bench on Hugging Face): or-bench-80k.csv, or-bench-hard-1k.csv
// (seemingly toxic prompts that should be answered: safe) and or-bench-toxic.csv (toxic
// prompts: unsafe), all with columns prompt, category. The files differ only by name, so the
// name decides the label, and a name that says neither is an error rather than a guess.
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

// OR-Bench's ten categories -> the default spec's; deception, harmful and unethical have none.
std::string map_orbench(std::string_view category) {
  std::string c = lower(trim(category));
  if (c == "harassment" || c == "hate") return "harassment";
  if (c == "illegal") return "illicit";
  if (c == "privacy") return "privacy";
  if (c == "self-harm") return "self-harm";
  if (c == "sexual") return "sexual";
  if (c == "violence") return "violence";
  return "";
}

std::vector<Record> import_orbench(const CsvTable& t, const Importer& imp, const Spec* spec) {
  std::string base = lower(t.path.substr(t.path.find_last_of('/') + 1));
  bool toxic = base.find("toxic") != std::string::npos;
  bool over = base.find("80k") != std::string::npos || base.find("hard") != std::string::npos;
  if (toxic == over)
    throw Error(Location{t.path, 0},
                "cannot tell OR-Bench's toxic set from its over-refusal sets by the file name: "
                "it must contain 'toxic' (or-bench-toxic.csv) or '80k'/'hard' "
                "(or-bench-80k.csv, or-bench-hard-1k.csv)");
  size_t c_prompt = t.col("prompt"), c_cat = t.col("category");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string& prompt = nonempty(t, i, c_prompt);
    const std::string& cat = nonempty(t, i, c_cat);
    Json bench = Json::object();
    bench.set("prompt", prompt);
    bench.set("category", cat);
    out.push_back(make_record(content_id("orbench", prompt), prompt, toxic ? "unsafe" : "safe",
                              map_orbench(cat), cat, toxic ? "toxic" : "seemingly_toxic",
                              "orbench", std::move(bench),
                              provenance(imp.info, t.path, t.lines[i]), spec));
  }
  return out;
}

}  // namespace

const Importer kOrBenchImporter = {
    "orbench", Layout::kCsv, "or-bench-80k.csv, or-bench-hard-1k.csv, or-bench-toxic.csv (prompt, category)",
    {"CC-BY-4.0", "https://huggingface.co/datasets/bench-llm/or-bench",
     "Cui, Chiang, Stoica, Hsieh, OR-Bench: An Over-Refusal Benchmark for Large Language "
     "Models, arXiv:2405.20947",
     "58cbb0c (Hugging Face revision of the dataset card's layout)"},
    import_orbench, nullptr, map_orbench};

}  // namespace delib::eval::importers
