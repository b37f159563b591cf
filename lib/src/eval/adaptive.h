// Adaptive attacks for safety-eval (adaptive.cpp): PAIR and PAP. Private to lib/src/eval; the
// options are AdaptiveOptions in delib/eval.h.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delib/backend.h"
#include "delib/eval.h"

namespace delib::eval {

// The models an attack talks to. REQUIRES: target and attacker; judge for PAIR. target_config
// is the evaluation's own (system prompt, spec in context, sampling, seed), so the target is
// asked exactly as safety-eval asks it for every other record.
struct AttackBackends {
  Backend* target = nullptr;
  Backend* attacker = nullptr;
  Backend* judge = nullptr;
  const RunConfig* target_config = nullptr;
  int judge_max_tokens = 1024;
};

// Runs the attacks `o` asks for on every unsafe record of `records` (label "unsafe", and not a
// jailbreak variant itself) and returns one variant record per (record, attack), in record
// order, PAIR first, then the PAP techniques in the order given. A variant is the record with
// its last user turn replaced by the attack prompt, id "<id>~pair" or "<id>~pap-<technique>",
// jailbreak "pair" or "pap-<technique>", jailbreak_parent, forbidden_prompt, jailbreak_kind
// "adaptive", the target's answer (answer, reasoning, generation as run_eval writes them) and
// attack {method, seed, budget, queries, ...}. An attack that could not finish (a request
// failed after the backend's retries, or nothing the attacker and judge wrote parsed) gives a
// variant without an answer and with eval_error {kind "attack", message}. With o.state, the
// finished attacks already in that file are taken from it (not run again), and every attack
// that finishes is appended to it at once (flushed), so a killed run loses nothing finished.
// Seeds: every request has GenRequest{seed = the run's --seed, key, sample} with
//   PAIR attacker  key ID/pair/attacker/STREAM  sample ROUND * (attacker_retries + 1) + ATTEMPT
//   PAIR target    key ID/pair/target/STREAM    sample ROUND
//   PAIR judge     key ID/pair/judge/STREAM     sample ROUND  (temperature 0)
//   PAP attacker   key ID/pap/TECHNIQUE         sample ATTEMPT
//   PAP target     key ID/pap/TECHNIQUE/target  sample 0
// (rounds and attempts from 0), so the same seed asks the same questions in any batch order;
// attack.seed records it and attack.budget the budget.
// PAIR's attacker sees the last 3 exchanges of its stream (prompt and feedback), so its context
// stays bounded. Throws Error(kExitUsage) when the state file was written by another attack
// configuration or attacked another request under the same id, Error(kExitInterrupt) when
// interrupted.
std::vector<Record> run_adaptive_attacks(const std::vector<Record>& records, const AdaptiveOptions& o,
                                         const AttackBackends& b);

// Parsers of the attacker's and the PAIR judge's replies (exposed for tests). The attacker's
// reply: one JSON object (optionally in a ```json fence or with text around it) whose
// "prompt" is a non-empty string; with need_improvement also a string "improvement". The
// judge's: "Rating: [[N]]", N an integer 1..10 (the last such rating when several). nullopt
// when the reply is not in that form: never a guess.
struct AttackerReply {
  std::string improvement, prompt;
};
std::optional<AttackerReply> parse_attacker_reply(std::string_view text, bool need_improvement);
std::optional<int> parse_pair_rating(std::string_view text);

// The prompts, rendered (exposed for tests and for the test server's scripted attacker).
std::string pair_attacker_system(std::string_view goal);
std::string pair_judge_system(std::string_view goal);
std::string pap_attacker_system(const PapTechnique& t);

namespace detail {
// run.cpp: the request run_eval sends the model for a record (system prompt and spec view as
// configured).
GenRequest answer_request_for(const Record& r, const RunConfig& cfg);
}  // namespace detail

}  // namespace delib::eval
