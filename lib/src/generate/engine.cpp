// The generation engine: batched decoding over a KV cache with continuous batching.
//
// Layout of one run (B = slots, R = cache rows >= B, see generate.h on numerics):
//
//   cache: per layer k, v (R, H_kv, T_cap, D); lengths (R,)
//   slot s <-> cache row s. A new request is prefilled alone into its row (batch 1, a view
//   of the row), which samples its first token; then every decode step feeds one token per
//   row, (R, 1), and samples the next token of every active row (on the host, or on the
//   device: EngineOptions::sampling). A request that finishes hands its row to the next
//   waiting request at once (continuous batching); idle rows are fed token 0 and their length
//   is reset to 0 after every step, so they never grow and never affect the active rows.
//
// Host and device (CUDA). A decode step waits for the device once: for the (R,) sampled ids
// (device sampling) or the (R, V) logits (host sampling). Everything else crosses without a
// wait: the fed tokens, the live mask and the uniforms go up from page-locked host buffers
// with asynchronous copies (stream-ordered before the kernels that read them), the host
// tracks the longest cache row (KVCache::max_length) so the model reads no length back, and
// log-probs come down asynchronously before the ids' blocking copy. A staging buffer is
// written again only in a later step, after that step's wait, when its previous copy has
// run. EngineStats counts the waits (decode_syncs, prefill_syncs).
//
// LongRoPE (Phi-3): a row about to feed the token at position original_max_position_embeddings
// is first re-prefilled from its tokens with the long factors (recompute_rope), as transformers'
// Phi-3 generate() recomputes its cache there.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <xxhash.h>
#ifdef DELIB_HAVE_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "delib/error.h"
#include "delib/generate.h"
#include "delib/kernels.h"
#include "delib/records.h"
#include "generate/sampler.h"
#include "model/family.h"

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

