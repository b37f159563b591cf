// Supervised fine-tuning and the reusable training pieces (area: train, in delib_torch).
//
// Stage 3 of deliberative alignment (Guan et al. 2024, section 2.3): train the base model on
// (prompt, reasoning, answer) with the original prompt and no spec in context. sft-train is a
// thin main over run_sft(); rl-train reuses the components below on their own:
//
//   TokenizedExample / render_example   a record -> token ids + labels (loss mask)
//   pack_examples                      examples -> (B, T) batches with doc ids or padding
//   epoch_order                        seeded, portable per-epoch shuffle
//   LrSchedule                         warm-up then cosine / linear / constant
//   make_adamw, clip_grad_norm         the optimizer and gradient clipping
//   Checkpointer                       HF model dir + optimizer/scheduler/RNG/cursor state,
//                                      atomic, --keep-last, resume
//   DistEnv, DataParallel              torchrun/Slurm environment, c10d Gloo/NCCL all-reduce
//
// rl-train reuses the training pieces declared here (checkpoints, optimizer, distributed).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "delib/json.h"
#include "delib/model.h"
#include "delib/records.h"

namespace delib {
class Tokenizer;
class ChatTemplate;
class Spec;
}  // namespace delib

namespace delib::train {

inline constexpr int64_t kIgnoreIndex = -100;  // label of a token that carries no loss

// ---------------------------------------------------------------------------------------------
// Examples

// One training sequence: `ids` and per-token `labels` (the same id where the token is a target,
// kIgnoreIndex elsewhere). Labels are aligned with ids, NOT shifted: the loss at position i
// predicts labels[i] from ids[0..i-1] (the trainer shifts).
struct TokenizedExample {
  std::vector<int32_t> ids;
  std::vector<int32_t> labels;
  size_t record_index = 0;  // position in the input stream (for messages)
  int64_t num_targets() const;  // labels != kIgnoreIndex
};

// How records become examples.
struct RenderOptions {
  // Appended after a raw `completion`/`target` when the model has no chat template (the chat
  // template already ends the assistant turn). Default: the tokenizer's eos when known.
  bool append_eos = true;
};

// Renders one record into an example. Accepted shapes, first match wins:
//   {"text": S, "target": T}          raw: loss on T only (models without a chat template)
//   {"prompt": S, "completion": T}    raw, likewise
//   {messages | prompt, "answer": A [, "reasoning": R]}
//       chat: the conversation, then an assistant turn with reasoning R and answer A, rendered
//       with the model's chat template (keep_reasoning = true); loss on the assistant target
//       span (reasoning + answer + end of turn) only.
//   {"messages": [..., {"role": "assistant", ...}]}   chat, loss on the final assistant turn.
// Token/label alignment is exact: the rendered text is cut at every message-content and
// target boundary and each piece is encoded on its own; template markup is encoded with
// parse_special = true, message contents with parse_special = false (a user cannot inject
// control tokens). `tmpl` may be null (raw records only). Throws Error(record.where(), ...) on
// a record of none of these shapes.
TokenizedExample render_example(const Record& record, const Tokenizer& tok,
                                const ChatTemplate* tmpl, const RenderOptions& options = {});

// Finds spec views in system messages. Training on such records would teach the model to rely
// on the spec being in context, which defeats the method (the model must recall the spec).
class SpecLeakDetector {
 public:
  // `spec` may be null: then only the provenance hash is checked. The spec's views are
  // rendered once here.
  explicit SpecLeakDetector(const Spec* spec);
  // True when a system (or developer) message of `record` contains the view whose hash is the
  // record's provenance.spec_view_hash (as cot-gen writes it: XXH3-64 of the view alone; the
  // message may hold more text around the view, e.g. cot-gen's instructions), or contains a
  // category view of `spec`, or contains the full text of one of its rules (rules of 40 bytes
  // or more, so that short common phrases do not count). By hash, a view is a run of whole
  // lines starting at a "# Safety spec: " heading (Spec::render_view's first line), possibly
  // missing its final newline at the end of the message, or the whole message.
  bool system_contains_spec_view(const Record& record) const;

