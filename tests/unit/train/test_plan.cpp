// The memory plan (train/plan.cpp): its arithmetic on hand-computed values, the size and
// strategy parsers, and the per-layer activation formula against the bytes a real forward of
// delib's decoder keeps (counted by a CPU allocator that tracks live bytes).
#include <torch/torch.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>

#include "delib/error.h"
#include "delib/json.h"
#include "delib/model.h"
#include "delib/train.h"

using namespace delib::train;

namespace {

// Llama, C 8, L 2, V 10, H 2, Hkv 1, D 4, I 16, untied: small enough to add up by hand.
delib::ModelConfig hand_config() {
  return delib::ModelConfig::from_json(delib::Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 10,
    "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "tie_word_embeddings": false, "torch_dtype": "float32"})"));
}

PlanInput hand_input() {
  PlanInput in;
  in.config = hand_config();
  in.batch_size = 1;
  in.max_length = 3;
  in.loss_chunk = 2;
  return in;
}

// Live bytes of CPU tensors: a wrapper of the default allocator that counts what it hands out.
std::atomic<int64_t> g_live{0};

struct CountingAllocator final : c10::Allocator {
  static constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned; holds the size
  c10::DataPtr allocate(size_t n) override {
    auto* base = static_cast<char*>(c10::alloc_cpu(n + kHeader));
    std::memcpy(base, &n, sizeof n);
    g_live += int64_t(n);
    return {base + kHeader, base, &release, c10::Device(c10::DeviceType::CPU)};
  }
  static void release(void* ctx) {
    size_t n = 0;
    std::memcpy(&n, ctx, sizeof n);
    g_live -= int64_t(n);
    c10::free_cpu(ctx);
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
};

// The live CPU bytes a forward of model.hidden(ids) leaves (ids: 2 x 48, two packed documents of
// 20 and 28 tokens per row), counted by CountingAllocator.
int64_t hidden_live_bytes(delib::CausalLM& model, const torch::Tensor& ids) {
  torch::Tensor docs = torch::cat({torch::zeros({2, 20}, torch::kInt64), torch::ones({2, 28}, torch::kInt64)}, 1);
  torch::Tensor pos = torch::cat({torch::arange(20), torch::arange(28)}).unsqueeze(0).expand({2, 48}).contiguous();
  delib::ForwardOptions fo;
  fo.doc_ids = docs;
  fo.positions = pos;
  static CountingAllocator counting;
  c10::Allocator* previous = c10::GetCPUAllocator();
  c10::SetCPUAllocator(&counting, /*priority=*/255);
  int64_t measured = 0;
  {
    const int64_t before = g_live.load();
    torch::Tensor h = model.hidden(ids, fo);
    measured = g_live.load() - before;
  }
  c10::SetCPUAllocator(previous, /*priority=*/255);
  return measured;
}

}  // namespace

