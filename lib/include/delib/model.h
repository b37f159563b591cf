// Llama/Qwen/Mistral/Phi-3/Gemma 2/Gemma 3/Qwen3-MoE decoders in LibTorch, Hugging Face directories in and out
// (area: model, in delib_torch). Generation, training and RL use models only through what is
// declared here. The supported families are the rows of one table (lib/src/model/family.cpp;
// docs/adding-a-model.md).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "delib/json.h"

namespace delib {

// The device a --device flag names, the one rule of every tool: "cpu"; "cuda" = cuda:LOCAL_RANK
// (the process's GPU when several run, cuda:0 alone); "cuda:N" with N a decimal index. Anything
// else (e.g. "cuda:x", "gpu") throws Error(kExitUsage) naming `flag` and the value, as does a
// CUDA device on a machine without CUDA or an index past its devices.
torch::Device parse_device(const std::string& value, int local_rank = 0,
                           const std::string& flag = "--device");

// From config.json. Unknown architectures, and fields or values the family does not support,
// are an Error naming config.json and the field.
struct ModelConfig {
  // "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM",
  // "Phi3ForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Qwen3MoeForCausalLM"
  std::string architecture;
  // "llama", "qwen2", "qwen3", "mistral", "phi3", "gemma2", "gemma3_text", "qwen3_moe"
  std::string model_type;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0;
  int64_t num_hidden_layers = 0, num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v bias (Qwen2; Llama, Qwen3 with attention_bias true)
  bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3)
  // null, or the rope_scaling (v5: rope_parameters) object with "rope_type" set to the
  // scaling type ("linear", "llama3", "longrope", ...) and, for llama3 / longrope, the
  // resolved "original_max_position_embeddings".
  Json rope_scaling;
  Json raw;                     // the whole config.json, written back on save
  std::string torch_dtype = "float32";
  // Mistral, Phi-3: each query attends to at most this many positions back (HF
  // sliding_window); 0 = unlimited.
  int64_t sliding_window = 0;
  bool o_proj_bias = false;            // o_proj bias (Llama, Qwen3 with attention_bias true)
  // RoPE rotates the first int(head_dim * partial_rotary_factor) features of each head
  // (Phi-3: config "partial_rotary_factor"); 1 = all of them.
  double partial_rotary_factor = 1.0;
  // config "pad_token_id" when it is a token of the vocabulary, else -1. As in HF's
  // nn.Embedding(padding_idx=pad_token_id), its embedding row gets no gradient from lookups.
  int64_t pad_token_id = -1;

  // The MLP's activation: "silu" (config "hidden_act") or "gelu_pytorch_tanh" (Gemma:
  // "hidden_activation").
  std::string hidden_act = "silu";
  // Per layer "full_attention" or "sliding_attention" (Gemma: config "layer_types" or its
  // sliding_window_pattern); empty = every layer alike (sliding_window, when set, limits all).
  std::vector<std::string> layer_types;
  // Attention scores scale by query_pre_attn_scalar^-1/2 (Gemma); 0 = head_dim^-1/2.
  double query_pre_attn_scalar = 0;
  // Soft-capping cap * tanh(x / cap) of the attention scores (Gemma 2) and of the final logits
  // (Gemma 2/3); 0 = none.
  double attn_logit_softcapping = 0, final_logit_softcapping = 0;
  // Gemma 3: the RoPE base of the sliding layers ("rope_local_base_freq"); 0 = one RoPE for all.
  double rope_local_theta = 0;
  // Qwen3-MoE (0 experts = dense): the layers with a sparse MoE block (is_moe_layer) route
  // each token to its num_experts_per_tok most probable experts of num_experts, each an MLP of
  // moe_intermediate_size; norm_topk_prob renormalises the chosen probabilities to sum 1.
  int64_t num_experts = 0, num_experts_per_tok = 0, moe_intermediate_size = 0;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  bool norm_topk_prob = false;
  // Training adds router_aux_loss_coef * load_balancing_loss to the loss when
  // output_router_logits is true (HF Qwen3MoeForCausalLM.forward).
  bool output_router_logits = false;
  double router_aux_loss_coef = 0.001;

