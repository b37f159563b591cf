// The generation engine: batched decoding over a KV cache with continuous batching.
//
// Layout of one run (B = slots, R = cache rows >= B, see generate.h on numerics):
//
//   cache: per layer k, v (R, H_kv, T_cap, D); lengths (R,)
//   slot s <-> cache row s. A new request is prefilled alone into its row (batch 1, a view
//   of the row), which samples its first token; then every decode step feeds one token per
//   row, (R, 1), and samples the next token of every active row on the host. A request that
//   finishes hands its row to the next waiting request at once (continuous batching); idle
//   rows are fed token 0 and their length is reset to 0 after every step, so they never
//   grow and never affect the active rows.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <xxhash.h>

#include "delib/error.h"
#include "delib/generate.h"
#include "delib/kernels.h"
#include "delib/records.h"
#include "generate/sampler.h"

namespace delib {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU GEMMs give a row the same bits whatever the other rows hold only when every row sits in
// a full block of the kernel (MKL on AVX2: 4 rows); 8 covers AVX-512 kernels too.
constexpr int64_t kCpuRowMultiple = 8;

struct Slot {
  int64_t req = -1;  // index into the requests; -1 = idle
  EngineResult res;
  generate::Rng rng;
  int32_t next = 0;       // the token to feed at the next decode step
  int64_t budget = 0;     // max new tokens for this request
  size_t max_stop_bytes = 0;
  torch::Tensor prompt_last;  // (1, 1, C): the hidden state at the prompt's last position
};

// A view of row `row` of the cache: writes through the views land in the shared tensors.
KVCache row_view(KVCache& cache, int64_t row) {
  KVCache v;
  v.k.reserve(cache.k.size());
  v.v.reserve(cache.v.size());
  for (auto& t : cache.k) v.k.push_back(t.narrow(0, row, 1));
  for (auto& t : cache.v) v.v.push_back(t.narrow(0, row, 1));
  v.lengths = cache.lengths.narrow(0, row, 1);
  return v;
}

}  // namespace

