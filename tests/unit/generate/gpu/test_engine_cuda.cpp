// The generation engine on a CUDA device: the path gen-check, cot-gen and rl-train take on a
// GPU, where a decode step waits for the device once (the sampled ids) and its inputs go up
// from page-locked staging buffers without a wait (engine.cpp). Checked against the same
// device: greedy device sampling equals host sampling of the same logits, cached decoding
// agrees with full forwards (teacher forcing), sampling is reproducible and stays in its keep
// set, the host-tracked cache length (KVCache::max_length) matches the device's, and the sync
// counts are the CPU test's. A gpu-labelled test (test_generate_gpu): skipped, not passed,
// without a CUDA device; the CPU versions are in ../test_engine.cpp.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "delib/generate.h"
#include "delib/model.h"

using delib::CausalLM;
using delib::Engine;
using delib::EngineOptions;
using delib::EngineRequest;
using delib::EngineResult;

namespace {

constexpr int64_t kVocab = 1000;

std::shared_ptr<CausalLM> cuda_model(torch::ScalarType dtype) {
  auto cfg = delib::ModelConfig::from_json(delib::Json::parse(R"({"architectures": ["Qwen3ForCausalLM"],
    "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6,
    "max_position_embeddings": 256, "rope_theta": 10000.0, "tie_word_embeddings": true})"));
  return CausalLM::random(cfg, 1234, torch::Device(torch::kCUDA), dtype);
}

// 11 prompts of 3..23 tokens and 5..15 new tokens: with batch 4 rows finish at different steps
// and are refilled (the live mask and the staging buffers change between steps).
std::vector<EngineRequest> requests(double temperature, int top_k) {
  std::vector<EngineRequest> reqs;
  for (int i = 0; i < 11; ++i) {
    EngineRequest r;
    for (int t = 0; t < 3 + 2 * i; ++t) r.prompt_ids.push_back(int32_t((i * 131 + t * 17) % kVocab));
    r.params.max_tokens = 5 + i;
    r.params.temperature = temperature;
    r.params.top_k = top_k;
    r.params.logprobs = true;
    r.seed = delib::sample_seed(3, "cuda-" + std::to_string(i), 0);
    reqs.push_back(r);
  }
  return reqs;
}

struct Run {
  std::vector<EngineResult> res;
  delib::EngineStats stats;
};

Run run(std::shared_ptr<CausalLM> model, const std::vector<EngineRequest>& reqs, EngineOptions::Sampling s,
        bool sync_phases = false, bool cuda_graphs = false) {
  EngineOptions o;
  o.batch_size = 4;
  o.sampling = s;
  o.sync_phases = sync_phases;
  o.cuda_graphs = cuda_graphs;
  Engine e(model, nullptr, o);
  Run out;
  out.res.resize(reqs.size());
  std::vector<int> calls(reqs.size(), 0);
  e.run(reqs, [&](size_t i, EngineResult r) {
    ++calls[i];
    out.res[i] = std::move(r);
  });
  for (int c : calls) REQUIRE(c == 1);
  out.stats = e.stats();
  return out;
}

// log_softmax of one full forward over prompt + generated[:-1], (T, V) f64 on the host.
torch::Tensor teacher_forced(CausalLM& model, const EngineRequest& r, const EngineResult& g) {
  torch::InferenceMode im;
  std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
  seq.insert(seq.end(), g.ids.begin(), g.ids.end() - 1);
  auto input = torch::tensor(seq, torch::kInt64).view({1, -1}).to(model.device());
  return torch::log_softmax(model.forward(input).to(torch::kFloat64), -1)[0].cpu();
}

}  // namespace

TEST_CASE("CUDA engine: greedy on the device equals the host sampler, one sync per step", "[generate][gpu]") {
  using S = EngineOptions::Sampling;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    INFO("dtype " << dtype);
    auto model = cuda_model(dtype);
    auto reqs = requests(0.0, 0);
    Run dev = run(model, reqs, S::kDevice), host = run(model, reqs, S::kHost), def = run(model, reqs, S::kAuto);
    for (size_t i = 0; i < reqs.size(); ++i) {
      INFO("request " << i);
      REQUIRE(dev.res[i].ids.size() == size_t(reqs[i].params.max_tokens));
      CHECK(dev.res[i].ids == host.res[i].ids);  // the same logits, the same arg max
      CHECK(def.res[i].ids == dev.res[i].ids);   // kAuto samples on the device on CUDA
      REQUIRE(dev.res[i].logprobs.size() == host.res[i].logprobs.size());
      for (size_t t = 0; t < host.res[i].logprobs.size(); ++t)
        CHECK(dev.res[i].logprobs[t] == Approx(host.res[i].logprobs[t]).margin(1e-4));  // f32 vs f64
    }
    for (const Run* r : {&dev, &host}) {
      CHECK(r->stats.decode_syncs == r->stats.decode_steps);
      CHECK(r->stats.prefill_syncs >= 1);
      CHECK(r->stats.prefill_syncs <= r->stats.requests);
    }
    // device sampling brings (R,) ids and log-probs per step, the host sampler (R, V) logits
    CHECK(dev.stats.device_to_host_bytes < host.stats.device_to_host_bytes);
  }
}

