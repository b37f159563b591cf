// The decoder on random tiny models: config parsing, KV-cache decoding == full forward,
// packed documents == separate documents, padding, activation checkpointing, LoRA, save/load.
// (Agreement with transformers is checked by tests/reference/test_model_reference.py.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include "delib/error.h"
#include "delib/model.h"
#include "delib/safetensors.h"
#include "model/modules.h"

namespace fs = std::filesystem;
using delib::CausalLM;
using delib::ForwardOptions;
using delib::Json;
using delib::ModelConfig;

namespace {

Json tiny_json(const std::string& arch) {
  Json j = Json::parse(R"({"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "max_position_embeddings": 256, "rope_theta": 10000.0})");
  Json a = Json::array();
  a.push(arch);
  j.set("architectures", a);
  if (arch == "Qwen3ForCausalLM") j.set("head_dim", 16);  // != hidden / heads
  if (arch == "LlamaForCausalLM")
    j.set("rope_scaling", Json::parse(R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 16})"));
  // Gemma: a window of 5 on the sliding layers (layer 0; layer 1 full), caps small enough to
  // bite, query_pre_attn_scalar != head_dim; Gemma 3: its own local RoPE base, linear scaling
  // on the full layer.
  if (arch == "Gemma2ForCausalLM" || arch == "Gemma3ForCausalLM") {
    j.set("head_dim", 16);
    j.set("sliding_window", 5);
    j.set("query_pre_attn_scalar", 12);
    j.set("final_logit_softcapping", 3.0);
  }
  if (arch == "Gemma2ForCausalLM") j.set("attn_logit_softcapping", 2.0);
  if (arch == "Gemma3ForCausalLM") {
    j.set("sliding_window_pattern", 2);
    j.set("rope_local_base_freq", 100.0);
    j.set("rope_scaling", Json::parse(R"({"rope_type": "linear", "factor": 4.0})"));
  }
  if (arch == "Qwen3MoeForCausalLM") {
    j.set("head_dim", 16);
    j.set("num_experts", 4);
    j.set("num_experts_per_tok", 2);
    j.set("moe_intermediate_size", 16);
  }
  return j;
}

ModelConfig tiny(const std::string& arch) { return ModelConfig::from_json(tiny_json(arch)); }

// The error reading `j` as m/config.json, as tools print it ("m/config.json: message").
std::string config_error(const Json& j) {
  try {
    ModelConfig::from_json(j, "m/config.json");
  } catch (const delib::Error& e) {
    return e.str();
  }
  return "(no error)";
}

const char* kArchs[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM",
                        "Phi3ForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Qwen3MoeForCausalLM"};

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("delib-test-model-" + std::to_string(::getpid())) / name;
  fs::create_directories(p.parent_path());
  return p;
}

float maxdiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<float>();
}

torch::Tensor ids(int64_t B, int64_t T, int64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, 97, {B, T}, g, torch::kInt64);
}

}  // namespace

TEST_CASE("ModelConfig: architectures, v5 rope_parameters and errors") {
  auto q2 = tiny("Qwen2ForCausalLM");
  CHECK(q2.model_type == "qwen2");
  CHECK(q2.attention_bias);
  CHECK_FALSE(q2.qk_norm);
  auto q3 = tiny("Qwen3ForCausalLM");
  CHECK(q3.qk_norm);
  CHECK(q3.head_dim == 16);
  CHECK(tiny("LlamaForCausalLM").rope_scaling.find("rope_type")->as_string() == "llama3");

  auto v5 = tiny_json("Qwen2ForCausalLM");
  v5.set("rope_theta", Json());
  v5.set("rope_parameters", Json::parse(R"({"rope_theta": 1000000.0, "rope_type": "default"})"));
  auto c5 = ModelConfig::from_json(v5);
  CHECK(c5.rope_theta == 1000000.0);
  CHECK(c5.rope_scaling.is_null());

  auto bad = tiny_json("GPT2LMHeadModel");
  CHECK_THROWS_WITH(ModelConfig::from_json(bad, "x/config.json"), Catch::Contains("unsupported architecture \"GPT2LMHeadModel\""));
  auto missing = tiny_json("LlamaForCausalLM");
  missing.set("hidden_size", Json());
  CHECK_THROWS_WITH(ModelConfig::from_json(missing), Catch::Contains("missing \"hidden_size\""));
  auto proportional = tiny_json("LlamaForCausalLM");  // a transformers type delib lacks
  proportional.set("rope_scaling", Json::parse(R"({"rope_type": "proportional", "factor": 4.0})"));
  CHECK_THROWS_WITH(ModelConfig::from_json(proportional), Catch::Contains("proportional"));
  CHECK(tiny("LlamaForCausalLM").num_parameters() ==
        [] { int64_t n = 0; for (auto& [k, p] : CausalLM::random(tiny("LlamaForCausalLM"), 1, torch::kCPU)->named_parameters()) n += p.numel(); return n; }());
}

