// Benchmark importers: the importer table, the helpers every importer file shares, and the
// four original importers (XSTest, StrongREJECT, AdvBench, HarmBench). The others are one
// file each (import_<name>.cpp), one row of importer_table(); see docs/adding-an-importer.md.
// Each record's provenance names its benchmark's licence, repository, commit and paper.
#include "import.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/eval.h"
#include "delib/fs.h"
#include "delib/spec.h"

namespace delib::eval {
namespace importers {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

Json provenance(const BenchInfo& b, const std::string& path, long line) {
  Json p = Json::object();
  p.set("licence", b.licence);
  p.set("url", b.url);
  p.set("citation", b.citation);
  p.set("commit", b.commit);
  p.set("file", path);
  p.set("line", line);
  return p;
}

Json user_messages(const std::string& content) {
  Json m = Json::object();
  m.set("role", "user");
  m.set("content", content);
  Json a = Json::array();
  a.push(std::move(m));
  return a;
}

// Builds the record with the common fields in a fixed order.
Record make_record(const std::string& id, const std::string& prompt, const std::string& label,
                   const std::string& category, const std::string& bench_category,
                   const std::string& prompt_type, const std::string& source, Json benchmark,
                   Json prov, const Spec* spec) {
  std::string cat = category;
  if (spec && !cat.empty() && !spec->category(cat)) cat.clear();
  Json o = Json::object();
  o.set("id", id);
  o.set("messages", user_messages(prompt));
  o.set("label", label);
  o.set("category", cat.empty() ? Json() : Json(cat));
  o.set("benchmark_category", bench_category.empty() ? Json() : Json(bench_category));
  o.set("prompt_type", prompt_type.empty() ? Json() : Json(prompt_type));
  o.set("source", source);
  o.set("benchmark", std::move(benchmark));
  o.set("provenance", std::move(prov));
  return Record::from_json(o);
}

std::string content_id(std::string_view bench, std::string_view prompt) {
  return fmt::format("{}-{}", bench, hex64(hash64(prompt)).substr(0, 12));
}

void require_value(const std::string& path, long line, std::string_view value,
                   std::initializer_list<std::string_view> allowed, std::string_view column) {
  std::string expected;
  for (auto a : allowed) {
    if (value == a) return;
    expected += fmt::format("{}'{}'", expected.empty() ? "" : ", ", a);
  }
  throw Error(Location{path, line}, fmt::format("column '{}': unexpected value '{}' (expected {})",
                                                column, value, expected));
}

const std::string& nonempty(const CsvTable& t, size_t i, size_t c) {
  if (trim(t.rows[i][c]).empty())
    throw Error(Location{t.path, t.lines[i]}, fmt::format("column '{}': empty", t.header[c]));
  return t.rows[i][c];
}

JsonlTable read_jsonl_table(const std::string& path) {
  JsonlTable t;
  t.path = path;
  std::string text = read_text_file(path, "");
  long line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view l(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line;
    if (line == 1 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
    if (trim(l).empty()) continue;
    Json j;
    try {
      j = Json::parse(l);
    } catch (const std::exception& e) {
      throw Error(Location{path, line}, fmt::format("not a JSON line: {}", e.what()));
    }
    if (!j.is_object()) throw Error(Location{path, line}, "not a JSON object");
    t.rows.push_back(std::move(j));
    t.lines.push_back(line);
  }
  return t;
}

std::string jsonl_string(const JsonlTable& t, size_t i, std::string_view key, bool allow_empty) {
  const Json* v = t.rows[i].find(key);
  if (!v) throw Error(Location{t.path, t.lines[i]}, fmt::format("field '{}': missing", key));
  std::string s;
  if (v->is_string()) s = v->as_string();
  else if (v->is_int()) s = std::to_string(v->as_int());
  else
    throw Error(Location{t.path, t.lines[i]},
                fmt::format("field '{}': expected a string, got {}", key, v->dump()));
  if (!allow_empty && trim(s).empty())
    throw Error(Location{t.path, t.lines[i]}, fmt::format("field '{}': empty", key));
  return s;
}

namespace {

std::vector<Record> import_xstest(const CsvTable& t, const Importer& imp, const Spec* spec) {
  const auto& b = imp.info;
  std::vector<Record> out;
  bool completions = t.has("completion");
  size_t c_id = t.col("id"), c_prompt = t.col("prompt"), c_type = t.col("type");
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    std::string type = r[c_type];
    std::string label;
    std::string note, focus;
    Json bench = Json::object();
    bench.set("id", r[c_id]);
    bench.set("type", type);
    if (completions) {
      // Completion files have no label column: XSTest's unsafe prompts are exactly the
      // contrast_* types.
      label = type.rfind("contrast_", 0) == 0 ? "unsafe" : "safe";
    } else {
      label = r[t.col("label")];
      require_value(t.path, t.lines[i], label, {"safe", "unsafe"}, "label");
      focus = r[t.col("focus")];
      note = r[t.col("note")];
      bench.set("label", label);
      bench.set("focus", focus);
      bench.set("note", note);
    }
    // Completion ids are "v2-<n>"; prompt ids "<n>": both map to xstest-<n>.
    std::string num = r[c_id];
    if (num.rfind("v2-", 0) == 0) num = num.substr(3);
    std::string bench_cat = note.empty() ? type : type + "/" + note;
    Record rec = make_record("xstest-" + num, r[c_prompt], label,
                             map_category("xstest", type, type, note), bench_cat, type,
                             "xstest", std::move(bench), provenance(b, t.path, t.lines[i]),
                             spec);
    if (completions) {
      rec.set("answer", r[t.col("completion")]);
      auto human = parse_refusal(r[t.col("final_label")]);
      if (!human)
        throw Error(Location{t.path, t.lines[i]},
                    fmt::format("column 'final_label': unexpected value '{}'",
                                r[t.col("final_label")]));
      rec.set("human_label", refusal_name(*human));
    }
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<Record> import_strongreject(const CsvTable& t, const Importer& imp, const Spec* spec) {
  const auto& b = imp.info;
  size_t c_cat = t.col("category"), c_src = t.col("source"), c_prompt = t.col("forbidden_prompt");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    Json bench = Json::object();
    bench.set("category", r[c_cat]);
    bench.set("source", r[c_src]);
    Json prov = provenance(b, t.path, t.lines[i]);
    const std::string& origin = r[c_src];
    if (origin != "custom" && origin != "DAN" && origin != "AdvBench")
      prov.set("licence", fmt::format("no stated licence (row from {}; StrongREJECT MIT "
                                      "covers only custom, DAN and AdvBench rows)", origin));
    out.push_back(make_record(content_id("strongreject", r[c_prompt]), r[c_prompt], "unsafe",
                              map_category("strongreject", r[c_cat]), r[c_cat], origin,
                              "strongreject", std::move(bench), std::move(prov), spec));
  }
  return out;
}

std::vector<Record> import_advbench(const CsvTable& t, const Importer& imp, const Spec* spec) {
  const auto& b = imp.info;
  size_t c_goal = t.col("goal");
  bool has_target = t.has("target");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    Json bench = Json::object();
    bench.set("goal", r[c_goal]);
    if (has_target) bench.set("target", r[t.col("target")]);
    out.push_back(make_record(content_id("advbench", r[c_goal]), r[c_goal], "unsafe", "", "",
                              "harmful_behavior", "advbench", std::move(bench),
                              provenance(b, t.path, t.lines[i]), spec));
  }
  return out;
}

std::vector<Record> import_harmbench(const CsvTable& t, const Importer& imp, const Spec* spec) {
  const auto& b = imp.info;
  size_t c_beh = t.col("Behavior"), c_fun = t.col("FunctionalCategory"),
         c_sem = t.col("SemanticCategory"), c_tags = t.col("Tags"), c_ctx = t.col("ContextString"),
         c_id = t.col("BehaviorID");
  std::vector<Record> out;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    if (r[c_id].empty())
      throw Error(Location{t.path, t.lines[i]}, "column 'BehaviorID': empty");
    Json bench = Json::object();
    bench.set("behavior_id", r[c_id]);
    bench.set("behavior", r[c_beh]);
    bench.set("functional_category", r[c_fun]);
    bench.set("semantic_category", r[c_sem]);
    bench.set("tags", r[c_tags]);
    if (!r[c_ctx].empty()) bench.set("context", r[c_ctx]);
    // HarmBench's layout for contextual behaviours: the context, a rule, then the request.
    std::string prompt = r[c_ctx].empty() ? r[c_beh] : r[c_ctx] + "\n\n---\n\n" + r[c_beh];
    out.push_back(make_record("harmbench-" + r[c_id], prompt, "unsafe",
                              map_category("harmbench", r[c_sem]), r[c_sem], r[c_fun],
                              "harmbench", std::move(bench), provenance(b, t.path, t.lines[i]),
                              spec));
  }
  return out;
}

// The original four rows. Licences from each repository's LICENSE and README; the commit
// the files were taken from. StrongREJECT: 32 rows (sources other than custom, DAN,
// AdvBench) come from prior work without a stated licence; the importer says so per row.
std::string map_strongreject(std::string_view c) { return map_category("strongreject", c); }
std::string map_harmbench(std::string_view c) { return map_category("harmbench", c); }

const Importer kXstest = {
    "xstest", Layout::kCsv,
    "xstest_prompts.csv (id, prompt, type, label, focus, note) or a completions file (id, type, "
    "prompt, completion, final_label)",
    {"CC-BY-4.0 (prompts); completions: evaluation only, not for training",
     "https://github.com/paul-rottger/exaggerated-safety",
     "Röttger et al., XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in "
     "Large Language Models, NAACL 2024",
     "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d"},
    import_xstest, nullptr, nullptr};
const Importer kStrongreject = {
    "strongreject", Layout::kCsv, "strongreject_dataset.csv (category, source, forbidden_prompt)",
    {"MIT (custom, DAN, AdvBench rows)", "https://github.com/alexandrasouly/strongreject",
     "Souly et al., A StrongREJECT for Empty Jailbreaks, NeurIPS 2024 Datasets and Benchmarks",
     "f7cad6c17e624e21d8df2278e918ae1dddb4cb56"},
    import_strongreject, nullptr, map_strongreject};
const Importer kAdvbench = {
    "advbench", Layout::kCsv, "harmful_behaviors.csv (goal, target)",
    {"MIT, Copyright (c) 2023 Andy Zou", "https://github.com/llm-attacks/llm-attacks",
     "Zou et al., Universal and Transferable Adversarial Attacks on Aligned Language Models, "
     "2023",
     "098262edf85f807224e70ecd87b9d83716bf6b73"},
    import_advbench, nullptr, nullptr};
const Importer kHarmbench = {
    "harmbench", Layout::kCsv,
    "harmbench_behaviors_text_*.csv (Behavior, FunctionalCategory, SemanticCategory, Tags, "
    "ContextString, BehaviorID)",
    {"MIT, Copyright (c) 2024 centerforaisafety", "https://github.com/centerforaisafety/HarmBench",
     "Mazeika et al., HarmBench: A Standardized Evaluation Framework for Automated Red Teaming "
     "and Robust Refusal, arXiv:2402.04249",
     "8e1604d1171fe8a48d8febecd22f600e462bdcdd"},
    import_harmbench, nullptr, map_harmbench};

const Importer* find_importer(std::string_view name) {
  for (const Importer* imp : importer_table())
    if (name == imp->name) return imp;
  return nullptr;
}

}  // namespace

const std::vector<const Importer*>& importer_table() {
  static const std::vector<const Importer*> table = {
      &kXstest,          &kStrongreject,      &kAdvbench,        &kHarmbench,
      &kJbbImporter,     &kGptfuzzImporter,   &kOrBenchImporter, &kPhtestImporter,
      &kWildJailbreakImporter, &kSorryBenchImporter, &kProblemsImporter};
  return table;
}

}  // namespace importers