 private:
  std::vector<std::string> views_, rules_;
};

// ---------------------------------------------------------------------------------------------
// Batches

// A (B, T) batch. input_ids/labels/positions/doc_ids are int64; attention_mask bool (padding
// mode only: false on padding). labels are already shifted: labels[b][i] is the target for the
// prediction made at position i (kIgnoreIndex where none).
struct Batch {
  torch::Tensor input_ids, labels, positions, doc_ids, attention_mask;
  int64_t num_tokens = 0;   // non-padding tokens
  int64_t num_targets = 0;  // labels != kIgnoreIndex
  int64_t rows() const { return input_ids.defined() ? input_ids.size(0) : 0; }
};

struct PackOptions {
  int64_t max_length = 2048;  // tokens per row
  bool pack = true;           // several examples per row with doc ids; false: one per row, padded
  int32_t pad_id = 0;         // id written at padding positions (never attended, never a target)
};

// Packs `examples` (in the given order) into one batch. pack: greedy first fit in order, each
// row at most max_length tokens, positions restart at 0 for each document, doc_ids number the
// documents of a row 0, 1, ... (padding gets doc id -1). !pack: one example per row, padded
// to the longest. REQUIRES: every example has 1 <= size <= max_length (see fits()).
Batch pack_examples(const std::vector<const TokenizedExample*>& examples, const PackOptions& options);

// True when the example can be trained whole at max_length (never cut in the middle of an
// answer: examples that do not fit are dropped and counted by the caller).
bool fits(const TokenizedExample& example, int64_t max_length);

// A permutation of [0, n) for `epoch`: Fisher-Yates driven by std::mt19937_64 seeded from
// (seed, epoch), so the order is the same on every platform and standard library.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

// ---------------------------------------------------------------------------------------------
// Optimisation

enum class ScheduleKind { kCosine, kLinear, kConstant };
ScheduleKind parse_schedule(const std::string& name);  // "cosine" | "linear" | "constant"

// Learning rate at optimizer step `step` (0-based) of `total_steps`:
//   warm-up (step < warmup):  lr (step + 1) / warmup
//   then, with p = (step - warmup) / max(1, total - warmup) in [0, 1]:
//     cosine:   min_lr + (lr - min_lr) (1 + cos(pi p)) / 2      (Loshchilov & Hutter 2017, eq. 5)
//     linear:   lr + (min_lr - lr) p
//     constant: lr
// where min_lr = lr * min_lr_ratio.
struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;
  double lr = 1e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr_ratio = 0.0;
  double at(int64_t step) const;
  Json to_json() const;
  static LrSchedule from_json(const Json& j);
};

struct AdamWConfig {
  double lr = 1e-5;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.0;  // applied to matrices only (not norms, biases)
};

// AdamW (Loshchilov & Hutter 2019) over `params` (name, tensor) with requires_grad; two groups:
// 2-D+ weights get weight_decay, 1-D (norm scales, biases) get none.
std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, torch::Tensor>>& params, const AdamWConfig& config);
// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& optimizer, double lr);
// Global L2 norm of the gradients (computed in f64 for reproducibility), then scales them by
// min(1, max_norm / (norm + 1e-6)) when max_norm > 0. Returns the norm before clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// ---------------------------------------------------------------------------------------------
// Checkpoints

inline constexpr int kTrainStateVersion = 1;

// Where the run is; written to trainer_state.json with format_version = kTrainStateVersion.
struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  int64_t epoch = 0;          // epoch of the next step
  int64_t epoch_step = 0;     // steps completed within `epoch` (the data cursor)
  int64_t tokens_seen = 0;    // target tokens trained on so far (all ranks)
  uint64_t seed = 0;
  LrSchedule schedule;
  Json options;               // the run's options, checked on resume (object)
  Json to_json() const;
  static TrainState from_json(const Json& j, const std::string& source);
};

