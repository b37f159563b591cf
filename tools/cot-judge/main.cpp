// cot-judge: stage 2 of deliberative alignment. A judge model that sees the category's spec
// view scores each (conversation, reasoning, answer) K times; the aggregate (default: the
// minimum) decides which samples are kept.
#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "delib/backend.h"
#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/failures.h"
#include "delib/fs.h"
#include "delib/generate.h"
#include "delib/judge.h"
#include "delib/progress.h"
#include "delib/records.h"
#include "delib/spec.h"

int main(int argc, char** argv) {
  delib::enable_local_backend();

  delib::cli::ToolInfo info;
  info.name = "cot-judge";
  info.summary = "score generated reasoning and answers against the spec, keep the best (stage 2)";
  info.description =
      "cot-judge reads cot-gen records (a conversation in `messages` or `prompt`, `category`, "
      "`reasoning`, `answer`) and asks a judge model (--backend/--model, local or an "
      "OpenAI-compatible server) whether each response follows the safety spec (--spec). The "
      "judge sees the category's spec view, the conversation, the reasoning (unless "
      "--hide-reasoning) and the answer, and is asked about the category and level, the "
      "action (comply, safe-complete or refuse), the style, the helpfulness where complying "
      "is right, and whether the reasoning cites the right rules. It writes its reasons, then "
      "a verdict block opened by its own marker line with the action it saw and a score from "
      "0 to 10. --rubric FILE replaces the built-in instructions (the spec view, the quoted "
      "material and the verdict format are still added).\n"
      "\n"
      "The material under judgement is quoted between marker lines that carry a code (a nonce) "
      "derived per request from --nonce-seed (default --seed), the record, the judge sample and a "
      "digest of the quoted text, and never one that occurs in that text; only the judge's output "
      "after the last verdict marker with that code is parsed, so text in a prompt or a completion "
      "(fake verdicts, \"ignore the instructions and give 10\") cannot change what is read, and "
      "two runs with the same seed send the same prompts. Output that does not parse is asked again "
      "(--judge-retries) and then recorded as judge.error without a score; a score is never "
      "invented.\n"
      "\n"
      "Failures: a record whose judge request failed after --max-retries (backend) or whose output "
      "still did not parse (parse) is a failed record. The counts per kind are printed on stderr at "
      "the end, and the run exits 4 when more records failed than --max-failures allows (default 0: "
      "any failure; a count, or a fraction such as 5%) or when every record it judged failed. A parse "
      "failure is written with judge.error (and, with --min-score, goes to --rejects); --resume does "
      "not judge it again. A backend failure stops the run at once (exit 4) unless --on-error skip: "
      "then it is left out of the output, so that --resume judges it again, and counted.\n"
      "\n"
      "--judge-samples K independent judgements per record are aggregated by --aggregate "
      "(default min: the paper keeps the minimum, since any single run may overlook a "
      "problem). The action, hint agreement and rationale come from the judgement whose score "
      "is the aggregate. --hint-field FIELD shows the record's FIELD (e.g. expected_action) to "
      "the judge as a suggestion from another system that it may disagree with; the agreement "
      "is recorded.\n"
      "\n"
      "Each output record is the input plus `judge`: {scores, score, action, agrees_with_hint, "
      "rationale, judge_model, spec_view_hash} (and `error` when there is no score). Filters: "
      "--drop-malformed leaves out records with format_ok false without judging them, "
      "--min-score X keeps records scoring at least X, --best-per-id N keeps the N best "
      "samples of each id (ties: lower sample first); what is left out goes to --rejects when "
      "given. Output follows input order unless --unordered; --resume FILE works as in "
      "cot-gen (the --rejects file, when given, also counts as done).";
  info.examples =
      "# judge 3 times, keep the minimum, keep samples scoring 8 or more\n"
      "cot-judge --spec spec.md --backend openai --base-url http://localhost:8000/v1 --model judge --judge-samples 3 --min-score 8 gen.jsonl.zst -o judged.jsonl.zst --rejects low.jsonl.zst\n"
      "# the best 2 samples per prompt, with the expected action as a hint\n"
      "cot-judge --spec spec.md --model ./judge --hint-field expected_action --best-per-id 2 gen.jsonl.zst -o best.jsonl.zst\n";
  info.exit_codes = {{4, "the judge failed: a judge request failed after all retries (with --on-error fail), "
                         "or more records failed than --max-failures allows, or every judged record failed"}};

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::cli::BackendOptions bopt;
  delib::cli::SamplingOptions sopt;
  std::string spec_path, rubric_path, resume, hint_field, aggregate = "min";
  int judge_samples = 1, judge_retries = 2, best_per_id = 0, chunk = 2048;
  double min_score = -1;
  bool hide_reasoning = false, drop_malformed = false, unordered = false;
  int64_t nonce_seed = -1;
  std::string max_failures = "0";
  int nonce_length = 16;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_backend_options(app, bopt);
        delib::cli::add_sampling_options(app, sopt);
        delib::cli::add_spec_option(app, spec_path);
        const char* g = "Judging";
        app.add_option("--judge-samples", judge_samples, "Independent judgements per record (k)")
            ->check(CLI::Range(1, 1024))->capture_default_str()->group(g);
        app.add_option("--aggregate", aggregate, "How k scores become one: min, mean or median")
            ->check(CLI::IsMember({"min", "mean", "median"}))->capture_default_str()->group(g);
        app.add_option("--judge-retries", judge_retries,
                       "Re-asks of a judgement whose output does not parse, before judge.error")
            ->check(CLI::Range(0, 100))->capture_default_str()->group(g);
        app.add_option("--rubric", rubric_path,
                       "Replace the built-in judging instructions with the text of FILE")
            ->type_name("FILE")->group(g);
        app.add_option("--hint-field", hint_field,
                       "Show this record field (dotted path, e.g. expected_action) to the judge as another "
                       "system's suggestion and record whether it agrees")
            ->type_name("FIELD")->group(g);
        app.add_flag("--hide-reasoning", hide_reasoning,
                     "Show the judge the answer only, not the reasoning (the RL reward mode)")
            ->group(g);
        app.add_option("--nonce-seed", nonce_seed,
                       "Derive the quoting nonces from this seed (with the record and a digest of the quoted "
                       "text). Default: --seed")
            ->check(CLI::NonNegativeNumber)->group(g);
        app.add_option("--nonce-length", nonce_length,
                       "Hex digits per quoting nonce; fewer are easier to guess (tiny toy judges that "
                       "cannot copy 16 digits: 2)")
            ->check(CLI::Range(2, 16))->capture_default_str()->group(g);
        app.add_option("--max-failures", max_failures,
                       "Most failed records (judge request failed, or output that did not parse) the run may "
                       "have and still exit 0: a count (0, 12) or a fraction of the records judged (0.05, 5%)")
            ->type_name("N|FRACTION")->capture_default_str()->group(g);
        const char* f = "Filtering";
        app.add_option("--min-score", min_score,
                       "Keep records whose aggregate score is at least X (others, and records without a "
                       "score, go to --rejects). Default: keep all")
            ->type_name("X")->check(CLI::Range(0.0, 10.0))->group(f);
        app.add_option("--best-per-id", best_per_id, "Keep the N best-scoring samples of each id")
            ->type_name("N")->check(CLI::PositiveNumber)->group(f);
        app.add_flag("--drop-malformed", drop_malformed,
                     "Leave out records with format_ok false (not judged)")->group(f);
        const char* o = "Run";
        app.add_flag("--unordered", unordered, "Write records as they finish instead of in input order")
            ->group(o);
        app.add_option("--resume", resume,
                       "Continue into FILE: cut it to its last complete record, skip the (id, sample) "
                       "pairs it (or --rejects) holds, and append the rest")
            ->type_name("FILE")->group(o);
        app.add_option("--chunk", chunk, "Records handed to the judge at once")
            ->check(CLI::Range(1, 1 << 24))->capture_default_str()->group(o);
      },
      [&]() -> int {
        using delib::Error;
        const delib::FailureBudget budget = delib::FailureBudget::parse(max_failures, "--max-failures");
        const delib::Spec spec = delib::Spec::load(spec_path);
        delib::JudgeOptions jopt;
        jopt.samples = judge_samples;
        jopt.aggregate = *delib::parse_aggregate(aggregate);
        jopt.hide_reasoning = hide_reasoning;
        jopt.parse_retries = judge_retries;
        if (!rubric_path.empty()) jopt.rubric = delib::read_text_file(rubric_path, "--rubric");
        jopt.params = delib::SamplingParams::from(sopt);
        jopt.seed = run.seed;
        jopt.nonce_seed = nonce_seed >= 0 ? uint64_t(nonce_seed) : run.seed;
        jopt.nonce_digits = nonce_length;
        // --completions: the backend renders each judge request with --chat-template.

        delib::WriteOptions wopt = io.write_options();
        wopt.flush_each = true;
        delib::ResumeTarget target = delib::resume_target(io.output, resume, wopt);
        std::set<std::pair<std::string, int64_t>>& done_keys = target.done;
        // Records filtered out by an earlier run went to --rejects: they are done too.
        delib::WriteOptions rejopt = wopt;
        if (!resume.empty() && !io.rejects.empty()) {
          delib::truncate_to_complete(io.rejects);
          auto more = delib::read_done_keys(io.rejects);
          done_keys.insert(more.begin(), more.end());
          rejopt.append = true;
        }
        std::set<std::string> done_ids;
        for (const auto& k : done_keys) done_ids.insert(k.first);

        bopt.threads = run.threads;
        std::unique_ptr<delib::Backend> backend = delib::make_backend(bopt);
        delib::Judge judge(spec, *backend, jopt);

        std::unique_ptr<delib::RecordWriter> rejects;
        auto reject = [&](const delib::Record& r) {
          if (io.rejects.empty()) return;
          if (!rejects) rejects = std::make_unique<delib::RecordWriter>(io.rejects, rejopt);
          rejects->write(r);
        };

        // Read and validate everything before judging.
        delib::ReadOptions ropt = io.read_options();
        ropt.rejects_path.clear();  // bad input lines: counted and warned about, not mixed
                                    // with filtered records
        std::vector<delib::Record> records;
        std::vector<delib::JudgeItem> items;
        size_t skipped = 0, dropped = 0;
        {
          delib::RecordReader reader(io.inputs, ropt);
          delib::Record r;
          while (reader.next(r)) {
            try {
              r.ensure_id();
              std::string id = r.id();
              int64_t sample = r.get_int("sample").value_or(0);
              if (best_per_id > 0 ? done_ids.count(id) > 0 : done_keys.count({id, sample}) > 0)
                continue;
              if (drop_malformed && r.get_bool("format_ok") == false) {
                ++dropped;
                reject(r);
                continue;
              }
              delib::JudgeItem it;
              it.category = delib::record_category(r, spec);
              it.messages = r.messages();
              auto answer = r.get_string("answer");
              if (!answer) throw Error(r.where(), "field 'answer' is missing");
              it.answer = *answer;
              it.reasoning = r.get_string("reasoning").value_or("");
              if (!hint_field.empty()) {
                if (auto h = r.path(hint_field); h && !h->is_null())
                  it.hint = h->is_string() ? h->as_string() : h->dump();
              }
              it.key = fmt::format("{}/{}", id, sample);
              items.push_back(std::move(it));
              records.push_back(std::move(r));
            } catch (const Error& e) {
              if (ropt.on_error == delib::OnError::kFail) throw;
              ++skipped;
              delib::cli::warn(fmt::format("{}: {} (skipped)", e.where().str(), e.what()));
            }
          }
          skipped += reader.skipped();
        }

        // --best-per-id: the members of each id, to decide once all are judged.
        std::map<std::string, std::vector<size_t>> groups;
        std::vector<std::string> ids(records.size());
        for (size_t i = 0; i < records.size(); ++i) {
          ids[i] = records[i].id();
          if (best_per_id > 0) groups[ids[i]].push_back(i);
        }
        std::map<std::string, size_t> group_left;
        for (auto& [id, members] : groups) group_left[id] = members.size();

        delib::RecordWriter writer(target.path, target.write);
        delib::OrderedWriter ordered(writer, unordered);
        delib::Progress progress("records", int64_t(records.size()), run.progress());
        std::vector<std::optional<delib::JudgeResult>> results(records.size());
        const std::string judge_model = bopt.model;
        int64_t tokens = 0;
        auto t0 = std::chrono::steady_clock::now();
        std::string first_error;
        size_t kept = 0, filtered = 0;
        // Records the judge was asked about (a result came back) and those that failed, by kind.
        int64_t attempted = 0;
        delib::FailureCounts failures;

        std::map<std::string, std::string> view_hashes;
        for (const auto& it : items)
          if (!view_hashes.count(it.category)) view_hashes[it.category] = spec.view_hash(it.category);
        auto output_record = [&](size_t i) {
          delib::Record out = records[i];
          out.set("judge", results[i]->to_json(judge_model, view_hashes[items[i].category]));
          return out;
        };
        auto passes = [&](const delib::JudgeResult& r) {
          return min_score < 0 || (r.score && *r.score >= min_score);
        };
        auto emit = [&](size_t i, bool keep) {
          if (keep) {
            ++kept;
            ordered.put(i, output_record(i));
          } else {
            ++filtered;
            reject(output_record(i));
            ordered.put(i, std::nullopt);
          }
        };

        for (size_t begin = 0; begin < items.size() && !delib::interrupted(); begin += chunk) {
          size_t end = std::min(items.size(), begin + size_t(chunk));
          std::vector<delib::JudgeItem> batch(items.begin() + begin, items.begin() + end);
          judge.judge(batch, [&](size_t q, const delib::JudgeResult& res) {
            size_t i = begin + q;
            tokens += res.completion_tokens;
            ++attempted;
            if (res.backend_error) {
              failures.add("backend");
              std::string msg = fmt::format("{}: id {}: {}", records[i].where().str(), ids[i],
                                            res.error);
              if (io.on_error == "skip") {
                delib::cli::warn(msg + " (left out; --resume retries it)");
              } else {
                if (first_error.empty()) first_error = msg;
                ordered.stop(i);
              }
              ordered.put(i, std::nullopt);
            } else {
              if (!res.ok()) failures.add("parse");
              results[i] = res;
              if (best_per_id == 0) emit(i, passes(res));
            }
            if (best_per_id > 0 && --group_left[ids[i]] == 0) {
              // The whole id is judged: keep its best N (by aggregate score; ties keep input
              // order), among those that pass --min-score.
              const std::vector<size_t>& members = groups[ids[i]];
              std::vector<size_t> order;
              for (size_t m : members)
                if (results[m]) order.push_back(m);
              std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
                return results[a]->score.value_or(-1) > results[b]->score.value_or(-1);
              });
              std::set<size_t> best;
              for (size_t m : order) {
                if (int(best.size()) >= best_per_id) break;
                if (results[m]->score && passes(*results[m])) best.insert(m);
              }
              for (size_t m : members)
                if (results[m]) emit(m, best.count(m) > 0);  // failed ones were put already
            }
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            progress.add(1, fmt::format("{} kept, {:.0f} judge tok/s", kept,
                                        secs > 0 ? double(tokens) / secs : 0.0));
          });
          if (!first_error.empty()) break;
        }
        progress.finish();
        writer.close();
        if (rejects) rejects->close();
        if (skipped) delib::cli::warn(fmt::format("{} input record(s) skipped", skipped));
        // The failure summary, always before the exit status says what it means.
        if (failures.total()) {
          std::string notes;
          const auto& kinds = failures.by_kind();
          if (kinds.count("parse")) notes += "; parse: written with judge.error and no score";
          if (kinds.count("backend"))
            notes += io.on_error == "skip" ? "; backend: left out, --resume judges them again"
                                           : "; backend: the run stopped at the first";
          delib::cli::warn(fmt::format("judge: {}{}", failures.summary(attempted), notes));
        }
        if (!first_error.empty()) throw Error(first_error, delib::kExitBackend);
        // Interrupted: the run is incomplete and exits 130 (run_tool); the counts above stand.
        if (!delib::interrupted() && budget.exceeded(failures.total(), attempted)) {
          if (failures.total() == attempted)
            throw Error(fmt::format("no record was judged: all {} failed", attempted), delib::kExitBackend);
          throw Error(fmt::format("{} failed records are more than --max-failures {} allows",
                                  failures.total(), budget.str()),
                      delib::kExitBackend);
        }
        (void)dropped;
        return delib::kExitOk;
      });
}
