// Backend plumbing shared by the local and HTTP backends: sampling parameters, the factory
// registry, and small helpers (seeds, <think> splitting, URL redaction).
#include "delib/backend.h"

#include <mutex>

#include "delib/error.h"

namespace delib {

Json SamplingParams::to_json() const {
  Json j = Json::object();
  j.set("temperature", temperature);
  j.set("top_p", top_p);
  j.set("top_k", top_k);
  j.set("min_p", min_p);
  j.set("max_tokens", max_tokens);
  Json s = Json::array();
  for (const auto& x : stop) s.push(x);
  j.set("stop", std::move(s));
  if (logprobs) j.set("logprobs", true);
  return j;
}

std::vector<GenResult> Backend::generate_all(const std::vector<GenRequest>& requests) {
  std::vector<GenResult> out(requests.size());
  generate(requests, [&](size_t i, GenResult r) { out[i] = std::move(r); });
  return out;
}

namespace {
std::mutex g_factory_mutex;
BackendFactory& local_factory() {
  static BackendFactory f;
  return f;
}
}  // namespace

void register_local_backend_factory(BackendFactory factory) {
  std::lock_guard<std::mutex> lock(g_factory_mutex);
  local_factory() = std::move(factory);
}

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  const auto& o = options;
  if (o.backend != "openai" && o.backend != "local")
    throw Error("unknown " + o.flag("backend") + " '" + o.backend + "' (expected local or openai)",
                kExitUsage);
  if (o.completions && o.backend != "openai")
    throw Error(o.flag("completions") + " applies to " + o.flag("backend") +
                    " openai only (the local backend renders chats with the model's own template)",
                kExitUsage);
  if (o.completions && o.chat_template.empty())
    throw Error(o.flag("completions") + " needs " + o.flag("chat-template") +
                    " FILE to render chat requests as text prompts",
                kExitUsage);
  if (!o.chat_template.empty() && !o.completions)
    throw Error(o.flag("chat-template") + " is used only with " + o.flag("completions") +
                    " (chat requests are otherwise rendered by the server or the local model)",
                kExitUsage);
  if (o.backend == "openai") return make_openai_backend(options);
  {
    BackendFactory f;
    {
      std::lock_guard<std::mutex> lock(g_factory_mutex);
      f = local_factory();
    }
    if (!f)
      throw Error(o.flag("backend") + " local is not available in this build (the tool was built "
                  "without LibTorch); use " + o.flag("backend") + " openai " + o.flag("base-url") +
                  " URL",
                  kExitUsage);
    if (options.model.empty())
      throw Error(o.flag("backend") + " local needs " + o.flag("model") +
                      " DIR (a Hugging Face checkpoint directory)",
                  kExitUsage);
    return f(options);
  }
}

uint64_t request_seed(const GenRequest& request) {
  std::string bytes;
  bytes.reserve(12 + request.key.size());
  for (int i = 0; i < 8; ++i) bytes.push_back(char((request.seed >> (8 * i)) & 0xff));
  bytes += request.key;
  uint32_t s = uint32_t(request.sample);
  for (int i = 0; i < 4; ++i) bytes.push_back(char((s >> (8 * i)) & 0xff));
  return hash64(bytes) & 0x7fffffffULL;
}

namespace {
std::string_view trim_ws(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\r' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == '\t'))
    --e;
  return s.substr(b, e - b);
}
}  // namespace

ThinkSplit split_think(std::string_view text) {
  static constexpr std::string_view kOpen = "<think>", kClose = "</think>";
  ThinkSplit out;
  size_t close = text.find(kClose);
  if (close == std::string_view::npos) {
    out.answer = std::string(trim_ws(text));
    return out;
  }
  std::string_view before = text.substr(0, close);
  std::string_view after = text.substr(close + kClose.size());
  std::string_view lead = trim_ws(before);
  if (lead.substr(0, kOpen.size()) == kOpen) lead = trim_ws(lead.substr(kOpen.size()));
  // A second opening tag inside the reasoning or a second closing tag in the answer means the
  // model did not follow the format.
  if (lead.find(kOpen) != std::string_view::npos || after.find(kClose) != std::string_view::npos ||
      after.find(kOpen) != std::string_view::npos) {
    out.answer = std::string(trim_ws(text));
    return out;
  }
  out.reasoning = std::string(lead);
  out.answer = std::string(trim_ws(after));
  out.ok = true;
  return out;
}

std::string redact_url(std::string_view url) {
  size_t scheme = url.find("://");
  size_t host_start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t path_start = url.find('/', host_start);
  size_t at = url.rfind('@', path_start == std::string_view::npos ? url.size() : path_start);
  if (at == std::string_view::npos || at < host_start) return std::string(url);
  return std::string(url.substr(0, host_start)) + std::string(url.substr(at + 1));
}

}  // namespace delib
