// Reinforcement learning with the spec-aware judge as reward (area: rl, in delib_torch).
//
// Stage 4 of deliberative alignment (Guan et al. 2024, section 2.4): on safety prompts the
// judge, which sees the spec, rewards the policy's ANSWERS; the chain of thought is hidden from
// it so the policy is not pushed towards a deceptive CoT. The policy starts from the SFT model
// and is kept close to it by a KL penalty. rl-train is a thin main over run_rl().
//
// The algorithm is GRPO (Shao et al. 2024, "DeepSeekMath", arXiv:2402.03300, eq. 3):
//   for each prompt q, sample G completions o_1..o_G from the current policy;
//   rewards r_i; group-normalised advantages  A_i = (r_i - mean(r)) / (std(r) + eps)  (sec. 4.1.2)
//   J = mean_i 1/|o_i| sum_t [ min(rho_it A_i, clip(rho_it, 1-e, 1+e) A_i) - beta KL_it ]
//   rho_it = pi(o_it | q, o_i<t) / pi_old(o_it | ...)     (PPO clip, Schulman et al. 2017, eq. 7)
//   KL_it  = exp(ref - new) - (ref - new) - 1           (the "k3" estimator, Schulman 2020,
//            "Approximating KL Divergence"; GRPO eq. 4): unbiased for KL(pi || pi_ref), >= 0.
// delib's change for rewards that could not be computed (a judge call that failed or did not
// parse): such a completion is treated as if it had not been sampled. With J the completions of
// a group that have a reward (|J| = n),
//   A_i = (r_i - mean_J(r)) / (std_J(r) + eps)   for i in J when n >= 2   (population std over J)
//   A_i = 0                                      for i in J when n < 2    (nothing to compare)
// and a completion outside J has no advantage, no surrogate, no KL term and is not counted in
// the mean over sequences of eq. 3 (it is not in the update batch at all). A step in which no
// completion has a reward stops the run (exit 4): there is nothing to learn from, and training
// on the other components alone (e.g. the format reward during a judge outage) is not what was
// asked for.
//
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "delib/backend.h"
#include "delib/failures.h"
#include "delib/judge.h"
#include "delib/records.h"
#include "delib/train.h"

