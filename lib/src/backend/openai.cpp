// The OpenAI-compatible HTTP backend: libcurl multi with up to `concurrency` requests in
// flight, bounded retries with exponential back-off and jitter (HttpRetryPolicy), Retry-After,
// per-request timeouts, and parsing of chat and text completions (reasoning_content /
// reasoning fields, or <think> tags in the content).
//
// Threading: generate() runs the transfer loop on the calling thread and calls done() there,
// so done is never called concurrently.
#include <curl/curl.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "delib/backend.h"
#include "delib/chat.h"
#include "delib/error.h"

namespace delib {
namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string read_key_file(const std::string& path);

// The API key: options.api_key_env when set and non-empty, else the key file's first line.
std::string api_key_of(const BackendOptions& o) {
  const char* env = o.api_key_env.empty() ? nullptr : std::getenv(o.api_key_env.c_str());
  if (env && *env) return env;
  if (!o.api_key_file.empty()) return read_key_file(o.api_key_file);
  return "";
}

std::string read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read --api-key-file " + path, kExitIo);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  size_t b = line.find_first_not_of(" \t");
  return b == std::string::npos ? std::string() : line.substr(b);
}

// Seconds from a Retry-After value: delta-seconds (fractions accepted) or an HTTP date.
// Returns a negative value when absent or unreadable.
double parse_retry_after(const std::string& v) {
  if (v.empty()) return -1;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end != v.c_str() && *end == '\0') return d < 0 ? 0 : d;
  time_t t = curl_getdate(v.c_str(), nullptr);
  if (t < 0) return -1;
  double delta = std::difftime(t, std::time(nullptr));
  return delta < 0 ? 0 : delta;
}

struct Attempt {
  size_t index = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  std::string response;
  std::string retry_after;
  char errbuf[CURL_ERROR_SIZE] = {0};
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  static_cast<Attempt*>(user)->response.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  static constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) match = false;
    if (match) {
      std::string v(line.substr(kName.size()));
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
      size_t b = v.find_first_not_of(' ');
      static_cast<Attempt*>(user)->retry_after = b == std::string::npos ? "" : v.substr(b);
    }
  }
  return size * n;
}

class OpenAIBackend : public Backend {
 public:
  OpenAIBackend(const BackendOptions& o, const HttpRetryPolicy& policy)
      : opt_(o), policy_(policy) {
    if (o.base_url.empty())
      throw Error(o.flag("backend") + " openai needs " + o.flag("base-url") +
                      " URL (e.g. http://localhost:8000/v1)",
                  kExitUsage);
    if (o.model.empty())
      throw Error(o.flag("backend") + " openai needs " + o.flag("model") +
                      " NAME (the server's model name)",
                  kExitUsage);
    if (o.concurrency < 1) throw Error(o.flag("concurrency") + " must be at least 1", kExitUsage);
    if (o.max_retries < 0) throw Error(o.flag("max-retries") + " must not be negative", kExitUsage);
    if (!(o.timeout > 0)) throw Error(o.flag("timeout") + " must be positive", kExitUsage);
    if (o.token_ids && !o.completions)
      throw Error("internal: token-id requests (BackendOptions::token_ids) go to /v1/completions (completions)");
    if (o.completions && !o.chat_template.empty()) {
      try {
        template_ = ChatTemplate::from_path(o.chat_template);
      } catch (const Error& e) {
        std::string where = e.where().str();
        throw Error(o.flag("chat-template") + " " + o.chat_template + ": " +
                        (where.empty() || where == o.chat_template ? "" : where + ": ") + e.what(),
                    e.exit_code());
      }
    }
    global_init();
    api_key_ = api_key_of(o);
    std::string base = o.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    bool has_v1 = base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0;
    url_ = base + (has_v1 ? "" : "/v1") + (o.completions ? "/completions" : "/chat/completions");
    rng_.seed(std::random_device{}());
  }

  std::string name() const override { return "openai:" + opt_.model + "@" + redact_url(opt_.base_url); }

  void generate(const std::vector<GenRequest>& requests,
                const std::function<void(size_t, GenResult)>& done) override;