TEST_CASE("the plan adds up to hand-computed bytes (f32, one process)", "[train][plan]") {
  PlanInput in = hand_input();
  // Parameters: layer = C*q + 2*C*kv + q*C + 3*C*I + 2*C = 64 + 64 + 64 + 384 + 16 = 592;
  // model = V*C + 2 * 592 + C + V*C = 80 + 1184 + 8 + 80 = 1352.
  const MemoryPlan p = plan_memory(in);
  CHECK(p.parameters == 1352);
  CHECK(p.trainable == 1352);
  CHECK(p.largest_unit == 592);
  CHECK(p.params == 1352 * 4);
  CHECK(p.grads == 1352 * 4);
  CHECK(p.optimizer == 2 * 1352 * 4);
  CHECK(p.autocast_copies == 0);
  // One layer, N = 3: norms (model.cpp RMSNormFn: the input and the statistics) 2*3*8*4 = 192
  // and their rsqrt 2*3*4 = 24; linear inputs 2*3*8*4 = 192; SDPA 3*(4+2)*4*4 = 288 + logsumexp
  // 1*2*3*4 = 24; mask 1*3*3*4 = 36 (o_proj's input is SDPA's output); SwiGLU (model.cpp
  // GatedDown: gate and up only) 2*3*16*4 = 384. Sum 1140.
  CHECK(p.activations_per_layer == 1140);
  // Shared: cos/sin 2*3*4*4 = 96; tail: final norm 3*8*4 + 3*4 = 108, target rows 3*8*4 = 96,
  // logsumexps and targets 3*12 = 36.
  CHECK(p.activations == 2 * 1140 + 96 + 240);
  CHECK(p.activations_checkpointed == 2 * 3 * 8 * 4 + 1140 + 96 + 240);
  CHECK(p.loss_chunk == 2 * 10 * 4);      // 2 rows x V: z, exp'd in place (backward: dz) in f32
  CHECK(p.head_grad == 10 * 8 * 4);       // f32 accumulator (the GEMM adds into it: addmm)
  CHECK(p.step_transient == 128 * 2 * 8); // largest tensor: an MLP matrix (16 x 8) in f64, twice
  CHECK(p.peak(false) == 21632 + 2616 + 80 + 320);
  CHECK(p.peak(true) == 21632 + 1668 + 80 + 320);
}

TEST_CASE("sharding divides what each strategy divides, units padded to the world size", "[train][plan]") {
  PlanInput in = hand_input();
  in.world_size = 3;
  // Units: embeddings 80, layers 592 each, final norm + head 88. Per rank, ceil(n / 3):
  // 27 + 2 * 198 + 30 = 453.
  in.sharding = Sharding::kGradOpt;
  MemoryPlan g = plan_memory(in);
  CHECK(g.params == 1352 * 4 + 453 * 4);      // replicated + AdamW's copy of the rank's part
  CHECK(g.grads == 0);                        // nothing kept across steps
  CHECK(g.grads_step == 453 * 4);             // the shard, from backward to the step
  CHECK(g.grads_backward == 2 * 3 * 198 * 4); // two units' flat buffers (one reduce-scattering), not every full gradient
  CHECK(g.peak(false) == g.persistent() + std::max({g.activations + g.loss_chunk + g.head_grad,
                                                    g.grads_step + g.grads_backward,
                                                    g.grads_step + g.step_transient}));
  CHECK(g.optimizer == 2 * 453 * 4);
  CHECK(g.step_transient == 43 * 2 * 8);      // clipping on the rank's part: ceil(128 / 3) in f64
  in.sharding = Sharding::kFull;
  MemoryPlan f = plan_memory(in);
  CHECK(f.params == 453 * 4 + 2 * 592 * 4);   // the shard + two gathered units
  CHECK(f.grads == g.grads);
  CHECK(f.grads_step == g.grads_step);
  CHECK(f.grads_backward == g.grads_backward);
  CHECK(f.optimizer == g.optimizer);
  CHECK(f.activations == g.activations);      // sharding does not change activations
  in.sharding = Sharding::kNone;
  CHECK(plan_memory(in).grads == 1352 * 4);   // none: the world size changes nothing
}

TEST_CASE("LoRA: gradients and AdamW state for the adapters only", "[train][plan]") {
  PlanInput in = hand_input();
  in.lora = true;
  in.lora_options.rank = 2;
  in.lora_options.targets = {"q_proj", "v_proj"};
  // Adapters per layer: r (in + out): q 2 (8 + 8) = 32, v 2 (8 + 4) = 24.
  MemoryPlan p = plan_memory(in);
  CHECK(p.trainable == 2 * 56);
  CHECK(p.parameters == 1352 + 2 * 56);
  CHECK(p.grads == 2 * 56 * 4);
  CHECK(p.optimizer == 2 * 2 * 56 * 4);
  CHECK(p.head_grad == 0);
  // Per layer: norms keep xf and rsqrt only, 2*3*8*4 + 2*3*4 = 216; y1 (q/v adapted) 96; SDPA
  // 312 and mask 36; gate/up/down have no adapter: their inputs are not kept; SwiGLU's gate and
  // up 2*3*16*4 = 384; each adapter's x A^T 3*2*4 = 24, twice.
  CHECK(p.activations_per_layer == 216 + 96 + 312 + 36 + 384 + 48);
}