namespace delib::rl {

// ---------------------------------------------------------------------------------------------
// Rewards

// One completion to reward.
struct RewardInput {
  std::string key;                // "id/sample" (stable)
  std::string category;
  std::vector<Message> messages;  // the prompt conversation
  std::string reasoning;          // the chain of thought: NEVER shown to the judge reward
  std::string answer;
  bool format_ok = false;
  int64_t tokens = 0;             // the completion's length in policy tokens (reasoning + answer)
  // What the prompt record says should be done: its expected_action, else "refuse" for label
  // "unsafe" and "comply" for any other label (delib::eval::expected_action); "" when the record
  // has neither field (unlabelled). "comply" = a benign prompt.
  std::string expected_action;
};

// One source's outcome for one input: a value, or why there is none.
struct RewardValue {
  std::optional<double> value;  // absent: the source could not score the input
  std::string error;            // why not (e.g. JudgeResult::error); "" when value is set
  std::string error_kind;       // "backend" (the request failed after its retries) or "parse"
                                // (the output did not parse after its re-asks); counted per kind
  std::string action;           // the judge: the action it says the answer took (comply,
                                // safe-complete, refuse); "" for other sources
};

// A reward source scores completions (higher is better).
class RewardSource {
 public:
  virtual ~RewardSource() = default;
  virtual std::string name() const = 0;  // its row's name in reward_kinds() (see below)
  // One value per input. A source that can fail returns a placeholder for a failed input
  // (see evaluate()).
  virtual std::vector<double> score(const std::vector<RewardInput>& inputs) = 0;
  // One outcome per input, failures included: what run_rl uses. The default wraps score()
  // (for sources that cannot fail: format, rule).
  virtual std::vector<RewardValue> evaluate(const std::vector<RewardInput>& inputs);
};

// 0 for a well-formed completion, -penalty for one that could not be split into reasoning and
// answer or was truncated.
std::unique_ptr<RewardSource> make_format_reward(double penalty = 1.0);

// Rules "REGEX=VALUE" (PCRE2, matched on the answer): the reward is the sum of the values of
// the rules that match (0 when none). Throws Error(kExitUsage) on a malformed rule.
std::unique_ptr<RewardSource> make_rule_reward(const std::vector<std::string>& rules);

// The spec-aware judge in hide-reasoning mode (options.hide_reasoning is forced on): score/10
// in [0, 1]. A judgement that failed (judge.error) has no value in evaluate() (error and
// error_kind set); score() gives it `on_error` (default 0), a placeholder, never a reward.
// REQUIRES: spec and backend outlive the source.
std::unique_ptr<RewardSource> make_judge_reward(const Spec& spec, Backend& backend,
                                                JudgeOptions options, double on_error = 0.0);

// -max(0, tokens - target) / target: 0 up to `target` tokens, then -1 per `target` tokens more
// (a completion of 2 x target tokens gets -1). REQUIRES: target >= 1 (else Error(kExitUsage)).
// The example of docs/adding-a-reward.md.
std::unique_ptr<RewardSource> make_length_reward(int64_t target);

// DAPO's overlong reward shaping (Yu et al. 2025, arXiv:2503.14476, eq. 13), L_max = max_length
// (the generation budget, --max-tokens), L_cache = buffer, |y| = tokens:
//   0                                 for |y| <= L_max - L_cache
//   ((L_max - L_cache) - |y|) / L_cache   for L_max - L_cache < |y| <= L_max
//   -1                                for |y| > L_max
// REQUIRES: 1 <= buffer <= max_length (else Error(kExitUsage) naming --overlong-buffer).
std::unique_ptr<RewardSource> make_overlong_reward(int64_t buffer, int64_t max_length);

// Over-refusal: -1 for a completion of a benign prompt (expected_action "comply") whose answer
// safety-eval's model-free rule grader (delib::eval::rule_refusal) calls a full or partial
// refusal; 0 otherwise (any other prompt, or an answer that complies). Scale it with
// --reward-weight over-refusal=W. An unlabelled input (expected_action "") is a usage error:
// run_rl checks every prompt up front, naming the record.
std::unique_ptr<RewardSource> make_over_refusal_reward();

// The built-in rubric of the helpfulness judge (JudgeOptions::rubric of make_helpful_reward).
const std::string& default_helpful_rubric();

// Helpfulness by a judge: the Judge of delib/judge.h in hide-reasoning mode with a helpfulness
// rubric (options.rubric, "" = default_helpful_rubric()), score/10 in [0, 1], on completions of
// benign prompts (expected_action "comply"). Every other completion gets 0 without a judge call:
// the spec says not to comply there, so there is no helpfulness to reward, and a constant
// within a prompt's group changes no advantage (0, not a missing value, so the completion is
// not left out of its group). A judgement that failed has no value (error, error_kind), as the
// judge reward. REQUIRES: spec and backend outlive the source.
std::unique_ptr<RewardSource> make_helpful_reward(const Spec& spec, Backend& backend, JudgeOptions options);

// The helpful reward from a reward model served over HTTP, vLLM's Score API (POST `url`, e.g.
// http://host:8000/score; cross-encoder or sequence-classification models, whose score vLLM
// gives in [0, 1]): one request per completion of a benign prompt, body {"model":
// options.model, "text_1": the last user message, "text_2": the answer}; the answer's
// data[0].score (a number, or a one-number array as older vLLM versions write it) is the
// value. Not in [0, 1] or missing: no value (error_kind "parse"); the request failed after
// options.max_retries: no value (error_kind "backend"). Other prompts: 0 without a request, as
// make_helpful_reward. Requests are sent one at a time.
std::unique_ptr<RewardSource> make_score_reward(const BackendOptions& options, std::string url);

// The helpful reward from a sequence reward model served by vLLM's Pooling API (POST `url`, e.g.
// http://host:8000/pooling, `vllm serve Skywork/Skywork-Reward-V2-Qwen3-0.6B --runner pooling`;
// docs.vllm.ai "Pooling Models" and the example examples/pooling/reward/sequence_reward_online.py;
// request and answer as vllm/entrypoints/pooling/pooling/protocol.py PoolingChatRequest and
// PoolingResponse). One request per completion of a benign prompt:
//   request:  {"model": options.model, "messages": the prompt's messages followed by
//             {"role": "assistant", "content": the answer}} (the answer only, never the
//             reasoning, as the judge)
//   answer:   {"data": [{"index": 0, "object": "pooling", "data": [S]}], ...}: data[0].data
//             one finite number (a bare number is accepted too); S, the reward model's score
//             as vLLM returns it (unbounded for a Bradley-Terry model), is the value
// An answer of any other form (no data[0].data, several numbers, per-token rewards [[...]],
// not finite, not JSON) is a failed request, sent again up to options.max_retries times (as
// an HTTP failure is, inside post_json) and then a failure (error_kind "backend"): never a
// guessed score. Other prompts: 0 without a request. Requests are sent one at a time.
std::unique_ptr<RewardSource> make_pooling_reward(const BackendOptions& options, std::string url);

// ---------------------------------------------------------------------------------------------
// The math (tested on hand-computed values)

// rewards (P, G) -> advantages (P, G): (r - mean_g r) / (std_g r + eps), with the population
// standard deviation; a group whose rewards are all equal gets 0 advantages.
torch::Tensor group_advantages(const torch::Tensor& rewards, double eps = 1e-4);

// The same over the members of each group that have a reward: rewards (P, G), rewarded (P, G)
// bool -> advantages (P, G). Mean and population std over the rewarded members J of each row;
// 0 for members outside J, and for every member of a row with fewer than 2 rewarded members
// (the equations at the top of this file). rewards outside J are ignored (may be NaN). With
// every member rewarded, the result equals group_advantages(rewards, eps) exactly.
// divide_by_std false: Dr. GRPO's advantage A = r - mean_J(r) (no std, no eps) on J when
// n >= 2, 0 elsewhere.
torch::Tensor group_advantages(const torch::Tensor& rewards, const torch::Tensor& rewarded,
                               double eps = 1e-4, bool divide_by_std = true);

// The k3 estimator of KL(pi || pi_ref) per token from log-probs of the sampled tokens:
// exp(ref - logp) - (ref - logp) - 1.
torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& ref_logp);