 private:
  // `prompt`: the text sent with --completions (unused for chat).
  std::string build_body(const GenRequest& r, const std::string& prompt) const;
  // Parses a 200 answer. Returns false (with why) when it is not a completion.
  bool parse_response(const std::string& body, GenResult& out, std::string& why);

  // The state of one generate() call: queues, attempt counts and the transfers in flight.
  struct Run;
  // --completions: renders each request's text prompt or records why it cannot be sent.
  void render_prompts(Run& run) const;
  // Moves due retries to the ready queue and starts attempts up to --concurrency.
  void dispatch(Run& run);
  // Builds request i's body, headers and easy handle, and adds it to the multi handle.
  void start_attempt(Run& run, size_t i);
  // Reads a finished transfer, frees it, and reports a result or a failure.
  void on_transfer_done(Run& run, CURLMsg* m);
  // A failed attempt: schedules a retry with back-off when allowed, else reports the error.
  void on_failure(Run& run, size_t i, const std::string& why, bool retryable, double retry_after);
  // Milliseconds to wait in curl_multi_poll: until the next retry is due, at most 100.
  static int poll_wait_ms(const Run& run);
  double backoff(int attempt) {
    double step = std::min(policy_.max_delay, policy_.base_delay * std::pow(2.0, attempt));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    return step * (0.5 + 0.5 * u(rng_));
  }

  BackendOptions opt_;
  HttpRetryPolicy policy_;
  std::string api_key_;
  std::string url_;
  std::mt19937_64 rng_;
  simdjson::dom::parser parser_;
  std::shared_ptr<const ChatTemplate> template_;  // with --completions
};

std::string OpenAIBackend::build_body(const GenRequest& r, const std::string& prompt) const {
  const SamplingParams& p = r.params;
  Json j = Json::object();
  j.set("model", opt_.model);
  if (opt_.token_ids) {
    Json ids = Json::array();
    for (int32_t t : r.prompt_ids) ids.push(Json(int64_t(t)));
    j.set("prompt", std::move(ids));
  } else if (opt_.completions) {
    j.set("prompt", prompt);
  } else {
    j.set("messages", messages_to_json(r.messages));
  }
  j.set("n", 1);
  j.set("max_tokens", p.max_tokens);
  j.set("temperature", p.temperature);
  if (p.temperature > 0) {
    j.set("top_p", p.top_p);
    // top_k and min_p are extensions (vLLM, SGLang, llama.cpp); sent only when set so strict
    // servers that reject unknown fields still work with the defaults.
    if (p.top_k > 0) j.set("top_k", p.top_k);
    if (p.min_p > 0) j.set("min_p", p.min_p);
  }
  if (!p.stop.empty()) {
    Json s = Json::array();
    for (const auto& x : p.stop) s.push(x);
    j.set("stop", std::move(s));
  }
  j.set("seed", static_cast<int64_t>(request_seed(r)));
  if (opt_.token_ids) {
    // logprobs N returns the sampled token's log-prob plus the N most likely; 1 is the least
    // that still returns token_logprobs. The sampled ids: choices[0].token_ids with
    // return_token_ids (vLLM, SGLang), else "token_id:N" strings in choices[0].logprobs.tokens
    // with return_tokens_as_token_ids (vLLM; SGLang ignores it and answers text tokens).
    // Checked against vLLM 0.34.0 and SGLang 0.5.23 (tests/servers/check_request_schemas.py).
    j.set("logprobs", 1);
    j.set("return_tokens_as_token_ids", true);
    j.set("return_token_ids", true);
  } else if (p.logprobs) {
    if (opt_.completions) j.set("logprobs", 0);
    else j.set("logprobs", true);
  }
  return j.dump();
}

