// The engine on a random tiny model: KV-cache decoding agrees with full forwards, results do
// not depend on batch size, order or batch composition, continuous batching finishes every
// request once, stop ids / stop strings / max_tokens end requests as documented.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>

#include "delib/generate.h"
#include "generate/sampler.h"

using delib::CausalLM;
using delib::Engine;
using delib::EngineOptions;
using delib::EngineRequest;
using delib::EngineResult;
using delib::Json;
using delib::ModelConfig;

namespace {

constexpr int64_t kVocab = 211;

std::shared_ptr<CausalLM> tiny_model(const std::string& arch = "LlamaForCausalLM") {
  Json j = Json::parse(R"({"vocab_size": 211, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "max_position_embeddings": 128, "rope_theta": 10000.0})");
  Json a = Json::array();
  a.push(arch);
  j.set("architectures", a);
  static std::map<std::string, std::shared_ptr<CausalLM>> cache;
  auto& m = cache[arch];
  if (!m) m = CausalLM::random(ModelConfig::from_json(j), 1234, torch::kCPU);
  return m;
}

// A tokenizer over kVocab ids where id i is the letter 'a' + i % 26 (enough to test stop
// strings on decoded text).
class LetterTokenizer : public delib::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> out;
    for (char c : text) out.push_back(int32_t(c - 'a'));
    return out;
  }
  std::vector<int32_t> encode_guarded(std::string_view text,
                                      const std::vector<std::pair<size_t, size_t>>&) const override {
    return encode(text, true);
  }
  const std::vector<std::string>& special_tokens() const override { return no_specials_; }
  std::string decode(const std::vector<int32_t>& ids, bool) const override {
    std::string s;
    for (int32_t i : ids) s.push_back(char('a' + i % 26));
    return s;
  }
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& t, bool p, int) const override {
    std::vector<std::vector<int32_t>> out;
    for (auto& x : t) out.push_back(encode(x, p));
    return out;
  }
  int32_t vocab_size() const override { return int32_t(kVocab); }
  std::optional<int32_t> token_id(std::string_view) const override { return std::nullopt; }
  std::string id_to_token(int32_t id) const override { return std::string(1, char('a' + id % 26)); }
  bool is_special(int32_t) const override { return false; }
  std::optional<int32_t> bos_id() const override { return std::nullopt; }
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::optional<int32_t> pad_id() const override { return std::nullopt; }
  const std::string& chat_template() const override { return empty_; }

 private:
  std::string empty_;
  std::vector<std::string> no_specials_;
};

std::vector<EngineRequest> mixed_requests() {
  std::vector<EngineRequest> reqs;
  for (int i = 0; i < 7; ++i) {
    EngineRequest r;
    for (int t = 0; t < 3 + 5 * i % 11; ++t) r.prompt_ids.push_back(int32_t((i * 31 + t * 7) % kVocab));
    r.params.max_tokens = 6 + i;
    r.params.temperature = i % 3 == 0 ? 0.0 : 1.0;
    r.params.top_p = i % 3 == 2 ? 0.9 : 1.0;
    r.params.top_k = i == 4 ? 20 : 0;
    r.params.logprobs = true;
    r.seed = delib::sample_seed(5, "rec-" + std::to_string(i), 0);
    reqs.push_back(r);
  }
  return reqs;
}

std::vector<EngineResult> run_all(Engine& e, const std::vector<EngineRequest>& reqs) {
  std::vector<EngineResult> out(reqs.size());
  std::vector<int> calls(reqs.size(), 0);
  e.run(reqs, [&](size_t i, EngineResult r) {
    ++calls[i];
    out[i] = std::move(r);
  });
  for (int c : calls) REQUIRE(c == 1);
  return out;
}

std::vector<EngineResult> run_with(int batch, const std::vector<EngineRequest>& reqs,
                                   std::shared_ptr<CausalLM> model = tiny_model(),
                                   EngineOptions::Sampling sampling = EngineOptions::Sampling::kAuto) {
  EngineOptions o;
  o.batch_size = batch;
  o.sampling = sampling;
  Engine e(model, nullptr, o);
  return run_all(e, reqs);
}

}  // namespace

