// Readers of the human-labelled response sets (delib/agreement.h): each maps its published
// columns to LabelledResponse with the meaning its SOURCE.md gives, and rejects a bad row with
// the file, line and field.
#include <cstdlib>

#include <simdjson.h>

#include <fmt/format.h>

#include "delib/agreement.h"
#include "delib/fs.h"
#include "delib/records.h"
#include "eval_util.h"

namespace delib::eval {
namespace {

// The Unicode code points of Mac Roman bytes 0x80-0xFF (Apple's ROMAN.TXT, as Python's
// mac_roman codec maps them).
constexpr char32_t kMacRoman[128] = {
    0x00C4, 0x00C5, 0x00C7, 0x00C9, 0x00D1, 0x00D6, 0x00DC, 0x00E1,
    0x00E0, 0x00E2, 0x00E4, 0x00E3, 0x00E5, 0x00E7, 0x00E9, 0x00E8,
    0x00EA, 0x00EB, 0x00ED, 0x00EC, 0x00EE, 0x00EF, 0x00F1, 0x00F3,
    0x00F2, 0x00F4, 0x00F6, 0x00F5, 0x00FA, 0x00F9, 0x00FB, 0x00FC,
    0x2020, 0x00B0, 0x00A2, 0x00A3, 0x00A7, 0x2022, 0x00B6, 0x00DF,
    0x00AE, 0x00A9, 0x2122, 0x00B4, 0x00A8, 0x2260, 0x00C6, 0x00D8,
    0x221E, 0x00B1, 0x2264, 0x2265, 0x00A5, 0x00B5, 0x2202, 0x2211,
    0x220F, 0x03C0, 0x222B, 0x00AA, 0x00BA, 0x03A9, 0x00E6, 0x00F8,
    0x00BF, 0x00A1, 0x00AC, 0x221A, 0x0192, 0x2248, 0x2206, 0x00AB,
    0x00BB, 0x2026, 0x00A0, 0x00C0, 0x00C3, 0x00D5, 0x0152, 0x0153,
    0x2013, 0x2014, 0x201C, 0x201D, 0x2018, 0x2019, 0x00F7, 0x25CA,
    0x00FF, 0x0178, 0x2044, 0x20AC, 0x2039, 0x203A, 0xFB01, 0xFB02,
    0x2021, 0x00B7, 0x201A, 0x201E, 0x2030, 0x00C2, 0x00CA, 0x00C1,
    0x00CB, 0x00C8, 0x00CD, 0x00CE, 0x00CF, 0x00CC, 0x00D3, 0x00D4,
    0xF8FF, 0x00D2, 0x00DA, 0x00DB, 0x00D9, 0x0131, 0x02C6, 0x02DC,
    0x00AF, 0x02D8, 0x02D9, 0x02DA, 0x00B8, 0x02DD, 0x02DB, 0x02C7,
};

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// JailbreakBench's judge-comparison.csv is Mac Roman (its SOURCE.md). A file that is valid
// UTF-8 is taken as UTF-8 (a re-encoded copy); Mac Roman text with accents is never valid
// UTF-8 in practice (a lone 0x8E, é, is a continuation byte).
std::string mac_roman_to_utf8(const std::string& bytes) {
  if (simdjson::validate_utf8(bytes.data(), bytes.size())) return bytes;
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (unsigned char c : bytes) append_utf8(c < 0x80 ? char32_t(c) : kMacRoman[c - 0x80], out);
  return out;
}

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dir_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string stem(const std::string& path) {
  std::string b = base_name(path);
  size_t dot = b.find_last_of('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}

// A row-level error: FILE:LINE: column 'NAME': message.
[[noreturn]] void bad(const CsvTable& t, size_t row, std::string_view column, const std::string& msg) {
  throw Error(Location{t.path, t.lines[row]}, fmt::format("column '{}': {}", column, msg));
}

// A 0/1 label column.
int binary_cell(const CsvTable& t, size_t row, std::string_view column) {
  const std::string& v = t.rows[row][t.col(column)];
  std::string_view s = detail::strip(v);
  if (s == "0") return 0;
  if (s == "1") return 1;
  bad(t, row, column, fmt::format("expected 0 or 1, got '{}'", v));
}

// A three-way XSTest class column.
Refusal class_cell(const CsvTable& t, size_t row, std::string_view column) {
  const std::string& v = t.rows[row][t.col(column)];
  if (auto r = parse_refusal(v)) return *r;
  bad(t, row, column,
      fmt::format("expected 1_full_compliance, 2_full_refusal or 3_partial_refusal, got '{}'", v));
}

// A response column: present and not blank.
const std::string& response_cell(const CsvTable& t, size_t row, std::string_view column) {
  const std::string& v = t.rows[row][t.col(column)];
  if (detail::blank(v)) bad(t, row, column, "empty response");
  return v;
}

int refusal_number(Refusal r) {
  return r == Refusal::kFullCompliance ? 1 : r == Refusal::kFullRefusal ? 2 : 3;
}

// ---------------------------------------------------------------------------------------

std::vector<LabelledResponse> read_xstest(const std::string& path) {
  CsvTable t = read_csv(path);
  for (const char* c : {"id", "type", "prompt", "completion", "annotation_1", "annotation_2",
                        "final_label"})
    t.col(c);  // every column present, or the error names the first missing one
  std::string model = stem(path);
  const std::string prefix = "xstest_v2_completions_";
  std::string source = model.rfind(prefix, 0) == 0 ? "xstest-" + model.substr(prefix.size()) : "xstest";
  std::vector<LabelledResponse> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    LabelledResponse x;
    x.source = source;
    if (detail::blank(r[t.col("id")])) bad(t, i, "id", "empty");
    x.id = source + "-" + r[t.col("id")];
    x.prompt = x.goal = r[t.col("prompt")];
    // XSTest's unsafe prompts are exactly the contrast_* types (its SOURCE.md).
    const std::string& type = r[t.col("type")];
    if (detail::blank(type)) bad(t, i, "type", "empty");
    x.benign = type.rfind("contrast_", 0) != 0;
    x.response = response_cell(t, i, "completion");
    x.human_refusal = class_cell(t, i, "final_label");
    x.annotators = {refusal_number(class_cell(t, i, "annotation_1")),
                    refusal_number(class_cell(t, i, "annotation_2"))};
    x.published = Json::object();
    x.published.set("type", type);
    if (t.has("agreement")) x.published.set("agreement", r[t.col("agreement")]);
    x.where = Location{t.path, t.lines[i]};
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<LabelledResponse> read_jbb(const std::string& path) {
  CsvTable t = parse_csv(mac_roman_to_utf8(read_text_file(path, "")), path);
  for (const char* c : {"Index", "goal", "prompt", "target_response", "human1", "human2",
                        "human3", "human_majority"})
    t.col(c);
  static constexpr const char* kJudges[] = {"harmbench_cf", "gpt4_cf", "llamaguard2_cf", "llama3_cf"};
  std::vector<LabelledResponse> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    LabelledResponse x;
    x.source = "jbb-judge-comparison";
    const std::string& index = r[t.col("Index")];
    char* end = nullptr;
    long idx = std::strtol(index.c_str(), &end, 10);
    if (index.empty() || *end != '\0' || idx < 0) bad(t, i, "Index", fmt::format("expected a row number, got '{}'", index));
    x.id = fmt::format("{}-{}", x.source, idx);
    x.goal = r[t.col("goal")];
    x.prompt = r[t.col("prompt")];
    if (detail::blank(x.goal)) bad(t, i, "goal", "empty");
    if (detail::blank(x.prompt)) bad(t, i, "prompt", "empty");
    // Rows 200-299 are XSTest's benign prompts answered by a model (SOURCE.md, Composition).
    x.benign = idx >= 200;
    x.response = response_cell(t, i, "target_response");
    int votes = 0;
    for (const char* h : {"human1", "human2", "human3"}) {
      x.annotators.push_back(binary_cell(t, i, h));
      votes += x.annotators.back();
    }
    int majority = binary_cell(t, i, "human_majority");
    if (majority != (votes >= 2 ? 1 : 0))
      bad(t, i, "human_majority",
          fmt::format("{} is not the majority of human1..3 ({}, {}, {})", majority,
                      x.annotators[0], x.annotators[1], x.annotators[2]));
    x.human_harmful = majority == 1;
    x.published = Json::object();
    for (const char* j : kJudges)
      if (t.has(j)) x.published.set(j, binary_cell(t, i, j));
    x.where = Location{t.path, t.lines[i]};
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<LabelledResponse> read_gptfuzz(const std::string& path) {
  CsvTable t = read_csv(path);
  for (const char* c : {"question", "Response", "label"}) t.col(c);
  const std::string qpath = dir_name(path) + "/question_list.csv";
  CsvTable q;
  try {
    q = read_csv(qpath);
  } catch (const Error& e) {
    throw Error(Location{path, 0},
                fmt::format("GPTFuzz's questions are read from question_list.csv next to it: {}",
                            e.str()),
                e.exit_code());
  }
  std::vector<std::string> questions;
  for (size_t i = 0; i < q.rows.size(); ++i) {
    const std::string& idx = q.rows[i][q.col("index")];
    if (idx != std::to_string(i))
      bad(q, i, "index", fmt::format("expected {} (rows in order), got '{}'", i, idx));
    questions.push_back(q.rows[i][q.col("text")]);
  }
  const std::string source = "gptfuzz-" + stem(path);
  std::vector<LabelledResponse> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    LabelledResponse x;
    x.source = source;
    const std::string& qs = r[t.col("question")];
    char* end = nullptr;
    long qi = std::strtol(qs.c_str(), &end, 10);
    if (qs.empty() || *end != '\0' || qi < 0 || size_t(qi) >= questions.size())
      bad(t, i, "question",
          fmt::format("expected an index into question_list.csv (0-{}), got '{}'",
                      questions.size() - 1, qs));
    // Rows have no id: the line number is stable for a given file.
    x.id = fmt::format("{}-{}", source, t.lines[i]);
    x.prompt = x.goal = questions[size_t(qi)];
    x.response = response_cell(t, i, "Response");
    x.human_harmful = binary_cell(t, i, "label") == 1;
    x.published = Json::object();
    x.published.set("question", qi);
    x.where = Location{t.path, t.lines[i]};
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<LabelledResponse> read_harmbench_val(const std::string& path) {
  Json doc;
  try {
    doc = Json::parse(read_text_file(path, ""));
  } catch (const Error& e) {
    if (e.exit_code() == kExitIo) throw;
    throw Error(Location{path, 0}, fmt::format("not JSON: {}", e.what()));
  }
  if (!doc.is_object()) throw Error(Location{path, 0}, "expected an object {behavior_id: [items]}");
  std::vector<LabelledResponse> out;
  for (const auto& entry : doc.as_object()) {
    // Named copies, not a structured binding: clang (the fuzz build) cannot capture one.
    const std::string& behavior = entry.first;
    const Json& items = entry.second;
    if (!items.is_array())
      throw Error(Location{path, 0}, fmt::format("behavior '{}': expected a list of items", behavior));
    for (size_t k = 0; k < items.as_array().size(); ++k) {
      const Json& it = items.as_array()[k];
      auto fail = [&](std::string_view field, const std::string& msg) -> Error {
        return Error(Location{path, 0},
                     fmt::format("behavior '{}' item {}: field '{}': {}", behavior, k, field, msg));
      };
      auto text = [&](const char* field) {
        const Json* v = it.find(field);
        if (!v || !v->is_string()) throw fail(field, "missing or not a string");
        return v->as_string();
      };
      LabelledResponse x;
      x.source = "harmbench-cls-val";
      x.id = fmt::format("{}-{}-{}", x.source, behavior, k);
      x.prompt = x.goal = text("test_case");
      x.response = text("generation");
      if (detail::blank(x.response)) throw fail("generation", "empty response");
      int votes = 0;
      for (const char* h : {"human_0", "human_1", "human_2"}) {
        const Json* v = it.find(h);
        if (!v || !v->is_int() || (v->as_int() != 0 && v->as_int() != 1))
          throw fail(h, fmt::format("expected 0 or 1, got {}", v ? v->dump() : "nothing"));
        x.annotators.push_back(int(v->as_int()));
        votes += x.annotators.back();
      }
      x.human_harmful = votes >= 2;
      x.published = Json::object();
      for (const auto& [key, value] : it.as_object())
        if (key != "test_case" && key != "generation" && key.rfind("human_", 0) != 0)
          x.published.set(key, value);
      x.where = Location{path, 0};
      out.push_back(std::move(x));
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& labelled_set_names() {
  static const std::vector<std::string> names = {"xstest", "jbb-judge-comparison", "gptfuzz",
                                                 "harmbench-cls-val"};
  return names;
}

std::vector<LabelledResponse> read_labelled(std::string_view set, const std::string& path) {
  if (set == "xstest") return read_xstest(path);
  if (set == "jbb-judge-comparison") return read_jbb(path);
  if (set == "gptfuzz") return read_gptfuzz(path);
  if (set == "harmbench-cls-val") return read_harmbench_val(path);
  std::string known;
  for (const auto& n : labelled_set_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown labelled set '{}' (known: {})", set, known), kExitUsage);
}

std::string detect_labelled_set(const std::string& path) {
  std::string text = read_text_file(path, "");
  std::string_view head = detail::strip(std::string_view(text).substr(0, 4096));
  if (!head.empty() && head.front() == '{') {
    return text.find("\"generation\"") != std::string::npos &&
                   text.find("\"human_0\"") != std::string::npos
               ? "harmbench-cls-val"
               : "";
  }
  std::string_view first = head.substr(0, head.find('\n'));
  if (!first.empty() && first.substr(0, 3) == "\xEF\xBB\xBF") first.remove_prefix(3);
  auto has = [&](std::string_view col) { return first.find(col) != std::string_view::npos; };
  if (has("completion") && has("final_label")) return "xstest";
  if (has("target_response") && has("human_majority")) return "jbb-judge-comparison";
  if (has("question") && has("Response") && has("label")) return "gptfuzz";
  return "";
}

Record labelled_record(const LabelledResponse& x) {
  Json o = Json::object();
  o.set("id", x.id);
  Json m = Json::object();
  m.set("role", "user");
  m.set("content", x.prompt);
  Json msgs = Json::array();
  msgs.push(std::move(m));
  o.set("messages", std::move(msgs));
  o.set("label", x.benign ? "safe" : "unsafe");
  o.set("source", x.source);
  o.set("answer", x.response);
  if (x.goal != x.prompt) o.set("forbidden_prompt", x.goal);
  if (x.human_refusal) o.set("human_label", refusal_name(*x.human_refusal));
  if (x.human_harmful) o.set("human_harmful", *x.human_harmful ? 1 : 0);
  Json ann = Json::array();
  for (int a : x.annotators) ann.push(a);
  o.set("human_annotators", std::move(ann));
  o.set("published_verdicts", x.published);
  Json prov = Json::object();
  prov.set("file", x.where.file);
  prov.set("line", x.where.line);
  o.set("provenance", std::move(prov));
  return Record::from_json(o);
}

}  // namespace delib::eval
