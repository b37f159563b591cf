// One interface to the models that generate and judge: the local engine (delib_torch) or an
// OpenAI-compatible server over HTTP (vLLM, SGLang, llama.cpp). Area: backend (core).
// cot-gen, cot-judge, rl-train and safety-eval reach models only through this interface
// (make_backend).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "delib/records.h"

namespace delib {

// How a backend samples one completion. The generating tools' --temperature, --top-p,
// --top-k, --min-p, --max-tokens and --stop set these fields (cli::add_sampling_options).
struct SamplingParams {
  double temperature = 1.0;  // 0 = greedy. Default: 1
  double top_p = 1.0;        // nucleus: the smallest set of tokens with this total probability. Default: 1
  int top_k = 0;             // only the k most likely tokens; 0 = off. Default: 0
  double min_p = 0.0;        // drop tokens less likely than min_p x the most likely. Default: 0
  int max_tokens = 1024;     // the most new tokens per completion. Default: 1024
  std::vector<std::string> stop;  // stop strings (the model's end-of-turn is always a stop)
  bool logprobs = false;          // fill GenResult::logprobs. Default: false
  Json to_json() const;
};

// How to reach a model: a local Hugging Face directory run in-process (the local engine of
// delib_torch) or an OpenAI-compatible server. make_backend() takes these; the tools fill
// them from --backend, --model, ... (cli::add_backend_options, which can register them under
// a prefix: --judge-model, ...).
struct BackendOptions {
  // "local" or "openai". Default: "local"
  std::string backend = "local";
  // local: the model directory; openai: the served model's name. REQUIRES: non-empty for
  // make_backend.
  std::string model;
  // openai: the server's URL, e.g. http://localhost:8000/v1. REQUIRES: non-empty for openai.
  std::string base_url;
  // openai: the environment variable that holds the API key. Default: "OPENAI_API_KEY"
  std::string api_key_env = "OPENAI_API_KEY";
  // openai: a file whose first line is the API key, used when api_key_env is unset or empty.
  // "" = none.
  std::string api_key_file;
  int concurrency = 16;      // openai: requests in flight. Default: 16
  double timeout = 600;      // openai: seconds per request. Default: 600
  int max_retries = 6;       // openai: retries per request (HttpRetryPolicy). Default: 6
  std::string device = "cpu";   // local: cpu, cuda or cuda:N (parse_device). Default: "cpu"
  std::string dtype = "auto";   // local: auto (bf16 on CUDA, f32 on CPU), f32, bf16, f16
  int batch_size = 16;       // local: sequences the engine decodes together. Default: 16
  // openai: send /v1/completions with a prompt rendered from each chat request with
  // chat_template, instead of /v1/chat/completions. Default: false
  bool completions = false;
  // A model directory, a tokenizer_config.json or a template file: the chat template that
  // renders chat requests when `completions` is set (make_backend loads it once).
  // REQUIRES: set when completions is; "" otherwise.
  std::string chat_template;
  // openai with `completions`: token-id completions (rl-train's server rollouts). Each request
  // sends GenRequest::prompt_ids as `prompt` (a list of token ids: the caller renders the chat
  // template and tokenizes, so the server sees exactly the tokens the trainer does), with
  // "logprobs": 1 and "return_tokens_as_token_ids": true, and the answer must carry
  // choices[0].logprobs.tokens as "token_id:N" strings (vLLM's OpenAI server: the
  // CompletionRequest extra field return_tokens_as_token_ids; the first vLLM release with it
  // was not checked) and
  // choices[0].logprobs.token_logprobs (the sampled tokens' log-probs) of the same length; they
  // fill GenResult::token_ids and GenResult::logprobs. An answer without them, or with a token
  // that is not "token_id:N", is a failed attempt (retried, then GenResult::error), never a
  // re-tokenisation of the text. A request without prompt_ids fails likewise. Default: false
  bool token_ids = false;
  // local: LibTorch intra-op CPU threads (0: LibTorch's default, one per core). Torch's thread
  // count is per process, so two local backends in one process share the last value set.
  // Default: 0
  int threads = 0;
  // How messages name these options: "--NAME" when empty, else "--PREFIX-NAME" (a judge's
  // options are --judge-model, ...), so that an error names the flag the user typed.
  // Default: ""
  std::string prefix;
  // "--NAME" or "--PREFIX-NAME".
  std::string flag(const std::string& name) const {
    return "--" + prefix + (prefix.empty() ? "" : "-") + name;
  }
};

struct GenRequest {
  // Chat request: rendered with the model's chat template (local), sent as `messages`
  // (openai), or with BackendOptions::completions rendered by the HTTP backend with
  // BackendOptions::chat_template and sent as `prompt`.
  std::vector<Message> messages;
  // Raw text prompt instead: used as is when non-empty (local engine, or openai with
  // BackendOptions::completions).
  std::string prompt;
  // Token-id prompt: sent as is with BackendOptions::token_ids (openai); ignored otherwise.
  std::vector<int32_t> prompt_ids;
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
  std::vector<int32_t> token_ids;  // completion ids (local engine, or openai with token_ids;
                                   // else empty over HTTP)
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
  // CPU threads this backend computes with in this process: the local backend's LibTorch
  // intra-op threads (BackendOptions::threads when set), 0 for a remote server. For run
  // records.
  virtual int threads() const { return 0; }
  // Convenience: all results in request order.
  std::vector<GenResult> generate_all(const std::vector<GenRequest>& requests);
};

// The OpenAI-compatible HTTP backend (libcurl multi; retries with exponential back-off and
// jitter on 429/5xx/connection errors, honouring Retry-After; API key from env or file,
// never logged).
std::unique_ptr<Backend> make_openai_backend(const BackendOptions& options);

// Chooses by options.backend. "local" needs delib_torch: tools linked with it call
// enable_local_backend() (declared in delib/generate.h) first, which registers the factory.
// The local backend sets LibTorch's intra-op threads to options.threads when it is positive.
// Usage errors (Error(kExitUsage), naming the flags with options.prefix): an unknown backend,
// --completions with a backend other than openai, --completions without --chat-template, and
// --chat-template without --completions (it would be ignored).
using BackendFactory = std::function<std::unique_ptr<Backend>(const BackendOptions&)>;
void register_local_backend_factory(BackendFactory factory);
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

// ---- Helpers shared by the backends and the tools ----

// How the HTTP backend waits before retrying a failed attempt. Attempt a (0-based) that failed
// with 429, 5xx, 408, a connection error or a timeout is retried after
//   delay(a) = min(max_delay, base_delay * 2^a) * (0.5 + 0.5 * u),  u ~ U[0, 1)
// ("equal jitter": at least half the exponential step, so a crowd of clients spreads out),
// and never sooner than the server's Retry-After (seconds or an HTTP date; capped at
// max_retry_after). Other 4xx answers (400, 401, 404, ...) are not retried: they will not change.
struct HttpRetryPolicy {
  double base_delay = 0.25;       // seconds. Default: 0.25
  double max_delay = 30;          // seconds. Default: 30
  double max_retry_after = 600;   // seconds. Default: 600
};

// The HTTP backend with an explicit retry policy (make_openai_backend uses the defaults).
// Endpoint: options.base_url + "/chat/completions" when base_url ends in "/v1" (the OpenAI
// client convention), else base_url + "/v1/chat/completions"; with options.completions,
// ".../completions" with GenRequest::prompt, or, for a request without one, its messages
// rendered with the chat template of options.chat_template (read once, here, as
// ChatTemplate::from_path does, with add_generation_prompt). A request that has neither, or
// whose messages no template renders (options.chat_template empty: make_backend refuses that
// combination, this function serves callers that render prompts themselves), fails with an
// error; it is never sent as chat or as an empty prompt. Each request asks for n=1 with
// seed = request_seed(request) so that servers that honour seeds reproduce a sample.
// The API key: the environment variable options.api_key_env when set and non-empty, else the
// first line of options.api_key_file when given, else none. It goes only into the
// Authorization header; it is never printed, logged or put into name() or errors.
// Throws Error(kExitUsage) when base_url or model is empty, Error(kExitIo) when the key file
// or the template cannot be read, and Error when the template is not one delib recognises.
std::unique_ptr<Backend> make_openai_backend(const BackendOptions& options,
                                             const HttpRetryPolicy& policy);

// One JSON POST to an OpenAI-compatible server's control endpoint (rl-train's weight sync:
// vLLM's /v1/load_lora_adapter, SGLang's /update_weights_from_disk): `url` is the full URL,
// `body` the JSON text. Uses options' API key, timeout and max_retries, retrying 429, 5xx, 408
// and connection errors with policy's back-off as generate() does. Returns the 2xx answer's
// body. Throws Error(kExitBackend) naming the URL (redacted), the status and the start of the
// answer when the last attempt failed or the answer is not 2xx; with `tolerate_4xx`, a 4xx
// answer is returned (HttpAnswer::status), not thrown.
struct HttpAnswer {
  long status = 0;
  std::string body;
};
HttpAnswer post_json(const BackendOptions& options, const std::string& url, const std::string& body,
                     const HttpRetryPolicy& policy = {}, bool tolerate_4xx = false);

// The seed sent to a server for one sample: XXH3-64 over (seed as 8 little-endian bytes, key,
// sample as 4 little-endian bytes), masked to 31 bits so every server's seed type holds it.
// Depends only on (seed, key, sample): not on order, batching or resumption.
uint64_t request_seed(const GenRequest& request);

// A completion split at its reasoning: "<think>R</think>A" -> (R, A); a completion that starts
// inside the reasoning (templates such as Qwen3 open <think> in the generation prompt) may
// omit the opening tag: "R</think>A" -> (R, A). Whitespace around R and A is trimmed.
// ok is false when there is no closing tag, or an opening tag without a closing one; then
// reasoning is "" and answer is the whole text (trimmed).
struct ThinkSplit {
  std::string reasoning;
  std::string answer;
  bool ok = false;
};
ThinkSplit split_think(std::string_view text);

// "scheme://host[:port]/path" without any "user:password@" part (for names and messages).
std::string redact_url(std::string_view url);

}  // namespace delib