TEST_CASE("CUDA engine: cached decoding agrees with full forwards on the device (teacher forcing)", "[generate][gpu]") {
  auto model = cuda_model(torch::kFloat32);
  auto reqs = requests(0.0, 0);
  Run r = run(model, reqs, EngineOptions::Sampling::kDevice);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    auto logp = teacher_forced(*model, reqs[i], r.res[i]);
    const int64_t L = int64_t(reqs[i].prompt_ids.size());
    for (size_t t = 0; t < r.res[i].ids.size(); ++t) {
      auto row = logp[L - 1 + int64_t(t)];
      CHECK(r.res[i].logprobs[t] == Approx(row[r.res[i].ids[t]].item<double>()).margin(1e-4));
      CHECK(row[r.res[i].ids[t]].item<double>() >= row.max().item<double>() - 1e-4);
    }
  }
}

TEST_CASE("CUDA engine: device sampling is reproducible and stays in the top-k; sync_phases changes nothing",
          "[generate][gpu]") {
  using S = EngineOptions::Sampling;
  auto model = cuda_model(torch::kFloat32);
  auto reqs = requests(1.0, 3);
  Run a = run(model, reqs, S::kDevice), b = run(model, reqs, S::kDevice), p = run(model, reqs, S::kDevice, true);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    CHECK(a.res[i].ids == b.res[i].ids);
    CHECK(a.res[i].ids == p.res[i].ids);
    auto logp = teacher_forced(*model, reqs[i], a.res[i]);
    const int64_t L = int64_t(reqs[i].prompt_ids.size());
    for (size_t t = 0; t < a.res[i].ids.size(); ++t) {
      auto row = logp[L - 1 + int64_t(t)];
      const double third = std::get<0>(row.topk(3)).min().item<double>();
      CHECK(row[a.res[i].ids[t]].item<double>() >= third - 1e-4);  // one of the 3 most likely
    }
  }
  CHECK(a.stats.decode_syncs == a.stats.decode_steps);
  CHECK(p.stats.step_forward_seconds > 0);
  CHECK(p.stats.step_sample_seconds > 0);
  CHECK(p.stats.step_host_seconds > 0);
}

// EngineOptions::cuda_graphs: each parameter set's first step runs eagerly, its second captures
// the step, later ones replay it. Those steps attend to every cache slot (another rounding than
// the eager steps), so they are checked against the full forward, not bit for bit.
TEST_CASE("CUDA engine: CUDA-graph decode steps agree with full forwards and are reproducible", "[generate][gpu]") {
  using S = EngineOptions::Sampling;
  auto model = cuda_model(torch::kFloat32);
  for (double temperature : {0.0, 1.0}) {
    INFO("temperature " << temperature);
    auto reqs = requests(temperature, temperature > 0 ? 3 : 0);
    Run g = run(model, reqs, S::kDevice, false, true), h = run(model, reqs, S::kDevice, true, true);
    CHECK(g.stats.graph_steps == g.stats.decode_steps - 1);  // all but the eager warm-up step
    CHECK(g.stats.decode_syncs == g.stats.decode_steps);
    for (size_t i = 0; i < reqs.size(); ++i) {
      INFO("request " << i);
      REQUIRE(g.res[i].ids.size() == size_t(reqs[i].params.max_tokens));
      CHECK(g.res[i].ids == h.res[i].ids);  // reproducible (and sync_phases changes nothing)
      auto logp = teacher_forced(*model, reqs[i], g.res[i]);
      const int64_t L = int64_t(reqs[i].prompt_ids.size());
      for (size_t t = 0; t < g.res[i].ids.size(); ++t) {
        auto row = logp[L - 1 + int64_t(t)];
        const double got = row[g.res[i].ids[t]].item<double>();
        CHECK(g.res[i].logprobs[t] == Approx(got).margin(1e-4));
        if (temperature == 0) CHECK(got >= row.max().item<double>() - 1e-4);
        else CHECK(got >= std::get<0>(row.topk(3)).min().item<double>() - 1e-4);
      }
    }
  }
  // bf16: runs and finishes every request (its rounding is too coarse for a token-level check)
  auto bf = cuda_model(torch::kBFloat16);
  auto reqs = requests(0.0, 0);
  Run g = run(bf, reqs, S::kDevice, false, true);
  CHECK(g.stats.graph_steps > 0);
  for (size_t i = 0; i < reqs.size(); ++i) CHECK(g.res[i].ids.size() == size_t(reqs[i].params.max_tokens));
}
