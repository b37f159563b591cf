// Activation checkpointing under CUDA bf16 autocast, the path sft-train takes on a GPU: the
// recomputation in backward must run under the forward's autocast state (bf16), not in f32.
// A gpu-labelled test (test_model_gpu): skipped, not passed, without a CUDA device. The CPU
// version of this check is in ../test_model.cpp.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <optional>

#include "delib/model.h"

namespace {

float maxdiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<float>();
}

}  // namespace

TEST_CASE("CUDA bf16 autocast: checkpointed gradients equal plain ones, not the f32 ones", "[model][gpu]") {
  auto cfg = delib::ModelConfig::from_json(delib::Json::parse(R"({"architectures": ["Qwen3ForCausalLM"],
    "vocab_size": 97, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6,
    "max_position_embeddings": 256, "rope_theta": 10000.0})"));
  const torch::Device dev(torch::kCUDA);
  torch::manual_seed(4);
  auto x = torch::randint(0, 97, {2, 16}, torch::kInt64).to(dev);
  auto grads = [&](bool ckpt, bool autocast) {
    auto m = delib::CausalLM::random(cfg, 9, dev);  // f32 master weights, as sft-train keeps them
    delib::ForwardOptions o;
    o.checkpoint = ckpt;
    torch::Tensor loss;
    {
      std::optional<delib::AutocastGuard> ac;  // torch.autocast("cuda", dtype=torch.bfloat16)
      if (autocast) ac.emplace(delib::AutocastState::bf16(c10::DeviceType::CUDA));
      auto logits = m->forward(x, o);
      loss = torch::nn::functional::cross_entropy(logits.view({-1, cfg.vocab_size}).to(torch::kFloat32), x.view({-1}));
    }
    loss.backward();  // after the autocast scope, as sft-train calls it
    std::vector<torch::Tensor> g;
    for (auto& [k, p] : m->named_parameters()) g.push_back(p.grad().cpu());
    return g;
  };
  auto plain = grads(false, true), ck = grads(true, true), f32 = grads(false, false);
  REQUIRE(plain.size() == ck.size());
  float effect = 0, err = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    effect = std::max(effect, maxdiff(plain[i], f32[i]));
    err = std::max(err, maxdiff(plain[i], ck[i]));
  }
  INFO("bf16 vs f32 gradients differ by " << effect << ", checkpointed vs plain bf16 by " << err);
  REQUIRE(effect > 1e-4);   // autocast really changed the function
  // GPU kernels may reduce in another order between the two runs: far below the bf16 effect,
  // where an f32 recomputation would sit at about the effect itself.
  CHECK(err < 0.05 * effect);
}
