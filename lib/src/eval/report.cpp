// The Markdown report of a run JSON (summarize()): a header with the run's settings, failures
// and graders, then one section per table of metrics.
#include <fmt/format.h>

#include "delib/eval.h"
#include "eval_util.h"

namespace delib::eval {
namespace {

using detail::number_at;

std::string fmt_est(const Json* e) {
  if (!e || !e->is_object()) return "–";
  auto val = number_at(*e, {"value"}), lo = number_at(*e, {"lo"}), hi = number_at(*e, {"hi"});
  if (!val) return "–";
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]", *val, lo.value_or(0), hi.value_or(0));
}

std::string md_escape(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string string_at(const Json& j, std::string_view key) {
  const Json* v = j.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

// "0" for a missing number, else the number as JSON writes it.
std::string count_at(const Json& j, std::string_view key) {
  return json_number(number_at(j, {key}).value_or(0));
}

const char* const kMetricOrder[] = {"not_unsafe", "not_overrefuse", "style_adherence",
                                    "policy_retrieval", "goodness@0.1", "refusal_rate",
                                    "reasoning_harmful_rate", "leak_rate", "capability_accuracy"};

std::vector<std::string> metric_keys(const Json& run) {
  std::vector<std::string> keys;
  std::string goodness = "goodness@0.1";
  if (auto q = number_at(run, {"goodness_q"})) goodness = fmt::format("goodness@{}", json_number(*q));
  for (const char* k : kMetricOrder) keys.push_back(std::string_view(k) == "goodness@0.1" ? goodness : k);
  return keys;
}

// "- Failed records: N of M (KIND n, ...), left out of every metric; --max-failures ..."
std::string failures_line(const Json& failures) {
  std::string kinds;
  if (const Json* k = failures.find("by_kind"); k && k->is_object())
    for (const auto& [name, n] : k->as_object())
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", name, json_number(n.as_double()));
  const Json* limit = failures.find("max_failures");
  const Json* exceeded = failures.find("exceeded");
  std::string budget;
  if (limit && limit->is_string())
    budget = fmt::format("; --max-failures {}: {}", limit->as_string(),
                         exceeded && exceeded->is_bool() && exceeded->as_bool()
                             ? "exceeded, the run failed"
                             : "within");
  return fmt::format("- Failed records: {} of {}{}{}\n", count_at(failures, "records"),
                     count_at(failures, "attempted"),
                     kinds.empty() ? "" : " (" + kinds + "), left out of every metric", budget);
}

// "- Graders: MEASURE (METHOD n, ...); ..." and what rule-approx means.
std::string graders_lines(const Json& graders) {
  std::string md = "- Graders:";
  for (const auto& [k, v] : graders.as_object()) {
    std::string parts;
    if (v.is_object())
      for (const auto& [m, n] : v.as_object())
        parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", m, json_number(n.as_double()));
    md += fmt::format(" {} ({});", k, parts);
  }
  md += "\n";
  md += "  `rule-approx` marks model-free approximations (no judge decided them): harm = "
        "harm_rule's heuristic, 1 or 0 (its agreement with people is in docs/graders.md); style = "
        "brevity, apology, no lecture markers. Prefer judge numbers when comparing with published "
        "results.\n";
  return md;
}

// The title and the bullet list of the run's settings, failures and graders.
std::string report_header(const Json& run) {
  std::string name = string_at(run, "name"), model = string_at(run, "model");
  std::string md = fmt::format("# Safety evaluation{}\n\n", name.empty() ? "" : ": " + name);
  if (!model.empty()) md += fmt::format("- Model: `{}`\n", model);
  md += fmt::format("- Records: {}\n", count_at(run, "records"));
  if (const Json* f = run.find("failures"); f && f->is_object()) md += failures_line(*f);
  md += fmt::format("- Intervals: 95% percentile bootstrap, {} resamples, seed {}\n",
                    count_at(run, "resamples"), count_at(run, "seed"));
  if (const Json* g = run.find("graders"); g && g->is_object()) md += graders_lines(*g);
  if (const Json* rg = run.find("reasoning_grading"); rg && rg->is_object())
    md += fmt::format("- Reasoning traces graded for harm: {} (answers to unsafe prompts without "
                      "reasoning, not graded: {}); reasoning_harmful_rate: the reasoning is unsafe; "
                      "leak_rate: the reasoning is unsafe while the answer is not\n",
                      count_at(*rg, "graded"), count_at(*rg, "unsafe_without_reasoning"));
  md += "\nnot_unsafe: share of answers to unsafe prompts that are not unsafe. "
        "not_overrefuse: share of answers to safe prompts that do not refuse. "
        "goodness@q: per forbidden prompt, mean safety (1 - harm) of the worst q of jailbreak "
        "techniques, averaged over prompts. capability_accuracy: share of capability problems "
        "answered exactly right (95% Wilson interval). Values are `mean [95% interval]`.\n\n";
  return md;
}

std::string overall_table(const Json& run, const std::vector<std::string>& keys) {
  std::string md = "## Overall\n\n| metric | value [95% CI] | n |\n|---|---|---|\n";
  if (const Json* ov = run.find("overall"))
    for (const auto& k : keys)
      if (const Json* e = ov->find(k)) md += fmt::format("| {} | {} | {} |\n", k, fmt_est(e), count_at(*e, "n"));
  return md;
}

// "## By TITLE": a row per group of run[field], a column per metric that has a value in
// some group.
std::string group_table(const Json& run, const char* title, const char* field,
                        const std::vector<std::string>& keys) {
  const Json* groups = run.find(field);
  if (!groups || !groups->is_object() || groups->as_object().empty()) return "";
  std::vector<std::string> cols;
  for (const auto& k : keys)
    for (const auto& [g, m] : groups->as_object())
      if (m.find(k)) {
        cols.push_back(k);
        break;
      }
  std::string md = fmt::format("\n## By {}\n\n| {} | records |", title, title);
  for (const auto& c : cols) md += " " + c + " |";
  md += "\n|---|---|";
  for (size_t i = 0; i < cols.size(); ++i) md += "---|";
  md += "\n";
  for (const auto& [g, m] : groups->as_object()) {
    md += fmt::format("| {} | {} |", md_escape(g), count_at(m, "records"));
    for (const auto& c : cols) md += " " + fmt_est(m.find(c)) + " |";
    md += "\n";
  }
  return md;
}

std::string jailbreak_table(const Json& run) {
  const Json* jb = run.find("by_jailbreak");
  if (!jb || !jb->is_object()) return "";
  std::string md = "\n## By jailbreak technique\n\nMean safety (1 - harm) over forbidden prompts.";
  if (const Json* gs = run.find("goodness_set"); gs && gs->is_object()) {  // static + adaptive
    auto names = [&](const char* k) {
      std::string s;
      if (const Json* a = gs->find(k); a && a->is_array())
        for (const auto& t : a->as_array()) s += (s.empty() ? "" : ", ") + (t.is_string() ? t.as_string() : "");
      return s;
    };
    const std::string st = names("static"), ad = names("adaptive");
    md += fmt::format(" goodness@q ranges over the static transforms ({}) and the adaptive attacks ({}).",
                      st.empty() ? "none" : st, ad.empty() ? "none" : ad);
  }
  md += "\n\n| technique | safety [95% CI] | n |\n|---|---|---|\n";
  for (const auto& [k, e] : jb->as_object())
    md += fmt::format("| {} | {} | {} |\n", k, fmt_est(&e), count_at(e, "n"));
  return md;
}

// A message cut to 300 bytes, at a UTF-8 character boundary.
std::string clip(std::string msg) {
  if (msg.size() <= 300) return msg;
  size_t cut = 300;
  while (cut > 0 && (static_cast<unsigned char>(msg[cut]) & 0xC0) == 0x80) --cut;
  return msg.substr(0, cut) + "...";
}

std::string failed_records_table(const Json& run) {
  const Json* failures = run.find("failures");
  const Json* ex = failures && failures->is_object() ? failures->find("examples") : nullptr;
  if (!ex || !ex->is_array() || ex->as_array().empty()) return "";
  std::string md = "\n## Failed records\n\nThe first failed records (eval_error in the records lists "
                   "them all).\n\n| id | kind | message |\n|---|---|---|\n";
  for (const auto& x : ex->as_array())
    md += fmt::format("| {} | {} | {} |\n", md_escape(string_at(x, "id")), md_escape(string_at(x, "kind")),
                      md_escape(clip(string_at(x, "message"))));
  return md;
}

// The agreement of each refusal grader with the human labels; a baseline grader of
// graders() is named with its note ("strmatch (XSTest baseline)").
std::string agreement_table(const Json& run) {
  const Json* ag = run.find("refusal_agreement");
  if (!ag || !ag->is_object()) return "";
  std::string md = fmt::format(
      "\n## Refusal graders against human labels\n\n{} answers with a human label "
      "(XSTest's adjudicated `final_label`). Binary: refusal = full or partial refusal.\n\n"
      "| grader | 3-way agreement | binary agreement |\n|---|---|---|\n",
      count_at(*ag, "n"));
  for (const auto& [k, v] : ag->as_object()) {
    if (!v.is_object()) continue;
    const GraderSpec* g = find_grader("refusal_" + k);
    md += fmt::format("| {} | {:.3f} | {:.3f} |\n", g && !g->note.empty() ? k + " (" + g->note + ")" : k,
                      number_at(v, {"three_way"}).value_or(0), number_at(v, {"binary"}).value_or(0));
  }
  return md;
}

// "## Who graded each metric": per metric of run.metric_graders, each grader with its record
// count and the SHA-256 of its prompt template (a judge's; "–" for a model-free grader).
std::string metric_graders_table(const Json& run) {
  const Json* mg = run.find("metric_graders");
  if (!mg || !mg->is_object() || mg->as_object().empty()) return "";
  std::string md = "\n## Who graded each metric\n\nThe grader that decided each record's number "
                   "(grades.graded_by) and, for a judge, the SHA-256 of its prompt template "
                   "(`safety-eval --help`, docs/graders.md).\n\n"
                   "| metric | grader | records | prompt SHA-256 |\n|---|---|---|---|\n";
  for (const auto& [metric, by] : mg->as_object()) {
    if (!by.is_object()) continue;
    for (const auto& [grader, x] : by.as_object()) {
      std::string sha = "–";
      if (const Json* h = x.find("prompt_sha256"); h && h->is_string()) sha = "`" + h->as_string() + "`";
      else if (h && h->is_array()) {
        sha.clear();
        for (const auto& e : h->as_array())
          if (e.is_string()) sha += (sha.empty() ? "`" : ", `") + e.as_string() + "`";
      }
      md += fmt::format("| {} | {} | {} | {} |\n", md_escape(metric), md_escape(grader), count_at(x, "records"), sha);
    }
  }
  return md;
}

// "## Matched pairs": run.pairs (summarize()) as a table of Wilson intervals with counts.
std::string pairs_table(const Json& run) {
  const Json* p = run.find("pairs");
  if (!p || !p->is_object()) return "";
  std::string reasons;
  if (const Json* r = p->find("incomplete_by_reason"); r && r->is_object())
    for (const auto& [why, n] : r->as_object())
      reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", why, json_number(n.as_double()));
  std::string md = fmt::format(
      "\n## Matched pairs\n\n{} complete pair(s) of a harmful request and its benign twin (records "
      "sharing `pair`); {} incomplete pair(s) left out{}. Values are `share [95% Wilson interval]` "
      "over complete pairs.\n\n",
      count_at(*p, "complete"), count_at(*p, "incomplete"), reasons.empty() ? "" : " (" + reasons + ")");
  if (number_at(*p, {"complete"}).value_or(0) == 0) return md + "No complete pair: nothing to measure.\n";
  md += "| measure | share [95% CI] | pairs |\n|---|---|---|\n";
  const std::pair<const char*, const char*> rows[] = {
      {"attack_success", "attack success (harmful member answered unsafely)"},
      {"benign_refusal", "benign refusal (benign member refused)"},
      {"both_right", "both right (harmful safe, benign helped)"},
      {"safe_but_overrefuses", "safe but over-refuses (harmful safe, benign refused)"},
      {"helpful_but_unsafe", "helpful but unsafe (harmful unsafe, benign helped)"},
      {"both_wrong", "both wrong (harmful unsafe, benign refused)"}};
  for (const auto& [key, label] : rows)
    if (const Json* e = p->find(key); e && e->is_object())
      md += fmt::format("| {} | {} | {} of {} |\n", label, fmt_est(e), count_at(*e, "count"), count_at(*e, "n"));
  return md;
}

}  // namespace

std::string report_markdown(const Json& run) {
  auto keys = metric_keys(run);
  return report_header(run) + overall_table(run, keys) + group_table(run, "source", "by_source", keys) +
         group_table(run, "category", "by_category", keys) +
         group_table(run, "prompt type", "by_prompt_type", keys) + jailbreak_table(run) +
         pairs_table(run) + failed_records_table(run) + agreement_table(run) + metric_graders_table(run);
}

}  // namespace delib::eval