struct GrpoLossParts {
  torch::Tensor loss;       // scalar to minimise: -J
  double policy = 0;        // mean clipped surrogate (positive = improving)
  double kl = 0;            // mean KL over tokens
  double clip_fraction = 0; // share of tokens where the clip was active
};

// GRPO loss over N completion tokens of S sequences. logp (N,) requires grad; old_logp and
// ref_logp (N,) constants (ref may be undefined when kl_coef == 0); adv (N,) the advantage of
// each token's sequence; seq (N,) int64 the sequence index of each token (0..S-1). Each
// sequence's tokens are averaged, then sequences are averaged (GRPO eq. 3).
GrpoLossParts grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                        const torch::Tensor& ref_logp, const torch::Tensor& adv,
                        const torch::Tensor& seq, int64_t num_sequences, double clip_eps,
                        double kl_coef);

// The objectives of rl-train --loss (lib/src/rl/objectives.cpp, each paper's equation cited next
// to its code; rho = exp(logp - old_logp), clip to [1 - clip_low, 1 + clip_high]):
//   grpo     GRPO eq. 3 (above): 1/S sum_i 1/|o_i| sum_t [min(rho A, clip(rho) A) - beta KL_it]
//   dr-grpo  Dr. GRPO (Liu et al. 2025, arXiv:2503.20783): 1/(S L) sum_i sum_t [same], L the
//            generation budget (--max-tokens), with A = r - mean(r) (group_advantages with
//            divide_by_std = false)
//   dapo     DAPO (Yu et al. 2025, arXiv:2503.14476): 1/(sum_i |o_i|) sum_i sum_t [same]
//            (token-level), clip-higher (clip_high > clip_low); its overlong shaping is the
//            "overlong" reward and its dynamic sampling RlOptions::drop_uniform_groups
//   gspo     GSPO (Zheng et al. 2025, arXiv:2507.18071): 1/S sum_i [min(s_i A_i, clip(s_i) A_i)
//            - beta 1/|o_i| sum_t KL_it], s_i = exp(1/|o_i| sum_t (logp - old_logp)) per sequence
// The KL term is the k3 estimator to the reference model in every variant (the DAPO and GSPO
// papers use beta = 0: pass kl_coef 0 to follow them).
enum class Loss { kGrpo, kDrGrpo, kDapo, kGspo };
const std::vector<std::string>& loss_names();  // "grpo", "dr-grpo", "dapo", "gspo"
const char* loss_name(Loss loss);
std::optional<Loss> parse_loss(std::string_view name);
// Each loss's default clip range (low, high): grpo and dr-grpo (clip_eps, clip_eps); dapo (0.2,
// 0.28) (DAPO sec. 3.1); gspo (3e-4, 4e-4) (GSPO sec. 5.1).
std::pair<double, double> default_clip(Loss loss, double clip_eps);

