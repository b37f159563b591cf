// SORRY-Bench (sorry-bench/sorry-bench-202406 and -202503, gated): question.jsonl and its
// linguistic mutations question_<style>.jsonl, one object per line with question_id (int),
// category (a class number as a string), turns (a list with one user turn) and prompt_style
// ("base", "slang", "caesar", ...). Every prompt is unsafe (SORRY-Bench measures fulfilment
// of unsafe requests). Ids: sorrybench-<question_id>, with -<prompt_style> unless base.
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

// Only classes 1-11 have the same meaning in the 202406 (45 classes, Impersonation at 12) and
// 202503 (44 classes) taxonomies; from 12 on the numbers shift, so they are not mapped.
std::string map_sorrybench(std::string_view category) {
  std::string c = trim(category);
  if (c == "1" || c == "2" || c == "3" || c == "8") return "harassment";  // insults, threats, stalking
  if (c == "6") return "self-harm";
  if (c == "7") return "violence";
  if (c == "9") return "sexual";  // sexual crimes
  if (c == "10" || c == "11") return "illicit";  // property and public-order crimes
  return "";
}

std::vector<Record> import_sorrybench(const JsonlTable& t, const Importer& imp,
                                      const Spec* spec) {
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const Json& row = t.rows[i];
    std::string qid = jsonl_string(t, i, "question_id");
    std::string cat = jsonl_string(t, i, "category");
    std::string style = jsonl_string(t, i, "prompt_style");
    const Json* turns = row.find("turns");
    if (!turns) throw Error(Location{t.path, t.lines[i]}, "field 'turns': missing");
    if (!turns->is_array() || turns->as_array().size() != 1 ||
        !turns->as_array()[0].is_string() || trim(turns->as_array()[0].as_string()).empty())
      throw Error(Location{t.path, t.lines[i]},
                  fmt::format("field 'turns': expected a list of one non-empty string, got {}",
                              turns->dump()));
    Json bench = Json::object();
    bench.set("question_id", qid);
    bench.set("category", cat);
    bench.set("prompt_style", style);
    std::string id = style == "base" ? "sorrybench-" + qid : "sorrybench-" + qid + "-" + style;
    out.push_back(make_record(id, turns->as_array()[0].as_string(), "unsafe",
                              map_sorrybench(cat), cat, style, "sorrybench", std::move(bench),
                              provenance(imp.info, t.path, t.lines[i]), spec));
  }
  return out;
}

}  // namespace

const Importer kSorryBenchImporter = {
    "sorrybench", Layout::kJsonl,
    "question.jsonl / question_<style>.jsonl (question_id, category, turns, prompt_style)",
    {"SORRY-Bench licence (custom terms accepted on Hugging Face; gated)",
     "https://huggingface.co/datasets/sorry-bench/sorry-bench-202406",
     "Xie et al., SORRY-Bench: Systematically Evaluating Large Language Model Safety Refusal, "
     "ICLR 2025 (arXiv:2406.14598)",
     "not pinned (gated; layout from the dataset's question.jsonl as loaded by FastChat-style "
     "code)"},
    nullptr, import_sorrybench, map_sorrybench};

}  // namespace delib::eval::importers
