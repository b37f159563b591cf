// Private to the train area: --sharding grad-opt (ZeRO-2, Rajbhandari et al. 2020, section
// 5.2): the gradients and the AdamW state of the trainable parameters are split over the ranks;
// the parameters stay replicated. --sharding full (ZeRO-3, section 5.3): the parameters too.
// Used by sft.cpp (load_learner, train_step, save) and rl/run.cpp (rl-train --sharding).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "delib/safetensors.h"
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
// Gradients (grad-opt and full): a post-accumulate-grad hook on every trainable parameter adds
// its gradient to its unit's flat (W x part) buffer and releases the parameter's .grad; once
// every parameter of the unit has reported, the buffer is reduce-scattered into this rank's
// part (allocated then, released after the step) and freed. So during backward at most the
// units whose backward is under way hold a full gradient (FSDP's way), not the whole model's,
// and between the step and the next backward no gradient memory is held at all. The hooks fire
// in the autograd engine's order, which depends only on the graph's structure: every rank
// reduce-scatters in the same order provided every rank runs as many backward passes (sft.cpp
// pads a rank's step with zero-weighted micro-batches). A unit's reduce-scatter is issued
// without waiting (DataParallel::reduce_scatter_sum_async): it runs while autograd goes on to
// the next unit's backward, and is waited for when the next unit's is issued (at most one in
// flight, so at most two units' flat buffers exist) or by reduce_scatter_grads(), before the
// step reads any part. The sums are the same collectives on the same buffers as waiting at
// once: only when the waiting happens changes.
//
// --sharding full (ZeRO-3) adds: every parameter's storage is released (its sizes stay) and a
// unit is all-gathered from the parts when an operator is about to read one of its tensors
// (the parameters then view the gathered buffer: no second copy); at most two units are held,
// the least recently used released. Operators are observed with a RecordFunction start callback
// (the model area has no per-layer hook; forward, backward, activation recomputation and
// CausalLM::save all go through dispatched operators, whose inputs name the parameters'
// storages). The sequence of gathers depends only on the graph's structure, so every rank
// gathers in the same order under the same padding rule.
//
// Prefetch (full): the units gathered since the last step() (or release_all()), in order, are
// what the next step gathers again. When the k-th gather of a step is the k-th of the last one
// and the last step used no other unit between its k-th and (k+1)-th gathers, the (k+1)-th is
// issued at once as an asynchronous all-gather (Gloo runs it on its own threads, NCCL on its
// stream) and the unit's first use waits for it: in forward and backward the next layer comes
// in while the current one computes. Not at the turn from forward to backward (the last layer
// is used again after the head): the loss's buffers make the step's memory peak there, and the
// unit gathered next is gathered when used. step() and release_all() issue the first unit's.
// The decisions depend only on the sequence of gathers, the same on every rank, so the
// collectives keep one order everywhere; a unit prefetched but not the next one gathered is
// dropped. At most two units are held and one in flight.
//
// Every method below is a collective (same order on every rank) unless it says otherwise.
class ShardedAdamW {
 public:
  // REQUIRES: the parameters are equal on every rank (broadcast first); `full`: every
  // parameter of the model is in `trainable` or in `frozen` (LoRA's base weights: sharded and
  // gathered like the rest, in units of their own, without gradients or optimizer state).
  // `full` also takes unallocated parameters (CausalLM::load_unallocated: a storage of 0
  // bytes): their parts start as zeros, for read_parts() to fill.
  ShardedAdamW(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
               const AdamWConfig& config, DataParallel& dp, bool full = false,
               const std::vector<std::pair<std::string, torch::Tensor>>& frozen = {});
  ~ShardedAdamW();
  // full, not a collective: this rank's part of every unallocated parameter read from
  // `source` by name (the checkpoint CausalLM::load_unallocated checked), one unit at a time,
  // the mapped pages of each unit's tensors dropped after it: no rank holds the whole model
  // (nor its file's pages) at any time. Values are converted to the parameters' dtype.
  void read_parts(const safetensors::Checkpoint& source);
  // full: every unit gathered (to save the model), then released again by release_all(),
  // which also starts a new sequence of gathers (the prefetch above) and prefetches the first
  // unit of the last step's.
  void materialize_all();
  void release_all();
  // full: what CausalLM::save(dir) does to the parameters, on a rank that does not write:
  // touches `params` in order (gathering their units as the writing rank's save does).
  void touch_in_order(const std::vector<torch::Tensor>& params);
  // After the step's backward passes: the units not yet reduce-scattered (a parameter without
  // a gradient counts as zeros) reduce-scattered now, so every unit has its part.
  void reduce_scatter_grads();
  // Global L2 norm of the gradient (f64 squares of the parts, summed over ranks) and clipping
  // of the parts as clip_grad_norm does. Returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  // One AdamW step at `lr` on the parts, the gradient parts released; grad-opt: then every
  // unit's parameters all-gathered back into the model.
  void step(double lr);
  // full, not a collective: the gathers since the last call (units gathered, how many of them
  // had been prefetched, the seconds spent waiting for them), then reset.
  struct GatherStats {
    int64_t gathers = 0, prefetched = 0;
    double wait_s = 0;
  };
  GatherStats take_gather_stats() { return std::exchange(stats_, GatherStats{}); }
  // This rank's optimizer (over the pieces): its state is this rank's part only.
  torch::optim::AdamW& optimizer() { return *optimizer_; }

