// Capability problems for the safety tax: JSON Lines with `question` and `answer` (GSM8K's
// test.jsonl layout, whose answer ends "#### 72", or safety-eval --make-problems' output).
// Each row becomes a capability record (delib/eval.h): no label, expected_answer the reference,
// the question and an instruction for a final "Answer:" line as the user turn.
#include <fmt/format.h>

#include "delib/error.h"
#include "import.h"

namespace delib::eval::importers {
namespace {

// An optional string (or integer) field of row i, "" when absent.
std::string optional_field(const JsonlTable& t, size_t i, std::string_view key) {
  const Json* v = t.rows[i].find(key);
  if (!v || v->is_null()) return "";
  return jsonl_string(t, i, key);
}

std::vector<Record> import_problems(const JsonlTable& t, const Importer& imp, const Spec*) {
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string question = jsonl_string(t, i, "question");
    const Json* a = t.rows[i].find("answer");
    std::string answer;
    if (a && a->is_number()) answer = json_number(a->as_double());
    else answer = jsonl_string(t, i, "answer");
    const std::string expected = reference_answer(answer);
    if (expected.empty())
      throw Error(Location{t.path, t.lines[i]}, "field 'answer': no reference answer after '####'");
    const bool numeric = parse_number(expected).has_value();
    std::string id = optional_field(t, i, "id"), source = optional_field(t, i, "source");
    Json msg = Json::object();
    msg.set("role", "user");
    msg.set("content", question + "\n\nGive your final answer on the last line, as \"Answer: " +
                           (numeric ? "<number>" : "<answer>") + "\".");
    Json msgs = Json::array();
    msgs.push(std::move(msg));
    Json o = Json::object();
    o.set("id", id.empty() ? content_id("problems", question) : id);
    o.set("messages", std::move(msgs));
    o.set("expected_answer", expected);
    o.set("question", question);
    std::string type = optional_field(t, i, "problem_type");
    o.set("prompt_type", type.empty() ? Json() : Json(type));
    o.set("source", source.empty() ? "problems" : source);
    o.set("benchmark", t.rows[i]);
    o.set("provenance", provenance(imp.info, t.path, t.lines[i]));
    out.push_back(Record::from_json(o));
  }
  return out;
}

}  // namespace

const Importer kProblemsImporter = {
    "problems", Layout::kJsonl,
    "capability problems, JSON Lines with question and answer (GSM8K's test.jsonl layout, "
    "answer ending '#### N'; safety-eval --make-problems writes them); optional id, source, "
    "problem_type",
    {"the problem file's own (safety-eval --make-problems: generated, the project's licence)",
     "https://github.com/openai/grade-school-math",
     "the question/answer layout of Cobbe et al., Training Verifiers to Solve Math Word "
     "Problems, arXiv:2110.14168 (GSM8K)",
     "not checked against a staged GSM8K file (none in ../shared/data/bench)"},
    nullptr, import_problems, nullptr};

}  // namespace delib::eval::importers