TEST_CASE("ModelConfig: each family's row decides the fields it reads and refuses") {
  auto names_of = [](const ModelConfig& c) {
    std::set<std::string> names;
    for (auto& [k, p] : CausalLM::random(c, 1, torch::kCPU)->named_parameters()) names.insert(k);
    return names;
  };
  auto count = [](const ModelConfig& c) {
    int64_t n = 0;
    for (auto& [k, p] : CausalLM::random(c, 1, torch::kCPU)->named_parameters()) n += p.numel();
    return n;
  };
  // Phi-3: fused projections; attention_bias is not read (HF's Phi-3 has no biases); the
  // sliding window is.
  auto pj = tiny_json("Phi3ForCausalLM");
  pj.set("attention_bias", true);
  pj.set("sliding_window", 7);
  auto phi = ModelConfig::from_json(pj);
  CHECK(phi.model_type == "phi3");
  CHECK_FALSE(phi.attention_bias);
  CHECK_FALSE(phi.o_proj_bias);
  CHECK(phi.sliding_window == 7);
  CHECK(phi.partial_rotary_factor == 1.0);
  auto pn = names_of(phi);
  for (const char* n : {"model.layers.0.self_attn.qkv_proj.weight", "model.layers.1.self_attn.o_proj.weight",
                        "model.layers.0.mlp.gate_up_proj.weight", "model.layers.0.mlp.down_proj.weight"})
    CHECK(pn.count(n) == 1);
  CHECK(pn.count("model.layers.0.self_attn.q_proj.weight") == 0);
  CHECK(pn.count("model.layers.0.mlp.gate_proj.weight") == 0);
  CHECK(phi.num_parameters() == count(phi));
  // Llama, Qwen3: attention_bias gives q/k/v AND o_proj a bias, as HF's modules; Mistral none.
  for (const char* arch : {"LlamaForCausalLM", "Qwen3ForCausalLM"}) {
    INFO(arch);
    auto j = tiny_json(arch);
    j.set("attention_bias", true);
    auto c = ModelConfig::from_json(j);
    CHECK(c.o_proj_bias);
    CHECK(names_of(c).count("model.layers.0.self_attn.o_proj.bias") == 1);
    CHECK(c.num_parameters() == count(c));
  }
  auto mj = tiny_json("MistralForCausalLM");
  mj.set("attention_bias", true);
  CHECK_FALSE(ModelConfig::from_json(mj).attention_bias);
  CHECK(names_of(tiny("Qwen2ForCausalLM")).count("model.layers.0.self_attn.o_proj.bias") == 0);

  // partial_rotary_factor: Phi-3 only (top level or in the rope object), giving an even dim.
  auto partial = tiny_json("Phi3ForCausalLM");
  partial.set("partial_rotary_factor", 0.5);
  CHECK(ModelConfig::from_json(partial).partial_rotary_factor == 0.5);
  partial.set("partial_rotary_factor", 0.25);  // head_dim 8 -> rotary dim 2
  CHECK(ModelConfig::from_json(partial).partial_rotary_factor == 0.25);
  partial.set("partial_rotary_factor", 0.3);  // int(8 * 0.3) = 2: even, as HF computes it
  CHECK_NOTHROW(ModelConfig::from_json(partial));
  partial.set("partial_rotary_factor", 0.1);  // int(0.8) = 0
  CHECK_THAT(config_error(partial),
             Catch::StartsWith("m/config.json: ") && Catch::Contains("partial_rotary_factor"));
  auto llama_partial = tiny_json("LlamaForCausalLM");
  llama_partial.set("partial_rotary_factor", 0.5);
  CHECK_THAT(config_error(llama_partial),
             Catch::StartsWith("m/config.json: ") &&
                 Catch::Contains("\"partial_rotary_factor\" 0.5 is not supported for LlamaForCausalLM"));
  llama_partial.set("partial_rotary_factor", 1.0);
  CHECK_NOTHROW(ModelConfig::from_json(llama_partial));
  auto v5 = tiny_json("Phi3ForCausalLM");
  v5.set("rope_parameters", Json::parse(R"({"rope_theta": 250000.0, "rope_type": "default",
                                             "partial_rotary_factor": 0.5})"));
  auto c5 = ModelConfig::from_json(v5);
  CHECK(c5.partial_rotary_factor == 0.5);
  CHECK(c5.rope_theta == 250000.0);

  // LongRoPE: Phi-3's type ("su" and "yarn" read as it, as HF's Phi3Config does); factor lists
  // of rotary_dim / 2 numbers; original_max_position_embeddings from the top level, default 4096.
  auto lr = tiny_json("Phi3ForCausalLM");
  lr.set("rope_scaling", Json::parse(R"({"type": "su", "short_factor": [1, 1, 1, 1],
                                         "long_factor": [1, 2, 3, 4],
                                         "original_max_position_embeddings": 8})"));
  auto cl = ModelConfig::from_json(lr);
  CHECK(cl.rope_scaling.find("rope_type")->as_string() == "longrope");
  CHECK(cl.rope_scaling.find("original_max_position_embeddings")->as_int() == 4096);
  lr.set("original_max_position_embeddings", 16);
  CHECK(ModelConfig::from_json(lr).rope_scaling.find("original_max_position_embeddings")->as_int() == 16);
  lr.set("rope_scaling", Json::parse(R"({"type": "yarn", "short_factor": [1, 1, 1, 1],
                                         "long_factor": [1, 2, 3]})"));
  CHECK_THAT(config_error(lr),
             Catch::StartsWith("m/config.json: ") &&
                 Catch::Contains("\"rope_scaling\" \"long_factor\" must be a list of 4 numbers"));
  lr.set("rope_scaling", Json::parse(R"({"type": "longrope", "long_factor": [1, 2, 3, 4]})"));
  CHECK_THROWS_WITH(ModelConfig::from_json(lr), Catch::Contains("\"short_factor\""));
  lr.set("rope_scaling", Json::parse(R"({"rope_type": "linear", "factor": 2.0})"));
  CHECK_THAT(config_error(lr),
             Catch::StartsWith("m/config.json: ") &&
                 Catch::Contains("unsupported rope scaling type \"linear\" in \"rope_scaling\"") &&
                 Catch::Contains("Phi3ForCausalLM"));
  // A required key of a scaling type is named with the file.
  auto lin = tiny_json("LlamaForCausalLM");
  lin.set("rope_scaling", Json::parse(R"({"rope_type": "linear"})"));
  CHECK_THAT(config_error(lin), Catch::StartsWith("m/config.json: ") &&
                                    Catch::Contains("\"rope_scaling\" is missing \"factor\""));
  lin.set("rope_scaling", Json::parse(R"({"rope_type": "dynamic"})"));
  CHECK_THAT(config_error(lin), Catch::Contains("\"rope_scaling\" is missing \"factor\""));
  lin.set("rope_scaling", Json::parse(R"({"rope_type": "yarn", "factor": "4"})"));
  CHECK_THAT(config_error(lin), Catch::Contains("\"rope_scaling\" \"factor\" must be a number"));
  // yarn and dynamic on the Llama-like families (v5 rope_parameters too); yarn's pretraining
  // context defaults to max_position_embeddings as in HF.
  auto yarn = tiny_json("Qwen3ForCausalLM");
  yarn.set("rope_parameters", Json::parse(R"({"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6})"));
  auto cy = ModelConfig::from_json(yarn);
  CHECK(cy.rope_scaling.find("rope_type")->as_string() == "yarn");
  CHECK(cy.rope_scaling.find("original_max_position_embeddings")->as_int() == 256);
  auto dyn = tiny_json("MistralForCausalLM");
  dyn.set("rope_scaling", Json::parse(R"({"type": "dynamic", "factor": 2.0})"));
  CHECK(ModelConfig::from_json(dyn).rope_scaling.find("rope_type")->as_string() == "dynamic");
  // Qwen: per-layer sliding windows are refused, naming the field.
  auto qw = tiny_json("Qwen3ForCausalLM");
  qw.set("use_sliding_window", true);
  CHECK_THROWS_WITH(ModelConfig::from_json(qw), Catch::Contains("use_sliding_window"));
  // Unknown model_type without architectures lists every row's architecture.
  auto unknown = Json::parse(R"({"model_type": "gpt_neox", "vocab_size": 10})");
  CHECK_THAT(config_error(unknown), Catch::Contains("unsupported model_type \"gpt_neox\"") &&
                                        Catch::Contains("Phi3ForCausalLM") &&
                                        Catch::Contains("Qwen3MoeForCausalLM"));
  // model_type alone selects the row.
  auto by_type = tiny_json("Phi3ForCausalLM");
  by_type.set("architectures", Json());
  by_type.set("model_type", "phi3");
  CHECK(ModelConfig::from_json(by_type).architecture == "Phi3ForCausalLM");
}

