// Rollouts on an OpenAI-compatible server and the weight sync that keeps the server on the
// policy being trained (rl-train --rollout-backend openai). Private to lib/src/rl; run.cpp calls
// them from its rollout stage (make_rollouts) and at the end of a step (end_step).
//
//   rollout_server.cpp  RolloutServer: a step's completions from POST /v1/completions with the
//                       prompt as token ids, the sampled ids and their log-probs read back
//   weight_sync.cpp     WeightSync: after every --sync-every updates, the new policy written
//                       to disk and loaded by the server (vLLM LoRA endpoints or SGLang's
//                       reload from disk)
//
// The other server rl-train may call, the helpful reward's reward model (rewards.cpp; contracts
// at make_score_reward and make_pooling_reward in delib/rl.h), one POST per completion of a
// benign prompt to --helpful-reward-url:
//   score    vLLM's Score API (/score): request {"model", "text_1": the last user message,
//            "text_2": the answer}; answer data[0].score (or [score]) in [0, 1]
//   pooling  vLLM's Pooling API (/pooling) with a sequence reward model (`vllm serve MODEL
//            --runner pooling`, e.g. Skywork/Skywork-Reward-V2-Qwen3-0.6B; docs.vllm.ai
//            "Pooling Models" and examples/pooling/reward/sequence_reward_online.py; the
//            PoolingChatRequest / PoolingResponse of vllm/entrypoints/pooling/pooling/
//            protocol.py): request {"model", "messages": the prompt's messages + {"role":
//            "assistant", "content": the answer}}; answer {"data": [{"index": 0, "object":
//            "pooling", "data": [S]}]}, S one finite number used as it is. Any other answer is a
//            failed request, sent again up to --helpful-max-retries times, then a failure
//            (helpful_backend_errors; exit 4 with --on-judge-error fail), never a guess.
#pragma once
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delib/backend.h"
#include "delib/model.h"
#include "delib/rl.h"

namespace delib::rl::detail {

// The server that samples the rollouts. Requests go to BackendOptions::base_url's
// /v1/completions (the HTTP backend with BackendOptions::token_ids, delib/backend.h):
//   request:  "model" (model()), "prompt" [token ids of the chat template's rendering, exactly
//             what the local engine would be given], "max_tokens", "temperature", "top_p"
//             (+ "top_k", "min_p" when set), "stop", "seed" (request_seed), "n": 1,
//             "logprobs": 1, "return_tokens_as_token_ids": true, "return_token_ids": true
//   response: choices[0].text (split into reasoning and answer), choices[0].finish_reason,
//             the sampled ids (used for training as they are): choices[0].token_ids, else
//             choices[0].logprobs.tokens ["token_id:N", ...]; choices[0].logprobs.token_logprobs
//             (the server's log-probs of those ids: rollout_logprobs, the denominator of the TIS
//             ratio)
// Checked against the request and response classes of vLLM 0.34.0 and SGLang 0.5.23
// (tests/servers/server_schemas.json, extracted from their source; check_request_schemas.py):
//   vLLM    CompletionRequest has every field sent (vllm/entrypoints/openai/completion/
//           protocol.py); unknown fields would be accepted and ignored (OpenAIBaseModel,
//           extra "allow", logged at debug level). The log-probs are of the raw logits (the
//           default --logprobs-mode raw_logprobs), as the trainer's.
//   SGLang  CompletionRequest (sglang/srt/entrypoints/openai/protocol.py) has no
//           return_tokens_as_token_ids: ignored (pydantic's default), its tokens are text; the
//           ids come from return_token_ids. Its log-probs are of the temperature-scaled logits
//           unless the server runs with SGLANG_RETURN_ORIGINAL_LOGPROB=1 (srt/layers/
//           sampler.py): at a temperature other than 1 set it, or the TIS ratio compares two
//           different distributions.
// A test server answering as each does: tests/servers/schema_server.py; a real model:
// tests/servers/openai_server.py.
class RolloutServer {
 public:
  // Checks the options (Error(kExitUsage) naming the --rollout-* flag). Serves the starting
  // policy: options.rollout_backend.model, policy version 0.
  explicit RolloutServer(const RlOptions& options);
  // One result per request (each has prompt_ids), in order, from the policy served now. A
  // request that failed after its retries (server down, HTTP errors, an answer without the
  // token ids or log-probs) throws Error(kExitBackend) naming its key and sample and the
  // server's last answer: never a partial step.
  std::vector<GenResult> generate(const std::vector<GenRequest>& requests);
  // --async: starts generating `requests` (the next step's) in another thread with the policy
  // served now, while the caller trains. At most one prefetch is in flight.
  void prefetch(std::vector<GenRequest> requests);
  // The prefetched results when the prefetch was for exactly `requests` (keys, samples, seeds,
  // prompt ids and sampling), with the policy version that sampled them; nullopt when there is
  // none or it was for other requests (it is then waited for and dropped). Failures throw as
  // generate() does.
  struct Prefetched {
    std::vector<GenResult> results;
    int64_t version = 0;
  };
  std::optional<Prefetched> take(const std::vector<GenRequest>& requests);
  // Waits for the prefetch in flight, if any (before the server's weights change: an adapter
  // must not be unloaded under requests that name it).
  void wait();
  // The prefetch, waited for, without taking it (take() still returns it): its requests and
  // results, for a checkpoint's run state, so that a resumed run takes what the uninterrupted
  // one would have. Nullptr when there is none or it failed (take() then reports the failure).
  struct Finished {
    const std::vector<GenRequest>* requests = nullptr;
    const Prefetched* results = nullptr;
  };
  Finished finished();
  // A prefetch made by an earlier run (from its run state) for `requests`, sampled by policy
  // `version`: take(requests) returns it. Replaces any prefetch.
  void adopt(std::vector<GenRequest> requests, Prefetched results);
  // From now on rollouts ask for `model_name`, the served name of policy version `version`.
  void serve(const std::string& model_name, int64_t version);
  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  const BackendOptions& options() const { return opt_; }
  // The server's OpenAI base (".../v1") and its root (without "/v1").
  std::string v1_url() const;
  std::string root_url() const;

