// The SFT run: data, model, optimizer, loop, checkpoints, metrics (delib/train.h).
//
// The stages, in the order run_sft calls them:
//   setup     check_options, load_examples, load_learner, open_outputs
//   a step    step_data (this rank's micro-batches), train_step (forward, backward, all-reduce,
//             clip, optimizer step), write_metrics, the periodic save
// Collectives are called in the same order on every rank. --sharding grad-opt / full replace
// the all-reduce, clipping and optimizer step by train/sharding.h's ShardedAdamW (with full,
// parameters are gathered inside forward and backward: every rank runs as many of them).
#include <optional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <sys/resource.h>
#ifdef DELIB_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/progress.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "delib/train.h"
#include "train/sharding.h"

namespace delib::train {
namespace {

std::unique_ptr<ChatTemplate> load_template(const SftOptions& o, const Tokenizer& tok) {
  if (!o.chat_template.empty()) {
    if (std::filesystem::exists(o.chat_template)) return ChatTemplate::from_path(o.chat_template);
    return ChatTemplate::from_variant(o.chat_template);
  }
  if (!tok.chat_template().empty()) return ChatTemplate::for_tokenizer(tok);
  return nullptr;  // raw records only
}

// Peak memory in MiB: the CUDA caching allocator's peak on CUDA, the process's max RSS on CPU.
double peak_memory_mb(torch::Device device) {
#ifdef DELIB_HAVE_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return double(stats.allocated_bytes[0].peak) / (1 << 20);
  }
#endif
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

// The memory in MiB the process holds now, before the model is loaded: the baseline that
// --plan's figures add to (CUDA: the caching allocator's current bytes; CPU: VmRSS).
double current_memory_mb(torch::Device device) {
#ifdef DELIB_HAVE_CUDA
  if (device.is_cuda()) {
    // Nothing has touched CUDA yet: its lazy initialisation sets up the caching allocator,
    // without which getDeviceStats throws "Invalid device argument".
    at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return double(stats.allocated_bytes[0].current) / (1 << 20);
  }
#endif
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return 0;
}

// The options that must match for --resume to continue the same run.
Json run_identity(const SftOptions& o, size_t examples, int world) {
  Json j = Json::object();
  j.set("examples", examples);
  j.set("global_batch", o.batch_size * o.grad_accum * world);
  j.set("max_length", o.max_length);
  j.set("pack", o.pack);
  j.set("seed", std::to_string(o.seed));
  j.set("shuffle", o.shuffle);
  j.set("lora", o.lora);
  j.set("sharding", sharding_name(o.sharding));
  // (A sharded checkpoint resumes on any number of ranks: its parts are resharded on load.)
  if (o.lora) {
    j.set("lora_rank", o.lora_options.rank);
    j.set("lora_alpha", o.lora_options.alpha);
  }
  return j;
}

void check_same_run(const Json& saved, const Json& now, const std::string& ckpt) {
  if (!saved.is_object()) return;
  for (const auto& [k, v] : now.as_object()) {
    const Json* s = saved.find(k);
    if (s && s->dump() != v.dump())
      throw Error(Location{(std::filesystem::path(ckpt) / "trainer_state.json").string(), 0},
                  fmt::format("cannot resume: {} was {} in the checkpointed run, now {}; HINT: "
                              "resume with the same data and batch options", k, s->dump(), v.dump()),
                  kExitUsage);
  }
}

// The records left out, on stderr (rank 0): spec views in system messages past the first 3
// named, too long, no targets.
void report_dropped(const SftResult& res, size_t records, size_t leaked, int64_t max_length) {
  if (leaked > 3) warn(fmt::format("{} records in all have a spec view in a system message", leaked));
  if (res.dropped_too_long)
    warn(fmt::format("{} of {} records are longer than --max-length {} and were dropped (never "
                     "cut): raise --max-length to keep them", res.dropped_too_long, records, max_length));
  if (res.dropped_no_targets)
    warn(fmt::format("{} records have no target tokens and were dropped", res.dropped_no_targets));
}

// Everything a run holds from setup to the end.
struct Run {
  Run(const SftOptions& options, const DistEnv& env)
      : o(options), denv(env), rank0(env.rank == 0), device(parse_device(o.device, env.local_rank)),
        dp(env, device) {}
  const SftOptions& o;
  const DistEnv denv;
  const bool rank0;
  const torch::Device device;
  DataParallel dp;
  std::string tok_dir;                 // the tokenizer's directory (copied into checkpoints)
  std::shared_ptr<const Tokenizer> tok;
  std::vector<TokenizedExample> examples;
  std::shared_ptr<CausalLM> model;
  std::vector<std::pair<std::string, torch::Tensor>> trainable;  // by name (LoRA: the adapters)
  std::vector<torch::Tensor> params;   // the same tensors
  std::unique_ptr<torch::optim::AdamW> optimizer;  // --sharding none
  std::unique_ptr<ShardedAdamW> sharded;           // --sharding grad-opt, full
  std::optional<std::string> ckpt;     // the checkpoint resumed from
  TrainState st;
  int64_t global_batch = 0, steps_per_epoch = 0;
  std::unique_ptr<Checkpointer> checkpointer;  // rank 0 with --out
  std::unique_ptr<RecordWriter> metrics;       // rank 0
  PackOptions pack;
  int64_t last_saved = -1;             // the step of the newest checkpoint (-1: none)
  double baseline_mb = 0;              // memory before the model was loaded
  SftResult result;
};

// The tensors a checkpoint stores by name besides the model: LoRA's adapters (full fine-tuning
// saves the whole model in f32).
std::vector<std::pair<std::string, torch::Tensor>> saved_trainable(const Run& r) {
  return r.o.lora ? r.trainable : std::vector<std::pair<std::string, torch::Tensor>>{};
}

// ---------------------------------------------------------------------------------------------
// Setup

// The usage errors found before any input is read.
void check_options(const SftOptions& o, const DistEnv& denv) {
  if (o.batch_size < 1 || o.grad_accum < 1 || o.max_length < 2 || o.epochs < 1)
    throw Error("--batch-size, --grad-accum, --epochs must be >= 1 and --max-length >= 2", kExitUsage);
  if (denv.distributed()) {
    for (const auto& in : o.inputs)
      if (in == "-") throw Error("several processes cannot share stdin: give input files", kExitUsage);
    if (o.inputs.empty()) throw Error("several processes cannot share stdin: give input files", kExitUsage);
  }
}

// The training examples: every record rendered and tokenized, those without targets or longer
// than --max-length dropped (counted in r.result, reported by report_dropped). Every rank
// renders every record (cheap next to training) so that the global order, and thus the loss
// curve, does not depend on the number of processes.
void load_examples(Run& r) {
  const SftOptions& o = r.o;
  r.tok_dir = o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir;
  r.tok = Tokenizer::load(r.tok_dir);
  auto tmpl = load_template(o, *r.tok);
  std::optional<Spec> spec;
  if (!o.spec_path.empty()) spec = Spec::load(o.spec_path);
  SpecLeakDetector leaks(spec ? &*spec : nullptr);
  RenderOptions ro;
  size_t records = 0, leaked = 0;
  RecordReader reader(o.inputs, o.read);
  Record rec;
  while (reader.next(rec)) {
    ++records;
    if (leaks.system_contains_spec_view(rec)) {
      if (r.rank0 && ++leaked <= 3)
        warn(fmt::format("{}: a system message contains a spec view: training on it teaches "
                         "the model to expect the spec in context", rec.where().str()));
      else if (!r.rank0) ++leaked;
    }
    TokenizedExample e = render_example(rec, *r.tok, tmpl.get(), ro);
    e.record_index = records - 1;
    if (e.num_targets() == 0) { ++r.result.dropped_no_targets; continue; }
    if (!fits(e, o.max_length)) { ++r.result.dropped_too_long; continue; }
    r.examples.push_back(std::move(e));
  }
  r.result.examples = r.examples.size();
  if (r.rank0) report_dropped(r.result, records, leaked, o.max_length);
  if (r.examples.empty()) throw Error("no trainable examples in the input");
}

// The model (from the checkpoint when resuming), its trainable parameters broadcast from rank 0,
// the optimizer, the schedule and the run state (checked against the checkpoint's run).
void load_learner(Run& r) {
  const SftOptions& o = r.o;
  // --resume DIR with DIR == --out that does not exist yet: a fresh start (so that one command
  // line both starts and continues a run); any other missing path is an error.
  if (!o.resume.empty() && !(o.resume == o.out_dir && !std::filesystem::exists(o.resume)))
    r.ckpt = Checkpointer::resolve(o.resume);
  // Full fine-tuning resumes from the checkpoint's weights (saved in f32, exact); LoRA from the
  // base model plus the saved adapters.
  const std::string weights = (r.ckpt && !o.lora) ? *r.ckpt : o.model_dir;
  const std::string dtype = o.dtype == "auto" ? "f32" : o.dtype;  // f32 master weights
  // --sharding full: no rank reads the whole model; its parameters are left unallocated and
  // each rank reads its part of each unit below (ShardedAdamW::read_parts).
  const bool full = o.sharding == Sharding::kFull;
  r.model = full ? CausalLM::load_unallocated(weights, r.device, dtype) : CausalLM::load(weights, r.device, dtype);
  torch::manual_seed(o.seed);
  if (o.lora) add_lora(*r.model, o.lora_options);
  for (const auto& item : r.model->module().named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) r.trainable.emplace_back(item.key(), item.value());
  if (r.trainable.empty()) throw Error("the model has no trainable parameters");
  for (auto& [n, p] : r.trainable) r.params.push_back(p);
  // Rank 0's trainable parameters to every rank; full: those loaded (LoRA's adapters), every
  // rank reading the rest from the same checkpoint.
  std::vector<torch::Tensor> loaded;
  for (const auto& p : r.params)
    if (p.storage().nbytes() >= size_t(p.numel()) * p.element_size()) loaded.push_back(p);
  r.dp.broadcast(loaded);
  r.sharded = make_sharded(*r.model, r.trainable, o.adamw, r.dp, o.sharding);
  if (full) r.sharded->read_parts(safetensors::Checkpoint::open(weights));
  if (!r.sharded) r.optimizer = make_adamw(r.trainable, o.adamw);

  r.global_batch = o.batch_size * o.grad_accum * r.denv.world_size;
  r.steps_per_epoch = (int64_t(r.examples.size()) + r.global_batch - 1) / r.global_batch;
  TrainState& st = r.st;
  st.seed = o.seed;
  st.options = run_identity(o, r.examples.size(), r.denv.world_size);
  st.schedule.kind = parse_schedule(o.schedule);
  st.schedule.lr = o.adamw.lr;
  st.schedule.total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * r.steps_per_epoch;
  st.schedule.warmup_steps = o.warmup_steps >= 0
                                 ? o.warmup_steps
                                 : int64_t(std::llround(o.warmup_ratio * double(st.schedule.total_steps)));
  st.schedule.min_lr_ratio = o.min_lr_ratio;
  if (r.ckpt) {
    TrainState saved = Checkpointer::load_state(*r.ckpt);
    check_same_run(saved.options, st.options, *r.ckpt);
    if (r.sharded) load_sharded_checkpoint(*r.sharded, r.dp, *r.ckpt);
    else Checkpointer::load_into(*r.ckpt, saved_trainable(r), *r.optimizer);
    saved.options = st.options;
    st = saved;
    if (r.rank0) warn(fmt::format("resuming from {} at step {}", *r.ckpt, st.step));
  }
  r.last_saved = r.ckpt ? st.step : -1;
}

// Rank 0's checkpointer (with --out) and metrics writer; the packing of micro-batches.
void open_outputs(Run& r) {
  const SftOptions& o = r.o;
  if (!o.out_dir.empty() && r.rank0) r.checkpointer = std::make_unique<Checkpointer>(o.out_dir, o.keep_last, r.tok_dir, o.max_shard_size);
  if (r.rank0) {
    WriteOptions wo = o.metrics_write;
    wo.flush_each = true;
    r.metrics = std::make_unique<RecordWriter>(o.metrics, wo);
  }
  r.pack.max_length = o.max_length;
  r.pack.pack = o.pack;
  r.pack.pad_id = r.tok->pad_id().value_or(r.tok->eos_id().value_or(0));
}

// A checkpoint of the steps done (every rank waits for it).
void save(Run& r) {
  if (!r.sharded) {  // rank 0 writes it
    if (r.checkpointer) r.result.last_checkpoint = r.checkpointer->save(*r.model, saved_trainable(r), *r.optimizer, r.st);
    r.last_saved = r.st.step;
    r.dp.barrier();
    return;
  }
  // Sharded (train/sharding.h): rank 0 writes the model, every rank its part. LoRA: the units
  // gathered whole (CausalLM::save merges each adapted weight with its adapters first).
  const std::string dir = save_sharded_checkpoint(*r.sharded, r.dp, r.checkpointer.get(), *r.model,
                                                  saved_trainable(r), r.st, r.o.out_dir, r.o.lora);
  if (!dir.empty()) r.result.last_checkpoint = dir;
  r.last_saved = r.st.step;
}

// ---------------------------------------------------------------------------------------------
// One step

// This rank's micro-batches of the step, and the step's token counts over every rank.
struct StepData {
  int64_t epoch = 0;
  std::vector<Batch> micro;
  // Sharded: micro-batches [micro.size() - padding, micro.size()) only keep this rank's
  // gathers and reduce-scatters in step with rank 0's (which has the most micro-batches):
  // zero-weighted.
  size_t padding = 0;
  double global_targets = 0, global_tokens = 0;
};

// The step's global batch is order[es*G, (es+1)*G) of the epoch's order; rank r trains on its
// contiguous part, micro-batch j on the j-th batch_size examples of that part.
StepData step_data(Run& r, const std::vector<size_t>& order, int64_t epoch) {
  const SftOptions& o = r.o;
  const int64_t n = int64_t(r.examples.size());
  const int64_t es = r.st.step % r.steps_per_epoch;
  const int64_t g0 = es * r.global_batch, g1 = std::min(n, g0 + r.global_batch);
  const int64_t r0 = g0 + r.denv.rank * o.batch_size * o.grad_accum;
  StepData d;
  d.epoch = epoch;
  int64_t local_targets = 0, local_tokens = 0;
  for (int64_t j = 0; j < o.grad_accum; ++j) {
    std::vector<const TokenizedExample*> part;
    for (int64_t i = r0 + j * o.batch_size; i < std::min(g1, r0 + (j + 1) * o.batch_size); ++i)
      part.push_back(&r.examples[order[size_t(i)]]);
    if (part.empty()) continue;
    d.micro.push_back(pack_examples(part, r.pack));
    local_targets += d.micro.back().num_targets;
    local_tokens += d.micro.back().num_tokens;
  }
  if (o.sharding != Sharding::kNone) {
    // Rank 0's micro-batch count: the examples of [g0, g1) taken batch_size at a time.
    const int64_t most = std::min(o.grad_accum, (g1 - g0 + o.batch_size - 1) / o.batch_size);
    while (int64_t(d.micro.size()) < most) {
      d.micro.push_back(pack_examples({&r.examples[order[size_t(g0)]]}, r.pack));
      ++d.padding;
    }
  }
  d.global_targets = r.dp.all_reduce_sum(double(local_targets));
  d.global_tokens = r.dp.all_reduce_sum(double(local_tokens));
  return d;
}

struct StepStats {
  double loss = 0, grad_norm = 0, lr = 0;
  std::optional<ShardedAdamW::GatherStats> gathers;  // --sharding full
};

// Forward and backward over the micro-batches, gradients summed over ranks, clipped, one
// optimizer step. Loss = sum of token NLLs over the GLOBAL batch / its number of target tokens,
// so that any split into ranks and micro-batches gives the same gradient (summed across ranks).
StepStats train_step(Run& r, StepData& d) {
  const SftOptions& o = r.o;
  const bool autocast = o.bf16_autocast && r.device.is_cuda();
  if (r.optimizer) r.optimizer->zero_grad(/*set_to_none=*/false);  // sharded: released already
  if (r.sharded) r.sharded->take_gather_stats();  // (a save's gathers are not the step's)
  double local_loss = 0;
  for (size_t m = 0; m < d.micro.size(); ++m) {
    Batch& b = d.micro[m];
    const bool padding = m + d.padding >= d.micro.size();
    if (b.num_targets == 0) continue;
    ForwardOptions fo;
    fo.positions = b.positions.to(r.device);
    if (b.doc_ids.defined()) fo.doc_ids = b.doc_ids.to(r.device);
    if (b.attention_mask.defined()) fo.attention_mask = b.attention_mask.to(r.device);
    fo.checkpoint = o.checkpoint_activations;
    // Model-family terms of the loss (model area, issue #19): a MoE config's
    // output_router_logits collects the router logits for the load-balancing loss.
    const ModelConfig& mc = r.model->config();
    std::vector<torch::Tensor> router;
    if (mc.output_router_logits) fo.router_logits = &router;
    torch::Tensor loss_sum;
    {
      // bf16 autocast around the forward on CUDA, as torch.autocast("cuda", torch.bfloat16).
      std::optional<AutocastGuard> ac;
      if (autocast) ac.emplace(AutocastState::bf16(c10::DeviceType::CUDA));
      torch::Tensor h = r.model->hidden(b.input_ids.to(r.device), fo);
      // The LM head and the loss run on the target rows only: prompt, spec-free context and
      // padding rows carry no loss, and with a 150k vocabulary the head is the largest matmul
      // of the step. The row indices come from the host-side labels (no device sync).
      const torch::Tensor labels = b.labels.reshape({-1});
      const torch::Tensor rows = labels.ne(kIgnoreIndex).nonzero().squeeze(1);
      torch::Tensor hr = h.reshape({-1, h.size(-1)}).index_select(0, rows.to(r.device));
      torch::Tensor tr = labels.index_select(0, rows).to(r.device);
      const LmHead head = r.model->lm_head();  // Gemma's soft-cap is applied per chunk
      loss_sum = chunked_cross_entropy(hr, head.weight, tr, o.loss_chunk, head.softcap);
      // HF Qwen3MoeForCausalLM: loss = mean NLL + router_aux_loss_coef * aux over the batch; here
      // each micro-batch's aux counts with its share of the target tokens, which is exactly
      // that for one micro-batch and one rank.
      if (!router.empty())
        loss_sum = loss_sum + load_balancing_loss(router, mc.num_experts, mc.num_experts_per_tok,
                                                  fo.attention_mask) *
                                  (mc.router_aux_loss_coef * double(b.num_targets));
    }
    if (padding) {
      (loss_sum * 0.0).backward();
      continue;
    }
    (loss_sum / d.global_targets).backward();
    local_loss += loss_sum.item<double>();
  }
  StepStats s;
  s.lr = r.st.schedule.at(r.st.step);
  if (r.sharded) {
    // Each rank has summed its part of every unit during backward (the rest now), clips and
    // steps it; grad-opt then gathers the parameters.
    r.sharded->reduce_scatter_grads();
    s.grad_norm = r.sharded->clip_grad_norm(o.max_grad_norm);
    r.sharded->step(s.lr);
    if (r.o.sharding == Sharding::kFull) s.gathers = r.sharded->take_gather_stats();
  } else {
    for (auto& p : r.params)
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    std::vector<torch::Tensor> grads;
    for (auto& p : r.params) grads.push_back(p.grad());
    r.dp.all_reduce_sum(grads);
    s.grad_norm = clip_grad_norm(r.params, o.max_grad_norm);
    set_lr(*r.optimizer, s.lr);
    r.optimizer->step();
  }
  s.loss = r.dp.all_reduce_sum(local_loss) / std::max(1.0, d.global_targets);
  return s;
}

// The step's metrics record (rank 0; `step` is the step just done).
void write_metrics(Run& r, const StepData& d, const StepStats& s, double secs) {
  if (!r.metrics) return;
  Json m = Json::object();
  m.set("step", r.st.step);
  m.set("epoch", d.epoch);
  m.set("loss", s.loss);
  m.set("lr", s.lr);
  m.set("grad_norm", s.grad_norm);
  m.set("tokens", int64_t(d.global_tokens));
  m.set("target_tokens", int64_t(d.global_targets));
  m.set("tokens_per_s", d.global_tokens / std::max(secs, 1e-9));
  m.set("step_time_s", secs);
  m.set("memory_mb", peak_memory_mb(r.device));
  m.set("memory_baseline_mb", r.baseline_mb);
  if (s.gathers) {
    m.set("gathers", s.gathers->gathers);
    m.set("prefetched", s.gathers->prefetched);
    m.set("gather_wait_s", s.gathers->wait_s);
  }
  r.metrics->write_line(m.dump());
}

}  // namespace

SftResult run_sft(const SftOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const DistEnv denv = DistEnv::from_environment();
  check_options(o, denv);
  Run r(o, denv);
  load_examples(r);
  r.baseline_mb = current_memory_mb(r.device);
  load_learner(r);
  open_outputs(r);
  Progress progress("sft-train", r.st.schedule.total_steps, o.progress && r.rank0);
  progress.add(r.st.step);
  std::vector<size_t> order;
  int64_t order_epoch = -1;
  StepProfiler profiler(r.rank0 ? o.profile : std::string(), o.profile_steps, r.device.is_cuda());
  int64_t run_steps = 0;  // steps taken by this process (the profiler counts these)
  while (r.st.step < r.st.schedule.total_steps) {
    profiler.before_step(++run_steps);
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t epoch = r.st.step / r.steps_per_epoch;
    if (epoch != order_epoch) {
      order = epoch_order(r.examples.size(), o.seed, epoch, o.shuffle);
      order_epoch = epoch;
    }
    StepData d = step_data(r, order, epoch);
    const StepStats s = train_step(r, d);
    r.st.step += 1;
    r.st.epoch = r.st.step / r.steps_per_epoch;
    r.st.epoch_step = r.st.step % r.steps_per_epoch;
    r.st.tokens_seen += int64_t(d.global_targets);
    r.result.steps = r.st.step;
    r.result.final_loss = s.loss;
    write_metrics(r, d, s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    progress.add(1, fmt::format("loss {:.4f}", s.loss));
    profiler.after_step(run_steps);
    if (o.save_every > 0 && r.st.step % o.save_every == 0 && !o.out_dir.empty()) save(r);
    if (interrupted()) break;
  }
  progress.finish();
  profiler.finish();
  if (!o.out_dir.empty() && r.last_saved != r.st.step) save(r);
  if (r.metrics) r.metrics->close();
  if (!interrupted()) profiler.require_traced();
  return r.result;
}

}  // namespace delib::train