TEST_CASE("ModelConfig: Gemma 2 / Gemma 3 / Qwen3-MoE fields, defaults and errors") {
  // Gemma 2: HF's defaults (caps 50 / 30, query_pre_attn_scalar 256, window 4096, every other
  // layer sliding, gelu_pytorch_tanh, tied); null turns a cap off.
  auto g2 = tiny_json("Gemma2ForCausalLM");
  for (const char* k : {"sliding_window", "query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping"})
    g2.set(k, Json());
  auto c2 = ModelConfig::from_json(g2);
  CHECK(c2.model_type == "gemma2");
  CHECK(c2.hidden_act == "gelu_pytorch_tanh");
  CHECK(c2.tie_word_embeddings);
  CHECK(c2.sliding_window == 4096);
  CHECK(c2.query_pre_attn_scalar == 256);
  CHECK(c2.layer_types == std::vector<std::string>{"sliding_attention", "full_attention"});
  CHECK(c2.is_sliding_layer(0));
  CHECK_FALSE(c2.is_sliding_layer(1));
  CHECK(c2.attn_logit_softcapping == 0);  // explicit null
  auto d2 = tiny_json("Gemma2ForCausalLM");
  Json d2b = Json::object();
  for (const auto& [k, v] : d2.as_object())
    if (k != "attn_logit_softcapping" && k != "final_logit_softcapping") d2b.set(k, v);
  auto cd2 = ModelConfig::from_json(d2b);
  CHECK(cd2.attn_logit_softcapping == 50.0);
  CHECK(cd2.final_logit_softcapping == 30.0);
  // Gemma 3: caps off by default, 5 of 6 layers sliding, rope_theta 1e6 and local base 10000.
  Json g3 = Json::object();
  const Json g3_full = tiny_json("Gemma3ForCausalLM");  // named: the loop needs it alive
  for (const auto& [k, v] : g3_full.as_object())
    if (k != "final_logit_softcapping" && k != "sliding_window_pattern" && k != "rope_theta" &&
        k != "rope_local_base_freq")
      g3.set(k, v);
  g3.set("num_hidden_layers", 7);
  auto c3 = ModelConfig::from_json(g3);
  CHECK(c3.final_logit_softcapping == 0);
  CHECK(c3.attn_logit_softcapping == 0);
  CHECK(c3.rope_theta == 1000000.0);
  CHECK(c3.rope_local_theta == 10000.0);
  CHECK(c3.qk_norm);
  for (int64_t i = 0; i < 7; ++i) CHECK(c3.is_sliding_layer(i) == (i != 5));
  // v5 rope_parameters per layer type.
  auto v5 = tiny_json("Gemma3ForCausalLM");
  v5.set("rope_scaling", Json());
  v5.set("rope_parameters", Json::parse(R"({"full_attention": {"rope_type": "linear", "factor": 8.0,
    "rope_theta": 1e6}, "sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}})"));
  auto c5 = ModelConfig::from_json(v5);
  CHECK(c5.rope_theta == 1e6);
  CHECK(c5.rope_local_theta == 20000.0);
  CHECK(c5.rope_scaling.find("factor")->as_double() == 8.0);
  v5.set("rope_parameters", Json::parse(R"({"full_attention": {"rope_type": "default", "rope_theta": 1e6},
    "sliding_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}})"));
  CHECK_THAT(config_error(v5), Catch::Contains("\"sliding_attention\" \"rope_type\" \"linear\" is not supported"));
  // Errors name the field.
  auto bad = tiny_json("Gemma2ForCausalLM");
  bad.set("hidden_activation", "gelu");
  CHECK_THAT(config_error(bad), Catch::Contains("m/config.json: unsupported hidden_activation \"gelu\""));
  bad = tiny_json("Gemma2ForCausalLM");
  bad.set("layer_types", Json::parse(R"(["sliding_attention", "chunked_attention"])"));
  CHECK_THAT(config_error(bad), Catch::Contains("\"layer_types\" entry \"chunked_attention\" is not supported"));
  bad.set("layer_types", Json::parse(R"(["sliding_attention"])"));
  CHECK_THAT(config_error(bad), Catch::Contains("\"layer_types\" must be a list of 2 strings"));
  bad = tiny_json("Gemma3ForCausalLM");
  bad.set("use_bidirectional_attention", true);
  CHECK_THAT(config_error(bad), Catch::Contains("use_bidirectional_attention true is not supported for Gemma3ForCausalLM"));
  auto llama_gelu = tiny_json("LlamaForCausalLM");
  llama_gelu.set("hidden_act", "relu");
  CHECK_THAT(config_error(llama_gelu), Catch::Contains("unsupported hidden_act \"relu\""));
  // Qwen3-MoE: num_local_experts (what transformers 5 writes) reads as num_experts; sparse
  // layers by decoder_sparse_step and mlp_only_layers; sizes checked.
  auto mj = tiny_json("Qwen3MoeForCausalLM");
  mj.set("num_experts", Json());
  mj.set("num_local_experts", 6);
  mj.set("num_hidden_layers", 4);
  mj.set("decoder_sparse_step", 2);
  mj.set("mlp_only_layers", Json::parse("[3]"));
  auto cm = ModelConfig::from_json(mj);
  CHECK(cm.num_experts == 6);
  CHECK_FALSE(cm.output_router_logits);
  CHECK(cm.router_aux_loss_coef == 0.001);
  CHECK_FALSE(cm.is_moe_layer(0));
  CHECK(cm.is_moe_layer(1));
  CHECK_FALSE(cm.is_moe_layer(2));
  CHECK_FALSE(cm.is_moe_layer(3));  // mlp_only_layers
  std::set<std::string> names;
  int64_t n = 0;
  for (auto& [k, p] : CausalLM::random(cm, 1, torch::kCPU)->named_parameters()) {
    names.insert(k);
    n += p.numel();
  }
  CHECK(n == cm.num_parameters());
  CHECK(names.count("model.layers.1.mlp.gate.weight") == 1);
  CHECK(names.count("model.layers.1.mlp.experts.5.down_proj.weight") == 1);
  CHECK(names.count("model.layers.0.mlp.gate_proj.weight") == 1);
  CHECK(names.count("model.layers.3.mlp.up_proj.weight") == 1);
  mj.set("num_experts_per_tok", 7);
  CHECK_THAT(config_error(mj), Catch::Contains("num_experts_per_tok 7"));
  mj.set("num_experts_per_tok", 2);
  mj.set("use_sliding_window", true);
  CHECK_THAT(config_error(mj), Catch::Contains("use_sliding_window true is not supported for Qwen3MoeForCausalLM"));
  // Every new row: parameter count, Gemma's sandwich norms and q/k norms by name.
  for (const char* arch : {"Gemma2ForCausalLM", "Gemma3ForCausalLM", "Qwen3MoeForCausalLM"}) {
    INFO(arch);
    auto c = tiny(arch);
    std::set<std::string> nm;
    int64_t count = 0;
    for (auto& [k, p] : CausalLM::random(c, 1, torch::kCPU)->named_parameters()) {
      nm.insert(k);
      count += p.numel();
    }
    CHECK(count == c.num_parameters());
    const bool gemma = c.model_type != "qwen3_moe";
    CHECK(nm.count("model.layers.1.pre_feedforward_layernorm.weight") == (gemma ? 1u : 0u));
    CHECK(nm.count("model.layers.1.post_feedforward_layernorm.weight") == (gemma ? 1u : 0u));
    CHECK(nm.count("model.layers.0.self_attn.q_norm.weight") == (c.model_type == "gemma2" ? 0u : 1u));
    CHECK(nm.count("lm_head.weight") == (gemma ? 0u : 1u));  // Gemma ties by default
  }
}