struct LossConfig {
  Loss kind = Loss::kGrpo;
  double clip_low = 0.2, clip_high = 0.2;
  double kl_coef = 0.0;
  int64_t max_length = 0;  // dr-grpo's constant L (the generation budget); REQUIRES >= 1 for it
  // The normalisers of dr-grpo (sequences S) and dapo (tokens): 0 = this call's count. With
  // several processes whose gradients are averaged, run_rl passes (all processes' count) /
  // (number of processes), so that the average is the objective over the global batch.
  double sequences = 0, tokens = 0;
};

// The loss's inputs over N completion tokens of S sequences: logp (N,) requires grad; old_logp,
// ref_logp (N,) constants (ref_logp may be undefined when kl_coef == 0); adv (N,) the advantage
// of each token's sequence; seq (N,) int64, the sequence (0..S-1) of each token.
// is_weight (N,): an optional per-token importance weight, a constant (e.g. truncated
// importance sampling, min(pi_train / pi_rollout, C)); it multiplies each token's
// policy-gradient term min(rho A, clip(rho) A) (gspo: the sequence's term, by the mean of its
// tokens' weights), never the KL term. Undefined = 1 everywhere (the result is then bit for bit
// the one without it).
struct LossInputs {
  torch::Tensor logp, old_logp, ref_logp, adv, seq;
  int64_t num_sequences = 0;
  torch::Tensor is_weight;
};

// The loss (-J) of config.kind. policy: the mean policy-gradient term (per token; gspo: per
// sequence), kl: the mean k3 over tokens, clip_fraction: the share of tokens (gspo: sequences)
// whose clip was active. grpo_loss(...) == policy_loss with kind grpo and clip_low = clip_high.
GrpoLossParts policy_loss(const LossInputs& inputs, const LossConfig& config);

