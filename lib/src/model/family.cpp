// The families table (see family.h). Each row follows the family's modeling_*.py and
// configuration_*.py in transformers; the comment above a row names what sets it apart.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include "model/family.h"

#include <algorithm>

#include <fmt/format.h>

#include "delib/error.h"

namespace delib::model {

const std::vector<Family>& families() {
  // The scaling types of the Llama-like families: HF's config classes take any type of
  // transformers' ROPE_INIT_FUNCTIONS; delib these, each reference-tested on them (LongRoPE is
  // tested, and used, on Phi-3 only).
  const std::vector<std::string> kAnyRope = {"linear", "llama3", "yarn", "dynamic"};
  static const std::vector<Family> kFamilies = {
      // The reference layout: separate q/k/v/o and gate/up/down projections.
      {.model_type = "llama", .architecture = "LlamaForCausalLM", .name = "Llama",
       .attention_bias = AttentionBias::kFromConfig, .rope_types = kAnyRope},
      // Llama with q/k/v biases always on.
      {.model_type = "qwen2", .architecture = "Qwen2ForCausalLM", .name = "Qwen2",
       .attention_bias = AttentionBias::kQkv, .sliding_window = SlidingWindow::kRefused,
       .rope_types = kAnyRope},
      // Llama with per-head RMSNorm on q and k before RoPE.
      {.model_type = "qwen3", .architecture = "Qwen3ForCausalLM", .name = "Qwen3",
       .attention_bias = AttentionBias::kFromConfig, .qk_norm = true,
       .sliding_window = SlidingWindow::kRefused, .rope_types = kAnyRope},
      // Llama with a sliding attention window.
      {.model_type = "mistral", .architecture = "MistralForCausalLM", .name = "Mistral",
       .sliding_window = SlidingWindow::kFromConfig, .rope_types = kAnyRope},
      // Fused qkv_proj and gate_up_proj, partial rotary, LongRoPE (Phi-3, Phi-3.5, Phi-4-mini).
      {.model_type = "phi3", .architecture = "Phi3ForCausalLM", .name = "Phi-3",
       .fused_qkv = true, .fused_gate_up = true, .sliding_window = SlidingWindow::kFromConfig,
       .rope_types = {"longrope"}, .rope_aliases = {{"su", "longrope"}, {"yarn", "longrope"}},
       .partial_rotary = true, .original_max_position_embeddings = 4096},
      // Gemma 2: (1 + w) RMSNorms, sandwich norms, embeddings * sqrt(hidden), GeLU-tanh MLP,
      // query_pre_attn_scalar, attention and final logit soft-capping, sliding layers
      // alternating with full ones, tied embeddings by default.
      {.model_type = "gemma2", .architecture = "Gemma2ForCausalLM", .name = "Gemma 2",
       .attention_bias = AttentionBias::kFromConfig, .sliding_window = SlidingWindow::kPerLayer,
       .tie_word_embeddings = true, .rope_types = kAnyRope,
       .activation_field = "hidden_activation", .activation_default = "gelu_pytorch_tanh",
       .norm_plus_one = true, .sandwich_norms = true, .scale_embeddings = true,
       .query_pre_attn_scalar = true, .attn_softcap = true, .final_softcap = true,
       .sliding_window_pattern = 2},
      // Gemma 3 (text): Gemma 2 with (1 + w) q/k norms, 5 sliding layers of 6, a RoPE base of
      // their own (rope_local_base_freq) and no attention soft-capping.
      {.model_type = "gemma3_text", .architecture = "Gemma3ForCausalLM", .name = "Gemma 3",
       .attention_bias = AttentionBias::kFromConfig, .qk_norm = true,
       .sliding_window = SlidingWindow::kPerLayer, .tie_word_embeddings = true,
       .rope_types = kAnyRope, .activation_field = "hidden_activation",
       .activation_default = "gelu_pytorch_tanh", .norm_plus_one = true, .sandwich_norms = true,
       .scale_embeddings = true, .query_pre_attn_scalar = true, .final_softcap = true,
       .sliding_window_pattern = 6, .local_rope = true, .default_rope_theta = 1000000.0},
      // Qwen3 with sparse mixture-of-experts MLPs (top-k router, per-expert SwiGLU MLPs).
      {.model_type = "qwen3_moe", .architecture = "Qwen3MoeForCausalLM", .name = "Qwen3-MoE",
       .attention_bias = AttentionBias::kFromConfig, .qk_norm = true,
       .sliding_window = SlidingWindow::kRefused, .rope_types = kAnyRope, .moe = true},
  };
  return kFamilies;
}

const Family& family_of(const std::string& model_type) {
  for (const auto& f : families())
    if (f.model_type == model_type) return f;
  throw Error(fmt::format("unsupported model_type \"{}\" (delib supports {})", model_type,
                          supported_architectures()));
}

std::string supported_architectures() {
  std::string s;
  for (const auto& f : families()) s += (s.empty() ? "" : ", ") + f.architecture;
  return s;
}

const std::vector<std::string>& lora_target_names() {
  static const std::vector<std::string> kNames = {"q_proj",   "k_proj",  "v_proj",
                                                  "o_proj",   "gate_proj", "up_proj",
                                                  "down_proj", "qkv_proj", "gate_up_proj"};
  return kNames;
}

std::string lora_leaf(const Family& f, const std::string& target) {
  if (f.fused_qkv && (target == "q_proj" || target == "k_proj" || target == "v_proj")) return "qkv_proj";
  if (f.fused_gate_up && (target == "gate_proj" || target == "up_proj")) return "gate_up_proj";
  return target;
}

}  // namespace delib::model