TEST_CASE("load_balancing_loss: HF's formula on a hand-computed case; softcap_logits") {
  // One layer, 2 tokens, 2 experts, top 1: token 0 prefers expert 0 (p = [0.75, 0.25]),
  // token 1 expert 1 (p = [0.5 - e, 0.5 + e] ~ [0.25, 0.75]).
  auto l = torch::tensor({std::log(3.0), 0.0, 0.0, std::log(3.0)}, torch::kFloat32).view({2, 2});
  // f = [1/2, 1/2], P = [(0.75 + 0.25) / 2, (0.25 + 0.75) / 2] = [0.5, 0.5]: loss = 2 * 0.5 = 1.
  auto loss = delib::load_balancing_loss({l}, 2, 1);
  CHECK(loss.item<double>() == Approx(1.0).epsilon(1e-6));
  // Both tokens to expert 0: f = [1, 0], P = [0.75, 0.25]: loss = 2 * 0.75 = 1.5; a masked
  // third token changes nothing.
  auto l2 = torch::tensor({std::log(3.0), 0.0, std::log(3.0), 0.0, 0.0, 5.0}, torch::kFloat32).view({3, 2});
  auto m = torch::tensor({1, 1, 0}, torch::kInt64).view({1, 3});
  CHECK(delib::load_balancing_loss({l2}, 2, 1, m).item<double>() == Approx(1.5).epsilon(1e-6));
  CHECK_FALSE(delib::load_balancing_loss({}, 2, 1).defined());
  auto x = torch::tensor({-100.0, 0.0, 1.0, 100.0});
  auto y = delib::softcap_logits(x, 3.0);
  CHECK(y[3].item<double>() == Approx(3.0));
  CHECK(y[2].item<double>() == Approx(3.0 * std::tanh(1.0 / 3.0)));
  CHECK(torch::equal(delib::softcap_logits(x, 0), x));
}

TEST_CASE("add_lora: fused families take q/k/v_proj as qkv_proj; a target with no layer is an error") {
  auto m = CausalLM::random(tiny("Phi3ForCausalLM"), 3, torch::kCPU);
  auto trainable = delib::add_lora(*m, {});  // q_proj, k_proj, v_proj, o_proj
  CHECK(trainable.size() == 2 * 2 * 2);      // qkv_proj and o_proj of 2 layers
  std::set<std::string> adapted;
  for (auto& [k, p] : m->named_parameters())
    if (k.find(".lora_A") != std::string::npos) adapted.insert(k);
  CHECK(adapted.count("model.layers.0.self_attn.qkv_proj.lora_A") == 1);
  CHECK(adapted.count("model.layers.1.self_attn.o_proj.lora_A") == 1);
  auto m2 = CausalLM::random(tiny("Phi3ForCausalLM"), 3, torch::kCPU);
  CHECK(delib::add_lora(*m2, {4, 8.0, {"gate_proj", "up_proj", "down_proj"}}).size() == 2 * 2 * 2);
  auto llama = CausalLM::random(tiny("LlamaForCausalLM"), 3, torch::kCPU);
  CHECK_THROWS_WITH(delib::add_lora(*llama, {4, 8.0, {"qkv_proj"}}),
                    Catch::Contains("LoRA target \"qkv_proj\": a Llama model has no such layer") &&
                    Catch::Contains("q_proj"));
  // The adapted fused model saves merged and loads back with the same logits.
  torch::NoGradGuard ng;
  for (auto& t : trainable) t.normal_(0, 0.05);
  auto dir = scratch("phi3-lora").string();
  m->save(dir);
  auto back = CausalLM::load(dir, torch::kCPU, "f32");
  auto x = ids(1, 7, 4);
  CHECK(maxdiff(m->forward(x), back->forward(x)) < 1e-5);
}

TEST_CASE("CausalLM: parameters carry checkpoint names; random is deterministic") {
  auto m = CausalLM::random(tiny("Qwen3ForCausalLM"), 7, torch::kCPU);
  std::set<std::string> names;
  for (auto& [k, p] : m->named_parameters()) names.insert(k);
  for (const char* n : {"model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight",
                        "model.layers.0.self_attn.q_norm.weight", "model.layers.0.mlp.down_proj.weight",
                        "model.layers.1.post_attention_layernorm.weight", "model.norm.weight", "lm_head.weight"})
    CHECK(names.count(n) == 1);
  auto m2 = CausalLM::random(tiny("Qwen3ForCausalLM"), 7, torch::kCPU);
  auto x = ids(2, 9, 1);
  torch::NoGradGuard ng;
  CHECK(torch::equal(m->forward(x), m2->forward(x)));
}