// Checkpoint directory layout (OUT/checkpoint-NNNNNNNN/):
//   config.json, model.safetensors, tokenizer files   a Hugging Face model (CausalLM::save,
//                                                     LoRA merged) that transformers loads;
//                                                     above max_shard_size model-0000k-of-
//                                                     0000N.safetensors + the index instead
//   adapter/                                          with LoRA: the adapters alone in PEFT's
//                                                     format (delib/peft.h), for peft and vLLM
//   trainer_state.json                                TrainState (format_version, cursor, ...)
//   optimizer.pt                                      torch::optim state (torch::save archive)
//   trainable.pt                                      the trainable tensors in f32, by name
//                                                     (exact resume: LoRA adapters, or all)
//   rng.pt                                            torch CPU (+CUDA) generator states
// OUT/latest holds the name of the newest complete checkpoint. A checkpoint is written to
// OUT/.checkpoint-NNNNNNNN.tmp and renamed when complete, so a kill -9 leaves either the old
// or the new one, never half of one.
class Checkpointer {
 public:
  // keep_last <= 0 keeps every checkpoint. max_shard_size: CausalLM::save's, in bytes.
  Checkpointer(std::string out_dir, int keep_last, std::string tokenizer_dir = "",
               int64_t max_shard_size = kDefaultMaxShardSize);
  // Writes checkpoint `state.step`. Returns its directory.
  std::string save(CausalLM& model, const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                   torch::optim::Optimizer& optimizer, const TrainState& state);
  // The same, with optimizer.pt only when `optimizer` is given, and `before_publish(dir)`
  // called once everything else is written into the staging directory `dir`
  // (staging_dir(out_dir, state.step)), before it is renamed into place (sharded runs: every
  // rank writes its part there).
  std::string save(CausalLM& model, const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                   torch::optim::Optimizer* optimizer, const TrainState& state,
                   const std::function<void(const std::string&)>& before_publish);
  // Where save() stages checkpoint `step` of `out_dir` before publishing it.
  static std::string staging_dir(const std::string& out_dir, int64_t step);
  // A checkpoint directory, or an output directory (its `latest`). nullopt when `path` is an
  // output directory without a checkpoint yet.
  static std::optional<std::string> resolve(const std::string& path);
  // Reads trainer_state.json. Throws Error naming the file on a bad or newer format version.
  static TrainState load_state(const std::string& checkpoint_dir);
  // Restores the trainable tensors (in place, by name), the optimizer and the RNG states.
  static void load_into(const std::string& checkpoint_dir,
                        const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                        torch::optim::Optimizer& optimizer);
  // Restores the RNG states only (rng.pt), as load_into does.
  static void load_rng(const std::string& checkpoint_dir);

 private:
  std::string out_dir_, tokenizer_dir_;
  int keep_last_;
  int64_t max_shard_size_ = kDefaultMaxShardSize;
};

// ---------------------------------------------------------------------------------------------
// Several processes

// The launcher's environment: torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_USE_AGENT_STORE) or Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the
// master address and port still come from MASTER_ADDR / MASTER_PORT, which the sbatch script
// sets, see examples/distributed/). torchrun's variables win when both are present;
// world_size 1 when neither is set. Throws Error on malformed values.
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent already serves the TCPStore
  std::string launcher = "none";  // "torchrun" | "slurm" | "none"
  static DistEnv from_environment();
  bool distributed() const { return world_size > 1; }
};

// Data parallelism over a c10d process group: Gloo for CPU tensors, NCCL for CUDA tensors
// (when built with CUDA). Rendezvous through a TCPStore at master_addr:master_port (rank 0
// serves it unless torchrun's agent does). With world_size 1 every call is a no-op.
class DataParallel {
 public:
  DataParallel(const DistEnv& env, torch::Device device,
               std::chrono::milliseconds timeout = std::chrono::minutes(30));
  ~DataParallel();
  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  // In-place sum over ranks of each tensor (flattened into one buffer per dtype). Host
  // tensors work on a CUDA (NCCL) group too, through a device copy.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  // Sums a scalar over ranks.
  double all_reduce_sum(double value);
  // Rank 0's tensors to everyone (initial weights).
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // input (W * n), output (n), both contiguous, same dtype: output = elements [rank n, (rank +
  // 1) n) of the sum of every rank's input (ZeRO's reduce-scatter). World size 1: a copy.
  void reduce_scatter_sum(const torch::Tensor& input, const torch::Tensor& output);
  // reduce_scatter_sum issued without waiting, as all_gather_async: the returned function
  // blocks until `output` holds the result (call it exactly once, on every rank); input and
  // output must stay alive and unchanged until then.
  std::function<void()> reduce_scatter_sum_async(const torch::Tensor& input, const torch::Tensor& output);
  // input (n), output (W * n), both contiguous: every rank's input in rank order. World size
  // 1: a copy. `input` may be output's own slice [rank n, (rank + 1) n) (in place: no copy, no
  // buffer beyond `output` on either backend).
  void all_gather(const torch::Tensor& input, const torch::Tensor& output);
  // all_gather issued without waiting: the collective runs in the background (Gloo's worker
  // threads, NCCL's stream) and the returned function blocks until `output` holds the result
  // (call it exactly once, on every rank). input and output must stay alive and unchanged
  // until then; collectives issued meanwhile run after it in the same order on every rank.
  std::function<void()> all_gather_async(const torch::Tensor& input, const torch::Tensor& output);
  void barrier();
  // Every rank's `bytes`, in rank order, on rank 0 (other ranks get an empty vector); a
  // collective, so all ranks call it. Used to write all ranks' records from rank 0.
  std::vector<std::string> gather_to_rank0(const std::string& bytes);