uint64_t sample_seed(uint64_t seed, std::string_view key, int sample) {
  std::string bytes(16 + key.size(), '\0');
  int64_t s = sample;
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((seed >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) bytes[size_t(8 + i)] = char((uint64_t(s) >> (8 * i)) & 0xff);
  std::memcpy(bytes.data() + 16, key.data(), key.size());
  return XXH3_64bits(bytes.data(), bytes.size());
}

struct Engine::Impl {
  std::shared_ptr<CausalLM> model;
  std::shared_ptr<const Tokenizer> tok;
  EngineOptions opt;
  EngineStats stats;
  generate::SamplerScratch scratch;                  // first tokens (one row at a time)
  std::vector<generate::SamplerScratch> scratches;  // decode steps: one per intra-op thread

  int64_t context_limit() const {
    if (opt.max_context > 0) return opt.max_context;
    int64_t m = model->config().max_position_embeddings;
    return m > 0 ? std::min<int64_t>(m, 8192) : 8192;
  }

  // Samples slot's next token from one row of logits; returns true when the request is done.
  bool accept(Slot& s, const EngineRequest& r, const float* row, int64_t V) {
    int32_t id = generate::sample_token(row, V, r.params, s.rng, scratch);
    return accept_token(s, r, id, r.params.logprobs ? generate::token_logprob(row, V, id) : 0.0);
  }

  // Appends a chosen token (and its log-prob when requested); true when the request is done.
  bool accept_token(Slot& s, const EngineRequest& r, int32_t id, double logprob) {
    s.res.ids.push_back(id);
    if (r.params.logprobs) s.res.logprobs.push_back(float(logprob));
    ++stats.generated_tokens;
    if (std::find(r.stop_ids.begin(), r.stop_ids.end(), id) != r.stop_ids.end()) {
      s.res.finish_reason = "stop";
      return true;
    }
    if (s.max_stop_bytes > 0 && tok) {
      // A stop string completed by this token ends within the last max_stop_bytes bytes of
      // text, i.e. within the last max_stop_bytes tokens (+ slack for byte-fallback tokens
      // that only form a character together).
      size_t n = s.res.ids.size(), w = std::min(n, s.max_stop_bytes + 8);
      std::vector<int32_t> tail(s.res.ids.end() - long(w), s.res.ids.end());
      std::string text = tok->decode(tail, false);
      for (const auto& stop : r.params.stop) {
        if (!stop.empty() && text.find(stop) != std::string::npos) {
          s.res.finish_reason = "stop";
          return true;
        }
      }
    }
    if (int64_t(s.res.ids.size()) >= s.budget) {
      s.res.finish_reason = "length";
      return true;
    }
    s.next = id;
    return false;
  }

  // Decodes the text of a finished request and cuts it at the earliest stop string.
  void finish_text(EngineResult& res, const EngineRequest& r) {
    if (!tok) return;
    std::vector<int32_t> ids = res.ids;
    if (!ids.empty() && res.finish_reason == "stop" &&
        std::find(r.stop_ids.begin(), r.stop_ids.end(), ids.back()) != r.stop_ids.end()) {
      ids.pop_back();
    }
    res.text = tok->decode(ids, false);
    size_t cut = std::string::npos;
    for (const auto& stop : r.params.stop) {
      if (stop.empty()) continue;
      size_t at = res.text.find(stop);
      if (at != std::string::npos && (cut == std::string::npos || at < cut)) {
        cut = at;
        res.stop = stop;
      }
    }
    if (cut != std::string::npos) {
      res.text.resize(cut);
      res.finish_reason = "stop";
    }
  }
};

Engine::Engine(std::shared_ptr<CausalLM> model, std::shared_ptr<const Tokenizer> tokenizer,
               EngineOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error("Engine: no model");
  if (options.batch_size < 1) throw Error("batch size must be at least 1, got " +
                                          std::to_string(options.batch_size), kExitUsage);
  impl_->model = std::move(model);
  impl_->tok = std::move(tokenizer);
  impl_->opt = std::move(options);
}

Engine::~Engine() = default;

CausalLM& Engine::model() { return *impl_->model; }

const Tokenizer& Engine::tokenizer() const {
  if (!impl_->tok) throw Error("Engine: no tokenizer");
  return *impl_->tok;
}

const EngineStats& Engine::stats() const { return impl_->stats; }

void Engine::run(const std::vector<EngineRequest>& requests,
                 const std::function<void(size_t, EngineResult)>& done) {
  Impl& E = *impl_;
  E.stats = EngineStats{};
  const int64_t N = int64_t(requests.size());
  if (N == 0) return;
  torch::InferenceMode inference;
  CausalLM& model = *E.model;
  const torch::Device device = model.device();
  const int64_t limit = E.context_limit();

  // Per-request budgets depend only on the request and the context limit (never on the other
  // requests), so a request's result does not depend on the batch it ran in.
  std::vector<int64_t> budget(static_cast<size_t>(N));
  int64_t capacity = 1;
  for (int64_t i = 0; i < N; ++i) {
    const auto& r = requests[size_t(i)];
    int64_t L = int64_t(r.prompt_ids.size());
    budget[size_t(i)] = std::min<int64_t>(r.params.max_tokens, limit - L);
    if (L > 0 && budget[size_t(i)] > 0) capacity = std::max(capacity, L + budget[size_t(i)]);
    if (!r.params.stop.empty() && !E.tok) {
      throw Error("Engine: stop strings need a tokenizer (request " + std::to_string(i) + ")");
    }
  }

  const int64_t B = std::min<int64_t>(E.opt.batch_size, N);
  const int64_t mult = device.is_cpu() ? kCpuRowMultiple : 1;
  const int64_t R = (B + mult - 1) / mult * mult;
  KVCache cache = model.new_cache(R, capacity);
  torch::Tensor W = model.lm_head_weight();
  const int64_t V = W.size(0);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);

  const bool device_sampling = E.opt.sampling == EngineOptions::Sampling::kDevice ||
                               (E.opt.sampling == EngineOptions::Sampling::kAuto && device.is_cuda());
  std::vector<Slot> slots(static_cast<size_t>(R));
  int64_t next_req = 0, active = 0;
  std::vector<int64_t> feed(size_t(R), 0), live(size_t(R), 0);
  bool live_changed = true;
  torch::Tensor live_t;

  auto finish = [&](Slot& s) {
    const auto& r = requests[size_t(s.req)];
    E.finish_text(s.res, r);
    size_t idx = size_t(s.req);
    EngineResult res = std::move(s.res);
    s.res = EngineResult{};
    s.req = -1;
    s.prompt_last = torch::Tensor();
    done(idx, std::move(res));
  };

  // Gives each of `rows` (idle slots) the next waiting request: each prompt is prefilled alone
  // (its own forward, so a result never depends on the batch) or, when a live row already holds
  // the same prompt, its keys/values are copied from there; then the first-token logits of
  // all rows filled in this round come from one pass over the LM head (linear_rows gives each
  // row the same bits as alone; the head's weight is the largest read of a step). Rows whose
  // request ends at its first token are filled again. Leaves each row active or idle.
  auto fill = [&](std::vector<int64_t> rows) {
    std::vector<int64_t> touched = rows;
    while (!rows.empty()) {
      std::vector<int64_t> pending;    // rows prefilled in this round
      std::vector<torch::Tensor> last; // their last hidden state, (1, 1, C) each
      auto t0 = Clock::now();
      for (int64_t row : rows) {
        Slot& s = slots[size_t(row)];
        while (s.req < 0 && next_req < N && !interrupted()) {
          int64_t i = next_req++;
          const auto& r = requests[size_t(i)];
          s.req = i;
          s.res = EngineResult{};
          s.res.prompt_tokens = int64_t(r.prompt_ids.size());
          s.rng = generate::Rng(r.seed);
          s.budget = budget[size_t(i)];
          s.max_stop_bytes = 0;
          for (const auto& st : r.params.stop) s.max_stop_bytes = std::max(s.max_stop_bytes, st.size());
          ++E.stats.requests;
          const int64_t L = int64_t(r.prompt_ids.size());
          if (L == 0 || s.budget <= 0) {
            s.res.finish_reason = "length";
            finish(s);
            continue;
          }
          // Another live row with the same prompt (the samples of one prompt arrive together):
          // its cache slots [0, L) hold exactly what prefilling this prompt would write (a
          // prompt is always prefilled alone), so copy them and its last hidden state.
          int64_t src = -1;
          for (int64_t o = 0; o < R && src < 0; ++o) {
            const Slot& so = slots[size_t(o)];
            if (o != row && so.req >= 0 && so.prompt_last.defined() &&
                requests[size_t(so.req)].prompt_ids == r.prompt_ids)
              src = o;
          }
          if (src >= 0) {
            for (size_t l = 0; l < cache.k.size(); ++l) {
              cache.k[l].narrow(0, row, 1).narrow(2, 0, L).copy_(cache.k[l].narrow(0, src, 1).narrow(2, 0, L));
              cache.v[l].narrow(0, row, 1).narrow(2, 0, L).copy_(cache.v[l].narrow(0, src, 1).narrow(2, 0, L));
            }
            cache.lengths.narrow(0, row, 1).fill_(L);
            s.prompt_last = slots[size_t(src)].prompt_last;
            E.stats.prompt_tokens += L;
            E.stats.shared_prompt_tokens += L;
            last.push_back(s.prompt_last);
            pending.push_back(row);
            continue;
          }
          std::vector<int64_t> ids(r.prompt_ids.begin(), r.prompt_ids.end());
          torch::Tensor input =
              torch::from_blob(ids.data(), {1, L}, i64).to(device, /*non_blocking=*/false, /*copy=*/true);
          KVCache view = row_view(cache, row);
          const KVCache before = view;  // the same tensors (shallow copies)
          view.lengths.zero_();
          ForwardOptions fo;
          fo.cache = &view;
          torch::Tensor h = model.hidden(input, fo);  // (1, L, C)
          // The model appends in place; should it have replaced a tensor instead, copy it back.
          for (size_t l = 0; l < view.k.size(); ++l) {
            if (!view.k[l].is_same(before.k[l])) cache.k[l].narrow(0, row, 1).copy_(view.k[l]);
            if (!view.v[l].is_same(before.v[l])) cache.v[l].narrow(0, row, 1).copy_(view.v[l]);
          }
          if (!view.lengths.is_same(before.lengths)) {
            cache.lengths.narrow(0, row, 1).copy_(view.lengths);
          }
          E.stats.prompt_tokens += L;
          s.prompt_last = h.narrow(1, L - 1, 1).clone();  // (1, 1, C): one row per sequence
          last.push_back(s.prompt_last);
          pending.push_back(row);
        }
      }
      std::vector<int64_t> again;
      if (!pending.empty()) {
        // At most 32 rows of shape (P, 1, C) per call: linear_rows' per-row kernel, the same
        // bits as in a decode step of any batch size (delib/model.h).
        std::vector<torch::Tensor> parts;
        for (size_t p = 0; p < last.size(); p += 32) {
          std::vector<torch::Tensor> chunk(last.begin() + long(p), last.begin() + long(std::min(last.size(), p + 32)));
          parts.push_back(linear_rows(torch::cat(chunk, 0), W).squeeze(1));
        }
        torch::Tensor logits = torch::cat(parts, 0).to(torch::kFloat32).to(torch::kCPU).contiguous();  // (P, V)
        E.stats.prefill_seconds += seconds_since(t0);
        auto t1 = Clock::now();
        for (size_t p = 0; p < pending.size(); ++p) {
          Slot& s = slots[size_t(pending[p])];
          bool end = E.accept(s, requests[size_t(s.req)], logits.data_ptr<float>() + int64_t(p) * V, V);
          if (E.opt.on_tokens) E.opt.on_tokens(1);
          if (end) {
            finish(s);
            again.push_back(pending[p]);
          }
        }
        E.stats.sample_seconds += seconds_since(t1);
      } else {
        E.stats.prefill_seconds += seconds_since(t0);
      }
      rows = std::move(again);
    }
    for (int64_t row : touched) {
      const bool is_live = slots[size_t(row)].req >= 0;
      if (!is_live) cache.lengths.narrow(0, row, 1).zero_();
      if (live[size_t(row)] != int64_t(is_live)) {
        live[size_t(row)] = is_live;
        live_changed = true;
        active += is_live ? 1 : -1;
      }
    }
  };

  {
    std::vector<int64_t> all(static_cast<size_t>(B));
    for (int64_t row = 0; row < B; ++row) all[size_t(row)] = row;
    fill(all);
  }

  while (active > 0 && !interrupted()) {
    auto t0 = Clock::now();
    for (int64_t row = 0; row < R; ++row) {
      feed[size_t(row)] = live[size_t(row)] ? slots[size_t(row)].next : 0;
    }
    torch::Tensor input =
        torch::from_blob(feed.data(), {R, 1}, i64).to(device, /*non_blocking=*/false, /*copy=*/true);
    if (live_changed) {
      live_t = torch::from_blob(live.data(), {R}, i64).to(device, false, /*copy=*/true);
      live_changed = false;
    }
    ForwardOptions fo;
    fo.cache = &cache;
    torch::Tensor h = model.hidden(input, fo);                          // (R, 1, C)
    torch::Tensor logits = linear_rows(h, W).squeeze(1);  // (R, 1, C) -> (R, V)
    cache.lengths.mul_(live_t);  // idle rows restart at 0
    // Device sampling when every live row asks for the same temperature / top-k / top-p and
    // none for min-p (EngineOptions::sampling).
    const SamplingParams* shared = nullptr;
    bool on_device = device_sampling;
    bool want_logprobs = false;
    for (int64_t row = 0; row < R && on_device; ++row) {
      if (!live[size_t(row)]) continue;
      const SamplingParams& p = requests[size_t(slots[size_t(row)].req)].params;
      want_logprobs = want_logprobs || p.logprobs;
      if (p.min_p > 0) on_device = false;
      else if (!shared) shared = &p;
      else if (p.temperature != shared->temperature || p.top_k != shared->top_k || p.top_p != shared->top_p)
        on_device = false;
    }
    on_device = on_device && shared;
    // Each live row's next token and its log-prob (when asked for), on the device or the host.
    std::vector<int32_t> next(size_t(R), 0);
    std::vector<double> logprob(size_t(R), 0.0);
    Clock::time_point t1;  // decode ends and sampling starts (host) or acceptance (device)
    if (on_device) {
      // One uniform per live row from its own stream (none for greedy, as on the host).
      std::vector<float> u(size_t(R), 0.f);
      if (shared->temperature > 0)
        for (int64_t row = 0; row < R; ++row)
          if (live[size_t(row)]) u[size_t(row)] = float(slots[size_t(row)].rng.uniform());
      torch::Tensor ut = torch::from_blob(u.data(), {R}, torch::kFloat32).to(logits.device(), false, true);
      torch::Tensor lf = logits.to(torch::kFloat32);
      torch::Tensor ids = kernels::sample_top_k_top_p(lf, shared->temperature, shared->top_k, shared->top_p, ut);
      if (want_logprobs) {
        torch::Tensor lp = lf.log_softmax(1).gather(1, ids.unsqueeze(1)).squeeze(1).to(torch::kFloat64).cpu();
        std::copy_n(lp.data_ptr<double>(), R, logprob.begin());
      }
      ids = ids.cpu();
      std::copy_n(ids.data_ptr<int64_t>(), R, next.begin());
      E.stats.decode_seconds += seconds_since(t0);
      t1 = Clock::now();
    } else {
      logits = logits.to(torch::kFloat32).to(torch::kCPU).contiguous();
      E.stats.decode_seconds += seconds_since(t0);
      t1 = Clock::now();
      const float* base = logits.data_ptr<float>();
      // Rows are independent (own logits, own random stream; the scratch is only workspace),
      // so they are sampled on the intra-op threads: a near-flat 32k-token distribution costs
      // ~0.7 ms per row here, as much as a third of a small model's step.
      if (E.scratches.size() < size_t(at::get_num_threads())) E.scratches.resize(size_t(at::get_num_threads()));
      at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
        generate::SamplerScratch& scratch = E.scratches[size_t(at::get_thread_num())];
        for (int64_t row = r0; row < r1; ++row) {
          if (!live[size_t(row)]) continue;
          Slot& s = slots[size_t(row)];
          const SamplingParams& p = requests[size_t(s.req)].params;
          const float* l = base + row * V;
          next[size_t(row)] = generate::sample_token(l, V, p, s.rng, scratch);
          if (p.logprobs) logprob[size_t(row)] = generate::token_logprob(l, V, next[size_t(row)]);
        }
      });
    }
    ++E.stats.decode_steps;
    int64_t produced = 0;
    std::vector<int64_t> finished;
    for (int64_t row = 0; row < R; ++row) {
      Slot& s = slots[size_t(row)];
      if (!live[size_t(row)]) continue;
      ++produced;
      if (E.accept_token(s, requests[size_t(s.req)], next[size_t(row)], logprob[size_t(row)])) finished.push_back(row);
    }
    E.stats.sample_seconds += seconds_since(t1);
    if (E.opt.on_tokens) E.opt.on_tokens(produced);
    for (int64_t row : finished) finish(slots[size_t(row)]);
    if (!finished.empty()) fill(finished);
  }
}

}  // namespace delib