TEST_CASE("CausalLM: incremental decoding with the KV cache equals the full forward") {
  torch::NoGradGuard ng;
  for (const char* arch : kArchs) {
    INFO(arch);
    auto cfg = tiny(arch);
    if (cfg.model_type == "mistral") cfg.sliding_window = 5;  // exercise the window too
    auto m = CausalLM::random(cfg, 3, torch::kCPU);
    auto x = ids(2, 11, 2);
    auto full = m->forward(x);
    auto cache = m->new_cache(2, 16);
    ForwardOptions o;
    o.cache = &cache;
    auto pre = m->forward(x.narrow(1, 0, 4), o);
    CHECK(maxdiff(pre, full.narrow(1, 0, 4)) < 1e-5);
    for (int64_t t = 4; t < 11; ++t) {
      auto step = m->forward(x.narrow(1, t, 1), o);
      CHECK(maxdiff(step, full.narrow(1, t, 1)) < 1e-5);
    }
    CHECK(cache.lengths.equal(torch::full({2}, 11, torch::kInt64)));

    // Rows of different lengths: a right-padded prefill advances each row by its own count,
    // and decoding then continues each row independently.
    auto cache2 = m->new_cache(2, 16);
    ForwardOptions p;
    p.cache = &cache2;
    p.attention_mask = torch::tensor({1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, torch::kInt64).view({2, 6}).to(torch::kBool);
    p.attention_mask[0].fill_(true);
    p.attention_mask[1].narrow(0, 0, 3).fill_(true);  // row 1: 3 valid tokens
    auto prompt = x.narrow(1, 0, 6).clone();
    m->forward(prompt, p);
    CHECK(cache2.lengths[0].item<int64_t>() == 6);
    CHECK(cache2.lengths[1].item<int64_t>() == 3);
    ForwardOptions d;
    d.cache = &cache2;
    auto full1 = m->forward(x.narrow(0, 1, 1));
    for (int64_t k = 0; k < 4; ++k) {
      // Row 0 feeds token 6 + k, row 1 token 3 + k.
      auto step_ids = torch::stack({x[0][6 + k], x[1][3 + k]}).view({2, 1});
      auto out = m->forward(step_ids, d);
      CHECK(maxdiff(out[0][0], full[0][6 + k]) < 1e-5);
      CHECK(maxdiff(out[1][0], full1[0][3 + k]) < 1e-5);
    }
  }
}

TEST_CASE("CausalLM: Phi-3 LongRoPE takes its factors from each row's own length") {
  // original_max_position_embeddings 6: a row of up to 6 valid tokens gets the short factors,
  // a longer one the long factors, whatever the other rows of the batch and the padding.
  torch::NoGradGuard ng;
  auto j = tiny_json("Phi3ForCausalLM");
  j.set("partial_rotary_factor", 0.5);  // rotary dim 4 of head_dim 8
  j.set("original_max_position_embeddings", 6);
  j.set("rope_scaling", Json::parse(R"({"type": "longrope", "short_factor": [1.0, 1.5],
                                        "long_factor": [3.0, 7.0]})"));
  auto cfg = ModelConfig::from_json(j);
  CHECK(cfg.rope_scaling.find("rope_type")->as_string() == "longrope");
  auto m = CausalLM::random(cfg, 21, torch::kCPU);
  auto x = ids(2, 10, 22);
  auto alone0 = m->forward(x.narrow(0, 0, 1).narrow(1, 0, 5));  // 5 tokens: short
  auto alone1 = m->forward(x.narrow(0, 1, 1));                   // 10 tokens: long
  ForwardOptions pad;
  pad.attention_mask = torch::ones({2, 10}, torch::kBool);
  pad.attention_mask[0].narrow(0, 5, 5).fill_(false);
  auto batch = m->forward(x, pad);
  CHECK(maxdiff(batch[0].narrow(0, 0, 5), alone0[0]) < 1e-5);
  CHECK(maxdiff(batch[1], alone1[0]) < 1e-5);
  // The factors matter: with long_factor = short_factor the 10-token row changes, the
  // 5-token one does not.
  auto same = cfg;
  same.rope_scaling.set("long_factor", Json::parse("[1.0, 1.5]"));
  auto m_same = CausalLM::random(same, 21, torch::kCPU);
  CHECK(maxdiff(m_same->forward(x.narrow(0, 1, 1)), alone1) > 1e-3);
  CHECK(maxdiff(m_same->forward(x.narrow(0, 0, 1).narrow(1, 0, 5)), alone0) == 0);
  // Decoding up to the switch equals the full forward.
  auto cache = m->new_cache(1, 16);
  ForwardOptions o;
  o.cache = &cache;
  m->forward(x.narrow(0, 0, 1).narrow(1, 0, 2), o);
  for (int64_t t = 2; t < 6; ++t) {
    INFO("position " << t);
    auto step = m->forward(x.narrow(0, 0, 1).narrow(1, t, 1), o);
    CHECK(maxdiff(step, m->forward(x.narrow(0, 0, 1).narrow(1, 0, t + 1)).narrow(1, t, 1)) < 1e-5);
  }
}

TEST_CASE("CausalLM: packed documents with doc_ids equal separate forwards; padding is ignored") {
  torch::NoGradGuard ng;
  for (const char* arch : kArchs) {
    INFO(arch);
    auto m = CausalLM::random(tiny(arch), 5, torch::kCPU);
    auto a = ids(1, 5, 10), b = ids(1, 7, 11);
    ForwardOptions o;
    o.doc_ids = torch::cat({torch::zeros({1, 5}, torch::kInt64), torch::ones({1, 7}, torch::kInt64)}, 1);
    o.positions = torch::cat({torch::arange(5), torch::arange(7)}).view({1, 12});
    auto packed = m->forward(torch::cat({a, b}, 1), o);
    CHECK(maxdiff(packed.narrow(1, 0, 5), m->forward(a)) < 1e-5);
    CHECK(maxdiff(packed.narrow(1, 5, 7), m->forward(b)) < 1e-5);

    // Right padding: row 0 is `a` padded to 7; its valid logits equal the unpadded forward.
    ForwardOptions pad;
    pad.attention_mask = torch::ones({2, 7}, torch::kBool);
    pad.attention_mask[0].narrow(0, 5, 2).fill_(false);
    auto batch = torch::cat({torch::cat({a, torch::zeros({1, 2}, torch::kInt64)}, 1), b}, 0);
    auto out = m->forward(batch, pad);
    CHECK(maxdiff(out[0].narrow(0, 0, 5), m->forward(a)[0]) < 1e-5);
    CHECK(maxdiff(out[1], m->forward(b)[0]) < 1e-5);
    CHECK_FALSE(torch::isnan(out).any().item<bool>());
    // Left padding with explicit positions.
    ForwardOptions left;
    left.attention_mask = torch::ones({1, 7}, torch::kBool);
    left.attention_mask[0].narrow(0, 0, 2).fill_(false);
    left.positions = torch::tensor({0, 0, 0, 1, 2, 3, 4}, torch::kInt64).view({1, 7});
    auto lo = m->forward(torch::cat({torch::zeros({1, 2}, torch::kInt64), a}, 1), left);
    CHECK(maxdiff(lo[0].narrow(0, 2, 5), m->forward(a)[0]) < 1e-5);
  }
}

TEST_CASE("CausalLM: activation checkpointing gives the same gradients") {
  auto cfg = tiny("Qwen3ForCausalLM");
  auto x = ids(2, 8, 4);
  auto grads = [&](bool ckpt, bool lora) {
    auto m = CausalLM::random(cfg, 9, torch::kCPU);
    if (lora) {
      torch::manual_seed(0);
      delib::add_lora(*m, {});
      torch::NoGradGuard ng;
      for (auto& [k, p] : m->named_parameters())
        if (k.find("lora_B") != std::string::npos) p.normal_(0, 0.1);
    }
    ForwardOptions o;
    o.checkpoint = ckpt;
    auto logits = m->forward(x, o);
    auto loss = torch::nn::functional::cross_entropy(logits.view({-1, cfg.vocab_size}), x.view({-1}));
    loss.backward();
    std::vector<std::pair<std::string, torch::Tensor>> g;
    for (auto& [k, p] : m->named_parameters())
      if (p.requires_grad()) g.emplace_back(k, p.grad());
    return g;
  };
  for (bool lora : {false, true}) {
    INFO("lora " << lora);
    auto plain = grads(false, lora), ck = grads(true, lora);
    REQUIRE(plain.size() == ck.size());
    REQUIRE(!plain.empty());
    for (size_t i = 0; i < plain.size(); ++i) {
      INFO(plain[i].first);
      REQUIRE(plain[i].second.defined());
      REQUIRE(ck[i].second.defined());
      CHECK(maxdiff(plain[i].second, ck[i].second) < 1e-6);
    }
  }
}

TEST_CASE("CausalLM: activation checkpointing recomputes under the forward's autocast (CPU bf16)") {
  // The forward runs in a bf16 autocast scope, backward() after it has closed (as sft-train
  // does): the recomputation must still run in bf16, or the gradients are those of the f32
  // function. Checkpointed gradients must equal the plain bf16-autocast gradients.
  auto cfg = tiny("Qwen3ForCausalLM");
  auto x = ids(2, 8, 4);
  auto grads = [&](bool ckpt, bool autocast, bool lora) {
    auto m = CausalLM::random(cfg, 9, torch::kCPU);
    if (lora) {
      torch::manual_seed(0);
      delib::add_lora(*m, {});
      torch::NoGradGuard ng;
      for (auto& [k, p] : m->named_parameters())
        if (k.find("lora_B") != std::string::npos) p.normal_(0, 0.1);
    }
    ForwardOptions o;
    o.checkpoint = ckpt;
    torch::Tensor loss;
    {
      std::optional<delib::AutocastGuard> ac;  // torch.autocast("cpu", dtype=torch.bfloat16)
      if (autocast) ac.emplace(delib::AutocastState::bf16(c10::DeviceType::CPU));
      auto logits = m->forward(x, o);
      loss = torch::nn::functional::cross_entropy(logits.view({-1, cfg.vocab_size}).to(torch::kFloat32), x.view({-1}));
    }
    REQUIRE_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
    loss.backward();
    // backward leaves the thread's autocast state as it found it
    CHECK_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
    std::vector<std::pair<std::string, torch::Tensor>> g;
    for (auto& [k, p] : m->named_parameters())
      if (p.requires_grad()) g.emplace_back(k, p.grad());
    return g;
  };
  for (bool lora : {false, true}) {
    INFO("lora " << lora);
    auto plain = grads(false, true, lora), ck = grads(true, true, lora), f32 = grads(false, false, lora);
    REQUIRE(plain.size() == ck.size());
    REQUIRE(!plain.empty());
    // The test can fail: bf16 autocast changes the gradients well beyond the tolerance below.
    float autocast_effect = 0;
    for (size_t i = 0; i < plain.size(); ++i) autocast_effect = std::max(autocast_effect, maxdiff(plain[i].second, f32[i].second));
    REQUIRE(autocast_effect > 1e-4);
    for (size_t i = 0; i < plain.size(); ++i) {
      INFO(plain[i].first);
      REQUIRE(plain[i].second.defined());
      REQUIRE(ck[i].second.defined());
      CHECK(maxdiff(plain[i].second, ck[i].second) < 1e-6);
    }
  }
}

TEST_CASE("CausalLM: save/load round trip, tied embeddings, LoRA merged on save") {
  torch::NoGradGuard ng;
  for (bool tied : {false, true}) {
    auto j = tiny_json("Qwen2ForCausalLM");
    j.set("tie_word_embeddings", tied);
    auto m = CausalLM::random(ModelConfig::from_json(j), 11, torch::kCPU);
    auto dir = scratch(tied ? "tied" : "untied").string();
    fs::create_directories(dir);  // an existing directory is replaced
    std::ofstream(fs::path(dir) / "stale.txt") << "x";
    m->save(dir);
    CHECK_FALSE(fs::exists(fs::path(dir) / "stale.txt"));
    CHECK_FALSE(fs::exists(dir + ".tmp"));
    auto names = delib::safetensors::Checkpoint::open(dir).names();
    CHECK((std::find(names.begin(), names.end(), "lm_head.weight") != names.end()) == !tied);
    auto back = CausalLM::load(dir, torch::kCPU, "f32");
    auto x = ids(2, 6, 3);
    CHECK(torch::equal(m->forward(x), back->forward(x)));
  }
  auto m = CausalLM::random(tiny("LlamaForCausalLM"), 12, torch::kCPU);
  auto trainable = delib::add_lora(*m, {4, 8.0, {"q_proj", "v_proj", "down_proj"}});
  CHECK(trainable.size() == 2 * 3 * 2);
  for (auto& [k, p] : m->named_parameters())
    CHECK(p.requires_grad() == (k.find(".lora_") != std::string::npos));
  for (auto& t : trainable) t.normal_(0, 0.05);
  auto dir = scratch("lora").string();
  m->save(dir);
  auto merged = CausalLM::load(dir, torch::kCPU, "f32");
  auto x = ids(1, 8, 5);
  CHECK(maxdiff(m->forward(x), merged->forward(x)) < 1e-5);
  CHECK_THROWS_WITH(delib::add_lora(*m, {4, 8.0, {"qkv"}}), Catch::Contains("unknown LoRA target"));
}

TEST_CASE("CausalLM: load rejects mismatched checkpoints with the tensor's name") {
  auto m = CausalLM::random(tiny("MistralForCausalLM"), 1, torch::kCPU);
  auto dir = scratch("mismatch").string();
  m->save(dir);
  auto j = tiny_json("MistralForCausalLM");
  j.set("intermediate_size", 48);
  std::ofstream(fs::path(dir) / "config.json") << j.dump();
  CHECK_THROWS_WITH(CausalLM::load(dir, torch::kCPU), Catch::Contains("model.layers.0.mlp.gate_proj.weight"));
  j.set("num_hidden_layers", 1);
  j.set("intermediate_size", 64);
  std::ofstream(fs::path(dir) / "config.json") << j.dump();
  CHECK_THROWS_WITH(CausalLM::load(dir, torch::kCPU), Catch::Contains("unexpected tensor \"model.layers.1."));
}

TEST_CASE("CausalLM: bf16 on CPU tracks f32") {
  torch::NoGradGuard ng;
  auto cfg = tiny("LlamaForCausalLM");
  auto m32 = CausalLM::random(cfg, 2, torch::kCPU);
  auto dir = scratch("bf16").string();
  m32->save(dir, "", torch::kBFloat16);
  auto m16 = CausalLM::load(dir, torch::kCPU, "bf16");
  CHECK(m16->dtype() == torch::kBFloat16);
  auto x = ids(1, 10, 8);
  auto a = m32->forward(x), b = m16->forward(x);
  CHECK(b.scalar_type() == torch::kBFloat16);
  CHECK(maxdiff(a, b) < 0.05 * a.abs().max().item<float>() + 1e-2);
}

TEST_CASE("linear_rows: decode-step rows agree with an f64 x W^T + b; rows are independent") {
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  // Row counts across the kernel's blocks of 8 rows (1..8, then two to four blocks; 2-D inputs
  // above 8 rows go to MKL), inner sizes with and without a tail past the last multiple of 8,
  // output counts not dividing the threads.
  for (int64_t rows : {1, 2, 3, 5, 8, 9, 13, 16, 17, 32}) {
    for (int64_t in : {8, 37, 256}) {
      for (int64_t out : {1, 7, 130, 1001}) {
        auto x = torch::randn({rows, in}, gen);
        auto w = torch::randn({out, in}, gen);
        auto b = torch::randn({out}, gen);
        auto ref = (x.to(torch::kFloat64).matmul(w.to(torch::kFloat64).t()) + b.to(torch::kFloat64));
        // f32 sums of `in` products of N(0,1) values: error a few ulps of sqrt(in).
        const double tol = 1e-5 * std::sqrt(double(in)) * 4;
        INFO("rows " << rows << " in " << in << " out " << out);
        auto y = delib::linear_rows(x, w, b);  // (rows, in): tokens of one sequence
        REQUIRE(y.sizes() == ref.sizes());
        REQUIRE(y.scalar_type() == torch::kFloat32);
        CHECK((y.to(torch::kFloat64) - ref).abs().max().item<double>() < tol);
        // (rows, 1, in): one row per sequence. Row r computed alone gives the same bits as in
        // the batch, whatever the batch size.
        auto ys = delib::linear_rows(x.unsqueeze(1), w, b);
        REQUIRE(ys.sizes() == torch::IntArrayRef({rows, 1, out}));
        CHECK((ys.squeeze(1).to(torch::kFloat64) - ref).abs().max().item<double>() < tol);
        for (int64_t r : {int64_t(0), rows / 2, rows - 1}) {
          auto alone = delib::linear_rows(x.narrow(0, r, 1).unsqueeze(1), w, b);
          CHECK(torch::equal(alone, ys.narrow(0, r, 1)));
        }
      }
    }
  }
  // No bias; a 4-D input keeps its leading shape.
  auto x = torch::randn({2, 2, 1, 64}, gen);
  auto w = torch::randn({50, 64}, gen);
  auto y = delib::linear_rows(x, w);
  REQUIRE(y.sizes() == torch::IntArrayRef({2, 2, 1, 50}));
  CHECK(torch::allclose(y, at::linear(x, w), 1e-4, 1e-4));
}

TEST_CASE("cached_attention_cpu: equals SDPA over a strided cache with GQA and ragged masks") {
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (int64_t D : {8, 12, 64}) {
    const int64_t B = 3, H = 6, Hkv = 2, T = 2, cap = 40, S = 29;
    auto q = torch::randn({B, H, T, D}, gen);
    auto kc = torch::randn({B, Hkv, cap, D}, gen), vc = torch::randn({B, Hkv, cap, D}, gen);
    auto k = kc.narrow(2, 0, S), v = vc.narrow(2, 0, S);  // strided views, as in decoding
    // Row b sees keys [lo_b, len_b + t] (a sliding window for row 2); row 1 is shorter.
    auto mask = torch::zeros({B, 1, T, S}, torch::kBool);
    const int64_t len[B] = {27, 13, 27}, lo[B] = {0, 0, 20};
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) mask[b][0][t].narrow(0, lo[b] + t, len[b] + 1 - lo[b]).fill_(true);
    INFO("D " << D);
    auto y = delib::model::cached_attention_cpu(q, k, v, mask);
    REQUIRE(y.defined());
    auto ref = at::scaled_dot_product_attention(q.to(torch::kFloat64), k.to(torch::kFloat64), v.to(torch::kFloat64),
                                                mask, 0.0, false, std::nullopt, /*enable_gqa=*/true);
    CHECK((y.to(torch::kFloat64) - ref).abs().max().item<double>() < 1e-5);
    // Row 1 alone, with only its visible slots, gives the same bits.
    auto alone = delib::model::cached_attention_cpu(q.narrow(0, 1, 1), k.narrow(0, 1, 1).narrow(2, 0, len[1] + T),
                                                    v.narrow(0, 1, 1).narrow(2, 0, len[1] + T),
                                                    mask.narrow(0, 1, 1).narrow(3, 0, len[1] + T));
    REQUIRE(alone.defined());
    CHECK(torch::equal(alone, y.narrow(0, 1, 1)));
  }
  // A given scale and Gemma 2's soft-capping: the eager reference, scores * scale ->
  // cap * tanh(scores / cap) -> masked softmax.
  {
    const int64_t B = 2, H = 4, Hkv = 2, T = 1, S = 9, D = 16;
    auto q = torch::randn({B, H, T, D}, gen) * 3, k = torch::randn({B, Hkv, S, D}, gen), v = torch::randn({B, Hkv, S, D}, gen);
    auto mask = torch::ones({B, 1, T, S}, torch::kBool);
    mask[1][0][0].narrow(0, 0, 4).fill_(false);  // a window
    auto kk = k.repeat_interleave(2, 1), vv = v.repeat_interleave(2, 1);
    auto sc = torch::matmul(q, kk.transpose(2, 3)) * 0.2;
    sc = torch::tanh(sc / 2.0) * 2.0;
    sc = sc.masked_fill(mask.logical_not(), -INFINITY);
    auto ref = torch::matmul(torch::softmax(sc, -1), vv);
    auto y = delib::model::cached_attention_cpu(q, k, v, mask, 0.2, 2.0);
    REQUIRE(y.defined());
    CHECK(maxdiff(y, ref) < 1e-5);
    CHECK(maxdiff(delib::model::cached_attention_cpu(q, k, v, mask, 0.2, 0.0), ref) > 1e-3);  // the cap bites
  }
  // Not its form: the caller falls back to SDPA.
  auto q = torch::randn({1, 2, 1, 8}, gen), k = torch::randn({1, 2, 4, 8}, gen);
  CHECK_FALSE(delib::model::cached_attention_cpu(q.to(torch::kFloat64), k, k, torch::ones({1, 1, 1, 4}, torch::kBool)).defined());
  CHECK_FALSE(delib::model::cached_attention_cpu(q, k, k, torch::ones({1, 1, 1, 4}, torch::kFloat32)).defined());
}