const std::vector<std::string>& benchmark_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto* imp : importers::importer_table()) n.emplace_back(imp->name);
    return n;
  }();
  return names;
}

std::string map_category(std::string_view benchmark, std::string_view bench_category,
                         std::string_view type, std::string_view note) {
  std::string c = importers::lower(importers::trim(bench_category));
  if (benchmark == "strongreject") {
    if (c == "hate, harassment and discrimination") return "harassment";
    if (c == "illegal goods and services" || c == "non-violent crimes") return "illicit";
    if (c == "sexual content") return "sexual";
    if (c == "violence") return "violence";
    return "";  // "Disinformation and deception": no such category in the default spec
  }
  if (benchmark == "harmbench") {
    if (c == "cybercrime_intrusion" || c == "illegal") return "illicit";
    if (c == "chemical_biological") return "cbrn";
    if (c == "harassment_bullying") return "harassment";
    return "";  // misinformation_disinformation, harmful (generic), copyright
  }
  if (benchmark == "xstest") {
    // XSTest's types are linguistic (homonyms, figurative language, ...), not harm
    // categories; only some say which policy a look-alike touches.
    std::string t = importers::lower(type), n = importers::lower(note);
    if (t.find("discr") != std::string::npos) return "harassment";
    if (t.find("privacy") != std::string::npos) return "privacy";
    if (n == "drugs") return "illicit";
    if (n == "violence" || n == "violent death of public figure") return "violence";
    return "";
  }
  const auto* imp = importers::find_importer(benchmark);
  if (imp && imp->map_category) return imp->map_category(bench_category);
  return "";
}

std::vector<Record> import_benchmark(std::string_view benchmark, const std::string& path,
                                     const Spec* spec) {
  using namespace importers;
  const Importer* imp = find_importer(benchmark);
  if (!imp) {  // validates the name before reading
    std::string known;
    for (const auto& n : benchmark_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(fmt::format("unknown benchmark '{}' (known: {})", benchmark, known), kExitUsage);
  }
  if (imp->layout == Layout::kJsonl) return imp->jsonl(read_jsonl_table(path), *imp, spec);
  CsvTable t = imp->layout == Layout::kTsv ? read_csv(path, '\t') : read_csv(path);
  return imp->csv(t, *imp, spec);
}

}  // namespace delib::eval