TEST_CASE("bf16: pure bf16 weights and moments; CUDA autocast keeps f32 masters", "[train][plan]") {
  PlanInput in = hand_input();
  in.dtype = "bf16";
  MemoryPlan b = plan_memory(in);
  CHECK(b.params == 1352 * 2);
  CHECK(b.optimizer == 2 * 1352 * 2);
  in.dtype = "auto";
  in.cuda = true;
  MemoryPlan a = plan_memory(in);
  CHECK(a.weight_bytes == 4);
  CHECK(a.compute_bytes == 2);
  CHECK(a.params == 1352 * 4);
  CHECK(a.autocast_copies == (2 * 592 + 80) * 2);
  in.autocast = false;
  CHECK(plan_memory(in).compute_bytes == 4);
}

TEST_CASE("sizes parse as transformers' max_shard_size", "[train][plan]") {
  CHECK(parse_size("80GB") == 80000000000LL);
  CHECK(parse_size("80GiB") == 80LL << 30);
  CHECK(parse_size("80 gb") == 80000000000LL);
  CHECK(parse_size("1.5TiB") == 3LL << 39);
  CHECK(parse_size("500MB") == 500000000LL);
  CHECK(parse_size("12345") == 12345);
  CHECK(parse_size("2KiB") == 2048);
  for (const char* bad : {"", "GB", "80XB", "-1GB", "1e3", "0", "1.2.3GB"}) {
    INFO(bad);
    try {
      parse_size(bad);
      FAIL("accepted");
    } catch (const delib::Error& e) {
      CHECK(e.exit_code() == delib::kExitUsage);
      CHECK(std::string(e.what()).find("--memory-per-device") != std::string::npos);
    }
  }
}

TEST_CASE("an unknown sharding strategy is a usage error naming it", "[train][plan]") {
  CHECK(parse_sharding("none") == Sharding::kNone);
  CHECK(parse_sharding("grad-opt") == Sharding::kGradOpt);
  CHECK(parse_sharding("full") == Sharding::kFull);
  try {
    parse_sharding("zero3");
    FAIL("accepted");
  } catch (const delib::Error& e) {
    CHECK(e.exit_code() == delib::kExitUsage);
    CHECK(std::string(e.what()).find("'zero3'") != std::string::npos);
  }
}

TEST_CASE("the per-layer activation formula matches what a forward of delib's decoder keeps", "[train][plan]") {
  // A Llama-shaped model with GQA and a packed batch (doc ids: the masked SDPA path), f32 on the
  // CPU. The bytes alive after hidden() minus before = L layers' saved tensors + the shared
  // mask and cos/sin + the final norm's saved tensors + the output (N, C).
  for (const bool qk_norm : {false, true}) {
    INFO((qk_norm ? "qwen3" : "llama"));
    const std::string arch = qk_norm ? R"("Qwen3ForCausalLM"], "model_type": "qwen3")"
                                     : R"("LlamaForCausalLM"], "model_type": "llama")";
    auto cfg = delib::ModelConfig::from_json(delib::Json::parse(R"({"architectures": [)" + arch + R"(,
      "vocab_size": 96, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
      "tie_word_embeddings": false, "torch_dtype": "float32"})"));
    auto model = delib::CausalLM::random(cfg, 1, torch::kCPU);
    PlanInput in;
    in.config = cfg;
    in.batch_size = 2;
    in.max_length = 48;
    const MemoryPlan p = plan_memory(in);
    const int64_t N = 2 * 48;
    const int64_t expected = p.activations - N * 12;  // the loss's saved rows: here the output h

    torch::Tensor ids = torch::randint(0, 96, {2, 48}, torch::TensorOptions().dtype(torch::kInt64));
    const int64_t measured = hidden_live_bytes(*model, ids);
    INFO("planned " << expected << " bytes, measured " << measured);
    CHECK(measured == expected);
  }
}