// Truncated importance sampling (TIS) for rollouts sampled by another engine (a vLLM or SGLang
// server): its per-token log-probs differ from the trainer's even for the same weights (other
// kernels, precision) and, with --sync-every > 1 or --async, the weights may be older. Following
// Yao et al. 2025, "Your Efficient RL Framework Secretly Brings You Off-Policy RL Training"
// (fengyao.notion.site/off-policy-rl; verl's `tis_imp_ratio_cap`), the policy-gradient term of
// token t is weighted by
//   w_t = min(exp(trainer_logp_t - rollout_logp_t), cap)
// where trainer_logp is the trainer's log-prob of the sampled token under the weights the
// update starts from (GRPO's pi_old) and rollout_logp the server's. trainer_logp, rollout_logp
// (N,) float; cap > 0. Returns the weights (N,) (constants, trainer_logp's dtype and device) and
// over the N tokens: the mean and max of |trainer_logp - rollout_logp| and the share of tokens
// whose ratio exceeded cap (all 0 when N = 0). run_rl passes the weights as policy_loss's
// is_weight (the KL term is not weighted, as in verl).
// DAPO's overlong filtering (Yu et al. 2025, arXiv:2503.14476, sec. 3.4, "Overlong Filtering":
// "an overlong filtering strategy which masks the loss of truncated samples"): per completion,
// true when it was cut by the generation budget (finish_reason "length"). run_rl
// (RlOptions::overlong_filter) keeps such a completion in its group (its reward is part of the
// others' baseline: advantages are computed as before) and leaves its tokens out of J: the
// objective is the one of the remaining sequences, e.g. for dapo
//   J = 1/(sum_{i not masked} |o_i|) sum_{i not masked} sum_t min(rho A_i, clip(rho) A_i)
// (the masked tokens leave the sum and the normaliser; the other losses likewise lose the
// sequence from their sums and counts). It is the hard counterpart of the overlong reward's
// soft punishment (eq. 13), and can be used with it.
std::vector<bool> overlong_mask(const std::vector<GenResult>& completions);

struct TisWeights {
  torch::Tensor weight;            // (N,)
  double diff_mean = 0, diff_max = 0;
  double clipped_fraction = 0;
};
TisWeights tis_weights(const torch::Tensor& trainer_logp, const torch::Tensor& rollout_logp, double cap);

// ---------------------------------------------------------------------------------------------
// The run

