// rl-train: GRPO with the spec-aware judge as reward (stage 4 of deliberative alignment).
// Parses flags and calls delib::rl::run_rl (lib/src/rl/run.cpp).
#include <fmt/format.h>

#include "delib/cli.h"
#include "delib/fs.h"
#include "delib/generate.h"
#include "delib/rl.h"

namespace {

// Rollouts on an OpenAI-compatible server (--rollout-*), the weight sync (--sync-*), the
// off-policy correction (--tis-cap) and LoRA training (--lora*, which --sync-method lora needs).
void add_server_options(CLI::App& app, delib::rl::RlOptions& o) {
  delib::BackendOptions& b = o.rollout_backend;
  b.prefix = "rollout";
  const char* g = "Rollout server";
  app.add_option("--rollout-backend", b.backend,
                 "local: sample rollouts with the in-process engine; openai: on an OpenAI-compatible server "
                 "(vLLM, SGLang) via /v1/completions with token-id prompts")
      ->check(CLI::IsMember({"local", "openai"}))->capture_default_str()->group(g);
  app.add_option("--rollout-base-url", b.base_url, "The rollout server's URL, e.g. http://localhost:8000/v1")
      ->type_name("URL")->group(g);
  app.add_option("--rollout-model", b.model, "The server's name for the starting policy (--model)")
      ->type_name("NAME")->group(g);
  app.add_option("--rollout-api-key-env", b.api_key_env, "Environment variable holding the server's API key")
      ->type_name("VAR")->capture_default_str()->group(g);
  app.add_option("--rollout-api-key-file", b.api_key_file, "File holding the server's API key (never printed)")
      ->type_name("FILE")->group(g);
  app.add_option("--rollout-concurrency", b.concurrency, "Rollout requests in flight")
      ->check(CLI::Range(1, 4096))->capture_default_str()->group(g);
  app.add_option("--rollout-timeout", b.timeout, "Seconds per rollout or weight-sync request")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(g);
  app.add_option("--rollout-max-retries", b.max_retries, "Retries per request on 429/5xx/connection errors")
      ->check(CLI::Range(0, 100))->capture_default_str()->group(g);
  app.add_option("--sync-every", o.sync_every, "Push the policy to the rollout server after every K updates")
      ->type_name("K")->check(CLI::Range(int64_t(1), int64_t(1) << 30))->capture_default_str()->group(g);
  app.add_option("--sync-method", o.sync_method,
                 "lora: PEFT adapter loaded with vLLM's /v1/load_lora_adapter (needs --lora); disk: Hugging Face "
                 "checkpoint loaded with SGLang's /update_weights_from_disk. Default: lora with --lora, else disk")
      ->check(CLI::IsMember({"lora", "disk"}))->group(g);
  app.add_option("--sync-dir", o.sync_dir,
                 "Where the synced weights are written for the server to read (same path on the server). "
                 "Default: OUT/sync")
      ->type_name("DIR")->group(g);
  app.add_option("--tis-cap", o.tis_cap,
                 "Server rollouts: each token's policy-gradient term is weighted by min(pi_trainer / "
                 "pi_rollout, C) (truncated importance sampling)")
      ->type_name("C")->check(CLI::PositiveNumber)->capture_default_str()->group(g);
  app.add_flag("--async", o.async_rollouts,
               "Server rollouts one step ahead: the next step's rollouts are generated while this step trains "
               "(one update stale, recorded in policy_version, corrected by --tis-cap); with "
               "--drop-uniform-groups its first draw, further draws when needed")
      ->group(g);
  const char* p = "Policy";
  app.add_flag("--lora", o.lora, "Train LoRA adapters instead of all weights (checkpoints hold the merged model and, "
               "in adapter/, the adapters in PEFT's format)")->group(p);
  app.add_option("--lora-rank", o.lora_options.rank, "LoRA rank r")->check(CLI::Range(1, 4096))->capture_default_str()->group(p);
  app.add_option("--lora-alpha", o.lora_options.alpha, "LoRA alpha (scale alpha / r)")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(p);
  app.add_option("--lora-targets", o.lora_options.targets, "Linear layers that get adapters")
      ->delimiter(',')->type_name("NAME,...")->default_str("q_proj,k_proj,v_proj,o_proj")->group(p);
}

}  // namespace