  // Whether layer i is a sparse MoE layer: HF's (i not in mlp_only_layers) and num_experts > 0
  // and (i + 1) % decoder_sparse_step == 0.
  bool is_moe_layer(int64_t i) const;
  // Whether layer i attends within sliding_window (layer_types, else every layer when set).
  bool is_sliding_layer(int64_t i) const;

  static ModelConfig from_json(const Json& config, const std::string& source = "config.json");
  static ModelConfig load(const std::string& model_dir);
  Json to_json() const;
  int64_t num_parameters() const;
};

// Per-layer key/value cache for decoding: k, v of shape (B, H_kv, T_max, D); lengths (B,)
// are the number of valid positions of each row. Rows are independent slots so a finished
// sequence's slot can be refilled (continuous batching).
struct KVCache {
  std::vector<torch::Tensor> k, v;  // one per layer, (B, H_kv, T_max, D)
  torch::Tensor lengths;            // (B,) int64 on the model's device
  // max(lengths) when the caller tracks it on the host, else -1. CausalLM::hidden() attends to
  // the first max(lengths) + T slots; with -1 it reads the maximum from the device, which on
  // CUDA is a host sync per call (the generation engine tracks it to avoid that). hidden()
  // advances a known value by T (sets -1 after a step with an attention_mask). On the CPU,
  // where the read costs nothing, a known value that differs from max(lengths) is an Error.
  int64_t max_length = -1;
  // Attend to every slot (T_max, masked past each row's length) instead of max(lengths) + T: a
  // step whose shapes do not change with the lengths, as a CUDA graph needs. The same math in
  // another rounding. Default: off.
  bool attend_all = false;
  int64_t capacity() const;         // T_max
};

// The autocast state of the calling thread for the CPU and one device `dev` (CUDA for a model
// on a GPU; for the CPU only the CPU state matters): what torch.autocast sets.
struct AutocastState {
  c10::DeviceType dev = c10::DeviceType::CPU;
  bool cpu_enabled = false, dev_enabled = false, cache_enabled = true;
  at::ScalarType cpu_dtype = at::kBFloat16, dev_dtype = at::kBFloat16;

  // The thread's state now.
  static AutocastState current(c10::DeviceType dev);
  // The thread's state now with bf16 autocast on for `dev` (the CPU or CUDA), as
  // torch.autocast(dev, dtype=torch.bfloat16) enters it.
  static AutocastState bf16(c10::DeviceType dev);
};

// Enters `s` for its lifetime and restores the thread's previous state, with the nesting
// count and cache handling of torch.autocast's __enter__/__exit__ (the cast cache is cleared
// when the outermost autocast region ends). Used by sft-train around the forward and by
// activation checkpointing to recompute a layer under its forward's state.
class AutocastGuard {
 public:
  explicit AutocastGuard(const AutocastState& s);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  AutocastState prev_;
};

struct ForwardOptions {
  // (B, T) int64 absolute positions; default arange(T) (or lengths + arange(T) with a cache).
  torch::Tensor positions;
  // (B, T) int64 document ids for packed sequences: attention only within the same id
  // (plus causal). Undefined = one document per row.
  torch::Tensor doc_ids;
  // (B, T) bool, false for padding keys. Undefined = no padding.
  torch::Tensor attention_mask;
  // Decoding: attends to the cache and appends this step's keys/values at `lengths`
  // (and advances lengths by T). nullptr for training.
  KVCache* cache = nullptr;
  // Recompute each layer in backward (activation checkpointing).
  bool checkpoint = false;
  // MoE models: when non-null, each sparse layer's router logits (B*T, num_experts) are
  // appended, in layer order, differentiable (for load_balancing_loss). Not with `checkpoint`
  // (an Error: the recomputed router would not be the one appended).
  std::vector<torch::Tensor>* router_logits = nullptr;
};

