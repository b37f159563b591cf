// Private to the model area: one row per supported architecture family. Everything in which
// the families differ is a column of `Family`; config.cpp, model.cpp and rope.cpp read the row
// of a model (family_of(config.model_type)) and never test a model_type themselves. Adding a
// family is adding a row (docs/adding-a-model.md).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace delib::model {

// Which attention projections carry a bias, and whether config.json decides.
enum class AttentionBias {
  kNone,        // none; "attention_bias" is not read (Mistral, Phi-3: HF's modules have none)
  kQkv,         // q/k/v always, o_proj never; "attention_bias" is not read (Qwen2)
  kFromConfig,  // "attention_bias" (default false) gives q/k/v AND o_proj a bias (Llama, Qwen3)
};

// Sliding-window attention.
enum class SlidingWindow {
  kNone,        // full causal attention; "sliding_window" is not read (Llama)
  kFromConfig,  // "sliding_window" (absent or null = none) limits every layer (Mistral, Phi-3)
  kRefused,     // "use_sliding_window": true is an error (Qwen2/3: per-layer windows unsupported)
  // "sliding_window" limits the layers "layer_types" marks "sliding_attention"; the others are
  // "full_attention". Without "layer_types", HF's config class builds it: layer i slides unless
  // (i + 1) is a multiple of "sliding_window_pattern" (default: the row's
  // `sliding_window_pattern`) (Gemma 2: every other layer; Gemma 3: 5 of 6).
  kPerLayer,
};

struct Family {
  std::string model_type;    // config.json "model_type"
  std::string architecture;  // config.json "architectures"[0]; written back on save
  std::string name;          // for people: "Llama", "Phi-3"

  // Tensor layout under model.layers.N (the module names are the checkpoint names):
  //   unfused: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj (Llama);
  //   fused_qkv: self_attn.qkv_proj (rows [q (H*D); k (Hkv*D); v (Hkv*D)]) and o_proj;
  //   fused_gate_up: mlp.gate_up_proj (rows [gate (I); up (I)]) and down_proj.
  bool fused_qkv = false;
  bool fused_gate_up = false;
  AttentionBias attention_bias = AttentionBias::kNone;
  bool qk_norm = false;  // self_attn.q_norm/k_norm: RMSNorm over each head's D features before RoPE
  SlidingWindow sliding_window = SlidingWindow::kNone;
  bool tie_word_embeddings = false;  // when config.json does not say (HF's config class default)

  // RoPE. rope_types: the scaling types accepted besides "default" (what HF's config class
  // validates for the family); rope_aliases: types HF's config class renames on load
  // (Phi-3: "su" and "yarn" are read as "longrope").
  std::vector<std::string> rope_types;
  std::vector<std::pair<std::string, std::string>> rope_aliases;
  // "partial_rotary_factor" is read: RoPE on the first int(D * factor) features of each head.
  // Families without it refuse a value other than 1 (HF's modules would fail on it).
  bool partial_rotary = false;
  // The default of a top-level "original_max_position_embeddings" that HF's config class
  // always has (Phi-3: 4096) and that overrides the one in rope_scaling; 0 = no such field.
  int64_t original_max_position_embeddings = 0;

  // Gemma. The activation's config field and its default ("hidden_act" "silu"; Gemma:
  // "hidden_activation" "gelu_pytorch_tanh", its "hidden_act" is not read, as in HF).
  std::string activation_field = "hidden_act";
  std::string activation_default = "silu";
  // RMSNorm scales by (1 + weight), computed in float32 and cast back after (Gemma*RMSNorm);
  // weights start at 0.
  bool norm_plus_one = false;
  // Sandwich norms: post_attention_layernorm on the attention's output before the residual add,
  // pre_feedforward_layernorm / post_feedforward_layernorm around the MLP (Gemma 2/3). Without
  // it post_attention_layernorm is the MLP's pre-norm (Llama).
  bool sandwich_norms = false;
  bool scale_embeddings = false;  // embeddings * sqrt(hidden_size), the scale in the model dtype
  // "query_pre_attn_scalar" is read: attention scores scale by its -1/2 power instead of
  // head_dim's (Gemma).
  bool query_pre_attn_scalar = false;
  // "attn_logit_softcapping" is read: scores = cap * tanh(scores / cap) before the mask (Gemma 2;
  // Gemma 3's modules never apply it, so its row does not read it, as HF).
  bool attn_softcap = false;
  // "final_logit_softcapping" is read: logits = cap * tanh(logits / cap) (Gemma 2/3).
  bool final_softcap = false;
  int sliding_window_pattern = 0;  // kPerLayer: the default pattern (see SlidingWindow)
  // Gemma 3: the sliding layers have their own RoPE base, "rope_local_base_freq" (default
  // 10000; v5: rope_parameters.sliding_attention.rope_theta) and no scaling; rope_scaling (v5:
  // rope_parameters.full_attention) applies to the full-attention layers only.
  bool local_rope = false;
  double default_rope_theta = 10000.0;  // "rope_theta" when absent (Gemma 3: 1e6)
  // Qwen3-MoE: sparse MoE blocks (mlp.gate = the router, mlp.experts.E.{gate,up,down}_proj)
  // in the layers decoder_sparse_step / mlp_only_layers select; reads num_experts (or
  // num_local_experts), num_experts_per_tok, moe_intermediate_size, norm_topk_prob,
  // decoder_sparse_step, mlp_only_layers, output_router_logits, router_aux_loss_coef.
  bool moe = false;
};

// Every supported family, in the order of the table.
const std::vector<Family>& families();
// The row for `model_type`; throws Error for an unknown one (a ModelConfig made by hand).
const Family& family_of(const std::string& model_type);
// "LlamaForCausalLM, Qwen2ForCausalLM, ..." for error messages.
std::string supported_architectures();

// The layer names LoRA may target ("q_proj", ..., "qkv_proj", "gate_up_proj") and the leaf a
// target selects in `f`: on a fused family q_proj/k_proj/v_proj select qkv_proj and
// gate_proj/up_proj select gate_up_proj (one adapter on the fused matrix).
const std::vector<std::string>& lora_target_names();
std::string lora_leaf(const Family& f, const std::string& target);

}  // namespace delib::model