  // Checkpoints. save_part (not a collective) writes this rank's part of every unit to `path`
  // (safetensors: UNIT.master, UNIT.exp_avg, UNIT.exp_avg_sq, each (part,), and in the
  // metadata the world size, rank, AdamW step and the units' names and sizes). load_parts (a
  // collective) reads this rank's part of every unit from the parts of a run on any number
  // of ranks, `paths[q]` being rank q's file (resharding: each range is copied from the old
  // parts that overlap it). Throws Error naming the file and field when a part's units differ
  // from the model's or a file is not such a part.
  void save_part(const std::string& path) const;
  void load_parts(const std::vector<std::string>& paths);

  // Entries of the hooks and the RecordFunction callback (not for other callers).
  void grad_ready(size_t unit, size_t param);
  void touch(const c10::StorageImpl* storage);

 private:
  struct Unit {
    std::string name;
    std::vector<torch::Tensor> params;  // the model's, in order
    std::vector<std::string> names;     // theirs
    std::vector<bool> unread;           // unallocated when given: parts for read_parts() to read
    std::vector<int64_t> offsets;       // of each parameter in the flattened unit
    int64_t numel = 0, part = 0;        // unpadded size; part = ceil(numel / W)
    torch::TensorOptions options;       // the parameters' dtype and device
    torch::Tensor grad_part;            // (part,) this rank's summed gradient, or undefined
    torch::Tensor master;               // frozen units: (part,) this rank's part of the weights
    torch::Tensor flat;                 // (W * part,) gradients of this backward, or undefined
    std::vector<bool> reported;         // per parameter: added to `flat` since its last flush
    size_t pending = 0;                 // parameters reported since the last flush
    // The pieces: (index of the parameter, range [lo, hi) in the flattened unit, the tensor).
    struct Piece { size_t param; int64_t lo, hi; torch::Tensor value; };
    std::vector<Piece> pieces;
  };
  // `params` grouped by sharding_unit() in first-seen order (the model's), each unit's name
  // followed by `suffix`, its offsets, numel, part (for W ranks) and options set.
  static std::vector<Unit> make_units(const std::vector<std::pair<std::string, torch::Tensor>>& params,
                                      int64_t W, const std::string& suffix);
  void flush(size_t unit);    // reduce-scatters the unit's flat buffer into its grad_part (issued)
  void finish_reduce();       // waits for the reduce-scatter in flight, if any, and adds it up
  // This rank's part of the unit's parameters written into its slice of `all` (W * part,),
  // the slice returned.
  torch::Tensor own_part(size_t unit, const torch::Tensor& all);
  void gather(size_t unit);   // the unit's parameters from every rank's part
  void install(size_t unit, const torch::Tensor& all);  // the parameters view `all`
  void release(size_t unit);  // frees the unit's parameter storages
  // A unit not held is used: taken from the prefetch or gathered, the least recently used
  // released beyond two, the sequence extended and the next unit of the last one prefetched.
  void arrive(size_t unit);
  void prefetch(size_t unit);  // an asynchronous gather, unless held or in flight
  void drop_prefetch();        // waits for the gather in flight, if any, and frees it
  // Unit i of all: the trainable units, then the frozen ones.
  Unit& unit(size_t i) { return i < units_.size() ? units_[i] : frozen_[i - units_.size()]; }
  size_t all_units() const { return units_.size() + frozen_.size(); }
  DataParallel& dp_;
  std::vector<Unit> units_;
  std::vector<Unit> frozen_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  bool full_ = false;
  std::vector<size_t> resident_;  // gathered units, least recently used first
  struct Prefetch {
    size_t unit;
    torch::Tensor mine, all;      // the all-gather's input and output, alive until it is done
    std::function<void()> wait;
  };
  std::optional<Prefetch> prefetch_;
  struct Reduce {
    size_t unit;
    torch::Tensor flat, out;      // the reduce-scatter's input and output, alive until it is done
    bool add;                     // another micro-batch's sum: out is added to the unit's grad_part
    std::function<void()> wait;
  };
  std::optional<Reduce> reduce_;
  std::vector<size_t> arrivals_;  // units gathered since the last step() / release_all()
  std::vector<size_t> triggers_;  // per gather but the last: the last unit first used before the next
  std::vector<size_t> since_;     // units used since the last gather, in order of first use
  std::vector<size_t> replay_, replay_triggers_;  // the last step's arrivals_ and triggers_
  bool on_track_ = true;          // arrivals_ is a prefix of replay_
  GatherStats stats_;
  std::unordered_map<const c10::StorageImpl*, size_t> unit_of_storage_;
  uint64_t callback_ = 0;
};