// The load-balancing auxiliary loss of a mixture of experts (Fedus et al. 2021, Switch
// Transformer eq. 4-6), as HF's load_balancing_loss_func (transformers 5.25): over the tokens
// of every layer together (attention_mask (B, T), when defined, drops padding tokens),
// f_e = (times expert e is among a token's top_k) / tokens, P_e = mean router probability of e,
// loss = num_experts * sum_e f_e P_e. Differentiable through P only. Undefined when
// router_logits is empty.
torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits, int64_t num_experts,
                                  int64_t top_k, const torch::Tensor& attention_mask = {});

// cap * tanh(logits / cap) (Gemma's final_logit_softcapping); `logits` itself when cap <= 0.
// The element-wise cap only: logits from hidden states come from LmHead::logits (which applies
// it) or, for losses, from chunked_cross_entropy / chunked_token_logprobs given LmHead::softcap.
torch::Tensor softcap_logits(const torch::Tensor& logits, double cap);

// A causal LM's output head, hidden states -> logits: the one place that knows how (forward(),
// the generation engine and, through `softcap`, the chunked losses all take it from here):
//   u = h W^T                                    (..., V)
//   logits = cap * tanh(u / cap)   if cap > 0    (Gemma 2/3 final_logit_softcapping, as HF)
//          = u                      otherwise    (no extra op)
struct LmHead {
  torch::Tensor weight;  // W (V, C): lm_head.weight, or the embedding when tied
  double softcap = 0;    // cap: config().final_logit_softcapping; 0 = none
  // hidden (..., C) -> logits (..., V) in hidden's dtype. The projection is linear_rows (below):
  // at::linear except for the few-row decode steps on the CPU, whose rows then get the same bits
  // whatever the batch. Differentiable.
  torch::Tensor logits(const torch::Tensor& hidden) const;
};

// The default max_shard_size of CausalLM::save: "5GB" (10^9 bytes per GB), transformers 4.x's
// save_pretrained default and the Hub's usual shard size (transformers 5 raised its own to 50GB).
inline constexpr int64_t kDefaultMaxShardSize = 5'000'000'000;

class CausalLM {
 public:
  // Loads config.json and model.safetensors or sharded model-*.safetensors (+ index), bf16/f16/
  // f32, memory-mapped. dtype: "auto" (config's torch_dtype on CUDA, f32 on CPU), "f32", "bf16",
  // "f16". Throws Error naming the file and tensor on malformed input.
  static std::shared_ptr<CausalLM> load(const std::string& model_dir, torch::Device device,
                                        const std::string& dtype = "auto");
  // As load(), with the same checks of the checkpoint (every parameter present with its shape,
  // no unexpected tensor), but no weight is read and none allocated: each parameter has its
  // shape, dtype and device and a storage of 0 bytes. The caller fills them (or its parts of
  // them) from safetensors::Checkpoint::open(model_dir): sft-train --sharding full reads each
  // rank's part of each unit (train/sharding.h), so no rank ever holds the whole model. Using
  // a parameter before its storage is set is undefined.
  static std::shared_ptr<CausalLM> load_unallocated(const std::string& model_dir, torch::Device device,
                                                    const std::string& dtype = "auto");
  // A randomly initialised model (tests, the quickstart recipe).
  static std::shared_ptr<CausalLM> random(const ModelConfig& config, uint64_t seed,
                                          torch::Device device,
                                          torch::ScalarType dtype = torch::kFloat32);
  virtual ~CausalLM() = default;

  virtual const ModelConfig& config() const = 0;
  // The torch module (parameters named like the checkpoint: model.layers.N.self_attn.q_proj.weight).
  virtual torch::nn::Module& module() = 0;
  // Named parameters in checkpoint names.
  virtual std::vector<std::pair<std::string, torch::Tensor>> named_parameters() = 0;

