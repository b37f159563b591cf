// Stage 1 and 2 of deliberative alignment (Guan et al. 2024, sections 2.2-2.3): the prompt
// cot-gen gives the base model (spec view + instructions + conversation), and the spec-aware
// judge that scores (conversation, reasoning, answer) with k samples aggregated by their
// minimum; and the two tools themselves as library calls (run_cot_gen, run_cot_judge) on the
// keyed-job driver of delib/pipeline.h. Area: judge (core).
//
// The judge is a library so that rl-train can use it as its reward: Judge::judge() scores many
// items in one Backend::generate() call (k samples each, plus bounded re-asks for unparseable
// output), so the server or the local engine sees the whole batch at once.
#pragma once
#include <cstdint>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delib/backend.h"
#include "delib/chat.h"
#include "delib/failures.h"
#include "delib/pipeline.h"  // OrderedWriter, ResumeTarget, read_done_keys: moved there
#include "delib/records.h"
#include "delib/spec.h"

namespace delib {

// ---------------------------------------------------------------------------------------------
// Stage 1: the generation prompt (cot-gen).

// The built-in instructions (paper section 2.2: cite the relevant sections of the spec by id,
// ignore the irrelevant ones, decide between comply / safe-complete / refuse, and keep the
// analysis out of the final answer).
const std::string& default_generation_instructions();

// The messages sent to the generating model: one system message
//   instructions + "\n\n# Safety specification\n\n" + spec_view
// followed by the conversation unchanged (its own system message, if any, stays in place as
// the second message). The record's conversation must end with a user turn; that is the
// caller's check.
std::vector<Message> build_generation_messages(const std::string& spec_view,
                                               const std::string& instructions,
                                               const std::vector<Message>& conversation);

// ---------------------------------------------------------------------------------------------
// Stage 2: the judge (cot-judge, rl-train's reward).

// The judge's fixed scale: an integer or decimal score in [0, 10], higher is better.
inline constexpr double kJudgeScoreMin = 0;
inline constexpr double kJudgeScoreMax = 10;

enum class Aggregate { kMin, kMean, kMedian };
const char* aggregate_name(Aggregate a);                      // "min" | "mean" | "median"
std::optional<Aggregate> parse_aggregate(std::string_view s);
// min, arithmetic mean, or median (mean of the two middle values for an even count) of scores.
// The paper keeps the minimum of k judgements (any single run may overlook an issue).
// REQUIRES: !scores.empty().
double aggregate_scores(const std::vector<double>& scores, Aggregate how);
// The judgement whose score represents the aggregate: the first minimum for kMin, else the
// first score closest to the aggregate. Its action, hint agreement and rationale are the ones
// recorded. REQUIRES: !scores.empty().
size_t deciding_sample(const std::vector<double>& scores, Aggregate how);

// One response to judge.
struct JudgeItem {
  std::string category;             // spec category id (its view is shown to the judge)
  std::vector<Message> messages;    // the conversation the response answers
  std::string reasoning;            // the response's chain of thought (ignored when hidden)
  std::string answer;               // the response's final answer
  std::string hint;                 // e.g. an expected action from another system; "" = none
  std::string key;                  // stable identity (e.g. "id/sample"): seeds and nonces
};

// One parsed judgement.
struct JudgeVerdict {
  double score = 0;               // in [kJudgeScoreMin, kJudgeScoreMax]
  std::string action;             // the action the judge says the response took
  std::optional<bool> agrees;     // agreement with the hint (only when a hint was shown)
  std::string rationale;          // the judge's reasons: its text before the verdict marker
};

// The marker line that opens the judge's verdict: "VERDICT " + nonce.
std::string verdict_marker(std::string_view nonce);

// Parses a judge's output. Only what follows the LAST line equal to verdict_marker(nonce)
// (ignoring surrounding whitespace, '#', '*' and '`' decoration) is read, so text quoted from
// the content under judgement (which cannot contain the per-request nonce) cannot change the
// result. After the marker, the non-empty lines must be exactly "key: value" lines for
//   action: comply | safe-complete | refuse
//   hint:   agree | disagree            (required iff expect_hint)
//   score:  a number in [0, 10] (an optional "/10" is accepted)
// each once, in any order; lines after the last required key are ignored. Returns nullopt
// and sets *why (when given) on any deviation; never guesses a score.
std::optional<JudgeVerdict> parse_judge_output(std::string_view output, std::string_view nonce,
                                               bool expect_hint, std::string* why = nullptr);

// The built-in judging instructions (the rubric): category and level, action, style,
// helpfulness, and (unless hidden) whether the reasoning cites the right rules; the 0-10 scale
// with anchors.
const std::string& default_judge_rubric();

// The judge's messages: system = rubric + the category's spec view; user = the conversation,
// the reasoning (unless hide_reasoning) and the answer, each between
// "<<<BEGIN X nonce>>>" / "<<<END X nonce>>>" lines, the hint when non-empty, and the output
// format with verdict_marker(nonce). The format part is always added (a custom rubric replaces
// only the instructions). REQUIRES: nonce does not occur in any of the quoted texts (Judge
// picks a fresh nonce until that holds).
std::vector<Message> build_judge_messages(const std::string& spec_view, const JudgeItem& item,
                                          const std::string& rubric, bool hide_reasoning,
                                          std::string_view nonce);

struct JudgeOptions {
  int samples = 1;                    // k independent judgements per item. Default: 1
  Aggregate aggregate = Aggregate::kMin;
  bool hide_reasoning = false;        // answer only (the RL reward mode, paper section 2.4)
  int parse_retries = 2;              // re-asks of a judgement whose output did not parse
  std::string rubric;                 // "" = default_judge_rubric()
  SamplingParams params;              // the judge's sampling (max_tokens covers its reasons)
  uint64_t seed = 0;                  // judge sample j, attempt a of item key K uses
                                      // GenRequest{seed, key=K, sample=a*samples+j}
  // Where the quoting nonces come from. With a value (cot-judge and rl-train always give one:
  // --nonce-seed / --judge-nonce-seed, default their --seed), the nonce of judge sample j,
  // attempt a of item K is XXH3-64 of (nonce_seed, K, j, a, a counter, and a digest of every
  // text the item quotes): the same seed sends the same prompts (reproducible runs,
  // byte-identical resumes). Content cannot carry its own request's nonce even when its author
  // knows the seed: the nonce depends on the content itself (any edit that would add a
  // forged marker changes it), and a nonce that occurs in the quoted text is never used (the
  // counter moves on). This binds the nonce to the content; it is not a cryptographic MAC.
  // nullopt: drawn per request from std::random_device (library callers only; not
  // reproducible).
  std::optional<uint64_t> nonce_seed;
  // Hex digits per nonce, 2..16. Fewer digits are easier to guess and to copy: 16 for real
  // judges; a tiny model that cannot copy a long string from its context (the quickstart's
  // toy judge) needs 2. Default: 16
  int nonce_digits = 16;
  // When set, each judge request is sent as the text prompt render(messages) instead of as
  // chat messages (for --completions endpoints; e.g. a ChatTemplate with the generation prompt).
  std::function<std::string(const std::vector<Message>&)> render;
};

struct JudgeResult {
  std::vector<double> scores;          // every judgement that parsed, in sample order
  std::optional<double> score;         // the aggregate; absent when error is set
  std::string action;                  // from the deciding judgement
  std::optional<bool> agrees_with_hint;
  std::string rationale;
  std::string error;                   // non-empty: no score (backend failure, or output that
                                       // did not parse after parse_retries re-asks)
  bool backend_error = false;          // the error is the backend's (request failed after its
                                       // retries), not the judge's output
  int64_t prompt_tokens = 0, completion_tokens = 0;  // judge tokens spent on this item
  bool ok() const { return error.empty(); }
  // {"scores", "score", "action", "agrees_with_hint", "rationale", "judge_model",
  //  "spec_view_hash"} and "error" when set (score is then null).
  Json to_json(const std::string& judge_model, const std::string& spec_view_hash) const;
};

class Judge {
 public:
  // REQUIRES: spec and backend outlive the Judge. Throws Error(kExitUsage) for samples < 1
  // or parse_retries < 0.
  Judge(const Spec& spec, Backend& backend, JudgeOptions options);