TEST_CASE("engine: cached decoding agrees with full forwards (teacher forcing)") {
  for (const char* arch : {"LlamaForCausalLM", "Qwen3ForCausalLM"}) {
    auto model = tiny_model(arch);
    auto reqs = mixed_requests();
    auto res = run_with(3, reqs, model);
    torch::InferenceMode guard;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const auto& r = reqs[i];
      const auto& g = res[i];
      REQUIRE(g.finish_reason == "length");
      REQUIRE(int64_t(g.ids.size()) == r.params.max_tokens);
      REQUIRE(g.logprobs.size() == g.ids.size());
      // One forward over prompt + generated[:-1]: the logits at the last prompt position and
      // after each generated token predict the next generated token.
      std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
      seq.insert(seq.end(), g.ids.begin(), g.ids.end() - 1);
      auto input = torch::tensor(seq, torch::kInt64).view({1, -1});
      auto logp = torch::log_softmax(model->forward(input).to(torch::kFloat64), -1)[0];
      const int64_t L = int64_t(r.prompt_ids.size());
      for (size_t t = 0; t < g.ids.size(); ++t) {
        auto row = logp[L - 1 + int64_t(t)];
        CHECK(g.logprobs[t] == Approx(row[g.ids[t]].item<double>()).margin(1e-4));
        if (r.params.temperature == 0) {
          // Greedy: the chosen token is the arg max (up to float noise between the paths).
          CHECK(row[g.ids[t]].item<double>() >= row.max().item<double>() - 1e-4);
        }
      }
    }
  }
}

TEST_CASE("engine: results do not depend on batch size, order or composition") {
  auto reqs = mixed_requests();
  auto one = run_with(1, reqs);
  for (int b : {2, 4, 16}) {
    auto other = run_with(b, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      INFO("batch " << b << " request " << i);
      CHECK(other[i].ids == one[i].ids);
      // Where SDPA or MKL serve a step (a GPU, a CPU without AVX2) a row's arithmetic depends
      // on the step's shape, so log-probabilities may differ in the last bits between
      // compositions; ids do not.
      for (size_t t = 0; t < one[i].logprobs.size() && t < other[i].logprobs.size(); ++t)
        CHECK(other[i].logprobs[t] == Approx(one[i].logprobs[t]).margin(1e-5));
    }
  }
  // Reversed order, and each request alone.
  auto rev = reqs;
  std::reverse(rev.begin(), rev.end());
  auto r = run_with(4, rev);
  for (size_t i = 0; i < reqs.size(); ++i) CHECK(r[reqs.size() - 1 - i].ids == one[i].ids);
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto alone = run_with(4, {reqs[i]});
    CHECK(alone[0].ids == one[i].ids);
    CHECK(alone[0].logprobs.size() == one[i].logprobs.size());
  }
}

TEST_CASE("engine: samples of one prompt share its prefill and equal separate prefills") {
  // Three samples each of three prompts (the way cot-gen and rl-train ask), sampled and greedy.
  std::vector<EngineRequest> reqs;
  for (int p = 0; p < 3; ++p) {
    for (int k = 0; k < 3; ++k) {
      EngineRequest r;
      for (int t = 0; t < 9 + 4 * p; ++t) r.prompt_ids.push_back(int32_t((p * 53 + t * 11) % kVocab));
      r.params.max_tokens = 5 + k;
      r.params.temperature = p == 2 ? 0.0 : 1.0;
      r.params.logprobs = true;
      r.seed = delib::sample_seed(9, "prompt-" + std::to_string(p), k);
      reqs.push_back(r);
    }
  }
  auto model = tiny_model();
  auto stats_of = [&](int batch, std::vector<EngineResult>& out) {
    EngineOptions o;
    o.batch_size = batch;
    Engine e(model, nullptr, o);
    out = run_all(e, reqs);
    return e.stats();
  };
  std::vector<EngineResult> alone, shared;
  auto s1 = stats_of(1, alone);   // one row: nothing to share with
  auto s4 = stats_of(4, shared);  // rows hold the same prompt at once
  CHECK(s1.shared_prompt_tokens == 0);
  CHECK(s4.shared_prompt_tokens > 0);
  CHECK(s4.prompt_tokens == s1.prompt_tokens);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    CHECK(shared[i].ids == alone[i].ids);
    REQUIRE(shared[i].logprobs.size() == alone[i].logprobs.size());
    for (size_t t = 0; t < alone[i].logprobs.size(); ++t)
      CHECK(shared[i].logprobs[t] == Approx(alone[i].logprobs[t]).margin(1e-5));
  }
  // Sampled samples of one prompt still differ from each other (own streams).
  CHECK((alone[0].ids != alone[1].ids || alone[1].ids != alone[2].ids));
}

