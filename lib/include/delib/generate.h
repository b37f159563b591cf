// Generation engine: batched autoregressive decoding with a KV cache and continuous batching,
// sampling, per-token log-probabilities; and the local Backend built on it.
// Area: generate (delib_torch). CONTRACT: cot-gen, cot-judge, rl-train and safety-eval call only
// what is declared here (and delib/backend.h); the owner may add, not rename.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delib/backend.h"
#include "delib/chat.h"
#include "delib/model.h"
#include "delib/tokenizer.h"

namespace delib {

// Registers the "local" backend factory (cli::BackendOptions -> LocalBackend loading
// options.model on options.device). Tools linked with delib_torch call this first in main.
void enable_local_backend();

struct EngineOptions {
  int batch_size = 16;          // decode slots (continuous batching refills a finished slot)
  int64_t max_context = 0;      // 0 = the model's max_position_embeddings (capped at 8192)
};

// One sequence to continue from token ids.
struct EngineRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  uint64_t seed = 0;  // the sample's own random stream (see sample_seed)
  std::vector<int32_t> stop_ids;  // end-of-turn / eos ids (generation stops after emitting one)
};

struct EngineResult {
  std::vector<int32_t> ids;      // generated ids (the stop id included when one ended it)
  std::vector<float> logprobs;   // log p(id) under the sampling distribution's model logits
  std::string finish_reason;     // "stop" | "length"
};

class Engine {
 public:
  Engine(std::shared_ptr<CausalLM> model, std::shared_ptr<const Tokenizer> tokenizer,
         EngineOptions options = {});
  ~Engine();
  // Runs all requests with continuous batching; done(index, result) as each finishes.
  // Stop strings in params.stop are matched on the decoded text.
  void run(const std::vector<EngineRequest>& requests,
           const std::function<void(size_t, EngineResult)>& done);
  CausalLM& model();
  const Tokenizer& tokenizer() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The per-sample random seed: a hash of (seed, key, sample) (XXH3-64).
uint64_t sample_seed(uint64_t seed, std::string_view key, int sample);

// The local backend: renders GenRequest messages with the model's chat template (or uses the
// raw prompt), runs the Engine, parses reasoning/answer with the template.
std::unique_ptr<Backend> make_local_backend(const cli::BackendOptions& options);
// The same over an already loaded model (rl-train shares the policy with its sampler).
std::unique_ptr<Backend> make_local_backend(std::shared_ptr<CausalLM> model,
                                            std::shared_ptr<const Tokenizer> tokenizer,
                                            EngineOptions options = {});

}  // namespace delib