bool OpenAIBackend::parse_response(const std::string& body, GenResult& out, std::string& why) {
  simdjson::dom::element root;
  if (parser_.parse(body).get(root) != simdjson::SUCCESS || !root.is_object()) {
    why = "the server's answer is not JSON";
    return false;
  }
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices) != simdjson::SUCCESS || choices.size() == 0) {
    why = "the server's answer has no choices";
    return false;
  }
  simdjson::dom::element c0 = choices.at(0);
  std::string_view sv;
  std::string content, reasoning;
  if (opt_.completions) {
    if (c0["text"].get_string().get(sv) != simdjson::SUCCESS) {
      why = "choices[0].text is missing";
      return false;
    }
    content = sv;
  } else {
    simdjson::dom::element msg;
    if (c0["message"].get(msg) != simdjson::SUCCESS || !msg.is_object()) {
      why = "choices[0].message is missing";
      return false;
    }
    if (msg["content"].get_string().get(sv) == simdjson::SUCCESS) content = sv;
    // vLLM and SGLang: reasoning_content; some servers (OpenRouter, newer vLLM): reasoning.
    if (msg["reasoning_content"].get_string().get(sv) == simdjson::SUCCESS) reasoning = sv;
    if (reasoning.empty() && msg["reasoning"].get_string().get(sv) == simdjson::SUCCESS)
      reasoning = sv;
  }
  if (c0["finish_reason"].get_string().get(sv) == simdjson::SUCCESS) out.finish_reason = sv;
  else out.finish_reason = "stop";
  simdjson::dom::element usage;
  if (root["usage"].get(usage) == simdjson::SUCCESS && usage.is_object()) {
    int64_t v;
    if (usage["prompt_tokens"].get_int64().get(v) == simdjson::SUCCESS) out.prompt_tokens = v;
    if (usage["completion_tokens"].get_int64().get(v) == simdjson::SUCCESS)
      out.completion_tokens = v;
  }
  simdjson::dom::element lp;
  if (opt_.token_ids) {
    // The sampled ids and their log-probs, exactly as the server sampled them (never the text
    // tokenized again): choices[0].token_ids (return_token_ids), else choices[0].logprobs.tokens
    // ["token_id:N", ...] (return_tokens_as_token_ids); the log-probs in .token_logprobs.
    simdjson::dom::array toks, lps, ids;
    if (c0["logprobs"].get(lp) != simdjson::SUCCESS || !lp.is_object() ||
        lp["token_logprobs"].get_array().get(lps) != simdjson::SUCCESS) {
      why = "choices[0].logprobs.tokens / token_logprobs are missing (the server must honour \"logprobs\": 1, as "
            "vLLM's and SGLang's /v1/completions do)";
      return false;
    }
    const bool have_ids = c0["token_ids"].get_array().get(ids) == simdjson::SUCCESS;
    const bool have_toks = lp["tokens"].get_array().get(toks) == simdjson::SUCCESS;
    // "token_id:N" tokens: the ids when token_ids is absent, checked against it when present.
    std::vector<int32_t> named;
    bool all_named = have_toks;
    if (have_toks)
      for (auto t : toks) {
        std::string_view tv;
        if (t.get_string().get(tv) != simdjson::SUCCESS || tv.substr(0, 9) != "token_id:") {
          all_named = false;
          break;
        }
        const std::string num(tv.substr(9));
        char* end = nullptr;
        const long long id = std::strtoll(num.c_str(), &end, 10);
        if (num.empty() || *end != '\0' || id < 0 || id > INT32_MAX) {
          why = fmt::format("choices[0].logprobs.tokens: bad token \"{}\"", tv);
          return false;
        }
        named.push_back(int32_t(id));
      }
    if (have_ids) {
      for (auto t : ids) {
        int64_t id;
        if (t.get_int64().get(id) != simdjson::SUCCESS || id < 0 || id > INT32_MAX) {
          why = "choices[0].token_ids holds a value that is not a token id";
          return false;
        }
        out.token_ids.push_back(int32_t(id));
      }
      if (all_named && named != out.token_ids) {
        why = "choices[0].token_ids and the \"token_id:N\" tokens of choices[0].logprobs.tokens differ";
        return false;
      }
    } else if (all_named) {
      out.token_ids = std::move(named);
    } else {
      why = "the sampled token ids are missing: neither choices[0].token_ids (\"return_token_ids\": true; vLLM, "
            "SGLang) nor \"token_id:N\" tokens in choices[0].logprobs.tokens (\"return_tokens_as_token_ids\": "
            "true; vLLM)";
      return false;
    }
    if (out.token_ids.size() != lps.size()) {
      why = fmt::format("the answer has {} sampled token ids but {} choices[0].logprobs.token_logprobs",
                        out.token_ids.size(), lps.size());
      return false;
    }
    for (auto t : lps) {
      double d;
      if (t.get_double().get(d) != simdjson::SUCCESS) {
        why = "choices[0].logprobs.token_logprobs holds a value that is not a number";
        return false;
      }
      out.logprobs.push_back(float(d));
    }
  } else if (c0["logprobs"].get(lp) == simdjson::SUCCESS && lp.is_object()) {
    simdjson::dom::array arr;
    if (lp["content"].get_array().get(arr) == simdjson::SUCCESS) {
      for (auto t : arr) {
        double d;
        if (t["logprob"].get_double().get(d) == simdjson::SUCCESS) out.logprobs.push_back(float(d));
      }
    } else if (lp["token_logprobs"].get_array().get(arr) == simdjson::SUCCESS) {
      for (auto t : arr) {
        double d;
        if (t.get_double().get(d) == simdjson::SUCCESS) out.logprobs.push_back(float(d));
      }
    }
  }
  out.text = content;
  bool stopped = out.finish_reason == "stop";
  if (!reasoning.empty()) {
    // The server split the reasoning off (its reasoning parser): content is the answer.
    out.reasoning = reasoning;
    ThinkSplit s = split_think(content);  // a stray "</think>" in content is still a format error
    out.answer = s.answer;
    out.format_ok = stopped && content.find("</think>") == std::string::npos && !s.answer.empty();
  } else {
    ThinkSplit s = split_think(content);
    out.reasoning = s.reasoning;
    out.answer = s.answer;
    out.format_ok = stopped && s.ok;
  }
  return true;
}