  // Scores every item: items x samples requests in one Backend::generate() call, then one more
  // call per re-ask round for the judgements that did not parse. done(i, result) is called as
  // each item completes (any order, never concurrently). Items left unfinished because
  // interrupted() was set get error "interrupted" and no done() call.
  // Throws Error naming the category when an item's category is not in the spec.
  std::vector<JudgeResult> judge(
      const std::vector<JudgeItem>& items,
      const std::function<void(size_t, const JudgeResult&)>& done = {});
  JudgeResult judge_one(const JudgeItem& item);

  const JudgeOptions& options() const { return options_; }

 private:
  const Spec& spec_;
  Backend& backend_;
  JudgeOptions options_;
  uint64_t nonce_state_;
  // `digest`: content_digest(item), computed once per item.
  std::string next_nonce(const JudgeItem& item, const std::string& digest, int sample, int attempt);
};

// ---------------------------------------------------------------------------------------------
// The tools: cot-gen (stage 1) and cot-judge (stage 2) as library calls on the keyed-job driver
// (delib/pipeline.h). Their mains only register flags into these structs.

// The category of a record for the spec: its `category` field, which must name a spec
// category. Throws Error(record's location) naming the field, or the unknown id and the known ones.
std::string record_category(const Record& r, const Spec& spec);

// What cot-gen does (its man page says it in full).
struct CotGenOptions {
  std::vector<std::string> inputs;   // record files; empty or "-" = stdin
  // Input policy. on_error also decides what a failed request does (KeyedRunOptions::on_error);
  // rejects_path receives the lines that do not parse and the unusable records (kSkip).
  ReadOptions read;
  std::string output = "-";          // -o
  WriteOptions write;                // the output's format (resume_target sets flush_each); also the
                                     // rejects file's when the reader left it empty
  std::string resume;                // --resume FILE ("" = none): FILE is the output
  bool unordered = false;            // --unordered
  int chunk = 4096;                  // samples per backend call. REQUIRES: >= 1
  std::string spec_path;             // --spec (required)
  std::string instructions_path;     // --instructions FILE; "" = default_generation_instructions()
  int samples = 1;                   // K completions per record. REQUIRES: >= 1
  BackendOptions backend;            // the model (make_backend); its threads come from --threads
  SamplingParams sampling;
  uint64_t seed = 0;                 // GenRequest::seed of every sample
  bool progress = false;             // a progress line on stderr
  // --max-failures: under --on-error skip, the most failed samples (left out, retried by
  // --resume) the run may have and still return normally. Default 0: any failure fails it.
  FailureBudget max_failures;
};

struct CotGenResult {
  size_t written = 0;   // samples written
  size_t failed = 0;    // samples whose request failed (left out under --on-error skip)
  size_t skipped = 0;   // input records skipped (--on-error skip)
};

// Runs cot-gen: reads and validates every record first (category in the spec, a conversation
// that ends with a user turn; an id derived from the content when missing), then asks the
// backend for options.samples completions of each (id, sample) not already in the --resume
// file, in chunks, and writes one record per sample (input fields, reasoning, answer, sample,
// format_ok, provenance) in input order. Unusable records follow options.read.on_error (see
// read_records). Warns on stderr of skipped records and of samples left out.
// Throws Error(kExitBackend) when a request failed under --on-error fail (message: the first
// failure, "FILE:LINE: id X sample S: error", plus " (N failed)" when several did); the
// output is then a clean prefix. Under --on-error skip, throws Error(kExitBackend) after
// writing the rest when the failed samples exceed options.max_failures or every sample failed
// (unless interrupted). Throws Error for the spec, the instructions, the backend
// options, the output (as resume_target, make_backend and RecordWriter do) and, under
// --on-error fail, for the first unusable record. Returns normally when interrupted (the
// caller exits 130).
CotGenResult run_cot_gen(const CotGenOptions& options);

// --best-per-id N: the samples of one id to keep once all of them are judged. scores[m] is
// member m's aggregate score, members in input order (nullopt: judged, but no score). Keeps the
// N highest scores among those at least min_score (min_score < 0: no threshold); ties keep the
// earlier member; a member without a score is never kept. Returns keep[m], one per member.
// REQUIRES: n >= 1.
std::vector<bool> select_best_per_id(const std::vector<std::optional<double>>& scores, int n,
                                     double min_score);

// What cot-judge does (its man page says it in full).
struct CotJudgeOptions {
  std::vector<std::string> inputs;   // cot-gen records; empty or "-" = stdin
  // Input policy. on_error also decides what a failed judge request does
  // (KeyedRunOptions::on_error). rejects_path is not used: lines that do not parse are counted
  // and reported, not mixed with the filtered records (see `rejects`).
  ReadOptions read;
  std::string output = "-";          // -o
  WriteOptions write;                // the output's and the rejects' format (flush_each forced)
  std::string rejects;               // --rejects: records the filters left out ("" = none)
  std::string resume;                // --resume FILE ("" = none); `rejects` counts as done too
  bool unordered = false;            // --unordered
  int chunk = 2048;                  // records per Judge::judge() call. REQUIRES: >= 1
  std::string spec_path;             // --spec (required)
  std::string rubric_path;           // --rubric FILE: read into judge.rubric; "" = built-in
  JudgeOptions judge;                // samples, aggregate, retries, sampling, seeds, nonces
  BackendOptions backend;            // the judge model (make_backend)
  std::string hint_field;            // --hint-field: dotted path shown as a hint; "" = none
  double min_score = -1;             // --min-score; < 0 keeps all
  int best_per_id = 0;               // --best-per-id N; 0 = off
  bool drop_malformed = false;       // --drop-malformed: format_ok false -> rejects, unjudged
  FailureBudget max_failures;        // --max-failures (default 0: any failure fails the run)
  bool progress = false;             // a progress line on stderr
};

struct CotJudgeResult {
  size_t kept = 0;        // records written to the output
  size_t filtered = 0;    // judged records the filters left out (to --rejects)
  size_t dropped = 0;     // --drop-malformed records (to --rejects, not judged)
  size_t skipped = 0;     // input records skipped (--on-error skip)
  int64_t attempted = 0;  // records the judge was asked about in this run
  FailureCounts failures; // failed records by kind: "backend", "parse"
};

// Runs cot-judge: reads and validates every record first (category, answer; an id derived from
// the content when missing), leaves out the (id, sample) keys already in the --resume file and,
// when resuming, in --rejects (with --best-per-id: whole ids), judges the rest in chunks, and writes each
// record with its `judge` object, in input order, through the filters (--drop-malformed,
// --min-score, --best-per-id; what they leave out goes to --rejects). A parse failure is
// written with judge.error; a backend failure follows on_error (KeyedRunOptions). The failure
// counts are summed up on stderr (FailureCounts::summary) before anything is thrown.
// Throws Error(kExitBackend) when a request failed under --on-error fail (the first failure,
// "FILE:LINE: id X: error"), or, unless interrupted, when max_failures is exceeded or every
// judged record failed. Throws Error for the spec, the rubric, the backend options and the
// output, and under --on-error fail for the first unusable record. Returns normally when
// interrupted (the caller exits 130).
CotJudgeResult run_cot_judge(const CotJudgeOptions& options);

}  // namespace delib