// The position at which a row's cache must be recomputed before it is fed, or -1 when never.
//
// LongRoPE (Ding et al. 2024; rope.h) rotates a step with short_factor while the sequence is at
// most original_max_position_embeddings (O) long and with long_factor beyond. Cached keys keep
// the frequencies they were computed with, so past O a cached row would mix short keys with
// long queries. transformers' Phi3ForCausalLM.prepare_inputs_for_generation instead drops the
// cache when the sequence first reaches O + 1 tokens (input_ids.shape[1] >= O + 1 with at most
// O cached) and recomputes the whole sequence with the long factors; delib does the same when a
// row is about to feed position O (its (O + 1)-th token). A prompt longer than O is prefilled
// with the long factors already and never reaches the switch. LongRoPE is accepted on Phi-3
// only (model/family.cpp); a family taking LongRoPE whose transformers generate() keeps the
// cache (HF's generic prepare_inputs_for_generation) would need a column saying so.
//
// Dynamic NTK needs no recompute: transformers' generate keeps the cached keys there too
// (dynamic_rope_update only changes the frequencies of later steps), as delib does, and the
// engine stops at max_position_embeddings (context_limit), below the length where the scaled
// base starts. The other scaling types do not depend on the length.
int64_t rope_recompute_at(const ModelConfig& c) {
  if (!c.rope_scaling.is_object()) return -1;
  const Json* type = c.rope_scaling.find("rope_type");
  if (!type || !type->is_string() || type->as_string() != "longrope") return -1;
  const Json* orig = c.rope_scaling.find("original_max_position_embeddings");
  if (!orig || !orig->is_number()) {
    throw Error("Engine: LongRoPE config without original_max_position_embeddings");
  }
  return int64_t(orig->as_double());
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
  std::vector<generate::SamplerScratch> scratches;  // host sampling: one per intra-op thread
  struct Run;  // the state of one Engine::run (below)

  int64_t context_limit() const {
    if (opt.max_context > 0) return opt.max_context;
    int64_t m = model->config().max_position_embeddings;
    return m > 0 ? std::min<int64_t>(m, 8192) : 8192;
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

// ---------------------------------------------------------------------------------------------
// One Engine::run, step by step. Run holds what lives for one call: the request queue, the
// slots and their cache rows, and the host copies of the per-row inputs. Engine::run is
//
//   Run run(...);                              plan budgets and capacity, allocate the cache
//   run.fill(rows 0..B-1);                     admit + prefill the first B requests
//   while (run.active > 0) run.step();         decode one token per row, sample, retire, refill
//
// and each piece below is one of those lines, in the order they run.

struct Engine::Impl::Run {
  Impl& E;
  const std::vector<EngineRequest>& requests;
  const std::function<void(size_t, EngineResult)>& done;
  CausalLM& model;
  const torch::Device device;
  const int64_t N;                // requests
  std::vector<int64_t> budget;    // (N,): max new tokens of each request
  int64_t capacity = 1;           // cache slots per row: max over requests of prompt + budget
  const int64_t recompute_at;     // rope_recompute_at(config): the LongRoPE switch, or -1
  int64_t B = 0;                  // slots: min(batch_size, N)
  int64_t R = 0;                  // cache rows: B rounded up to kCpuRowMultiple on CPU
  KVCache cache;                  // per layer k, v (R, H_kv, capacity, D); lengths (R,)
  // Host staging of a step (page-locked on CUDA, see the top of this file; on the CPU the
  // inputs are these tensors themselves): feed (R, 1) int64, live (R,) int64, u (R,) f32,
  // ids (R,) int64 and logprobs (R,) f64 back from the device.
  torch::Tensor feed_host, live_host, u_host, ids_host, lp_host;
  LmHead head;                    // the model's output head: W (V, C) and its soft-cap
  int64_t V = 0;                  // vocabulary size
  bool device_sampling = false;   // EngineOptions::sampling resolved for this device
  std::vector<Slot> slots;        // (R,): slot s <-> cache row s
  int64_t next_req = 0;           // the next waiting request
  int64_t active = 0;             // live rows
  std::vector<int64_t> live;      // (R,): 1 when the row holds a request
  bool live_changed = true;       // live differs from live_t
  torch::Tensor live_t;           // live on the device, (R,) int64
  // CUDA graphs (EngineOptions::cuda_graphs), resolved for this model and device: the graphs'
  // static inputs feed_dev (R, 1), u_dev (R,) and live_t (which then stays one tensor), and one
  // captured step per set of sampling parameters.
  bool use_graphs = false;
  torch::Tensor feed_dev, u_dev;
#ifdef DELIB_HAVE_CUDA
  struct StepGraph {
    double temperature = 0, top_p = 1;
    int top_k = 0;
    bool logprobs = false;
    int steps = 0;                                // steps taken with these parameters
    std::unique_ptr<at::cuda::CUDAGraph> graph;   // captured at the second
    torch::Tensor ids, lp;                        // its outputs (in its memory pool)
  };
  std::vector<std::unique_ptr<StepGraph>> graphs;
  // The stream of the warm-up steps and the captures: the same one, so that what a first use
  // initialises per stream (cuBLAS workspaces) exists before a capture.
  std::optional<c10::cuda::CUDAStream> side;
#endif

  Run(Impl& engine, const std::vector<EngineRequest>& reqs,
      const std::function<void(size_t, EngineResult)>& on_done)
      : E(engine), requests(reqs), done(on_done), model(*engine.model), device(model.device()),
        N(int64_t(reqs.size())), recompute_at(rope_recompute_at(model.config())) {
    plan_budgets(E.context_limit());
    B = std::min<int64_t>(E.opt.batch_size, N);
    const int64_t mult = device.is_cpu() ? kCpuRowMultiple : 1;
    R = (B + mult - 1) / mult * mult;
    cache = model.new_cache(R, capacity);
    head = model.lm_head();
    V = head.weight.size(0);
    device_sampling = E.opt.sampling == EngineOptions::Sampling::kDevice ||
                      (E.opt.sampling == EngineOptions::Sampling::kAuto && device.is_cuda());
    slots.resize(size_t(R));
    live.assign(size_t(R), 0);
    feed_host = host_buffer({R, 1}, torch::kInt64);
    live_host = host_buffer({R}, torch::kInt64);
    u_host = host_buffer({R}, torch::kFloat32);
    ids_host = host_buffer({R}, torch::kInt64);
    lp_host = host_buffer({R}, torch::kFloat64);
#ifdef DELIB_HAVE_CUDA
    // Not where a forward reads the device (MoE routing) or copies from the host (Gemma's
    // embedding scale): neither may run inside a capture.
    use_graphs = E.opt.cuda_graphs && device.is_cuda() && device_sampling && model.config().num_experts == 0 &&
                 !model::family_of(model.config().model_type).scale_embeddings;
#endif
    if (use_graphs) {
      auto on = torch::TensorOptions().device(device);
      feed_dev = torch::zeros({R, 1}, on.dtype(torch::kInt64));
      u_dev = torch::zeros({R}, on.dtype(torch::kFloat32));
      live_t = torch::zeros({R}, on.dtype(torch::kInt64));
    }
  }

  // A host tensor for staging: page-locked on CUDA, so that copies from and to it can run
  // asynchronously; ordinary memory elsewhere.
  torch::Tensor host_buffer(at::IntArrayRef sizes, torch::ScalarType type) const {
    return torch::empty(sizes, torch::TensorOptions().dtype(type).pinned_memory(device.is_cuda()));
  }

  // Host -> device without a wait: on the CPU the tensor itself; elsewhere an asynchronous copy
  // from `host`, which must be page-locked (host_buffer) and not written again before a later
  // sync (see the top of this file).
  torch::Tensor to_device(const torch::Tensor& host) const {
    if (device.is_cpu()) return host;
    return host.to(device, /*non_blocking=*/true);
  }

  // Host ids -> a (1, T) int64 tensor on the device, without a wait (a fresh page-locked
  // buffer: the host allocator keeps it until its copy has run).
  torch::Tensor ids_to_device(const std::vector<int64_t>& ids) const {
    torch::Tensor h = host_buffer({1, int64_t(ids.size())}, torch::kInt64);
    std::copy(ids.begin(), ids.end(), h.data_ptr<int64_t>());
    return to_device(h);
  }

  // With EngineOptions::sync_phases on CUDA: waits for the device, so that the phase just timed
  // holds its device work (EngineStats::step_*_seconds).
  void phase_sync() const {
    if (E.opt.sync_phases && device.is_cuda()) torch::cuda::synchronize(device.index());
  }

  // The (P, V) rows of `logits` in float32 on the host: one wait (counted in `syncs`).
  torch::Tensor logits_to_host(const torch::Tensor& logits, int64_t& syncs) {
    torch::Tensor h = logits.to(torch::kFloat32).to(torch::kCPU).contiguous();
    ++syncs;
    E.stats.device_to_host_bytes += h.numel() * int64_t(sizeof(float));
    return h;
  }

  // budget[i] = min(max_tokens, limit - L_i) for a prompt of L_i tokens; capacity = the largest
  // L_i + budget[i] (at least 1). A budget depends only on its request and the context limit,
  // never on the other requests, so a request's result does not depend on the batch it ran in.
  // Stop strings are matched on decoded text, so they need a tokenizer: checked here, before
  // any work.
  void plan_budgets(int64_t limit) {
    budget.assign(size_t(N), 0);
    for (int64_t i = 0; i < N; ++i) {
      const auto& r = requests[size_t(i)];
      const int64_t L = int64_t(r.prompt_ids.size());
      budget[size_t(i)] = std::min<int64_t>(r.params.max_tokens, limit - L);
      if (L > 0 && budget[size_t(i)] > 0) capacity = std::max(capacity, L + budget[size_t(i)]);
      if (!r.params.stop.empty() && !E.tok) {
        throw Error("Engine: stop strings need a tokenizer (request " + std::to_string(i) + ")");
      }
    }
  }

  // Retire: the slot's request is complete. Its text is decoded and cut at a stop string
  // (finish_text), the result handed to done(index, result), and the slot left idle. The
  // cache row is not cleared here: fill() zeroes the length of a row that stays idle.
  void retire(Slot& s) {
    const auto& r = requests[size_t(s.req)];
    E.finish_text(s.res, r);
    size_t idx = size_t(s.req);
    EngineResult res = std::move(s.res);
    s.res = EngineResult{};
    s.req = -1;
    s.prompt_last = torch::Tensor();
    done(idx, std::move(res));
  }

  // Admit: the next waiting request takes slot s (fresh result, random stream seeded by the
  // request, budget, the longest stop string for accept_token's window). A request with no
  // prompt or no budget finishes at once ("length", no ids) and returns false: the slot is idle
  // again and takes the one after it.
  bool admit(Slot& s) {
    const int64_t i = next_req++;
    const auto& r = requests[size_t(i)];
    s.req = i;
    s.res = EngineResult{};
    s.res.prompt_tokens = int64_t(r.prompt_ids.size());
    s.rng = generate::Rng(r.seed);
    s.budget = budget[size_t(i)];
    s.max_stop_bytes = 0;
    for (const auto& st : r.params.stop) s.max_stop_bytes = std::max(s.max_stop_bytes, st.size());
    ++E.stats.requests;
    if (r.prompt_ids.empty() || s.budget <= 0) {
      s.res.finish_reason = "length";
      retire(s);
      return false;
    }
    return true;
  }

  // Another live row whose request has the same prompt as `row`'s (the samples of one prompt
  // arrive together), already prefilled; -1 when there is none.
  int64_t row_with_same_prompt(int64_t row) const {
    const auto& prompt = requests[size_t(slots[size_t(row)].req)].prompt_ids;
    for (int64_t o = 0; o < R; ++o) {
      const Slot& so = slots[size_t(o)];
      if (o != row && so.req >= 0 && so.prompt_last.defined() && requests[size_t(so.req)].prompt_ids == prompt)
        return o;
    }
    return -1;
  }

  // Shared prefill: row `src` holds the same prompt of L tokens. Because a prompt is always
  // prefilled alone, src's cache slots [0, L) hold exactly what prefilling it again would write:
  // copy them, per layer k[row, :, 0:L, :] = k[src, :, 0:L, :] (and v), set length L, and
  // share src's last hidden state.
  void copy_prompt(int64_t row, int64_t src) {
    Slot& s = slots[size_t(row)];
    const int64_t L = int64_t(requests[size_t(s.req)].prompt_ids.size());
    for (size_t l = 0; l < cache.k.size(); ++l) {
      cache.k[l].narrow(0, row, 1).narrow(2, 0, L).copy_(cache.k[l].narrow(0, src, 1).narrow(2, 0, L));
      cache.v[l].narrow(0, row, 1).narrow(2, 0, L).copy_(cache.v[l].narrow(0, src, 1).narrow(2, 0, L));
    }
    cache.lengths.narrow(0, row, 1).fill_(L);
    s.prompt_last = slots[size_t(src)].prompt_last;
    E.stats.prompt_tokens += L;
    E.stats.shared_prompt_tokens += L;
  }

  // Prefill: the row's prompt (1, L) runs alone through the model into a view of its cache row
  // (length reset to 0 first), writing k, v for positions [0, L). Keeps the hidden state at the
  // last position, (1, 1, C), for the first token's logits.
  void prefill(int64_t row) {
    Slot& s = slots[size_t(row)];
    const auto& r = requests[size_t(s.req)];
    const int64_t L = int64_t(r.prompt_ids.size());
    torch::Tensor input = ids_to_device(std::vector<int64_t>(r.prompt_ids.begin(), r.prompt_ids.end()));
    torch::Tensor h = run_into_row(row, input);  // (1, L, C)
    E.stats.prompt_tokens += L;
    s.prompt_last = h.narrow(1, L - 1, 1).clone();  // (1, 1, C): one row per sequence
  }

  // input (1, T) through the model alone into a view of cache row `row` (length reset to 0
  // first): writes k, v for positions [0, T) and leaves the row's length T. Returns the hidden
  // states (1, T, C).
  torch::Tensor run_into_row(int64_t row, const torch::Tensor& input) {
    KVCache view = row_view(cache, row);
    const KVCache before = view;  // the same tensors (shallow copies)
    view.lengths.zero_();
    view.max_length = 0;  // known on the host: the model reads no length back
    ForwardOptions fo;
    fo.cache = &view;
    torch::Tensor h = model.hidden(input, fo);  // (1, T, C)
    // The model appends in place; should it have replaced a tensor instead, copy it back.
    for (size_t l = 0; l < view.k.size(); ++l) {
      if (!view.k[l].is_same(before.k[l])) cache.k[l].narrow(0, row, 1).copy_(view.k[l]);
      if (!view.v[l].is_same(before.v[l])) cache.v[l].narrow(0, row, 1).copy_(view.v[l]);
    }
    if (!view.lengths.is_same(before.lengths)) {
      cache.lengths.narrow(0, row, 1).copy_(view.lengths);
    }
    return h;
  }

  // The position the row feeds at the next decode step: its cache length, the prompt and every
  // generated token but the last (which is fed).
  int64_t feed_position(int64_t row) const {
    const Slot& s = slots[size_t(row)];
    return int64_t(requests[size_t(s.req)].prompt_ids.size()) + int64_t(s.res.ids.size()) - 1;
  }

  // Recompute (LongRoPE switch, rope_recompute_at): the row is about to feed position P =
  // recompute_at, and its cache [0, P) was computed with the short factors. Its tokens, prompt +
  // generated (P + 1 of them, the last being the one to feed), run alone through the model into
  // its cache row, as a prefill: the rotation of every position is then the long one (the
  // sequence is P + 1 > P long), as in transformers' recompute. The length is set back to P, so
  // the decode step feeds the last token at P over long-factor keys (its key and value, written
  // here too, are written again there). Nothing else of the slot changes: its generated tokens,
  // stop state and random stream go on as they were.
  void recompute_rope(int64_t row) {
    Slot& s = slots[size_t(row)];
    const auto& prompt = requests[size_t(s.req)].prompt_ids;
    std::vector<int64_t> ids(prompt.begin(), prompt.end());
    ids.insert(ids.end(), s.res.ids.begin(), s.res.ids.end());
    const int64_t T = int64_t(ids.size());
    torch::Tensor input = ids_to_device(ids);
    run_into_row(row, input);
    cache.lengths.narrow(0, row, 1).fill_(T - 1);
    E.stats.rope_recomputed_tokens += T;
  }

  // The first-token logits of P prefilled rows: their last hidden states, P x (1, 1, C), through
  // the LM head (LmHead::logits: linear_rows, then the soft-cap when the model has one) in
  // chunks of at most 32 rows of (P', 1, C) -> (P', V): linear_rows' per-row
  // kernel gives each row the same bits as in a decode step of any batch size (delib/model.h),
  // and the head's weight, the largest read of a step, is read once per chunk. Returns (P, V)
  // float32 on the host.
  torch::Tensor first_token_logits(const std::vector<torch::Tensor>& last) {
    std::vector<torch::Tensor> parts;
    for (size_t p = 0; p < last.size(); p += 32) {
      std::vector<torch::Tensor> chunk(last.begin() + long(p), last.begin() + long(std::min(last.size(), p + 32)));
      parts.push_back(head.logits(torch::cat(chunk, 0)).squeeze(1));
    }
    return logits_to_host(torch::cat(parts, 0), E.stats.prefill_syncs);  // (P, V)
  }

  // One round of fill(): each of `rows` (idle) admits waiting requests until one needs
  // decoding, and prefills it (or copies a live row's identical prompt); then the first tokens
  // of all rows prefilled in this round are sampled on the host from one pass over the LM head.
  // Returns the rows whose request ended at its first token (to be filled again).
  std::vector<int64_t> fill_round(const std::vector<int64_t>& rows) {
    std::vector<int64_t> pending;     // rows prefilled in this round
    std::vector<torch::Tensor> last;  // their last hidden state, (1, 1, C) each
    const auto t0 = Clock::now();
    for (int64_t row : rows) {
      Slot& s = slots[size_t(row)];
      while (s.req < 0 && next_req < N && !interrupted()) {
        if (!admit(s)) continue;
        const int64_t src = row_with_same_prompt(row);
        if (src >= 0) copy_prompt(row, src);
        else prefill(row);
        last.push_back(s.prompt_last);
        pending.push_back(row);
      }
    }
    if (pending.empty()) {
      E.stats.prefill_seconds += seconds_since(t0);
      return {};
    }
    torch::Tensor logits = first_token_logits(last);  // (P, V)
    E.stats.prefill_seconds += seconds_since(t0);
    const auto t1 = Clock::now();
    // The first tokens, sampled on the intra-op threads as a decode step's (a near-flat
    // 152k-token row costs a few ms: 64 of them in a row were ~0.2 s), then appended in order.
    std::vector<int32_t> first(pending.size(), 0);
    std::vector<double> first_lp(pending.size(), 0.0);
    sample_rows(logits, int64_t(pending.size()), [&](int64_t p) { return pending[size_t(p)]; }, first, first_lp);
    std::vector<int64_t> again;
    for (size_t p = 0; p < pending.size(); ++p) {
      Slot& s = slots[size_t(pending[p])];
      bool end = E.accept_token(s, requests[size_t(s.req)], first[p], first_lp[p]);
      if (E.opt.on_tokens) E.opt.on_tokens(1);
      if (end) {
        retire(s);
        again.push_back(pending[p]);
      }
    }
    E.stats.sample_seconds += seconds_since(t1);
    return again;
  }

  // Fill: gives each of `rows` (idle slots) the next waiting request, round after round until
  // every row is active or the queue is empty (or the run was interrupted). A prompt's result
  // never depends on the batch: each is prefilled alone or copied from an identical one. Then
  // the bookkeeping of liveness: a row left idle gets length 0 (it never grows and never
  // affects the active rows), and live/active follow the rows' new states.
  void fill(std::vector<int64_t> rows) {
    const std::vector<int64_t> touched = rows;
    while (!rows.empty()) rows = fill_round(rows);
    for (int64_t row : touched) {
      const bool is_live = slots[size_t(row)].req >= 0;
      if (!is_live) cache.lengths.narrow(0, row, 1).zero_();
      if (live[size_t(row)] != int64_t(is_live)) {
        live[size_t(row)] = is_live;
        live_changed = true;
        active += is_live ? 1 : -1;
      }
    }
  }

  // Decode forward: every row is fed one token, (R, 1) (a live row its last token, an idle row
  // 0), through the model over the whole cache: h (R, 1, C), logits = head.logits(h)
  // (R, V), on the device. The model advanced every row's length by 1; idle rows are then reset
  // to 0 (lengths *= live), so they restart at 0 every step. First, a live row about to feed
  // the LongRoPE switch position has its cache recomputed (recompute_rope).
  torch::Tensor decode_logits() {
    prepare_inputs();
    torch::Tensor input = to_device(feed_host);
    sync_live();
    return forward(input, live_t);
  }

  // live_t follows live_host after a change: a fresh device copy, or with CUDA graphs a copy
  // into the one tensor the graphs read.
  void sync_live() {
    if (!live_changed) return;
    if (use_graphs) live_t.copy_(live_host, /*non_blocking=*/true);
    else live_t = to_device(live_host);
    live_changed = false;
  }

  // A step's host inputs: LongRoPE recomputes (above), the fed tokens into feed_host, live into
  // live_host when it changed, and the longest row into the cache (each live row's length is
  // its feed position; idle rows hold 0), so that the model needs no length from the device.
  void prepare_inputs() {
    if (recompute_at >= 0) {
      for (int64_t row = 0; row < R; ++row)
        if (live[size_t(row)] && feed_position(row) == recompute_at) recompute_rope(row);
    }
    int64_t* fh = feed_host.data_ptr<int64_t>();
    int64_t longest = 0;
    for (int64_t row = 0; row < R; ++row) {
      fh[row] = live[size_t(row)] ? slots[size_t(row)].next : 0;  // idle rows are fed 0
      if (live[size_t(row)]) longest = std::max(longest, feed_position(row));
    }
    if (live_changed) std::copy(live.begin(), live.end(), live_host.data_ptr<int64_t>());
    cache.max_length = longest;
  }

  // The model over the cache for input (R, 1) on the device: logits (R, V); idle rows (live
  // 0) are reset to length 0.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& live_dev) {
    ForwardOptions fo;
    fo.cache = &cache;
    torch::Tensor h = model.hidden(input, fo);            // (R, 1, C)
    torch::Tensor logits = head.logits(h).squeeze(1);  // (R, V)
    cache.lengths.mul_(live_dev);                         // idle rows restart at 0
    return logits;
  }

  // The sampling parameters every live row shares when this step can sample on the device:
  // device sampling is on and all live rows ask for the same temperature / top-k / top-p and
  // none for min-p (EngineOptions::sampling). nullptr otherwise: the host samples. Sets
  // want_logprobs when some live row asks for log-probs.
  const SamplingParams* device_step_params(bool& want_logprobs) const {
    if (!device_sampling) return nullptr;
    const SamplingParams* shared = nullptr;
    for (int64_t row = 0; row < R; ++row) {
      if (!live[size_t(row)]) continue;
      const SamplingParams& p = requests[size_t(slots[size_t(row)].req)].params;
      want_logprobs = want_logprobs || p.logprobs;
      if (p.min_p > 0) return nullptr;
      if (!shared) shared = &p;
      else if (p.temperature != shared->temperature || p.top_k != shared->top_k || p.top_p != shared->top_p)
        return nullptr;
    }
    return shared;
  }

  // Device sampling: one uniform u_r per live row from its own stream (none for greedy, as on
  // the host, so a row's stream never depends on where it was sampled), then
  // kernels::sample_top_k_top_p over the (R, V) logits in float32; log-probs, when asked for,
  // are log_softmax(logits)[r, id_r] at temperature 1. Only (R,) ids and log-probs reach the
  // host.
  // Greedy is the arg max of the logits in their own dtype (widening to float32 is exact, so
  // the same ids without an (R, V) copy), and sends no uniforms. The one wait of the step is
  // the ids' copy; the log-probs' copy is queued before it without one.
  void sample_on_device(const torch::Tensor& logits, const SamplingParams& shared, bool want_logprobs,
                        std::vector<int32_t>& next, std::vector<double>& logprob) {
    draw_uniforms(shared);
    torch::Tensor u = shared.temperature > 0 ? to_device(u_host) : torch::Tensor();
    auto [ids, lp] = choose(logits, shared, want_logprobs, u);
    bring_home(ids, lp, next, logprob);
  }

  // One uniform per live row into u_host (none for greedy: a row's stream never depends on
  // where it was sampled).
  void draw_uniforms(const SamplingParams& shared) {
    if (shared.temperature <= 0) return;
    float* u = u_host.data_ptr<float>();
    for (int64_t row = 0; row < R; ++row) u[row] = live[size_t(row)] ? float(slots[size_t(row)].rng.uniform()) : 0.f;
  }

  // The tokens (R,) int64 and, when asked for, their log-probs (R,) f64, on the device; u (R,)
  // on the device (unused for greedy).
  std::pair<torch::Tensor, torch::Tensor> choose(const torch::Tensor& logits, const SamplingParams& shared,
                                                 bool want_logprobs, const torch::Tensor& u) {
    torch::Tensor lf = want_logprobs ? logits.to(torch::kFloat32) : logits;
    torch::Tensor ids = shared.temperature > 0
                            ? kernels::sample_top_k_top_p(lf, shared.temperature, shared.top_k, shared.top_p, u)
                            : lf.argmax(1);
    torch::Tensor lp;
    if (want_logprobs) lp = lf.log_softmax(1).gather(1, ids.unsqueeze(1)).squeeze(1).to(torch::kFloat64);
    return {ids, lp};
  }

#ifdef DELIB_HAVE_CUDA
  // A decode step through a CUDA graph (use_graphs; the live rows share `shared`): the inputs go
  // to the static tensors without a wait, then the graph of these parameters runs the model
  // over every cache slot and chooses the tokens. Its first step runs eagerly on a side stream
  // (lazy initialisation and cuBLAS workspaces happen outside any capture), its second captures
  // the graph (on the side stream, the device idle) and replays it, later ones replay it.
  // Returns the tokens and log-probs on the device, for bring_home().
  std::pair<torch::Tensor, torch::Tensor> graph_step(const SamplingParams& shared, bool want_logprobs) {
    prepare_inputs();
    draw_uniforms(shared);
    feed_dev.copy_(feed_host, /*non_blocking=*/true);
    sync_live();
    if (shared.temperature > 0) u_dev.copy_(u_host, /*non_blocking=*/true);
    StepGraph* g = nullptr;
    for (auto& x : graphs)
      if (x->temperature == shared.temperature && x->top_k == shared.top_k && x->top_p == shared.top_p &&
          x->logprobs == want_logprobs)
        g = x.get();
    if (!g) {
      graphs.push_back(std::make_unique<StepGraph>());
      g = graphs.back().get();
      g->temperature = shared.temperature;
      g->top_k = shared.top_k;
      g->top_p = shared.top_p;
      g->logprobs = want_logprobs;
    }
    cache.attend_all = true;
    std::pair<torch::Tensor, torch::Tensor> out;
    if (g->steps++ == 0 || !g->graph) {
      torch::cuda::synchronize(device.index());  // the inputs are on the device, nothing else runs
      if (!side) side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
      {
        c10::cuda::CUDAStreamGuard on_side(*side);
        const bool capture = g->steps > 1;
        if (capture) {
          g->graph = std::make_unique<at::cuda::CUDAGraph>();
          g->graph->capture_begin();
        }
        out = choose(forward(feed_dev, live_t), shared, want_logprobs, u_dev);
        if (capture) {
          g->graph->capture_end();
          g->ids = out.first;
          g->lp = out.second;
        }
      }
      torch::cuda::synchronize(device.index());  // the warm-up step's results, or the capture's end
    }
    if (g->graph) {
      g->graph->replay();  // on the current stream, after the inputs' copies
      ++E.stats.graph_steps;
      out = {g->ids, g->lp};
    }
    cache.attend_all = false;
    return out;
  }
#endif

  // The step's one wait: the log-probs' copy is queued without one, then the ids' blocking copy.
  void bring_home(const torch::Tensor& ids, const torch::Tensor& lp, std::vector<int32_t>& next,
                  std::vector<double>& logprob) {
    if (lp.defined()) {
      lp_host.copy_(lp, /*non_blocking=*/!device.is_cpu());  // completed by the ids' wait below
      E.stats.device_to_host_bytes += R * int64_t(sizeof(double));
    }
    ids_host.copy_(ids, /*non_blocking=*/false);
    ++E.stats.decode_syncs;
    E.stats.device_to_host_bytes += R * int64_t(sizeof(int64_t));
    std::copy_n(ids_host.data_ptr<int64_t>(), R, next.begin());
    if (lp.defined()) std::copy_n(lp_host.data_ptr<double>(), R, logprob.begin());
  }

  // Host sampling: each live row of the (R, V) float32 host logits is sampled in float64 with
  // its request's parameters and random stream (generate::sample_token), and its log-prob taken
  // when asked for. Rows are independent (own logits, own random stream; the scratch is only
  // workspace), so they are sampled on the intra-op threads: a near-flat 32k-token
  // distribution costs ~0.7 ms per row here, as much as a third of a small model's step.
  void sample_on_host(const torch::Tensor& logits, std::vector<int32_t>& next, std::vector<double>& logprob) {
    sample_rows(logits, R, [&](int64_t row) { return live[size_t(row)] ? row : int64_t(-1); }, next, logprob);
  }

  // Samples rows [0, n) of the (n, V) float32 host logits on the intra-op threads: row i with
  // the parameters and random stream of slot slot_of(i) (-1: row not sampled), into next[i]
  // and, when its request asks, logprob[i]. Used by decode steps and by fill's first tokens.
  template <class SlotOf>
  void sample_rows(const torch::Tensor& logits, int64_t n, SlotOf slot_of, std::vector<int32_t>& next,
                   std::vector<double>& logprob) {
    const float* base = logits.data_ptr<float>();
    if (E.scratches.size() < size_t(at::get_num_threads())) E.scratches.resize(size_t(at::get_num_threads()));
    at::parallel_for(0, n, 1, [&](int64_t i0, int64_t i1) {
      generate::SamplerScratch& scratch = E.scratches[size_t(at::get_thread_num())];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t slot = slot_of(i);
        if (slot < 0) continue;
        Slot& s = slots[size_t(slot)];
        const SamplingParams& p = requests[size_t(s.req)].params;
        const float* l = base + i * V;
        next[size_t(i)] = generate::sample_token(l, V, p, s.rng, scratch);
        if (p.logprobs) logprob[size_t(i)] = generate::token_logprob(l, V, next[size_t(i)]);
      }
    });
  }

  // One decode step: forward (decode_logits), choose each live row's next token on the device
  // or the host, append it to its result (accept_token: stop id, stop string, budget), then
  // retire the rows that finished and hand their slots to waiting requests (fill). Timing:
  // decode_seconds runs to the tokens (device) or the logits (host) being on the host,
  // sample_seconds from there to the end of the acceptance.
  void step() {
    const int64_t n = E.stats.decode_steps + 1;
    if (E.opt.on_step) E.opt.on_step(n, true);
    const auto t0 = Clock::now();
    bool want_logprobs = false;
    const SamplingParams* shared = device_step_params(want_logprobs);
    std::vector<int32_t> next(size_t(R), 0);  // each live row's next token
    std::vector<double> logprob(size_t(R), 0.0);  // and its log-prob (when asked for)
#ifdef DELIB_HAVE_CUDA
    if (shared && use_graphs) {
      // forward and sampling are one graph: the forward phase holds both
      auto [ids, lp] = graph_step(*shared, want_logprobs);
      phase_sync();
      const auto tf = Clock::now();
      bring_home(ids, lp, next, logprob);
      E.stats.decode_seconds += seconds_since(t0);
      E.stats.step_forward_seconds += std::chrono::duration<double>(tf - t0).count();
      E.stats.step_sample_seconds += seconds_since(tf);
      accept_step(n, next, logprob, Clock::now());
      return;
    }
#endif
    torch::Tensor logits = decode_logits();  // (R, V)
    phase_sync();
    const auto tf = Clock::now();
    if (shared) sample_on_device(logits, *shared, want_logprobs, next, logprob);
    else logits = logits_to_host(logits, E.stats.decode_syncs);
    E.stats.decode_seconds += seconds_since(t0);
    const auto t1 = Clock::now();
    if (!shared) sample_on_host(logits, next, logprob);
    E.stats.step_forward_seconds += std::chrono::duration<double>(tf - t0).count();
    E.stats.step_sample_seconds += seconds_since(tf);
    accept_step(n, next, logprob, t1);
  }

  // The host side of step n: append every live row's token (accept_token), retire the rows that
  // finished and refill them (fill), then the on_step hook. sample_seconds runs from t1.
  void accept_step(int64_t n, const std::vector<int32_t>& next, const std::vector<double>& logprob,
                   Clock::time_point t1) {
    const auto th = Clock::now();
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
    for (int64_t row : finished) retire(slots[size_t(row)]);
    E.stats.step_host_seconds += seconds_since(th);
    if (!finished.empty()) fill(finished);
    if (E.opt.on_step) E.opt.on_step(n, false);
  }
};

void Engine::run(const std::vector<EngineRequest>& requests,
                 const std::function<void(size_t, EngineResult)>& done) {
  impl_->stats = EngineStats{};
  if (requests.empty()) return;
  torch::InferenceMode inference;
  Impl::Run run(*impl_, requests, done);
  std::vector<int64_t> first(static_cast<size_t>(run.B));
  for (int64_t row = 0; row < run.B; ++row) first[size_t(row)] = row;
  run.fill(first);
  while (run.active > 0 && !interrupted()) run.step();
}

}  // namespace delib
