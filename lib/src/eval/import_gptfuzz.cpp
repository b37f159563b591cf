// GPTFuzz's 100 harmful questions: datasets/questions/question_list.csv (index, text). The
// questions its jailbreak templates are filled with; all unsafe, no category.
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

std::vector<Record> import_gptfuzz(const CsvTable& t, const Importer& imp, const Spec* spec) {
  size_t c_idx = t.col("index"), c_text = t.col("text");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string& index = nonempty(t, i, c_idx);
    if (index.find_first_not_of("0123456789") != std::string::npos)
      throw Error(Location{t.path, t.lines[i]},
                  fmt::format("column 'index': expected a number, got '{}'", index));
    Json bench = Json::object();
    bench.set("index", std::stol(index));
    bench.set("text", t.rows[i][c_text]);
    out.push_back(make_record("gptfuzz-" + index, nonempty(t, i, c_text), "unsafe", "", "", "",
                              "gptfuzz", std::move(bench),
                              provenance(imp.info, t.path, t.lines[i]), spec));
  }
  return out;
}

}  // namespace

const Importer kGptfuzzImporter = {
    "gptfuzz", Layout::kCsv, "question_list.csv (index, text)",
    {"MIT, Copyright (c) 2023 Jiahao YU (questions sampled from llm-jailbreak-study and "
     "Anthropic hh-rlhf)",
     "https://github.com/sherdencooper/GPTFuzz",
     "Yu, Lin, Yu, Xing, GPTFUZZER: Red Teaming Large Language Models with Auto-Generated "
     "Jailbreak Prompts, USENIX Security 2024 (arXiv:2309.10253)",
     "1eddeb565740ae311b5f4950492b011a6f866fe7"},
    import_gptfuzz, nullptr, nullptr};

}  // namespace delib::eval::importers