struct RlOptions {
  std::vector<std::string> inputs;     // prompt records (messages | prompt, category)
  ReadOptions read;
  std::string model_dir;               // the starting policy (the SFT model)
  std::string out_dir, resume;
  std::string rollouts = "-";          // rollout records
  WriteOptions rollouts_write;
  std::string metrics;                 // per-step records ("" = none); appended on resume
  WriteOptions metrics_write;
  std::string device = "cpu";
  int64_t prompts_per_step = 4;        // P prompts per step (per process)
  int group_size = 4;                  // G completions per prompt
  int64_t steps = 100;
  int ppo_epochs = 1;                  // optimisation passes over each batch of rollouts
  double clip_eps = 0.2;
  Loss loss = Loss::kGrpo;             // the objective (policy_loss)
  // The clip range [1 - low, 1 + high]; nullopt = default_clip(loss, clip_eps).
  std::optional<double> clip_eps_low, clip_eps_high;
  int64_t overlong_buffer = 0;         // DAPO's L_cache for the overlong reward; 0 = off
  // DAPO's overlong filtering (overlong_mask): completions cut by the generation budget stay in
  // their groups' advantages but are masked out of the loss.
  bool overlong_filter = false;
  // Dynamic sampling (DAPO sec. 3.2): drop the groups whose rewarded members' rewards are all
  // equal (or that have fewer than 2 rewarded members: no advantage either way) and draw further
  // prompts until the step has prompts_per_step informative groups, at most max_prompt_draws
  // prompts per process and step (0 = 3 x prompts_per_step); a step that runs out trains on the
  // informative groups it has (a warning on stderr, counted in the metrics).
  bool drop_uniform_groups = false;
  int64_t max_prompt_draws = 0;
  double kl_coef = 0.04;               // 0: no reference model is loaded
  double adv_eps = 1e-4;
  train::AdamWConfig adamw;            // lr default set by the tool
  double max_grad_norm = 1.0;
  SamplingParams sampling;             // the policy's sampling (logprobs forced on)
  int engine_batch = 16;
  // Rewards: weights by the name of a row of reward_kinds() (default 1 each); an unknown name is
  // Error(kExitUsage).
  std::vector<std::pair<std::string, double>> weights;
  std::vector<std::string> rules;
  double format_penalty = 1.0;
  int64_t length_target = 0;           // the length reward's L in tokens; 0 = no length reward
  bool over_refusal = false;           // the over-refusal reward (make_over_refusal_reward)
  BackendOptions helpful_backend;      // helpfulness judge model ("" model = no helpful reward)
  std::string helpful_rubric;          // "" = default_helpful_rubric()
  // The helpful reward from a reward model served over HTTP instead of a judge: the full URL of
  // vLLM's Score API (POST {"model": helpful_backend.model, "text_1": the last user message,
  // "text_2": the answer} -> {"data": [{"score": S}]}, S in [0, 1]); make_score_reward.
  std::string helpful_reward_url;
  // Which of vLLM's APIs helpful_reward_url is: "score" (make_score_reward) or "pooling"
  // (make_pooling_reward, a sequence reward model).
  std::string helpful_reward_api = "score";
  Backend* helpful_backend_override = nullptr;  // test hook, as judge_backend_override
  std::string spec_path;               // needed for the judge reward
  BackendOptions judge_backend;        // judge model ("" model = no judge reward)
  int judge_samples = 1;
  int judge_nonce_length = 16;         // JudgeOptions::nonce_digits
  std::string judge_rubric;            // "" = the built-in rubric (JudgeOptions::rubric)
  // The judge's quoting nonces (JudgeOptions::nonce_seed); nullopt = `seed`. Every random
  // choice of a run (prompt order, rollouts, judge samples, nonces) follows `seed`.
  std::optional<uint64_t> judge_nonce_seed;
  // A completion the judge could not score (request failed, output did not parse): false =
  // leave it out of its group (see the equations above) and go on; true = stop at once with
  // Error(kExitBackend) naming the record. Either way a step with no judged completion stops
  // the run with kExitBackend.
  bool fail_on_judge_error = false;
  int64_t save_every = 0;
  int keep_last = 0;
  // Checkpoints (and the disk weight sync) are written in safetensors shards of at most this
  // many bytes, with model.safetensors.index.json, as transformers' save_pretrained.
  int64_t max_shard_size = kDefaultMaxShardSize;
  uint64_t seed = 0;
  int threads = 0;
  bool progress = false;
  std::string profile;                 // train::StepProfiler trace path ("" = none)
  std::string profile_steps = "3:4";   // its A:B range of this run's steps
  // Rollouts on an OpenAI-compatible server instead of the local engine (rl-train(1)
  // --rollout-backend openai, lib/src/rl/rollout_server.cpp): backend "local" (default) or
  // "openai" with base_url, model (the served name of the starting policy), concurrency,
  // timeout, max_retries and the API key; prefix "rollout" names the flags in messages.
  BackendOptions rollout_backend;
  // After every `sync_every` updates the server gets the new policy (weight_sync.cpp):
  // sync_method "lora" (PEFT adapter + vLLM's /v1/load_lora_adapter; needs lora) or "disk" (HF
  // checkpoint + SGLang's /update_weights_from_disk); "" = lora with lora, else disk. The files
  // go under sync_dir ("" = OUT/sync). REQUIRES sync_every >= 1.
  int64_t sync_every = 1;
  std::string sync_method;
  std::string sync_dir;
  double tis_cap = 2.0;                // TIS cap C (tis_weights) for server rollouts; > 0
  // Server rollouts one step ahead: step k+1's rollouts are generated (in another thread, by
  // the policy served during step k, one update old) while step k trains; recorded in
  // policy_version and corrected by TIS. REQUIRES rollout_backend "openai". With
  // drop_uniform_groups only the next step's first draw is made ahead (its prompts are known
  // once this step's draws are done); its further draws, which depend on the first draw's
  // rewards, are sampled when needed by the policy served then (each group records its
  // policy_version). A checkpoint's run state holds the prefetched rollouts (options
  // "rollout_prefetch"), so a resumed run trains on what the uninterrupted one would; without
  // them its first step samples afresh, with the resumed policy.
  bool async_rollouts = false;
  // Train LoRA adapters instead of every weight (as sft-train --lora); checkpoints hold the
  // merged model and adapter/ (PEFT).
  bool lora = false;
  LoraOptions lora_options;
  // How the policy's training state is split over the processes (rl-train(1) --sharding; as
  // sft-train's, train::Sharding): grad-opt shards gradients and AdamW state, full also the
  // parameters, gathered whole for local rollouts (the rollout phase holds every parameter, as
  // verl and OpenRLHF do when they hand the weights to the inference engine) and a unit at a
  // time for the update's passes, checkpoints and weight pushes. The reference model
  // (kl_coef > 0) stays replicated: frozen, it costs one f32 copy of the model per process.
  // Checkpoints hold one part per process (shard-rank-R-of-W.safetensors) and resume on any
  // number of processes (with lora too: the adapters' parts, the frozen base from model_dir).
  train::Sharding sharding = train::Sharding::kNone;
  // Test hook: when set, used instead of the judge built from judge_backend.
  Backend* judge_backend_override = nullptr;
};