 private:
  DistEnv env_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Sharding and the memory plan (sft-train --plan)

// How the training state is split over the ranks of a data-parallel run (ZeRO, Rajbhandari et
// al. 2020, section 5: stages 0, 2 and 3):
//   kNone     everything replicated: parameters, gradients, AdamW moments (plain data parallel)
//   kGradOpt  gradients and AdamW moments 1/N per rank; parameters replicated (ZeRO-2)
//   kFull     parameters 1/N too; a unit (a decoder layer, the embeddings, the final norm with
//             the LM head) is gathered just before it is used and freed after (ZeRO-3, FSDP)
enum class Sharding { kNone, kGradOpt, kFull };
// "none" | "grad-opt" | "full"; anything else is Error(kExitUsage) naming `flag` and the value.
Sharding parse_sharding(const std::string& name, const std::string& flag = "--sharding");
const char* sharding_name(Sharding s);

// A size as transformers' max_shard_size reads it: a number of bytes, or a number with a unit:
// KB/MB/GB/TB = 10^3/10^6/10^9/10^12 bytes, KiB/MiB/GiB/TiB = 2^10/2^20/2^30/2^40 (case-
// insensitive; "80GB", "1.5 TiB", "500000"). Error(kExitUsage) naming `flag` on anything else.
int64_t parse_size(const std::string& text, const std::string& flag = "--memory-per-device");

// What the plan is for: a model config and a run's options on one rank.
struct PlanInput {
  ModelConfig config;
  int world_size = 1;                   // N
  Sharding sharding = Sharding::kNone;
  bool cuda = false;                    // --device cuda...: autocast and the CUDA allocator
  std::string dtype = "auto";           // sft-train --dtype: auto | f32 | bf16
  bool autocast = true;                 // bf16 autocast when cuda (sft-train --no-autocast: false)
  int64_t batch_size = 8;               // rows per micro-batch per rank (B)
  int64_t max_length = 2048;            // tokens per row (T)
  int64_t loss_chunk = 1024;            // rows per chunk of the chunked cross-entropy
  bool checkpoint_activations = false;  // which activation figure the peak uses
  bool lora = false;
  LoraOptions lora_options;
};

// Bytes per rank, worst case: every row full (B x T tokens) and every token a target. Each
// field is derived next to its code in train/plan.cpp, where the tensors autograd keeps in
// delib's decoder layer are listed one by one.
struct MemoryPlan {
  int64_t parameters = 0;            // number of parameters of the model (base + adapters)
  int64_t trainable = 0;             // of which trainable (all, or the LoRA adapters)
  int64_t largest_unit = 0;          // parameters of the largest sharding unit
  int weight_bytes = 4, compute_bytes = 4;  // bytes per element of the weights / the matmuls
  int64_t params = 0;                // weights held (sharded: the shard plus the gathered units)
  int64_t grads = 0;                 // gradients of the trainable parameters kept across steps
  int64_t grads_step = 0;            // grad-opt, full: the rank's part of the gradients, built
                                     // unit by unit in backward, released after the step
  int64_t grads_backward = 0;        // grad-opt, full: one unit's flat (W x part) buffer of the
                                     // gradients backward builds before it is reduce-scattered
  int64_t optimizer = 0;             // AdamW exp_avg and exp_avg_sq
  int64_t autocast_copies = 0;       // bf16 weight copies autocast keeps for backward
  int64_t activations_per_layer = 0; // saved by one decoder layer (no checkpointing)
  int64_t activations = 0;           // all saved activations, no checkpointing
  int64_t activations_checkpointed = 0;  // with --checkpoint-activations
  int64_t loss_chunk = 0;            // the chunked cross-entropy's (chunk_rows x vocab) buffers
  int64_t head_grad = 0;             // the LM head gradient the loss backward accumulates
  int64_t step_transient = 0;        // the larger of clipping's and AdamW's temporaries
  // persistent + max(activations + loss backward, grads_step + grads_backward,
  // grads_step + step_transient) with the activation figure of `checkpointing`.
  int64_t peak(bool checkpointing) const;
  int64_t persistent() const { return params + grads + optimizer; }
};

// The plan for `in`. REQUIRES: world_size >= 1, batch_size, max_length, loss_chunk >= 1.
MemoryPlan plan_memory(const PlanInput& in);

// The plan as sft-train --plan prints it: a header, one line per quantity (bytes and GB), and
// the last line "fits: yes|no, ..." against `budget` bytes (<= 0: no budget, the last line
// says so).
std::string format_plan(const PlanInput& in, const MemoryPlan& plan, int64_t budget);

// ---------------------------------------------------------------------------------------------
// The SFT run (sft-train)

// A PyTorch-profiler (Kineto) trace of a range of training steps, for finding where a step's
// time goes on a real GPU: CPU operators, and on CUDA the kernels, copies and synchronisations.
// Writes `path` (Chrome trace JSON: open it in https://ui.perfetto.dev or chrome://tracing) and
// `path`.top.txt, the 25 largest entries by total time (CUDA: device kernels and copies; CPU:
// operators, inclusive times), which is also printed on stderr.
class StepProfiler {
 public:
  // spec "A:B": steps A..B inclusive (1-based, counted in this run); path "" = disabled.
  // Throws Error(kExitUsage) on a malformed spec.
  StepProfiler(const std::string& path, const std::string& spec, bool cuda);
  ~StepProfiler();
  // Call around each step with the 1-based number of the step in this run.
  void before_step(int64_t n);
  void after_step(int64_t n);
  // Stops and saves early (a run shorter than B steps); idempotent.
  void finish();
  // Throws Error (kExitFailure) when a trace was asked for and the run ended before step A, so
  // that nothing was traced: "--profile: the run took N <steps_name>, none of --profile-steps
  // A:B: nothing traced". Call at the end of a run that was not interrupted.
  void require_traced(const std::string& steps_name = "steps") const;

