// Stage 1 and 2 of deliberative alignment (Guan et al. 2024, sections 2.2-2.3): the prompt
// cot-gen gives the base model (spec view + instructions + conversation), and the spec-aware
// judge that scores (conversation, reasoning, answer) with k samples aggregated by their
// minimum. Also the small pieces cot-gen and cot-judge share (resume sets). Area: judge (core).
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
// Shared by cot-gen and cot-judge.

// (id, sample) pairs present in earlier output, for --resume. A record counts when it parses
// and has an `id`; its `sample` field (absent = 0) is the sample. Reads plain or zstd files
// after truncate_to_complete() has cut a torn last record. A missing file is an empty set.
std::set<std::pair<std::string, int64_t>> read_done_keys(const std::string& path);

// The compression of an existing non-empty file (zstd when it starts with the zstd magic,
// else plain); nullopt when the file is missing or empty. --resume appends in the file's own
// format whatever its name.
std::optional<Compression> existing_compression(const std::string& path);

// Where a tool that writes one record per (id, sample) writes, given -o OUTPUT and --resume
// FILE ("" = none). With FILE: cuts it back to its last complete record, collects its (id,
// sample) pairs into `done`, and appends in its own format. Throws Error(kExitUsage) when -o
// names a file other than FILE.
struct ResumeTarget {
  std::string path;
  WriteOptions write;
  std::set<std::pair<std::string, int64_t>> done;
};
ResumeTarget resume_target(const std::string& output, const std::string& resume, WriteOptions write);

// The category of a record for the spec: its `category` field, which must name a spec
// category. Throws Error(record's location) naming the field, or the unknown id and the known ones.
std::string record_category(const Record& r, const Spec& spec);

// Writes results that finish in any order either in sequence order (default: the output is
// then always a prefix of the full output, which is what makes --resume byte-exact) or as they
// come (unordered). Sequence numbers are 0, 1, 2, ... with no gaps; each is put() once.
class OrderedWriter {
 public:
  // REQUIRES: writer outlives this.
  OrderedWriter(RecordWriter& writer, bool unordered) : writer_(writer), unordered_(unordered) {}
  // Hands over the result for `seq`: a record to write, or nullopt when nothing is written
  // for it (a skipped sample). Writes every result that is now next in order.
  void put(size_t seq, std::optional<Record> record);
  // After stop(seq): nothing at or after seq is written (ordered mode), so a failure leaves a
  // clean prefix behind. Unordered mode writes what has finished regardless.
  void stop(size_t seq);
  size_t written() const { return written_; }
  size_t pending() const { return pending_.size(); }

 private:
  RecordWriter& writer_;
  bool unordered_;
  size_t next_ = 0, written_ = 0, stop_ = SIZE_MAX;
  std::map<size_t, std::optional<Record>> pending_;
  void drain();
};

}  // namespace delib