struct RlResult {
  int64_t steps = 0;
  std::vector<double> mean_reward;     // per step: over the completions that have a reward
  std::string last_checkpoint;
  // The judge over the steps of this process's run (all processes' completions): how many
  // completions it was asked about, how many it scored, its failures per kind ("backend",
  // "parse"). All 0 without the judge reward.
  int64_t judge_attempted = 0, judged = 0;
  FailureCounts judge_failures;
};

// ---------------------------------------------------------------------------------------------
// The reward registry: one row per reward source. run_rl builds the active sources from it, in
// its order, and the rows' names are everywhere a reward is named: --reward-weight NAME, the
// keys of a rollout's "rewards", its NAME_error field, the metrics of a source that can fail,
// rl-train's --help and man page. docs/adding-a-reward.md is the checklist for a new row.

// Each prompt's category and where it was read (the judge checks them against the spec).
struct RewardPrompt {
  std::string category;
  Location where;
  std::string expected_action;  // as RewardInput::expected_action ("" = unlabelled)
};

// What a row's factory is given.
struct RewardContext {
  const RlOptions& options;
  const std::vector<RewardPrompt>& prompts;
};

struct RewardKind {
  std::string name;        // == RewardSource::name() of what make() returns
  std::string enabled_by;  // the flag that turns it on, for --help and messages; "" = always on
  std::string help;        // what it scores, one or two sentences (--help, man page)
  // A source that can leave a completion without a value (the judge: request failed, output
  // did not parse). Its failures are counted per kind and reported on stderr, the metrics
  // record has `scored_metric` (completions it scored) and NAME_errors, NAME_backend_errors,
  // NAME_parse_errors, and RlOptions::fail_on_judge_error decides whether the run goes on.
  bool can_fail = false;
  std::string scored_metric;  // with can_fail: the metrics field of the scored count
  // The source for this run, or nullptr when the options leave it off. Throws Error
  // (kExitUsage for bad options, or naming the record whose input it cannot use).
  std::function<std::unique_ptr<RewardSource>(const RewardContext&)> make;
};

// Every reward source, in the order run_rl evaluates them, sums weight x value (the float sum
// in this order) and writes them into a rollout's "rewards". A new row goes at the end.
const std::vector<RewardKind>& reward_kinds();
// The row named `name`, or nullptr.
const RewardKind* find_reward_kind(std::string_view name);
// The rows' names joined with ", " ("format, rule, judge, length").
std::string reward_names();
// rl-train's --help paragraph on the rewards: one sentence or two per row, in registry order.
std::string reward_help();

// The loss configuration of a run: kind, the clip range (clip_eps_low/high, else default_clip),
// kl_coef, max_length = sampling.max_tokens (normalisers 0: run_rl sets them per step).
LossConfig loss_config(const RlOptions& options);

// Runs GRPO as rl-train(1) documents. Throws Error on bad input, and Error(kExitBackend)
// when the judge fails as fail_on_judge_error and the equations above say; what was done until
// then (rollouts, metrics, checkpoints) is written first.
RlResult run_rl(const RlOptions& options);

}  // namespace delib::rl