  // input_ids (B, T) int64 -> final hidden states after the last norm, (B, T, C).
  virtual torch::Tensor hidden(const torch::Tensor& input_ids, const ForwardOptions& opts = {}) = 0;
  // The output projection weight (V, C) (the embedding when tied).
  virtual torch::Tensor lm_head_weight() = 0;
  // The output head: lm_head_weight() and config().final_logit_softcapping. Whoever turns
  // hidden() into logits or a loss goes through it, so the soft-cap is never forgotten.
  LmHead lm_head() { return LmHead{lm_head_weight(), config().final_logit_softcapping}; }
  // hidden() followed by lm_head().logits(): (B, T, V) logits.
  virtual torch::Tensor forward(const torch::Tensor& input_ids, const ForwardOptions& opts = {}) = 0;

  // A cache for `batch` rows of up to `capacity` positions.
  virtual KVCache new_cache(int64_t batch, int64_t capacity) = 0;

  // Writes a Hugging Face directory (config.json, model.safetensors) that transformers loads.
  // Merges LoRA adapters first when present. Atomic: written to DIR.tmp then renamed.
  // `tokenizer_dir`: when non-empty, its tokenizer files are copied too. Weights above
  // `max_shard_size` bytes (in `dtype`) are split as transformers' save_pretrained splits them:
  // model-00001-of-0000N.safetensors ... plus model.safetensors.index.json, written one shard
  // at a time (safetensors::save_sharded).
  virtual void save(const std::string& out_dir, const std::string& tokenizer_dir = "",
                    torch::ScalarType dtype = torch::kFloat32,
                    int64_t max_shard_size = kDefaultMaxShardSize) = 0;
  // The directory load() read the weights from; "" for random().
  virtual std::string loaded_from() const { return ""; }

  virtual torch::Device device() const = 0;
  virtual torch::ScalarType dtype() const = 0;
};

// LoRA on the linear layers: W x + (alpha / r) B A x, A (r, in) ~ kaiming, B (out, r) = 0.
// targets: layer names q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj,
// qkv_proj, gate_up_proj. On a family with fused projections (Phi-3) q_proj/k_proj/v_proj
// select qkv_proj and gate_proj/up_proj select gate_up_proj: one adapter on the fused matrix.
struct LoraOptions {
  int rank = 8;
  double alpha = 16;
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  // A PEFT adapter directory whose weights the adapters start from instead of PEFT's init
  // (rank, alpha and targets from peft::read_lora_options(DIR), delib/peft.h); "" = none.
  std::string from_adapter;
};
// Adds adapters and freezes every other parameter; returns the trainable parameters. An
// unknown target, or one that selects no layer of this model's family, is Error(kExitUsage).
// With from_adapter, the adapters are then read from it (peft::load_adapter_weights).
std::vector<torch::Tensor> add_lora(CausalLM& model, const LoraOptions& options);

// y = x W^T + b for x (..., in), W (out, in): at::linear, except for a few rows on the CPU
// without autograd (decode steps). There, f32 with AVX2, up to 8 rows, or up to 32 when x is
// (N, 1, in) (one row per sequence): a kernel that streams W once with the rows of x held in L1
// (a decode step is bound by reading the weights; see model/linear_rows.cpp); a row's result is
// then bit-identical whatever the other rows are. Otherwise, up to 32 rows, (W x^T)^T, because
// MKL packs the right-hand operand of every sgemm call, for x W^T the whole weight. Agrees with
// at::linear to f32 rounding.
torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

// Cross-entropy of next-token prediction computed in chunks of rows so that the (N, V) logits
// are never materialised at once (see lib/src/kernels/chunked_loss.cpp for the math).
// hidden (N, C), weight (V, C), targets (N,) int64 with -100 = ignore. The logits are
// LmHead's: softcap > 0 gives softcap * tanh(hidden @ weight.T / softcap), applied per chunk in
// forward and backward (pass lm_head().weight and lm_head().softcap); 0 = none. Returns the SUM
// of token losses (callers divide) — differentiable w.r.t. hidden and weight.
// REQUIRES: chunk_rows >= 1, softcap >= 0 (else Error).
torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets, int64_t chunk_rows = 1024,
                                    double softcap = 0);
// Log-probabilities of `targets` under softmax(logits), the logits as above, chunked
// likewise: (N,).
torch::Tensor chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, int64_t chunk_rows = 1024,
                                     double softcap = 0);

}  // namespace delib
