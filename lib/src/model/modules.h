// Private to the model area: the torch modules of the decoder, registered under Hugging Face
// checkpoint names. Other areas use delib/model.h only.
#pragma once
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "delib/model.h"

namespace delib::model {

// What one forward step shares across layers.
struct Step {
  torch::Tensor cos, sin;      // (B, 1, T, R) in the model dtype, R = the rotary dim
  torch::Tensor mask;          // bool (B, 1, T, S), true = may attend; undefined when `causal`
  bool causal = false;         // no explicit mask: plain causal attention (SDPA is_causal)
  // The sliding layers' (ModelConfig::is_sliding_layer) mask and, with a local RoPE base
  // (Gemma 3), cos/sin; the same as the above when every layer is alike.
  torch::Tensor cos_local, sin_local, mask_local;
  bool causal_local = false;
  std::vector<torch::Tensor>* router_logits = nullptr;  // ForwardOptions::router_logits
  KVCache* cache = nullptr;    // decoding
  torch::Tensor write_index;   // (B, T) int64 cache slots of this step's tokens
  int64_t kv_len = 0;          // cache slots attended: max(lengths) + T
};

struct RMSNormImpl : torch::nn::Module {
  // plus_one: Gemma's (1 + weight) scale (Family::norm_plus_one).
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& o, bool plus_one = false);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (dim,)
  double eps;
  bool plus_one = false;
};

// A bias-optional linear layer with an optional LoRA adapter (parameters lora_A (r, in),
// lora_B (out, r); scale alpha / r).
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  void add_lora(int64_t rank, double alpha);
  // W + scale * B A in W's dtype (W itself when there is no adapter).
  torch::Tensor merged_weight() const;
  torch::Tensor weight, bias, lora_A, lora_B;  // weight (out, in)
  double lora_scale = 0;
};

// The family's row (model/family.h) decides the layout: q_proj/k_proj/v_proj or one fused
// qkv_proj, biases, q_norm/k_norm.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const Step& s, int64_t layer);
  std::shared_ptr<LinearImpl> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<LinearImpl> qkv_proj;         // fused families instead of q/k/v_proj
  std::shared_ptr<RMSNormImpl> q_norm, k_norm;  // qk_norm families (Qwen3)
  int64_t H, Hkv, D;
  int64_t R;  // rotary dim: RoPE on features [0, R) of each head, the rest pass through
  bool sliding = false;  // uses Step's *_local mask and RoPE
  double scale;          // of q k^T: query_pre_attn_scalar^-1/2, else D^-1/2
  double softcap = 0;    // attn_logit_softcapping; 0 = none
};

// gate_proj and up_proj, or one fused gate_up_proj (rows [gate; up]), and down_proj.
// act(gate(x)) * up(x) through down_proj, act = silu or gelu_pytorch_tanh (config hidden_act).
struct MLPImpl : torch::nn::Module {
  // I: the intermediate size (an expert's: moe_intermediate_size); fused as the family says.
  MLPImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t I, bool fused_gate_up);
  torch::Tensor forward(const torch::Tensor& x);
  std::shared_ptr<LinearImpl> gate_proj, up_proj, down_proj;
  std::shared_ptr<LinearImpl> gate_up_proj;  // fused families instead of gate/up_proj
  bool gelu = false;  // gelu_pytorch_tanh instead of silu
};

// Qwen3-MoE's sparse block, as HF Qwen3MoeSparseMoeBlock: "gate" (the router, (E, C), no
// bias) and "experts.E" (SwiGLU MLPs). Each token goes to its top_k experts by router
// probability, weighted by those probabilities (renormalised when norm_topk_prob); one loop
// over the experts that got a token (correct first, not fast).
struct MoEImpl : torch::nn::Module {
  MoEImpl(const ModelConfig& c, const torch::TensorOptions& o);
  // x (B, T, C) -> (B, T, C); appends the router logits (B*T, E) to `router_logits` when set.
  torch::Tensor forward(const torch::Tensor& x, std::vector<torch::Tensor>* router_logits);
  std::shared_ptr<LinearImpl> gate;
  torch::nn::ModuleList experts;
  std::vector<std::shared_ptr<MLPImpl>> expert_ptrs;
  int64_t top_k;
  bool norm_topk_prob;
};

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const Step& s, int64_t layer);
  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<MLPImpl> mlp;  // dense layers
  std::shared_ptr<MoEImpl> moe;  // sparse layers, registered as "mlp" too
  std::shared_ptr<RMSNormImpl> input_layernorm, post_attention_layernorm;
  // Sandwich-norm families (Gemma): around the MLP; post_attention_layernorm then normalises
  // the attention's output.
  std::shared_ptr<RMSNormImpl> pre_feedforward_layernorm, post_feedforward_layernorm;
};

struct EmbeddingImpl : torch::nn::Module {
  EmbeddingImpl(int64_t V, int64_t C, const torch::TensorOptions& o);
  torch::Tensor weight;  // (V, C)
};

// "model": embed_tokens, layers.N, norm.
struct DecoderImpl : torch::nn::Module {
  DecoderImpl(const ModelConfig& c, const torch::TensorOptions& o);
  std::shared_ptr<EmbeddingImpl> embed_tokens;
  torch::nn::ModuleList layers;
  std::vector<std::shared_ptr<DecoderLayerImpl>> layer_ptrs;
  std::shared_ptr<RMSNormImpl> norm;
};

// The root: "model" and, when untied, "lm_head".
struct CausalLMImpl : torch::nn::Module {
  CausalLMImpl(const ModelConfig& c, const torch::TensorOptions& o);
  std::shared_ptr<DecoderImpl> model;
  std::shared_ptr<LinearImpl> lm_head;  // null when tied to model.embed_tokens
};

// softmax(q k^T * scale, masked) v for a few query positions over the KV cache, on the CPU
// (decode steps; model/cached_attention.cpp). q (B, H, T, D) f32; k, v (B, Hkv, S, D) f32 with
// H a multiple of Hkv (grouped-query: head h reads kv head h / (H / Hkv)), last dim contiguous;
// mask bool (B, 1, T, S), true = may attend. Masked keys are skipped, not weighted by zero, so a
// row's result does not depend on S or on the other rows. Returns (B, H, T, D), or an undefined
// tensor when the inputs are not of that form (the caller then uses SDPA).
// scale: of q . k (0 = 1/sqrt(D)); softcap > 0: scores -> softcap * tanh(scores / softcap)
// after scaling (Gemma 2's attn_logit_softcapping).
torch::Tensor cached_attention_cpu(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, const torch::Tensor& mask,
                                   double scale = 0, double softcap = 0);

}  // namespace delib::model
