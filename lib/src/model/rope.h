// Private to the model area: rotary position embeddings (RoPE, Su et al. 2021) with the
// scaling types of transformers' modeling_rope_utils.py (ROPE_INIT_FUNCTIONS), computed as it
// computes them (float32, same order of operations) so that logits agree to rounding.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "delib/model.h"

namespace delib::model {

// The scaling types implemented here besides "default" ("linear", "llama3", ...).
const std::vector<std::string>& rope_scaling_types();

// What is wrong with a rope_scaling object whose "rope_type" is one of rope_scaling_types()
// and whose "original_max_position_embeddings" is resolved (for llama3, yarn, longrope):
// "" when nothing, else a message naming the key ("is missing \"factor\"",
// "\"long_factor\" must be a list of 16 numbers (rotary_dim / 2)").
std::string rope_scaling_problem(const Json& scaling, int64_t rotary_dim);

// cos/sin of one forward step. Types whose frequencies depend on the sequence length read it
// per row, HF per call: L = the row's largest valid position + 1, so a row gets what it would
// get alone (HF's padded batch gives every row the batch's length).
//   longrope: long_factor when L > original_max_position_embeddings, else short_factor;
//   dynamic:  NTK-scaled base for L > max_position_embeddings (HF recomputes it when the
//             length grows; delib has no state: the frequencies are those of this L, which is
//             HF's within one generate() call, where L only grows).
// With a KV cache only this step's keys get this step's frequencies; cached keys keep theirs
// (HF's generic generate() does the same). HF's Phi-3 generate() instead recomputes the whole
// cache once when a sequence passes original_max_position_embeddings, which needs the tokens:
// the generation engine does that (lib/src/generate/engine.cpp, rope_recompute_at).
class Rope {
 public:
  Rope(const ModelConfig& c, torch::Device device);
  int64_t rotary_dim() const { return R_; }
  // positions (B, T) int64 on the device; valid (B, T) bool or undefined (all valid).
  // Returns cos, sin (B, 1, T, R) in `dtype`: emb = [pos * inv_freq, pos * inv_freq],
  // cos = cos(emb) * attention_scaling (likewise sin), computed in float32.
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions,
                                                  const torch::Tensor& valid,
                                                  torch::ScalarType dtype) const;


 private:
  enum class Kind { kStatic, kLongRope, kDynamic };
  Kind kind_ = Kind::kStatic;
  int64_t R_ = 0;                  // rotary dim: int(head_dim * partial_rotary_factor)
  torch::Tensor inv_freq_;         // (R/2,) float32: the frequencies (longrope: short_factor)
  torch::Tensor long_inv_freq_;    // (R/2,) longrope: long_factor
  // longrope: original_max_position_embeddings; dynamic: max_position_embeddings
  int64_t switch_len_ = 0;
  double attention_scaling_ = 1.0; // yarn, longrope
  double theta_ = 10000.0, factor_ = 1.0;  // dynamic
};

}  // namespace delib::model