struct OpenAIBackend::Run {
  using Due = std::pair<Clock::time_point, size_t>;

  Run(const std::vector<GenRequest>& reqs, const std::function<void(size_t, GenResult)>& on_done)
      : requests(reqs), done(on_done), n(reqs.size()), attempts(n, 0), last_error(n),
        unsendable(n) {
    for (size_t i = 0; i < n; ++i) ready.push_back(i);
  }
  ~Run() {
    for (auto& a : in_flight) cleanup(a.get());
    in_flight.clear();
    if (multi) curl_multi_cleanup(multi);
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // The text prompt sent for request i with --completions.
  const std::string& prompt_of(size_t i) const {
    return requests[i].prompt.empty() ? rendered[i] : requests[i].prompt;
  }
  // Detaches and frees one transfer's handles (the Attempt itself stays in in_flight).
  void cleanup(Attempt* a) {
    curl_multi_remove_handle(multi, a->easy);
    curl_easy_cleanup(a->easy);
    curl_slist_free_all(a->headers);
  }
  // Hands request i's final result to done().
  void finish(size_t i, GenResult r) {
    ++finished;
    done(i, std::move(r));
  }

  const std::vector<GenRequest>& requests;
  const std::function<void(size_t, GenResult)>& done;
  const size_t n;
  CURLM* multi = nullptr;
  std::deque<size_t> ready;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> waiting;  // retries by due time
  std::vector<int> attempts;
  std::vector<std::string> last_error;
  std::vector<std::unique_ptr<Attempt>> in_flight;
  size_t finished = 0;
  // --completions: the text prompt of each request, rendered here from its messages when it
  // has no prompt of its own; why a request cannot be sent ("" when it can).
  std::vector<std::string> rendered, unsendable;
};

void OpenAIBackend::render_prompts(Run& run) const {
  run.rendered.resize(run.n);
  for (size_t i = 0; i < run.n; ++i) {
    const GenRequest& r = run.requests[i];
    if (opt_.token_ids) {
      if (r.prompt_ids.empty()) run.unsendable[i] = "the request has no prompt token ids";
      continue;
    }
    if (!r.prompt.empty()) continue;
    if (r.messages.empty()) {
      run.unsendable[i] = "the request has neither a text prompt nor messages to render";
      continue;
    }
    if (!template_) {
      run.unsendable[i] = "the request has no text prompt and no " + opt_.flag("chat-template") +
                          " renders its messages";
      continue;
    }
    try {
      run.rendered[i] = template_->render(r.messages, /*add_generation_prompt=*/true).text;
    } catch (const Error& e) {
      run.unsendable[i] = opt_.flag("chat-template") + " cannot render the request: " + e.what();
    }
  }
}

void OpenAIBackend::dispatch(Run& run) {
  auto now = Clock::now();
  while (!run.waiting.empty() && run.waiting.top().first <= now) {
    run.ready.push_back(run.waiting.top().second);
    run.waiting.pop();
  }
  while (!run.ready.empty() && run.in_flight.size() < size_t(opt_.concurrency)) {
    size_t i = run.ready.front();
    run.ready.pop_front();
    if (opt_.completions && (!run.unsendable[i].empty() || (!opt_.token_ids && run.prompt_of(i).empty()))) {
      // Never send a chat request as an empty text prompt.
      GenResult r;
      r.finish_reason = "error";
      r.error = !run.unsendable[i].empty() ? run.unsendable[i]
                                           : "the rendered text prompt is empty; nothing to send";
      run.finish(i, std::move(r));
      continue;
    }
    start_attempt(run, i);
  }
}

void OpenAIBackend::start_attempt(Run& run, size_t i) {
  auto a = std::make_unique<Attempt>();
  a->index = i;
  a->easy = curl_easy_init();
  if (!a->easy) throw Error("curl_easy_init failed", kExitBackend);
  const GenRequest& r = run.requests[i];
  a->body = build_body(r, opt_.completions ? run.prompt_of(i) : r.prompt);
  a->headers = curl_slist_append(a->headers, "Content-Type: application/json");
  a->headers = curl_slist_append(a->headers, "Accept: application/json");
  a->headers = curl_slist_append(a->headers, "Expect:");  // no 100-continue round trip
  if (!api_key_.empty())
    a->headers = curl_slist_append(a->headers, ("Authorization: Bearer " + api_key_).c_str());
  CURL* e = a->easy;
  curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(a->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, a.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, a.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(opt_.timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(std::min(opt_.timeout, 30.0) * 1000));
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_PRIVATE, a.get());
  curl_multi_add_handle(run.multi, e);
  run.in_flight.push_back(std::move(a));
}

void OpenAIBackend::on_transfer_done(Run& run, CURLMsg* m) {
  Attempt* a = nullptr;
  curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&a));
  CURLcode rc = m->data.result;
  long status = 0;
  curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
  size_t i = a->index;
  std::string response = std::move(a->response);
  std::string retry_after = a->retry_after;
  std::string curl_err = a->errbuf[0] ? std::string(a->errbuf) : curl_easy_strerror(rc);
  run.cleanup(a);
  for (auto it = run.in_flight.begin(); it != run.in_flight.end(); ++it)
    if (it->get() == a) {
      run.in_flight.erase(it);
      break;
    }
  if (rc != CURLE_OK) {
    on_failure(run, i, fmt::format("{}: {}", redact_url(url_), curl_err), true, -1);
  } else if (status == 200) {
    GenResult r;
    std::string why;
    if (parse_response(response, r, why)) {
      run.finish(i, std::move(r));
    } else {
      on_failure(run, i, fmt::format("{}: {}", redact_url(url_), why), true, -1);
    }
  } else {
    std::string snippet = response.substr(0, 300);
    for (char& c : snippet)
      if (c == '\n' || c == '\r') c = ' ';
    bool retryable = status == 429 || status == 408 || status >= 500;
    on_failure(run, i, fmt::format("{}: HTTP {}: {}", redact_url(url_), status, snippet),
               retryable, parse_retry_after(retry_after));
  }
}

