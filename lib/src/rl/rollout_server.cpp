// A step's rollouts from an OpenAI-compatible server (see server.h for the request and answer
// fields relied on, and for which servers).
#include <fmt/format.h>

#include "delib/error.h"
#include "rl/server.h"

namespace delib::rl::detail {

RolloutServer::RolloutServer(const RlOptions& o) : opt_(o.rollout_backend) {
  opt_.prefix = "rollout";
  if (opt_.base_url.empty())
    throw Error("--rollout-backend openai needs --rollout-base-url URL (e.g. http://localhost:8000/v1)", kExitUsage);
  if (opt_.model.empty())
    throw Error("--rollout-backend openai needs --rollout-model NAME (the server's name for the starting policy "
                "--model)", kExitUsage);
  opt_.completions = true;   // /v1/completions: the prompt is token ids, not messages
  opt_.token_ids = true;
  opt_.chat_template.clear();
  serve(opt_.model, 0);
}

void RolloutServer::serve(const std::string& model_name, int64_t version) {
  BackendOptions b = opt_;
  b.model = model_name;
  backend_ = make_openai_backend(b);
  model_ = model_name;
  version_ = version;
}

std::vector<GenResult> RolloutServer::generate(const std::vector<GenRequest>& requests) {
  std::vector<GenResult> res = backend_->generate_all(requests);
  if (interrupted()) return res;
  for (size_t i = 0; i < res.size(); ++i)
    if (!res[i].error.empty())
      throw Error(fmt::format("rollout {} sample {} (model {}, policy version {}): {}", requests[i].key,
                              requests[i].sample, model_, version_, res[i].error),
                  kExitBackend);
  return res;
}

std::string RolloutServer::v1_url() const {
  std::string base = opt_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0) return base;
  return base + "/v1";
}

std::string RolloutServer::root_url() const {
  std::string v1 = v1_url();
  return v1.substr(0, v1.size() - 3);
}

}  // namespace delib::rl::detail