TEST_CASE("engine: sampling is reproducible per seed and differs across seeds") {
  auto reqs = mixed_requests();
  for (auto& r : reqs) {
    r.params.temperature = 1.0;
    r.params.top_p = 1.0;
    r.params.top_k = 0;
    r.params.max_tokens = 12;
  }
  auto a = run_with(4, reqs), b = run_with(4, reqs);
  auto c_reqs = reqs;
  for (auto& r : c_reqs) r.seed ^= 0x9e3779b97f4a7c15ull;
  auto c = run_with(4, c_reqs);
  int differ = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    CHECK(a[i].ids == b[i].ids);
    differ += a[i].ids != c[i].ids;
  }
  CHECK(differ >= int(reqs.size()) - 1);
}

// Device sampling (the CUDA path) runs here through the kernels' ATen reference: the same
// control flow as on a GPU, checked against the host sampler.
TEST_CASE("engine: device sampling: greedy equals the host, samples stay in the keep set, reproducible") {
  using S = EngineOptions::Sampling;
  auto model = tiny_model();
  auto reqs = mixed_requests();
  for (auto& r : reqs) r.params.temperature = 0.0;
  auto host = run_with(4, reqs, model, S::kHost), dev = run_with(4, reqs, model, S::kDevice);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("greedy request " << i);
    CHECK(dev[i].ids == host[i].ids);
    REQUIRE(dev[i].logprobs.size() == host[i].logprobs.size());
    for (size_t t = 0; t < host[i].logprobs.size(); ++t)
      CHECK(dev[i].logprobs[t] == Approx(host[i].logprobs[t]).margin(1e-5));  // f32 vs f64 log-softmax
  }
  // Sampling with top-k 3: every token after the first (prefill samples on the host) is one of
  // the 3 most likely under the model's own logits, which the teacher-forced forward gives.
  for (auto& r : reqs) {
    r.params.temperature = 1.0;
    r.params.top_k = 3;
    r.params.top_p = 1.0;
    r.params.max_tokens = 10;
  }
  auto a = run_with(4, reqs, model, S::kDevice), b = run_with(4, reqs, model, S::kDevice);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("top-k request " << i);
    CHECK(a[i].ids == b[i].ids);
    std::vector<int64_t> seq(reqs[i].prompt_ids.begin(), reqs[i].prompt_ids.end());
    seq.insert(seq.end(), a[i].ids.begin(), a[i].ids.end());
    torch::InferenceMode im;
    torch::Tensor logits = model->forward(torch::tensor(seq, torch::kInt64).view({1, -1}))[0];  // (T, V)
    const size_t L = reqs[i].prompt_ids.size();
    for (size_t t = 0; t < a[i].ids.size(); ++t) {
      torch::Tensor top = std::get<1>(logits[int64_t(L + t - 1)].topk(3));
      CHECK(top.eq(a[i].ids[t]).any().item<bool>());
    }
  }
  // Rows with different parameters in one step, or min-p, fall back to the host: same as kHost.
  auto mixed = mixed_requests();
  mixed[1].params.min_p = 0.1;
  auto hm = run_with(4, mixed, model, S::kHost), dm = run_with(4, mixed, model, S::kDevice);
  int same = 0;
  for (size_t i = 0; i < mixed.size(); ++i) same += hm[i].ids == dm[i].ids;
  CHECK(same >= 1);  // greedy rows at least; steps where all live rows agree may sample on the device
}

// mixed_requests() with one set of sampling parameters, so that every step can sample on the
// device (EngineOptions::Sampling::kDevice; mixed parameters fall back to the host).
static std::vector<EngineRequest> uniform_requests() {
  auto reqs = mixed_requests();
  for (auto& r : reqs) {
    r.params.temperature = 1.0;
    r.params.top_p = 0.9;
    r.params.top_k = 0;
  }
  return reqs;
}

// The CUDA path's discipline, counted on the CPU (the same code paths; EngineStats on syncs):
// a decode step waits for the device once (the sampled ids, or the logits when the host
// samples), a fill round once (its first tokens' logits), and the model reads no cache length
// back, since the engine keeps max(lengths) on the host (KVCache::max_length; on the CPU the
// model checks that value against the device's on every call, so a wrong one fails here).

