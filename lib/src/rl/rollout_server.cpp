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

void RolloutServer::check(const std::vector<GenRequest>& requests, const std::vector<GenResult>& res,
                          const std::string& model, int64_t version) const {
  if (interrupted()) return;
  for (size_t i = 0; i < res.size(); ++i)
    if (!res[i].error.empty())
      throw Error(fmt::format("rollout {} sample {} (model {}, policy version {}): {}", requests[i].key,
                              requests[i].sample, model, version, res[i].error),
                  kExitBackend);
}

std::vector<GenResult> RolloutServer::generate(const std::vector<GenRequest>& requests) {
  std::vector<GenResult> res = backend_->generate_all(requests);
  check(requests, res, model_, version_);
  return res;
}

void RolloutServer::prefetch(std::vector<GenRequest> requests) {
  wait();
  pending_.reset();
  Pending p;
  p.requests = std::make_shared<const std::vector<GenRequest>>(std::move(requests));
  p.version = version_;
  p.model = model_;
  BackendOptions b = opt_;
  b.model = model_;
  p.backend = make_openai_backend(b);
  Backend* backend = p.backend.get();  // owned by Pending, which outlives the thread (take, wait)
  p.results = std::async(std::launch::async, [backend, reqs = p.requests] { return backend->generate_all(*reqs); });
  pending_ = std::move(p);
}

namespace {

bool same_requests(const std::vector<GenRequest>& a, const std::vector<GenRequest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].sample != b[i].sample || a[i].seed != b[i].seed ||
        a[i].prompt_ids != b[i].prompt_ids || a[i].params.to_json().dump() != b[i].params.to_json().dump())
      return false;
  return true;
}

}  // namespace

void RolloutServer::finish(Pending& p) const {
  if (!p.results.valid()) return;
  try {
    p.ready = Prefetched{p.results.get(), p.version};  // waits
  } catch (...) {
    p.error = std::current_exception();
  }
}

std::optional<RolloutServer::Prefetched> RolloutServer::take(const std::vector<GenRequest>& requests) {
  if (!pending_) return std::nullopt;
  Pending p = std::move(*pending_);
  pending_.reset();
  finish(p);
  if (p.error) std::rethrow_exception(p.error);  // what the thread threw
  if (!p.ready || !same_requests(*p.requests, requests)) return std::nullopt;
  check(requests, p.ready->results, p.model, p.version);
  return std::move(*p.ready);
}

void RolloutServer::wait() {
  if (pending_ && pending_->results.valid()) pending_->results.wait();
}

RolloutServer::Finished RolloutServer::finished() {
  if (!pending_) return {};
  finish(*pending_);
  if (pending_->error || !pending_->ready) return {};
  for (const GenResult& g : pending_->ready->results)
    if (!g.error.empty()) return {};  // a failed request: take() reports it
  return {pending_->requests.get(), &*pending_->ready};
}

void RolloutServer::adopt(std::vector<GenRequest> requests, Prefetched results) {
  wait();
  pending_.reset();
  Pending p;
  p.requests = std::make_shared<const std::vector<GenRequest>>(std::move(requests));
  p.version = results.version;
  p.model = "(the checkpointed run's prefetch)";
  p.ready = std::move(results);
  pending_ = std::move(p);
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
