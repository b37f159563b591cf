// One interface to the models that generate and judge: the local engine (delib_torch) or an
// OpenAI-compatible server over HTTP (vLLM, SGLang, llama.cpp). Area: backend (core).
// CONTRACT: cot-gen, cot-judge, rl-train and safety-eval call only this; the owner may add,
// not rename.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delib/cli.h"
#include "delib/records.h"

namespace delib {

struct SamplingParams {
  double temperature = 1.0;  // 0 = greedy
  double top_p = 1.0;
  int top_k = 0;             // 0 = off
  double min_p = 0.0;
  int max_tokens = 1024;
  std::vector<std::string> stop;  // stop strings (the model's end-of-turn is always a stop)
  bool logprobs = false;          // fill GenResult::logprobs
  static SamplingParams from(const cli::SamplingOptions& o);
  Json to_json() const;
};

struct GenRequest {
  // Chat request: rendered with the model's chat template (local) or sent as `messages`.
  std::vector<Message> messages;
  // Raw text prompt instead (local engine / --completions): used when non-empty.
  std::string prompt;
  SamplingParams params;
  // The sample's random stream: derived from (seed, key, sample) only, so results do not
  // depend on batch size, order, threads or resumption.
  uint64_t seed = 0;
  std::string key;  // usually the record id
  int sample = 0;
};

struct GenResult {
  std::string text;        // the completion as generated (after the generation prompt)
  std::string reasoning;   // split out by the backend (chat template or server reasoning_content)
  std::string answer;
  bool format_ok = false;  // reasoning/answer split cleanly and not truncated
  std::string finish_reason;  // "stop" | "length" | "error"
  std::vector<int32_t> token_ids;  // completion ids (local engine; empty over HTTP)
  std::vector<float> logprobs;     // per completion token, when requested
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string error;       // non-empty when the request failed after all retries
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "local:DIR" or "openai:MODEL@URL"; written to provenance.
  virtual std::string name() const = 0;
  // Runs every request; calls done(index, result) as each finishes (any order, possibly from
  // another thread, never concurrently). Returns when all are done or interrupted() is set.
  virtual void generate(const std::vector<GenRequest>& requests,
                        const std::function<void(size_t, GenResult)>& done) = 0;
  // Convenience: all results in request order.
  std::vector<GenResult> generate_all(const std::vector<GenRequest>& requests);
};

// The OpenAI-compatible HTTP backend (libcurl multi; retries with exponential back-off and
// jitter on 429/5xx/connection errors, honouring Retry-After; API key from env or file,
// never logged).
std::unique_ptr<Backend> make_openai_backend(const cli::BackendOptions& options);

// Chooses by options.backend. "local" needs delib_torch: tools linked with it call
// enable_local_backend() (declared in delib/generate.h) first, which registers the factory.
using BackendFactory = std::function<std::unique_ptr<Backend>(const cli::BackendOptions&)>;
void register_local_backend_factory(BackendFactory factory);
std::unique_ptr<Backend> make_backend(const cli::BackendOptions& options);

}  // namespace delib