TEST_CASE("engine: one host sync per decode step and per fill round; cache lengths tracked on the host") {
  using S = EngineOptions::Sampling;
  auto model = tiny_model();
  auto reqs = uniform_requests();
  for (S sampling : {S::kDevice, S::kHost}) {
    for (int batch : {3, 16}) {
      INFO("sampling " << int(sampling) << " batch " << batch);
      EngineOptions o;
      o.batch_size = batch;
      o.sampling = sampling;
      Engine e(model, nullptr, o);
      run_all(e, reqs);
      const auto& st = e.stats();
      INFO("steps " << st.decode_steps << " syncs " << st.decode_syncs << " bytes " << st.device_to_host_bytes);
      REQUIRE(st.decode_steps > 0);
      CHECK(st.decode_syncs == st.decode_steps);
      // batch 16 admits all 7 requests in one round; batch 3 refills in later rounds, at most
      // one per request
      if (batch == 16) CHECK(st.prefill_syncs == 1);
      else CHECK((st.prefill_syncs > 1 && st.prefill_syncs <= st.requests));
      const int64_t rows = 8;  // min(batch, 7 requests) rounded up to 8 on the CPU
      const int64_t per_step = sampling == S::kHost ? rows * kVocab * 4 : rows * (8 + 8);  // ids + log-probs
      CHECK(st.device_to_host_bytes >= st.decode_steps * per_step);
      CHECK(st.device_to_host_bytes <= st.decode_steps * per_step + st.requests * kVocab * 4);
    }
  }
}

TEST_CASE("engine: sync_phases (and cuda_graphs on the CPU) change no result; every phase of a decode step is timed") {
  auto model = tiny_model();
  auto reqs = uniform_requests();
  EngineOptions o;
  o.batch_size = 4;
  o.sampling = EngineOptions::Sampling::kDevice;
  Engine plain(model, nullptr, o);
  const auto t0 = std::chrono::steady_clock::now();
  auto a = run_all(plain, reqs);
  const auto t1 = std::chrono::steady_clock::now();
  o.sync_phases = true;
  Engine prof(model, nullptr, o);
  auto b = run_all(prof, reqs);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() +
                      std::chrono::duration<double>(t1 - t0).count();
  o.cuda_graphs = true;  // CUDA only: ignored here
  Engine graphs(model, nullptr, o);
  auto c = run_all(graphs, reqs);
  CHECK(graphs.stats().graph_steps == 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    CHECK(a[i].ids == b[i].ids);
    CHECK(a[i].logprobs == b[i].logprobs);
    CHECK(a[i].ids == c[i].ids);
  }
  for (const auto* st : {&plain.stats(), &prof.stats()}) {
    CHECK(st->step_forward_seconds > 0);
    CHECK(st->step_sample_seconds > 0);
    CHECK(st->step_host_seconds > 0);
    // device sampling: forward + sample run from a step's start to its ids on the host, as
    // decode_seconds does; the three phases are disjoint parts of the runs
    CHECK(st->step_forward_seconds + st->step_sample_seconds == Approx(st->decode_seconds).epsilon(0.05).margin(1e-3));
  }
  CHECK(plain.stats().step_forward_seconds + plain.stats().step_sample_seconds + plain.stats().step_host_seconds +
            prof.stats().step_forward_seconds + prof.stats().step_sample_seconds + prof.stats().step_host_seconds <=
        wall);
}