TEST_CASE("the activation formula matches delib's Gemma 2, Gemma 3 and Qwen3-MoE layers to the byte",
          "[train][plan]") {
  // As above (f32 on the CPU, a packed batch: masks everywhere), for the families whose layers
  // differ from Llama's: Gemma 2 (soft-capped eager attention, (1 + w) sandwich norms, sliding
  // and full layers, the embedding scale), Gemma 3 ((1 + w) q/k norms, a second RoPE for its
  // sliding layers, SDPA) and Qwen3-MoE (the router and the per-expert loop; layer 1 dense via
  // mlp_only_layers). The MoE figure does not depend on the routing: every token visits k experts.
  // With LoRA (frozen base) layer 0 keeps less than the formula (nothing before it needs a
  // gradient, as noted in plan.cpp), so there the check is on the last layer: the bytes a third
  // layer adds to a two-layer model.
  struct Family {
    const char* name;
    std::string fields;
    std::vector<std::string> layer_types;  // empty: not a per-layer config field
  };
  const std::vector<Family> families = {
      {"gemma2", R"("architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "query_pre_attn_scalar": 16,
        "sliding_window": 16, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,)",
       {"sliding_attention", "full_attention", "sliding_attention"}},
      {"gemma3", R"("architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "query_pre_attn_scalar": 16,
        "sliding_window": 16, "rope_local_base_freq": 10000.0,)",
       {"sliding_attention", "full_attention", "sliding_attention"}},
      {"qwen3_moe", R"("architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_experts": 8,
        "num_experts_per_tok": 2, "moe_intermediate_size": 24, "norm_topk_prob": true, "mlp_only_layers": [1],
        "tie_word_embeddings": false,)",
       {}},
  };
  auto config = [](const Family& f, int layers) {
    std::string types;
    if (!f.layer_types.empty()) {
      types = R"("layer_types": [)";
      for (int i = 0; i < layers; ++i) types += (i ? ", \"" : "\"") + f.layer_types[size_t(i)] + "\"";
      types += "],";
    }
    return delib::ModelConfig::from_json(delib::Json::parse("{" + f.fields + types + R"("vocab_size": 96,
        "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": )" + std::to_string(layers) + R"(,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 256,
        "rms_norm_eps": 1e-6, "torch_dtype": "float32"})"));
  };
  // The planned activations and the live bytes a forward of hidden() leaves.
  auto run = [](const delib::ModelConfig& cfg, bool lora) {
    auto model = delib::CausalLM::random(cfg, 1, torch::kCPU);
    PlanInput in;
    in.config = cfg;
    in.batch_size = 2;
    in.max_length = 48;
    if (lora) {
      in.lora = true;
      in.lora_options.rank = 4;
      in.lora_options.targets = {"q_proj", "v_proj", "gate_proj", "down_proj"};
      delib::add_lora(*model, in.lora_options);
    }
    const MemoryPlan p = plan_memory(in);
    torch::manual_seed(0);
    torch::Tensor ids = torch::randint(0, 96, {2, 48}, torch::TensorOptions().dtype(torch::kInt64));
    const int64_t measured = hidden_live_bytes(*model, ids);
    return std::pair<int64_t, int64_t>{p.activations, measured};
  };
  const int64_t N = 2 * 48;
  for (const auto& f : families) {
    INFO(f.name);
    auto [planned, measured] = run(config(f, 3), false);
    INFO("full fine-tuning: planned " << planned - N * 12 << " bytes, measured " << measured);
    CHECK(measured == planned - N * 12);  // the loss's saved rows: here the output h
    auto [planned3, measured3] = run(config(f, 3), true);
    auto [planned2, measured2] = run(config(f, 2), true);
    INFO("LoRA, the third layer: planned " << planned3 - planned2 << " bytes, measured " << measured3 - measured2);
    CHECK(measured3 - measured2 == planned3 - planned2);
  }
}