void OpenAIBackend::on_failure(Run& run, size_t i, const std::string& why, bool retryable,
                               double retry_after) {
  int a = run.attempts[i]++;
  run.last_error[i] = why;
  if (retryable && a < opt_.max_retries) {
    double wait = backoff(a);
    if (retry_after >= 0) wait = std::max(wait, std::min(retry_after, policy_.max_retry_after));
    run.waiting.emplace(Clock::now() + std::chrono::microseconds(int64_t(wait * 1e6)), i);
    return;
  }
  GenResult r;
  r.finish_reason = "error";
  r.error = retryable ? fmt::format("{} (gave up after {} attempts)", why, a + 1) : why;
  run.finish(i, std::move(r));
}

int OpenAIBackend::poll_wait_ms(const Run& run) {
  if (run.waiting.empty()) return 100;
  auto until = std::chrono::duration_cast<std::chrono::milliseconds>(run.waiting.top().first -
                                                                     Clock::now());
  return int(std::clamp<int64_t>(until.count(), 0, 100));
}

void OpenAIBackend::generate(const std::vector<GenRequest>& requests,
                             const std::function<void(size_t, GenResult)>& done) {
  if (requests.empty()) return;
  Run run(requests, done);  // its destructor frees the transfers and the multi handle
  run.multi = curl_multi_init();
  if (!run.multi) throw Error("curl_multi_init failed", kExitBackend);
  curl_multi_setopt(run.multi, CURLMOPT_MAXCONNECTS, long(opt_.concurrency));
  if (opt_.completions) render_prompts(run);

  while (run.finished < run.n) {
    if (interrupted()) break;
    dispatch(run);
    int running = 0;
    curl_multi_perform(run.multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(run.multi, &left))
      if (m->msg == CURLMSG_DONE) on_transfer_done(run, m);
    if (run.finished >= run.n) break;
    int wait_ms = poll_wait_ms(run);
    if (!run.in_flight.empty() || wait_ms > 0)
      curl_multi_poll(run.multi, nullptr, 0, wait_ms, nullptr);
  }
}

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const BackendOptions& options,
                                             const HttpRetryPolicy& policy) {
  return std::make_unique<OpenAIBackend>(options, policy);
}