TEST_CASE("MLP: the gated node (gate and up saved, the product recomputed) equals the op-by-op MLP bit for bit") {
  // model.cpp GatedDown: down(act(gate) * up) as one autograd node saving gate and up only.
  // Its output and every gradient must equal what autograd computes op by op (the same
  // products in the same order): SwiGLU and GeGLU, separate and fused gate/up, f32 and CPU
  // bf16 autocast, full fine-tuning and LoRA on gate_proj (down's weight frozen).
  struct Case {
    const char* arch;
    const char* act;
    bool autocast, lora;
  };
  const Case cases[] = {{"LlamaForCausalLM", "silu", false, false}, {"LlamaForCausalLM", "gelu_pytorch_tanh", false, false},
                        {"Phi3ForCausalLM", "silu", false, false},  {"LlamaForCausalLM", "silu", true, false},
                        {"Phi3ForCausalLM", "silu", true, false},   {"LlamaForCausalLM", "silu", false, true}};
  for (const Case& c : cases) {
    INFO(c.arch << " " << c.act << (c.autocast ? " autocast" : "") << (c.lora ? " lora" : ""));
    Json j = tiny_json(c.arch);
    j.set("hidden_act", c.act);
    const ModelConfig cfg = ModelConfig::from_json(j);
    torch::manual_seed(3);
    const bool fused = std::string(c.arch) == "Phi3ForCausalLM";
    auto mlp = std::make_shared<delib::model::MLPImpl>(cfg, torch::TensorOptions(torch::kFloat32), cfg.intermediate_size, fused);
    for (auto& p : mlp->parameters()) p.data().normal_(0, 0.2);
    if (c.lora) {
      mlp->gate_proj->add_lora(4, 8.0);
      mlp->gate_proj->lora_B.data().normal_(0, 0.2);
      for (auto& item : mlp->named_parameters())
        if (item.key().find("lora_") == std::string::npos) item.value().set_requires_grad(false);
    }
    auto x0 = torch::randn({2, 5, cfg.hidden_size});
    auto act = [&](const torch::Tensor& g) { return c.act[0] == 'g' ? torch::gelu(g, "tanh") : torch::silu(g); };
    // (output, then the gradients of x and of every trainable parameter) of one forward/backward.
    auto run = [&](bool gated) {
      for (auto& p : mlp->parameters()) p.mutable_grad() = torch::Tensor();
      auto x = x0.clone().requires_grad_(true);
      torch::Tensor y;
      {
        std::optional<delib::AutocastGuard> ac;
        if (c.autocast) ac.emplace(delib::AutocastState::bf16(c10::DeviceType::CPU));
        if (gated) {
          y = mlp->forward(x);
        } else {  // op by op, as MLPImpl::forward computed it before GatedDown
          torch::Tensor g, u;
          if (fused) {
            auto gu = mlp->gate_up_proj->forward(x).chunk(2, -1);
            g = gu[0], u = gu[1];
          } else {
            g = mlp->gate_proj->forward(x), u = mlp->up_proj->forward(x);
          }
          y = mlp->down_proj->forward(act(g) * u);
        }
      }
      (y.to(torch::kFloat32) * torch::linspace(-1, 1, y.numel()).view(y.sizes())).sum().backward();
      std::vector<torch::Tensor> out{y.detach(), x.grad()};
      for (auto& p : mlp->parameters())
        if (p.requires_grad()) out.push_back(p.grad());
      return std::make_pair(out, y.grad_fn() ? y.grad_fn()->name() : std::string());
    };
    auto [ref, ref_node] = run(false);
    auto [got, got_node] = run(true);
    CHECK(got_node.find("GatedDown") != std::string::npos);  // the gated node ran, not the plain ops
    CHECK(ref_node.find("GatedDown") == std::string::npos);
    REQUIRE(got.size() == ref.size());
    REQUIRE(got.size() >= 3);
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("tensor " << i << " (0: output, 1: x's gradient, then the trainable parameters')");
      REQUIRE(got[i].defined());
      REQUIRE(ref[i].defined());
      CHECK(got[i].scalar_type() == ref[i].scalar_type());
      CHECK(torch::equal(got[i], ref[i]));
    }
  }
}