// What sft-train and rl-train share of a sharded run (train/sharded_run.cpp).

// The optimizer of a run with `sharding` over `model`'s `trainable` parameters (equal on every
// rank: broadcast first); null for Sharding::kNone (make_adamw's then). kFull: the model's other
// parameters (LoRA's frozen base) are sharded too.
std::unique_ptr<ShardedAdamW> make_sharded(CausalLM& model,
                                           const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                           const AdamWConfig& config, DataParallel& dp, Sharding sharding);

// Checkpoints of a sharded run.
// A checkpoint holds the Hugging Face model (f32), trainer_state.json, rng.pt and, instead of
// optimizer.pt, one part per rank: shard_part_path(dir, R, W) (ShardedAdamW::save_part).

// Rank `rank` of `world`'s part in checkpoint directory `dir`: shard-rank-R-of-W.safetensors.
std::string shard_part_path(const std::string& dir, int rank, int world);

// The parameters CausalLM::save reads, in its order (LoRA's adapters left out): what a rank
// that does not write touches (ShardedAdamW::touch_in_order) to take part in the writer's gathers.
std::vector<torch::Tensor> save_reads(CausalLM& model);

// Writes checkpoint `state.step` of a sharded run; a collective (every rank calls it and
// returns once the checkpoint is published). `checkpointer`: rank 0's, writing into `out_dir`
// (null on the other ranks). Rank 0 writes the model, `saved` (LoRA's adapters), the state and
// the RNG into the staging directory, every rank its part, then rank 0 publishes. `whole`: the
// units are gathered whole first (LoRA: CausalLM::save merges each adapted weight with its
// adapters, an order of reads the other ranks cannot replay); otherwise (full) one unit at a
// time as the writer reads them. Every unit is released after. Returns the published directory
// on rank 0, "" elsewhere. Throws Error(kExitIo) on every rank when a rank's part fails.
std::string save_sharded_checkpoint(ShardedAdamW& sharded, DataParallel& dp, Checkpointer* checkpointer,
                                    CausalLM& model, const std::vector<std::pair<std::string, torch::Tensor>>& saved,
                                    const TrainState& state, const std::string& out_dir, bool whole);

// --resume of a sharded run on any number of ranks (a collective): the world size W of the
// checkpointed run (from the name of rank 0's part), every part of it (this rank's range of
// each unit copied from the parts that overlap it, ShardedAdamW::load_parts) and, as
// Checkpointer::load_into, the CPU generator; rank 0 notes a resharding on stderr. Throws
// Error naming the file on every rank when a part is missing or not of this model.
void load_sharded_checkpoint(ShardedAdamW& sharded, DataParallel& dp, const std::string& ckpt);

}  // namespace delib::train
