// Private to the train area: --sharding grad-opt (ZeRO-2, Rajbhandari et al. 2020, section
// 5.2): the gradients and the AdamW state of the trainable parameters are split over the ranks;
// the parameters stay replicated. --sharding full (ZeRO-3, section 5.3): the parameters too.
// Used by sft.cpp (load_learner, train_step, save).
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "delib/train.h"

namespace delib::train {

// The sharding unit a parameter belongs to: "model.layers.K" for a decoder layer's,
// "model.embed_tokens" for the embeddings (also the LM head when tied), "head" for the final
// norm and lm_head.
std::string sharding_unit(const std::string& parameter_name);

// AdamW over this rank's part of each unit. A unit's trainable parameters, flattened in model
// order and padded with zeros to a multiple of W, are cut in W equal parts; rank r owns part r:
// its gradient sum (reduce-scattered), its f32 or bf16 copy of the parameters (the "pieces",
// one per parameter overlapping the part, stepped by a torch::optim::AdamW with the two groups
// of make_adamw: weight decay for pieces of 2-D+ parameters only) and their moments.
// Elementwise, the update equals make_adamw's on the whole parameter.
//
// --sharding full (ZeRO-3) adds: every parameter's storage is released (its sizes stay) and a
// unit is all-gathered from the parts when an operator is about to read one of its tensors;
// at most two units are held, the least recently used released. Operators are observed with a
// RecordFunction start callback (the model area has no per-layer hook; forward, backward and
// activation recomputation all go through dispatched operators, whose inputs name the
// parameters' storages). The sequence of gathers depends only on the graph's structure, so
// every rank gathers in the same order provided every rank runs the same number of forward and
// backward passes (sft.cpp pads a rank's step with zero-weighted micro-batches).
//
// Every method below is a collective (same order on every rank).
class ShardedAdamW {
 public:
  // REQUIRES: the parameters are equal on every rank (broadcast first); `full`: every
  // parameter of the model is in `trainable` (no LoRA).
  ShardedAdamW(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
               const AdamWConfig& config, DataParallel& dp, bool full = false);
  ~ShardedAdamW();
  // full: every unit gathered (to save the model), then released again by release_all().
  void materialize_all();
  void release_all();
  // After the step's backward passes: each unit's summed gradient reduce-scattered into this
  // rank's part; the parameters' full .grad are then released (undefined), so the next step's
  // backward starts without them. A parameter without a gradient counts as zeros.
  void reduce_scatter_grads();
  // Global L2 norm of the gradient (f64 squares of the parts, summed over ranks) and clipping
  // of the parts as clip_grad_norm does. Returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  // One AdamW step at `lr` on the parts, then every unit's parameters all-gathered back into
  // the model.
  void step(double lr);
  // This rank's optimizer (over the pieces): its state is this rank's part only.
  torch::optim::AdamW& optimizer() { return *optimizer_; }

 private:
  struct Unit {
    std::string name;
    std::vector<torch::Tensor> params;  // the model's, in order
    std::vector<int64_t> offsets;       // of each parameter in the flattened unit
    int64_t numel = 0, part = 0;        // unpadded size; part = ceil(numel / W)
    torch::Tensor grad_part;            // (part,) this rank's summed gradient
    // The pieces: (index of the parameter, range [lo, hi) in the flattened unit, the tensor).
    struct Piece { size_t param; int64_t lo, hi; torch::Tensor value; };
    std::vector<Piece> pieces;
  };
  void gather(size_t unit);   // the unit's parameters from every rank's part
  void release(size_t unit);  // frees the unit's parameter storages
 public:
  void touch(const c10::StorageImpl* storage);  // the RecordFunction callback's entry
 private:
  DataParallel& dp_;
  std::vector<Unit> units_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  bool full_ = false;
  std::vector<size_t> resident_;  // gathered units, least recently used first
  std::unordered_map<const c10::StorageImpl*, size_t> unit_of_storage_;
  uint64_t callback_ = 0;
};

}  // namespace delib::train
