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
  KVCache* cache = nullptr;    // decoding
  torch::Tensor write_index;   // (B, T) int64 cache slots of this step's tokens
  int64_t kv_len = 0;          // cache slots attended: max(lengths) + T
};

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (dim,)
  double eps;
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
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const Step& s, int64_t layer);
  std::shared_ptr<LinearImpl> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<LinearImpl> qkv_proj;         // fused families instead of q/k/v_proj
  std::shared_ptr<RMSNormImpl> q_norm, k_norm;  // qk_norm families (Qwen3)
  int64_t H, Hkv, D;
  int64_t R;  // rotary dim: RoPE on features [0, R) of each head, the rest pass through
};

// gate_proj and up_proj, or one fused gate_up_proj (rows [gate; up]), and down_proj.
struct MLPImpl : torch::nn::Module {
  MLPImpl(const ModelConfig& c, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  std::shared_ptr<LinearImpl> gate_proj, up_proj, down_proj;
  std::shared_ptr<LinearImpl> gate_up_proj;  // fused families instead of gate/up_proj
};

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const Step& s, int64_t layer);
  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<MLPImpl> mlp;
  std::shared_ptr<RMSNormImpl> input_layernorm, post_attention_layernorm;
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

// softmax(q k^T / sqrt(D), masked) v for a few query positions over the KV cache, on the CPU
// (decode steps; model/cached_attention.cpp). q (B, H, T, D) f32; k, v (B, Hkv, S, D) f32 with
// H a multiple of Hkv (grouped-query: head h reads kv head h / (H / Hkv)), last dim contiguous;
// mask bool (B, 1, T, S), true = may attend. Masked keys are skipped, not weighted by zero, so a
// row's result does not depend on S or on the other rows. Returns (B, H, T, D), or an undefined
// tensor when the inputs are not of that form (the caller then uses SDPA).
torch::Tensor cached_attention_cpu(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, const torch::Tensor& mask);

}  // namespace delib::model