 private:
  std::string path_, spec_;
  int64_t first_ = 0, last_ = 0, steps_ = 0;  // steps_: the last step seen by before_step
  bool cuda_ = false, active_ = false, done_ = false;
};

struct SftOptions {
  std::vector<std::string> inputs;       // record files ("-" = stdin)
  ReadOptions read;
  std::string model_dir;                 // HF model directory (weights + tokenizer)
  std::string tokenizer_dir;             // default: model_dir
  std::string spec_path;                 // optional: detect spec views in system messages
  std::string out_dir;                   // checkpoints; "" = none
  std::string resume;                    // checkpoint or output dir; "" = fresh run
  std::string metrics = "-";             // per-step records
  WriteOptions metrics_write;            // flush_each is forced on
  std::string chat_template;             // "" = the tokenizer's; else a variant name or a path
  std::string device = "cpu";
  std::string dtype = "auto";            // model weights: auto (f32 master weights) | f32 | bf16
  bool bf16_autocast = true;             // on CUDA
  bool checkpoint_activations = false;
  int64_t max_length = 2048;
  bool pack = true;
  int64_t batch_size = 8;                // examples per micro-batch per rank
  int64_t grad_accum = 1;                // micro-batches per optimizer step
  int64_t epochs = 1;
  int64_t max_steps = 0;                 // > 0: stop after this many steps (and size the schedule)
  AdamWConfig adamw;
  std::string schedule = "cosine";
  double warmup_ratio = 0.0;             // of total steps, when warmup_steps < 0
  int64_t warmup_steps = -1;
  double min_lr_ratio = 0.0;
  double max_grad_norm = 1.0;            // <= 0: no clipping
  int64_t save_every = 0;                // steps; 0: only at the end
  int keep_last = 0;
  int64_t max_shard_size = kDefaultMaxShardSize;  // bytes per safetensors shard of a saved model
  bool lora = false;
  LoraOptions lora_options;
  int64_t loss_chunk = 1024;             // rows per chunk of the chunked cross-entropy
  Sharding sharding = Sharding::kNone;   // how the state is split over the ranks
  uint64_t seed = 0;
  bool shuffle = true;
  int threads = 0;
  bool progress = false;
  std::string profile;                   // StepProfiler trace path ("" = none)
  std::string profile_steps = "3:4";     // StepProfiler spec: after the warm-up steps
};

struct SftResult {
  int64_t steps = 0;
  double final_loss = 0;
  size_t examples = 0, dropped_too_long = 0, dropped_no_targets = 0;
  std::string last_checkpoint;
};

// Runs supervised fine-tuning as sft-train(1) documents. Writes one metrics record per step
// (flushed) to options.metrics on rank 0. Throws Error on bad input; returns early (with the
// state saved when out_dir is set) on SIGINT/SIGTERM.
SftResult run_sft(const SftOptions& options);

// The memory plan of the run `options` describes, for `world_size` ranks (<= 0: the
// launcher's, DistEnv::from_environment()). Reads only options.model_dir's config.json (no
// weights, no records).
PlanInput sft_plan_input(const SftOptions& options, int world_size);

}  // namespace delib::train