std::unique_ptr<Backend> make_openai_backend(const BackendOptions& options) {
  return make_openai_backend(options, HttpRetryPolicy{});
}

HttpAnswer post_json(const BackendOptions& o, const std::string& url, const std::string& body,
                     const HttpRetryPolicy& policy, bool tolerate_4xx) {
  global_init();
  const std::string key = api_key_of(o);
  std::mt19937_64 rng(std::random_device{}());
  std::string last;
  for (int attempt = 0;; ++attempt) {
    if (interrupted()) throw Error(fmt::format("{}: interrupted", redact_url(url)), kExitBackend);
    Attempt a;
    a.easy = curl_easy_init();
    if (!a.easy) throw Error("curl_easy_init failed", kExitBackend);
    a.headers = curl_slist_append(a.headers, "Content-Type: application/json");
    a.headers = curl_slist_append(a.headers, "Expect:");
    if (!key.empty()) a.headers = curl_slist_append(a.headers, ("Authorization: Bearer " + key).c_str());
    CURL* e = a.easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a.headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a.errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(o.timeout * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(std::min(o.timeout, 30.0) * 1000));
    const CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    const std::string curl_err = a.errbuf[0] ? std::string(a.errbuf) : curl_easy_strerror(rc);
    curl_easy_cleanup(e);
    curl_slist_free_all(a.headers);
    bool retryable = true;
    double retry_after = -1;
    if (rc != CURLE_OK) {
      last = fmt::format("{}: {}", redact_url(url), curl_err);
    } else if (status >= 200 && status < 300) {
      return {status, std::move(a.response)};
    } else {
      if (tolerate_4xx && status >= 400 && status < 500 && status != 408 && status != 429)
        return {status, std::move(a.response)};
      std::string snippet = a.response.substr(0, 300);
      for (char& c : snippet)
        if (c == '\n' || c == '\r') c = ' ';
      last = fmt::format("{}: HTTP {}: {}", redact_url(url), status, snippet);
      retryable = status == 429 || status == 408 || status >= 500;
      retry_after = parse_retry_after(a.retry_after);
    }
    if (!retryable) throw Error(last, kExitBackend);
    if (attempt >= o.max_retries) throw Error(fmt::format("{} (gave up after {} attempts)", last, attempt + 1), kExitBackend);
    double step = std::min(policy.max_delay, policy.base_delay * std::pow(2.0, attempt));
    double wait = step * (0.5 + 0.5 * std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    if (retry_after >= 0) wait = std::max(wait, std::min(retry_after, policy.max_retry_after));
    std::this_thread::sleep_for(std::chrono::microseconds(int64_t(wait * 1e6)));
  }
}

}  // namespace delib