TEST_CASE("KV cache max_length and attend_all: hidden() advances a known value, forgets it with a mask, rejects a wrong one") {
  auto model = tiny_model();
  torch::InferenceMode im;
  delib::KVCache c = model->new_cache(2, 16);
  CHECK(c.max_length == -1);
  delib::ForwardOptions fo;
  fo.cache = &c;
  auto ids = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kInt64).view({2, 3});
  model->hidden(ids, fo);  // unknown stays unknown
  CHECK(c.max_length == -1);
  c.max_length = 3;
  model->hidden(ids.narrow(1, 0, 1), fo);
  CHECK(c.max_length == 4);
  c.max_length = 7;  // the rows hold 4
  CHECK_THROWS_WITH(model->hidden(ids.narrow(1, 0, 1), fo),
                    Catch::Contains("KV cache: max_length 7 but the longest row holds 4"));
  // attend_all (a fixed shape for CUDA graphs): every slot, masked past each row's length: the
  // same hidden states, and the length still advances
  {
    delib::KVCache a = c, b = c;
    a.k.clear(), a.v.clear(), b.k.clear(), b.v.clear();
    for (auto& t : c.k) a.k.push_back(t.clone()), b.k.push_back(t.clone());
    for (auto& t : c.v) a.v.push_back(t.clone()), b.v.push_back(t.clone());
    a.lengths = c.lengths.clone(), b.lengths = c.lengths.clone();
    b.attend_all = true;
    a.max_length = b.max_length = -1;
    delib::ForwardOptions fa, fb;
    fa.cache = &a;
    fb.cache = &b;
    auto ha = model->hidden(ids.narrow(1, 1, 1), fa), hb = model->hidden(ids.narrow(1, 1, 1), fb);
    CHECK(torch::allclose(ha, hb, 1e-5, 1e-6));
    CHECK(b.lengths.equal(a.lengths));
  }
  c.max_length = 4;
  fo.attention_mask = torch::tensor({1, 0}, torch::kBool).view({2, 1});
  model->hidden(ids.narrow(1, 0, 1), fo);
  CHECK(c.max_length == -1);  // rows advanced by their own mask
}

TEST_CASE("engine: continuous batching refills slots and finishes every request once") {
  std::vector<EngineRequest> reqs;
  for (int i = 0; i < 9; ++i) {
    EngineRequest r;
    r.prompt_ids = {int32_t(i + 1), int32_t(2 * i + 3)};
    r.params.temperature = 0;
    r.params.max_tokens = 1 + (i * 5) % 9;  // very different lengths
    reqs.push_back(r);
  }
  EngineOptions o;
  o.batch_size = 2;
  int64_t reported = 0;
  o.on_tokens = [&](int64_t n) { reported += n; };
  Engine e(tiny_model(), nullptr, o);
  std::vector<size_t> order;
  std::vector<EngineResult> res(reqs.size());
  e.run(reqs, [&](size_t i, EngineResult r) {
    order.push_back(i);
    res[i] = std::move(r);
  });
  REQUIRE(order.size() == reqs.size());
  std::vector<size_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == i);
  int64_t total = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    CHECK(int64_t(res[i].ids.size()) == reqs[i].params.max_tokens);
    CHECK(res[i].prompt_tokens == 2);
    total += int64_t(res[i].ids.size());
  }
  CHECK(reported == total);
  CHECK(e.stats().generated_tokens == total);
  CHECK(e.stats().requests == int64_t(reqs.size()));
  // Short requests finished before long ones that started earlier: slots were refilled.
  CHECK(order != sorted);
}

TEST_CASE("engine: stop ids, max_tokens, empty budgets") {
  auto reqs = mixed_requests();
  reqs.resize(1);
  reqs[0].params.temperature = 0;
  reqs[0].params.max_tokens = 10;
  auto base = run_with(4, reqs)[0];
  REQUIRE(base.ids.size() == 10);
  SECTION("a stop id ends generation after emitting it") {
    auto r = reqs;
    r[0].stop_ids = {base.ids[3]};
    auto first = size_t(std::find(base.ids.begin(), base.ids.end(), base.ids[3]) - base.ids.begin());
    auto g = run_with(4, r)[0];
    CHECK(g.finish_reason == "stop");
    CHECK(g.ids.size() == first + 1);
    CHECK(std::equal(g.ids.begin(), g.ids.end(), base.ids.begin()));
  }
  SECTION("max_tokens 0 and prompts that fill the context") {
    auto r = reqs;
    r[0].params.max_tokens = 0;
    auto g = run_with(4, r)[0];
    CHECK(g.ids.empty());
    CHECK(g.finish_reason == "length");
    r = reqs;
    r[0].prompt_ids.assign(128, 5);  // max_position_embeddings = 128
    g = run_with(4, r)[0];
    CHECK(g.ids.empty());
    CHECK(g.finish_reason == "length");
    // Near the end of the context the budget shrinks to what fits.
    r[0].prompt_ids.assign(125, 5);
    g = run_with(4, r)[0];
    CHECK(g.ids.size() == 3);
    CHECK(g.finish_reason == "length");
  }
}