 private:
  BackendOptions opt_;
  std::string model_;
  int64_t version_ = 0;
  std::unique_ptr<Backend> backend_;
  struct Pending {
    std::shared_ptr<const std::vector<GenRequest>> requests;  // shared with the thread
    int64_t version = 0;
    std::string model;
    std::unique_ptr<Backend> backend;  // its own (a backend is not used from two threads)
    std::future<std::vector<GenResult>> results;
    // Once waited for (finish): the results, or what the thread threw.
    std::optional<Prefetched> ready;
    std::exception_ptr error;
  };
  std::optional<Pending> pending_;
  void finish(Pending& p) const;
  // Throws Error(kExitBackend) for the first failed result.
  void check(const std::vector<GenRequest>& requests, const std::vector<GenResult>& results,
             const std::string& model, int64_t version) const;
};

// Pushes the trainer's weights to the server. Methods:
//   lora  (needs RlOptions::lora) the adapters in PEFT's format (peft::save_adapter) in
//         SYNC_DIR/policy-vN, written to SYNC_DIR/.policy-vN.tmp and renamed; then
//           POST V1/unload_lora_adapter {"lora_name": "policy-vN"}   (4xx tolerated: not loaded)
//           POST V1/load_lora_adapter   {"lora_name": "policy-vN", "lora_path": ABS_DIR}
//           POST V1/unload_lora_adapter {"lora_name": "policy-vM"}   (the previous one)
//         (vLLM's runtime LoRA endpoints: the server runs with --enable-lora and
//         VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, --max-lora-rank >= the adapter's r; docs.vllm.ai
//         "LoRA Adapters", "Dynamically serving LoRA Adapters", added by vllm-project/vllm PR
//         #6566, Sept 2024; LoadLoRAAdapterRequest {lora_name, lora_path} and
//         UnloadLoRAAdapterRequest {lora_name} checked against vLLM 0.34.0, vllm/entrypoints/
//         serve/lora/protocol.py). Rollouts then ask for model "policy-vN". vLLM only: SGLang
//         serves its LoRA endpoints at the root (/load_lora_adapter), not under /v1.
//   disk  the whole model as a Hugging Face checkpoint (CausalLM::save, LoRA merged; atomic) in
//         SYNC_DIR/policy-vN; then
//           POST ROOT/update_weights_from_disk {"model_path": ABS_DIR}
//         (SGLang's native API, docs.sglang.ai "SGLang Native APIs" / "SGLang for RL Systems";
//         the answer {"success": bool, "message": str} must not say success false; checked
//         against SGLang 0.5.23: UpdateWeightFromDiskReqInput, sglang/srt/managers/io_struct.py,
//         which answers 400 with success false when the load fails). Rollouts keep asking for
//         --rollout-model. SGLang only: vLLM 0.34.0 has no /update_weights_from_disk.
// The server reads the files: it must see SYNC_DIR at the same path (same machine or a shared
// file system). Only the newest version's files are kept. disk writes the checkpoint in shards of
// at most RlOptions::max_shard_size bytes (as the run's checkpoints).
// Several processes (run.cpp, push_policy): every process has its own RolloutServer and asks for
// its own prompts' rollouts; rank 0 alone writes and loads each version (push), once, after every
// rank's --async prefetch has ended, and the other ranks wait for it (a collective that also
// carries whether it worked) before follow() and their next rollouts: no rank samples with a
// policy other than the one its rollouts record.
class WeightSync {
 public:
  // Resolves the method and directory (Error(kExitUsage): lora without --lora, no directory).
  WeightSync(const RlOptions& options, RolloutServer& server);
  // Whether the weights after `step` updates are pushed (step % sync_every == 0).
  bool due(int64_t step) const;
  // Writes `model` as policy version `version` and has the server load it (then
  // server.version() == version). lora first unloads an adapter of the same name, tolerating a
  // 4xx answer (a run resumed after kill -9 may find the killed run's adapter still loaded). Throws Error(kExitBackend) when the server refuses or is down
  // after the retries, Error(kExitIo) when the files cannot be written.
  void push(CausalLM& model, int64_t version);
  // Several processes: rank 0 pushes, the others follow. After rank 0's push(version) has
  // succeeded (run.cpp waits for it with a collective), a rank's server asks for what rank 0
  // loaded: lora "policy-vN", disk --rollout-model; server.version() == version. Writes and
  // sends nothing.
  void follow(int64_t version);
  const std::string& method() const { return method_; }
  const std::string& dir() const { return dir_; }

 private:
  const RlOptions& o_;
  RolloutServer& server_;
  std::string method_, dir_;
  std::string previous_;   // the directory (and adapter name) of the version served now
};

}  // namespace delib::rl::detail
