// PHTest: pseudo-harmful prompts for measuring false refusals, dataset_v0.1.csv (ID, Request,
// Harmfulness). Every prompt should be answered (label safe); Harmfulness says whether its
// authors judged it harmless or controversial, kept as prompt_type so metrics split them.
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

std::vector<Record> import_phtest(const CsvTable& t, const Importer& imp, const Spec* spec) {
  size_t c_id = t.col("ID"), c_req = t.col("Request"), c_harm = t.col("Harmfulness");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string& id = nonempty(t, i, c_id);
    const std::string& harm = t.rows[i][c_harm];
    require_value(t.path, t.lines[i], harm, {"harmless", "controversial"}, "Harmfulness");
    Json bench = Json::object();
    bench.set("id", id);
    bench.set("harmfulness", harm);
    out.push_back(make_record("phtest-" + id, nonempty(t, i, c_req), "safe", "", "", harm,
                              "phtest", std::move(bench),
                              provenance(imp.info, t.path, t.lines[i]), spec));
  }
  return out;
}

}  // namespace

const Importer kPhtestImporter = {
    "phtest", Layout::kCsv, "PHTest dataset_v0.1.csv (ID, Request, Harmfulness)",
    {"MIT", "https://huggingface.co/datasets/furonghuang-lab/PHTest",
     "An, Zhu, Zhang, Panaitescu-Liess, Xu, Huang, Automatic Pseudo-Harmful Prompt Generation "
     "for Evaluating False Refusals in Large Language Models, COLM 2024 (arXiv:2409.00598)",
     "umd-huang-lab/FalseRefusal b37fcd51d3e1e81ce74bdd5cf468a8bf87bc0fb8"},
    import_phtest, nullptr, nullptr};

}  // namespace delib::eval::importers