TEST_CASE("engine: stop strings are matched on decoded text and cut from it") {
  auto tok = std::make_shared<LetterTokenizer>();
  auto reqs = mixed_requests();
  reqs.resize(1);
  reqs[0].params.temperature = 0;
  reqs[0].params.max_tokens = 12;
  EngineOptions o;
  Engine e(tiny_model(), tok, o);
  auto base = run_all(e, reqs)[0];
  REQUIRE(base.text == tok->decode(base.ids, false));
  // The text of tokens 4..5 as a stop string: generation ends at its first occurrence.
  std::string stop = base.text.substr(4, 2);
  size_t at = base.text.find(stop);
  reqs[0].params.stop = {"zzzzzzzz", stop};
  auto g = run_all(e, reqs)[0];
  CHECK(g.finish_reason == "stop");
  CHECK(g.stop == stop);
  CHECK(g.text == base.text.substr(0, at));
  CHECK(g.ids.size() == at + 2);
}

// Phi-3 LongRoPE with original_max_position_embeddings 8: transformers' Phi-3 generate()
// recomputes a sequence's cache with the long factors when it reaches 9 tokens, which is what a
// full forward over the sequence at every step computes (short factors up to 8 tokens, long
// beyond, for every position). The engine must give each request the tokens and log-probs of
// that reference, sampled from the request's own stream: greedy and sampled requests crossing
// the switch (prompt 1..8 tokens), reaching it with the prompt (8) or the first token, and
// prefilled past it already (9, 12: no recompute). With the cached short-factor keys kept (the
// engine before the recompute) the log-probs past the switch differ by far more than 1e-4.
TEST_CASE("engine: Phi-3 LongRoPE recomputes a row's cache at the switch, as transformers' Phi-3 generate") {
  Json j = Json::parse(R"({"vocab_size": 211, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "max_position_embeddings": 128, "rope_theta": 10000.0,
    "architectures": ["Phi3ForCausalLM"], "partial_rotary_factor": 0.5,
    "original_max_position_embeddings": 8,
    "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.2, 1.7, 2.5],
                     "long_factor": [1.1, 2.0, 4.5, 9.0]}})");
  auto model = CausalLM::random(ModelConfig::from_json(j), 77, torch::kCPU);
  const int64_t kSwitch = 8;
  std::vector<EngineRequest> reqs;
  const int lengths[] = {1, 3, 7, 8, 9, 12, 5, 2};
  for (int i = 0; i < 8; ++i) {
    EngineRequest r;
    for (int t = 0; t < lengths[i]; ++t) r.prompt_ids.push_back(int32_t((i * 37 + t * 11 + 5) % kVocab));
    r.params.max_tokens = 12;
    r.params.temperature = i % 2 == 0 ? 0.0 : 1.0;
    r.params.top_p = i == 3 ? 0.9 : 1.0;
    r.params.logprobs = true;
    r.seed = delib::sample_seed(9, "lr-" + std::to_string(i), 0);
    reqs.push_back(r);
  }
  int64_t want_recomputed = 0;
  for (const auto& r : reqs) {
    const int64_t L = int64_t(r.prompt_ids.size());
    // Decode steps feed positions L .. L + max_tokens - 2; the one feeding kSwitch recomputes
    // kSwitch + 1 tokens.
    if (L <= kSwitch && L + r.params.max_tokens - 2 >= kSwitch) want_recomputed += kSwitch + 1;
  }
  for (int batch : {1, 3}) {
    EngineOptions o;
    o.batch_size = batch;
    Engine e(model, nullptr, o);
    auto res = run_all(e, reqs);
    CHECK(e.stats().rope_recomputed_tokens == want_recomputed);
    torch::InferenceMode guard;
    delib::generate::SamplerScratch scratch;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const auto& r = reqs[i];
      const auto& g = res[i];
      INFO("batch " << batch << ", request " << i << " (prompt " << r.prompt_ids.size() << ")");
      REQUIRE(int64_t(g.ids.size()) == r.params.max_tokens);
      std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
      delib::generate::Rng rng(r.seed);
      for (size_t t = 0; t < g.ids.size(); ++t) {
        INFO("token " << t << " (sequence of " << seq.size() << ")");
        auto logits = model->forward(torch::tensor(seq, torch::kInt64).view({1, -1}))[0][-1]
                          .to(torch::kFloat32).contiguous();
        const float* l = logits.data_ptr<float>();
        CHECK(delib::generate::sample_token(l, kVocab, r.params, rng, scratch) == g.ids[t]);
        CHECK(g.logprobs[t] == Approx(delib::generate::token_logprob(l, kVocab, g.ids[t])).margin(1e-4));
        seq.push_back(g.ids[t]);
      }
    }
  }
}