TEST_CASE("RMSNorm: the node that saves x and the statistics equals the op-by-op norm bit for bit") {
  // model.cpp RMSNormFn (training path of RMSNormImpl, not Gemma's (1 + w) form): output and
  // the gradients of x and the weight equal what autograd computes op by op, in f32, in bf16
  // (x bf16, the statistics f32) and for a frozen weight; a 4-D input as q_norm/k_norm get.
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (const bool frozen : {false, true}) {
      INFO((dtype == torch::kFloat32 ? "f32" : "bf16") << (frozen ? " frozen weight" : ""));
      torch::manual_seed(5);
      delib::model::RMSNormImpl norm(16, 1e-6, torch::TensorOptions(dtype), false);
      norm.weight.data().normal_(1, 0.3);
      norm.weight.set_requires_grad(!frozen);
      auto x0 = (torch::randn({2, 3, 4, 16}) * 3).to(dtype);
      auto dy = torch::randn({2, 3, 4, 16}).to(dtype);
      auto run = [&](bool node) {
        norm.weight.mutable_grad() = torch::Tensor();
        auto x = x0.clone().requires_grad_(true);
        torch::Tensor y;
        if (node) {
          y = norm.forward(x);
        } else {  // op by op, as RMSNormImpl::forward computed it before RMSNormFn
          auto xf = x.to(torch::kFloat32);
          auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
          xf = xf * torch::rsqrt(var + 1e-6);
          y = norm.weight * xf.to(x.scalar_type());
        }
        y.backward(dy);
        return std::make_tuple(y.detach(), x.grad(), norm.weight.grad(), y.grad_fn()->name());
      };
      auto [y0, dx0, dw0, n0] = run(false);
      auto [y1, dx1, dw1, n1] = run(true);
      CHECK(n1.find("RMSNormFn") != std::string::npos);
      CHECK(n0.find("RMSNormFn") == std::string::npos);
      CHECK(torch::equal(y1, y0));
      CHECK(torch::equal(dx1, dx0));
      CHECK(dw1.defined() == !frozen);
      CHECK(dw0.defined() == !frozen);
      if (!frozen) CHECK(torch::equal(dw1, dw0));
    }
  }
}