int main(int argc, char** argv) {
  delib::enable_local_backend();
  delib::cli::ToolInfo info;
  info.name = "rl-train";
  info.summary = "reinforcement learning (GRPO) with the spec-aware judge rewarding answers";
  // The metrics fields of the reward sources that can fail, from the registry.
  std::string failure_metrics;
  for (const auto& k : delib::rl::reward_kinds())
    if (k.can_fail)
      failure_metrics += fmt::format("{}, {}_errors, {}_backend_errors, {}_parse_errors (these four with the {} "
                                     "reward), ", k.scored_metric, k.name, k.name, k.name, k.name);
  info.description =
      "rl-train improves a policy (usually the sft-train model) on safety prompts: stage 4 of "
      "deliberative alignment. Each step takes --prompts-per-step prompt records (messages or prompt, "
      "and category), samples --group-size completions of each from the current policy with the local "
      "engine, rewards each answer, and updates the policy with GRPO (Shao et al. 2024, eq. 3): "
      "advantages normalised within each prompt's group, the PPO clipped surrogate (--clip), and a KL "
      "penalty to the frozen starting model with the k3 estimator exp(r) - r - 1, r = log pi_ref - log pi "
      "(--kl-coef; 0 loads no reference model). --loss picks another objective, each as its paper "
      "writes it: dr-grpo (Liu et al. 2025, arXiv:2503.20783: advantage r - mean(r) without the std, "
      "token terms summed and divided by the number of sequences x --max-tokens), dapo (Yu et al. 2025, "
      "arXiv:2503.14476: the mean over all tokens of the batch, clip-higher --clip-eps-low 0.2 "
      "--clip-eps-high 0.28; with --overlong-buffer and --drop-uniform-groups its other two parts), gspo "
      "(Zheng et al. 2025, arXiv:2507.18071: one length-normalised importance ratio per sequence, "
      "exp(mean_t(log pi - log pi_old)), clipped at 1 - 3e-4 and 1 + 4e-4). The KL penalty is the same "
      "k3 term in each (DAPO and GSPO train with --kl-coef 0).\n"
      "\n" +
      delib::rl::reward_help() + "\n"
      "\n"
      "Judge failures: a completion the judge could not score (its request failed after "
      "--judge-max-retries, or its output did not parse after the re-asks) has no reward; it is never "
      "scored 0. With --on-judge-error skip (default) it is left out of its group: the advantages are "
      "normalised over the group's judged members only, a group with fewer than 2 judged members gives "
      "no policy-gradient signal, and the completion is not in the update. Its rollout record has "
      "judge_error and null reward, advantage and kl; each step's counts are in the --metrics record "
      "and on stderr, and the run's total is printed at the end. With --on-judge-error fail the first "
      "such completion stops the run (exit 4, naming the record). A step with no judged completion "
      "always stops the run with exit 4: training on the format reward alone during a judge outage is "
      "not the requested objective. Before stopping, the step's rollouts and metrics and a checkpoint "
      "of the completed steps (with --out) are written; the step itself is not trained.\n"
      "\n"
      "Seeds: every random choice follows --seed: the prompt order, the rollouts (seeded by --seed, "
      "the prompt id, the step and the sample), the judge's samples, and the judge's quoting nonces "
      "(--judge-nonce-seed, default --seed; derived from the seed, the completion and a digest of the "
      "quoted text, so an answer cannot carry its own nonce). Two runs with the same seed and inputs "
      "write the same rollouts and metrics (CPU, same --threads; step_time_s aside).\n"
      "\n"
      "Output: one rollout record per completion on stdout (or -o), flushed as written: the prompt "
      "record's fields plus sample, step, reasoning, answer, format_ok, rewards (each component), "
      "reward, advantage and kl (the completion's mean k3). --metrics FILE: one record per step: step, "
      "updated, completions, rewarded, reward (mean over the rewarded completions), " +
      failure_metrics +
      "policy, kl, clip_fraction, grad_norm, tokens, step_time_s; reward_NAME, each active reward's mean over "
      "the completions it scored; when the prompts have label or expected_action (benign: comply), "
      "benign_completions, benign_refusal_rate (safety-eval's rule grader on the answers to benign prompts), "
      "harmful_completions, harmful_unsafe_rate and harmful_unsafe_grader (judge: the judge's verdict says "
      "the answer complied, over the answers it judged; refusal_rule without the judge: the rule grader's "
      "full compliance); with --drop-uniform-groups prompts_drawn, groups_dropped, groups_kept (and each "
      "rollout has draw and dropped); with --overlong-filter overlong_masked, the completions cut by --max-tokens "
      "that were masked out of the loss (each rollout has overlong_masked; a masked one's kl is null). "
      "Checkpoints (--out, --save-every, --max-shard-size, "
      "--keep-last) are Hugging Face directories with optimizer and RNG state; --resume DIR continues "
      "(rollouts are seeded by --seed, the prompt id, the step and the sample, so a resumed run "
      "samples what the uninterrupted one would). Several processes as in sft-train(1): each takes its "
      "own prompts, gradients are averaged; rank 0 writes every rank's rollouts (in rank order) and the checkpoints.\n"
      "\n"
      "Sharding: --sharding grad-opt and full split the policy's training state over the processes as "
      "sft-train(1)'s do (grad-opt: gradients and AdamW state, ZeRO-2; full: the parameters too, ZeRO-3, a unit "
      "gathered when an operator reads it), with the same checkpoints (one part per process, "
      "shard-rank-R-of-N.safetensors, beside the model as transformers loads it) and --resume on the same number "
      "of processes bit for bit (CPU) or on another by resharding; resuming with another --sharding than the "
      "checkpoint's is refused, naming trainer_state.json and options.sharding. The result equals one unsharded "
      "process with the same global batch up to float reduction order. With full, local rollouts gather the "
      "whole policy first (each process decodes its own prompts for as many steps as they need, which no "
      "per-unit gather could follow) and release it after: the rollout phase holds every parameter, as verl and "
      "OpenRLHF do when they hand the weights to the inference engine; the update's passes, checkpoints and "
      "weight pushes to a rollout server gather one unit at a time (a process with no sequence in an update "
      "runs the same passes on a padding sequence with zero weight). The reference model of the KL penalty "
      "(--kl-coef > 0) is not sharded: frozen, it costs one f32 copy of the starting model per process. "
      "With --lora the frozen base is sharded too (full) and a sharded --lora run resumes like the others.\n"
      "\n"
      "Rollout server: with --rollout-backend openai the rollouts come from POST /v1/completions of an "
      "OpenAI-compatible server (implemented against vLLM's OpenAI server; tests/servers/openai_server.py "
      "in the tests) with \"prompt\" the token ids of the chat template's rendering (the tokens the local "
      "engine would be given), \"logprobs\": 1 and \"return_tokens_as_token_ids\": true; the answer's "
      "choices[0].logprobs.tokens (\"token_id:N\") are the sampled ids trained on, never the text "
      "tokenized again, and choices[0].logprobs.token_logprobs the server's log-probs of them. An answer "
      "without them is a failed request; a request that failed after --rollout-max-retries stops the run "
      "with exit 4 before anything of the step is written (a checkpoint of the steps done is saved with "
      "--out). After every --sync-every updates the server gets the new policy: with --lora the adapters in "
      "PEFT's format in SYNC_DIR/policy-vN, loaded with POST /v1/load_lora_adapter {\"lora_name\": "
      "\"policy-vN\", \"lora_path\": DIR} and the previous one unloaded (/v1/unload_lora_adapter; vLLM "
      "with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True), rollouts then asking for model "
      "policy-vN; without --lora the Hugging Face checkpoint, loaded with POST /update_weights_from_disk "
      "{\"model_path\": DIR} (SGLang). The server must read SYNC_DIR (default OUT/sync) at the same path. "
      "--resume pushes the resumed policy before the first rollout. With --async the next step's rollouts are "
      "generated (in another thread) while the current step trains: from the second step on they were sampled by "
      "the policy one update older than the one trained (policy_lag 1), which the importance weights correct. Each rollout record has "
      "policy_version (the number of updates of the weights that sampled it) and rollout_logprobs; the "
      "trainer recomputes the sampled tokens' log-probs (pi_old) and weights each token's policy-gradient "
      "term by min(exp(logp_trainer - logp_rollout), --tis-cap) (truncated importance sampling, Yao et al. "
      "2025, as verl's tis_imp_ratio_cap). Metrics then also have policy_version, policy_lag (updates "
      "between it and the trained weights), rollout_logprob_diff_mean, rollout_logprob_diff_max (of "
      "|logp_trainer - logp_rollout| over the step's tokens) and tis_clipped_fraction. Several processes: each "
      "asks the server for its own prompts' rollouts; rank 0 alone writes and loads each new policy, once, after "
      "every process's --async rollouts in flight have ended, and every process waits for it before its next "
      "rollouts, so all of them sample with the version their rollouts record (the same on every process, "
      "--async staying one update stale on each); a server failure on any process stops all of them with exit 4. "
      "--async with --drop-uniform-groups: the next step's first draw (--prompts-per-step prompts per process "
      "from where this step's draws ended, known once they are done) is generated while this step trains; the "
      "further draws a step needs when groups are dropped depend on the first draw's rewards and are sampled "
      "when needed by the policy served then (no lag); each rollout's policy_version says which, and the "
      "metrics' policy_version is the step's oldest. A checkpoint of an --async run holds the next step's "
      "prefetched rollouts in its run state (the step after a checkpoint waits for them), so --resume continues "
      "as the uninterrupted run would.\n"
      "\n"
      "On a GPU: the fused CUDA kernels (token log-probabilities, sampling) passed their tests on one "
      "H200 (tests/gpu/run.sh, 2026-12-04); rl-train with a process group failed there (NCCL was "
      "given host tensors), and its fix has not yet run on a GPU; NCCL with several processes has "
      "never run. Until tests/gpu/run.sh passes again, treat --device cuda as untested.";
  info.examples =
      "rl-train --model sft/latest-dir --spec specs/default.md --judge-model ./judge --steps 200 \\\n"
      "    --out rl prompts.jsonl.zst > rollouts.zst\n"
      "# a rule reward only (tests, quick checks)\n"
      "rl-train --model ./tiny --rule-reward '(?i)sorry=1' --steps 20 prompts.jsonl > rollouts.jsonl\n"
      "jsonl-cat --where 'step>=190' --select id,reward,answer rollouts.zst\n"
      "# the quickstart's RL stage, rerun only when its inputs, binary or options changed\n"
      "make -C examples/quickstart rl\n";
  info.see_also = "sft-train(1), cot-judge(1), delib-records(5), delib-spec(5)";
  info.exit_codes = {{4, "the judge failed: a step with no judged completion, or any judge failure with "
                         "--on-judge-error fail; or the rollout server failed (rollouts or weight sync, after "
                         "the retries)"}};

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::rl::RlOptions o;
  o.adamw.lr = 1e-6;
  o.judge_backend.model = "";
  o.helpful_backend.model = "";
  std::vector<std::string> weights;
  std::string rubric_path;
  std::string on_judge_error = "skip";
  std::string loss = "grpo";
  double clip_eps_low = -1, clip_eps_high = -1;
  std::string helpful_rubric_path;
  int64_t judge_nonce_seed = -1;
  std::string sharding = "none";
  std::string max_shard_size = "5GB";

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_sampling_options(app, o.sampling);
        const char* g = "Policy";
        app.add_option("--model", o.model_dir, "The starting policy: a Hugging Face model directory (the SFT model)")
            ->type_name("DIR")->required()->group(g);
        app.add_option("--device", o.device, "cpu, cuda or cuda:N (with several processes: cuda:LOCAL_RANK)")
            ->capture_default_str()->group(g);
        app.add_option("--engine-batch", o.engine_batch, "Sequences the rollout engine decodes together")
            ->check(CLI::Range(1, 4096))->capture_default_str()->group(g);
        app.add_option("--sharding", sharding,
                       "How processes split the policy's training state: none (replicated), grad-opt (gradients "
                       "and AdamW state 1/N, as ZeRO-2), full (parameters too, gathered a unit at a time, and "
                       "whole for local rollouts, as ZeRO-3)")
            ->check(CLI::IsMember({"none", "grad-opt", "full"}))->capture_default_str()->group(g);
        const char* a = "GRPO";
        app.add_option("--steps", o.steps, "Optimizer steps")->check(CLI::PositiveNumber)->capture_default_str()->group(a);
        delib::cli::add_profile_options(app, o.profile, o.profile_steps, a, "rollouts, rewards and update");
        app.add_option("--prompts-per-step", o.prompts_per_step, "Prompts per step and process")
            ->check(CLI::PositiveNumber)->capture_default_str()->group(a);
        app.add_option("--group-size", o.group_size, "Completions sampled per prompt (G)")
            ->check(CLI::Range(2, 1024))->capture_default_str()->group(a);
        app.add_option("--ppo-epochs", o.ppo_epochs, "Optimisation passes over each batch of rollouts")
            ->check(CLI::Range(1, 100))->capture_default_str()->group(a);
        app.add_option("--clip", o.clip_eps, "PPO clip range epsilon (grpo, dr-grpo)")->check(CLI::Range(0.0, 10.0))->capture_default_str()->group(a);
        app.add_option("--loss", loss,
                       "The objective: grpo (GRPO, Shao et al. 2024), dr-grpo (Dr. GRPO, Liu et al. 2025: no "
                       "std in the advantage, sum over tokens / --max-tokens), dapo (DAPO, Yu et al. 2025: "
                       "token-level mean, clip-higher), gspo (GSPO, Zheng et al. 2025: sequence-level, "
                       "length-normalised ratio)")
            ->check(CLI::IsMember(delib::rl::loss_names()))->capture_default_str()->group(a);
        app.add_option("--clip-eps-low", clip_eps_low,
                       "Lower clip: the ratio is clipped at 1 - E. Default: --clip for grpo and dr-grpo, 0.2 "
                       "for dapo, 3e-4 for gspo")
            ->type_name("E")->check(CLI::Range(0.0, 1.0))->group(a);
        app.add_option("--clip-eps-high", clip_eps_high,
                       "Upper clip: the ratio is clipped at 1 + E. Default: --clip for grpo and dr-grpo, 0.28 "
                       "for dapo (clip-higher), 4e-4 for gspo")
            ->type_name("E")->check(CLI::Range(0.0, 10.0))->group(a);
        app.add_flag("--drop-uniform-groups", o.drop_uniform_groups,
                     "Dynamic sampling (DAPO): drop groups whose rewards are all equal (no signal) and draw "
                     "further prompts until the step has --prompts-per-step informative groups or "
                     "--max-prompt-draws prompts were drawn")
            ->group(a);
        app.add_option("--max-prompt-draws", o.max_prompt_draws,
                       "With --drop-uniform-groups: the most prompts drawn per step and process (0: 3 x "
                       "--prompts-per-step)")
            ->type_name("N")->check(CLI::Range(int64_t(0), int64_t(1) << 30))->capture_default_str()->group(a);
        app.add_option("--kl-coef", o.kl_coef, "Weight beta of the KL penalty to the starting model (0: no reference model)")
            ->check(CLI::Range(0.0, 1e6))->capture_default_str()->group(a);
        app.add_option("--lr", o.adamw.lr, "AdamW learning rate (constant)")->check(CLI::PositiveNumber)->capture_default_str()->group(a);
        app.add_option("--weight-decay", o.adamw.weight_decay, "AdamW weight decay")->capture_default_str()->group(a);
        app.add_option("--max-grad-norm", o.max_grad_norm, "Gradient clipping (<= 0: none)")->capture_default_str()->group(a);
        const char* r = "Rewards";
        app.add_option("--reward-weight", weights,
                       "Weight of a reward component, NAME=W (" + delib::rl::reward_names() + "; default 1); repeatable")
            ->allow_extra_args(false)
            ->type_name("NAME=W")->group(r);
        app.add_option("--rule-reward", o.rules, "Add VALUE when the answer matches REGEX (PCRE2); repeatable")
            ->allow_extra_args(false)
            ->type_name("REGEX=VALUE")->group(r);
        app.add_option("--format-penalty", o.format_penalty, "Reward of a malformed or truncated completion is -PENALTY")
            ->capture_default_str()->group(r);
        app.add_option("--length-target", o.length_target,
                       "Length reward: -max(0, T - L)/L for a completion of T tokens, L this target (0: off)")
            ->type_name("L")->check(CLI::Range(int64_t(0), int64_t(1) << 30))->capture_default_str()->group(r);
        app.add_option("--overlong-buffer", o.overlong_buffer,
                       "Overlong reward (DAPO eq. 13): 0 up to --max-tokens - B tokens, then linearly down to -1 "
                       "at --max-tokens (0: off)")
            ->type_name("B")->check(CLI::Range(int64_t(0), int64_t(1) << 30))->capture_default_str()->group(r);
        app.add_flag("--overlong-filter", o.overlong_filter,
                     "DAPO's overlong filtering (Yu et al. 2025, sec. 3.4): completions cut by --max-tokens are "
                     "masked out of the loss (their rewards still count in their groups' advantages); counted in "
                     "the metric overlong_masked")
            ->group(a);
        app.add_flag("--over-refusal", o.over_refusal,
                     "Over-refusal reward: -1 when a benign prompt (expected_action comply, or label safe) gets "
                     "an answer safety-eval's rule grader calls a refusal (weight: --reward-weight over-refusal=W)")
            ->group(r);
        app.add_option("--helpful-rubric", helpful_rubric_path,
                       "Replace the helpfulness judge's built-in rubric with the text of FILE")
            ->type_name("FILE")->check(CLI::ExistingFile)->group(r);
        app.add_option("--helpful-reward-url", o.helpful_reward_url,
                       "Score helpfulness with a reward model served by vLLM at URL instead of a judge: its Score "
                       "API (e.g. http://host:8000/score) or, with --helpful-reward-api pooling, its Pooling API "
                       "(http://host:8000/pooling); --helpful-model names the model")
            ->type_name("URL")->group(r);
        app.add_option("--helpful-reward-api", o.helpful_reward_api,
                       "The API at --helpful-reward-url: score (vLLM's Score API: {model, text_1: request, text_2: "
                       "answer} -> data[0].score in [0, 1]) or pooling (vLLM's Pooling API with a sequence reward "
                       "model, e.g. http://host:8000/pooling: {model, messages: the conversation and the answer} "
                       "-> data[0].data [S], S as the model gives it; any other answer is a failed request, retried "
                       "--helpful-max-retries times)")
            ->check(CLI::IsMember({"score", "pooling"}))->capture_default_str()->group(r);
        app.add_option("--judge-samples", o.judge_samples, "Judge samples per answer (min aggregate)")
            ->check(CLI::Range(1, 64))->capture_default_str()->group(r);
        app.add_option("--judge-nonce-length", o.judge_nonce_length,
                       "Hex digits per quoting nonce of the judge prompt (see cot-judge --nonce-length)")
            ->check(CLI::Range(2, 16))->capture_default_str()->group(r);
        app.add_option("--judge-nonce-seed", judge_nonce_seed,
                       "Derive the judge's quoting nonces from this seed (as cot-judge --nonce-seed). "
                       "Default: --seed")
            ->check(CLI::NonNegativeNumber)->group(r);
        app.add_option("--on-judge-error", on_judge_error,
                       "A completion the judge could not score: skip = leave it out of its group's "
                       "advantages and go on; fail = stop at once (exit 4)")
            ->check(CLI::IsMember({"skip", "fail"}))->capture_default_str()->group(r);
        app.add_option("--judge-rubric", rubric_path,
                       "Replace the judge's built-in instructions with the text of FILE (as cot-judge --rubric)")
            ->type_name("FILE")->check(CLI::ExistingFile)->group(r);
        delib::cli::add_spec_option(app, o.spec_path, false);
        delib::cli::add_backend_options(app, o.judge_backend, "judge");
        delib::cli::add_backend_options(app, o.helpful_backend, "helpful");
        add_server_options(app, o);
        const char* c = "Checkpoints";
        app.add_option("--metrics", o.metrics, "Write one metrics record per step to FILE (appended on --resume)")
            ->type_name("FILE")->group("Input/output");
        app.add_option("--out", o.out_dir, "Write checkpoints (Hugging Face directories) under DIR")->type_name("DIR")->group(c);
        app.add_option("--resume", o.resume, "Continue from a checkpoint or an --out directory")->type_name("DIR")->group(c);
        app.add_option("--save-every", o.save_every, "Save every N steps (0: at the end)")->capture_default_str()->group(c);
        app.add_option("--keep-last", o.keep_last, "Keep only the N newest checkpoints (0: all)")->capture_default_str()->group(c);
        app.add_option("--max-shard-size", max_shard_size,
                       "Split a saved model (checkpoints, and the --sync-method disk weights) into safetensors shards "
                       "of at most SIZE (transformers' max_shard_size: 5GB = 5*10^9 bytes, 5GiB = 5*2^30) with "
                       "model.safetensors.index.json")
            ->type_name("SIZE")->capture_default_str()->group(c);
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.rollouts = io.output;
        o.rollouts_write = io.write_options();
        o.metrics_write = io.write_options();
        if (judge_nonce_seed >= 0) o.judge_nonce_seed = uint64_t(judge_nonce_seed);
        o.fail_on_judge_error = on_judge_error == "fail";
        if (!rubric_path.empty()) o.judge_rubric = delib::read_text_file(rubric_path, "--judge-rubric");
        if (!helpful_rubric_path.empty())
          o.helpful_rubric = delib::read_text_file(helpful_rubric_path, "--helpful-rubric");
        o.loss = *delib::rl::parse_loss(loss);
        o.max_shard_size = delib::train::parse_size(max_shard_size, "--max-shard-size");
        o.sharding = delib::train::parse_sharding(sharding);
        if (clip_eps_low >= 0) o.clip_eps_low = clip_eps_low;
        if (clip_eps_high >= 0) o.clip_eps_high = clip_eps_high;
        o.seed = run.seed;
        o.threads = run.threads;
        o.progress = run.progress();
        for (auto& w : weights) {
          auto eq = w.find('=');
          if (eq == std::string::npos)
            throw delib::Error(fmt::format("--reward-weight '{}': expected NAME=W", w), delib::kExitUsage);
          try {
            o.weights.emplace_back(w.substr(0, eq), std::stod(w.substr(eq + 1)));
          } catch (const std::exception&) {
            throw delib::Error(fmt::format("--reward-weight '{}': W is not a number", w), delib::kExitUsage);
          }
        }
        auto res = delib::rl::run_rl(o);
        if (!res.mean_reward.empty() && run.progress())
          fmt::print(stderr, "rl-train: {} steps, mean reward {:.3f} -> {:.3f}{}\n", res.steps,
                     res.mean_reward.front(), res.mean_reward.back(),
                     res.judge_attempted ? fmt::format(", judge scored {} of {} completions", res.judged,
                                                       res.judge_attempted)
                                         : "");
        return delib::kExitOk;
      });
}
