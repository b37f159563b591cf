// The SFT run: data, model, optimizer, loop, checkpoints, metrics (delib/train.h).
#include <chrono>
#include <filesystem>
#include <fstream>

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <sys/resource.h>
#ifdef DELIB_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/error.h"
#include "delib/progress.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "delib/train.h"

namespace delib::train {
namespace {

torch::Device parse_device(const std::string& name, int local_rank) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") return torch::Device(torch::kCUDA, int8_t(local_rank));
  if (name.rfind("cuda:", 0) == 0) {
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
    }
  }
  throw Error("--device: expected cpu, cuda or cuda:N, got '" + name + "'", kExitUsage);
}

std::unique_ptr<ChatTemplate> load_template(const SftOptions& o, const Tokenizer& tok) {
  if (!o.chat_template.empty()) {
    if (std::filesystem::exists(o.chat_template)) return ChatTemplate::from_path(o.chat_template);
    return ChatTemplate::from_variant(o.chat_template);
  }
  if (!tok.chat_template().empty()) return ChatTemplate::for_tokenizer(tok);
  return nullptr;  // raw records only
}

// bf16 autocast around the forward on CUDA, as torch.autocast("cuda", torch.bfloat16) does.
class AutocastScope {
 public:
  explicit AutocastScope(bool on) : on_(on) {
    if (!on_) return;
    prev_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, prev_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
  }

 private:
  bool on_, prev_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

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
      throw Error(Location{ckpt, 0},
                  fmt::format("cannot resume: {} was {} in the checkpointed run, now {}; HINT: "
                              "resume with the same data and batch options", k, s->dump(), v.dump()),
                  kExitUsage);
  }
}

}  // namespace

SftResult run_sft(const SftOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  if (o.batch_size < 1 || o.grad_accum < 1 || o.max_length < 2 || o.epochs < 1)
    throw Error("--batch-size, --grad-accum, --epochs must be >= 1 and --max-length >= 2", kExitUsage);
  const DistEnv denv = DistEnv::from_environment();
  const bool rank0 = denv.rank == 0;
  const torch::Device device = parse_device(o.device, denv.local_rank);
  if (denv.distributed()) {
    for (const auto& in : o.inputs)
      if (in == "-") throw Error("several processes cannot share stdin: give input files", kExitUsage);
    if (o.inputs.empty()) throw Error("several processes cannot share stdin: give input files", kExitUsage);
  }
  DataParallel dp(denv, device);

  // ---- Data: every rank renders every record (cheap next to training) so that the global
  // order, and thus the loss curve, does not depend on the number of processes.
  const std::string tok_dir = o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir;
  auto tok = Tokenizer::load(tok_dir);
  auto tmpl = load_template(o, *tok);
  std::optional<Spec> spec;
  if (!o.spec_path.empty()) spec = Spec::load(o.spec_path);
  SpecLeakDetector leaks(spec ? &*spec : nullptr);
  RenderOptions ro;
  SftResult result;
  std::vector<TokenizedExample> examples;
  size_t records = 0, leaked = 0;
  {
    RecordReader reader(o.inputs, o.read);
    Record rec;
    while (reader.next(rec)) {
      ++records;
      if (leaks.system_contains_spec_view(rec)) {
        if (rank0 && ++leaked <= 3)
          cli::warn(fmt::format("{}: a system message contains a spec view: training on it teaches "
                                "the model to expect the spec in context", rec.where().str()));
        else if (!rank0) ++leaked;
      }
      TokenizedExample e = render_example(rec, *tok, tmpl.get(), ro);
      e.record_index = records - 1;
      if (e.num_targets() == 0) { ++result.dropped_no_targets; continue; }
      if (!fits(e, o.max_length)) { ++result.dropped_too_long; continue; }
      examples.push_back(std::move(e));
    }
  }
  result.examples = examples.size();
  if (rank0) {
    if (leaked > 3) cli::warn(fmt::format("{} records in all have a spec view in a system message", leaked));
    if (result.dropped_too_long)
      cli::warn(fmt::format("{} of {} records are longer than --max-length {} and were dropped (never "
                            "cut): raise --max-length to keep them", result.dropped_too_long, records,
                            o.max_length));
    if (result.dropped_no_targets)
      cli::warn(fmt::format("{} records have no target tokens and were dropped", result.dropped_no_targets));
  }
  if (examples.empty()) throw Error("no trainable examples in the input");

  // ---- Model and optimizer.
  std::optional<std::string> ckpt;
  // --resume DIR with DIR == --out that does not exist yet: a fresh start (so that one command
  // line both starts and continues a run); any other missing path is an error.
  if (!o.resume.empty() && !(o.resume == o.out_dir && !std::filesystem::exists(o.resume)))
    ckpt = Checkpointer::resolve(o.resume);
  // Full fine-tuning resumes from the checkpoint's weights (saved in f32, exact); LoRA from the
  // base model plus the saved adapters.
  const std::string weights = (ckpt && !o.lora) ? *ckpt : o.model_dir;
  const std::string dtype = o.dtype == "auto" ? "f32" : o.dtype;  // f32 master weights
  auto model = CausalLM::load(weights, device, dtype);
  torch::manual_seed(o.seed);
  if (o.lora) add_lora(*model, o.lora_options);
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& item : model->module().named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  if (trainable.empty()) throw Error("the model has no trainable parameters");
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : trainable) params.push_back(p);
  dp.broadcast(params);
  auto optimizer = make_adamw(trainable, o.adamw);

  const int64_t world = denv.world_size;
  const int64_t global_batch = o.batch_size * o.grad_accum * world;
  const int64_t n = int64_t(examples.size());
  const int64_t steps_per_epoch = (n + global_batch - 1) / global_batch;
  TrainState st;
  st.seed = o.seed;
  st.options = run_identity(o, examples.size(), denv.world_size);
  st.schedule.kind = parse_schedule(o.schedule);
  st.schedule.lr = o.adamw.lr;
  st.schedule.total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * steps_per_epoch;
  st.schedule.warmup_steps = o.warmup_steps >= 0
                                 ? o.warmup_steps
                                 : int64_t(std::llround(o.warmup_ratio * double(st.schedule.total_steps)));
  st.schedule.min_lr_ratio = o.min_lr_ratio;
  if (ckpt) {
    TrainState saved = Checkpointer::load_state(*ckpt);
    check_same_run(saved.options, st.options, *ckpt);
    Checkpointer::load_into(*ckpt, o.lora ? trainable : decltype(trainable){}, *optimizer);
    saved.options = st.options;
    st = saved;
    if (rank0) cli::warn(fmt::format("resuming from {} at step {}", *ckpt, st.step));
  }
  std::unique_ptr<Checkpointer> checkpointer;
  if (!o.out_dir.empty() && rank0) checkpointer = std::make_unique<Checkpointer>(o.out_dir, o.keep_last, tok_dir);
  std::unique_ptr<RecordWriter> metrics;
  if (rank0) {
    WriteOptions wo = o.metrics_write;
    wo.flush_each = true;
    metrics = std::make_unique<RecordWriter>(o.metrics, wo);
  }

  PackOptions po;
  po.max_length = o.max_length;
  po.pack = o.pack;
  po.pad_id = tok->pad_id().value_or(tok->eos_id().value_or(0));
  const bool autocast = o.bf16_autocast && device.is_cuda();
  int64_t last_saved = ckpt ? st.step : -1;
  auto save = [&]() {
    if (checkpointer) result.last_checkpoint = checkpointer->save(*model, o.lora ? trainable : decltype(trainable){}, *optimizer, st);
    last_saved = st.step;
    dp.barrier();
  };

  Progress progress("sft-train", st.schedule.total_steps, o.progress && rank0);
  progress.add(st.step);
  std::vector<size_t> order;
  int64_t order_epoch = -1;
  const int64_t total = st.schedule.total_steps;
  while (st.step < total) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t epoch = st.step / steps_per_epoch, es = st.step % steps_per_epoch;
    if (epoch != order_epoch) {
      order = epoch_order(examples.size(), o.seed, epoch, o.shuffle);
      order_epoch = epoch;
    }
    // This step's global batch is order[es*G, (es+1)*G); rank r trains on its contiguous part,
    // micro-batch j on the j-th batch_size examples of that part.
    const int64_t g0 = es * global_batch, g1 = std::min(n, g0 + global_batch);
    const int64_t r0 = g0 + denv.rank * o.batch_size * o.grad_accum;
    std::vector<Batch> micro;
    int64_t local_targets = 0, local_tokens = 0;
    for (int64_t j = 0; j < o.grad_accum; ++j) {
      std::vector<const TokenizedExample*> part;
      for (int64_t i = r0 + j * o.batch_size; i < std::min(g1, r0 + (j + 1) * o.batch_size); ++i)
        part.push_back(&examples[order[size_t(i)]]);
      if (part.empty()) continue;
      micro.push_back(pack_examples(part, po));
      local_targets += micro.back().num_targets;
      local_tokens += micro.back().num_tokens;
    }
    // Loss = sum of token NLLs over the GLOBAL batch / its number of target tokens, so that
    // any split into ranks and micro-batches gives the same gradient (summed across ranks).
    const double global_targets = dp.all_reduce_sum(double(local_targets));
    const double global_tokens = dp.all_reduce_sum(double(local_tokens));
    optimizer->zero_grad(/*set_to_none=*/false);
    double local_loss = 0;
    for (Batch& b : micro) {
      if (b.num_targets == 0) continue;
      ForwardOptions fo;
      fo.positions = b.positions.to(device);
      if (b.doc_ids.defined()) fo.doc_ids = b.doc_ids.to(device);
      if (b.attention_mask.defined()) fo.attention_mask = b.attention_mask.to(device);
      fo.checkpoint = o.checkpoint_activations;
      torch::Tensor loss_sum;
      {
        AutocastScope ac(autocast);
        torch::Tensor h = model->hidden(b.input_ids.to(device), fo);
        loss_sum = chunked_cross_entropy(h.reshape({-1, h.size(-1)}), model->lm_head_weight(),
                                         b.labels.to(device).reshape({-1}), o.loss_chunk);
      }
      (loss_sum / global_targets).backward();
      local_loss += loss_sum.item<double>();
    }
    for (auto& p : params)
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad());
    dp.all_reduce_sum(grads);
    const double grad_norm = clip_grad_norm(params, o.max_grad_norm);
    const double lr = st.schedule.at(st.step);
    set_lr(*optimizer, lr);
    optimizer->step();
    const double loss = dp.all_reduce_sum(local_loss) / std::max(1.0, global_targets);

    st.step += 1;
    st.epoch = st.step / steps_per_epoch;
    st.epoch_step = st.step % steps_per_epoch;
    st.tokens_seen += int64_t(global_targets);
    result.steps = st.step;
    result.final_loss = loss;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (metrics) {
      Json m = Json::object();
      m.set("step", st.step);
      m.set("epoch", epoch);
      m.set("loss", loss);
      m.set("lr", lr);
      m.set("grad_norm", grad_norm);
      m.set("tokens", int64_t(global_tokens));
      m.set("target_tokens", int64_t(global_targets));
      m.set("tokens_per_s", global_tokens / std::max(secs, 1e-9));
      m.set("step_time_s", secs);
      m.set("memory_mb", peak_memory_mb(device));
      metrics->write_line(m.dump());
    }
    progress.add(1, fmt::format("loss {:.4f}", loss));
    if (o.save_every > 0 && st.step % o.save_every == 0 && !o.out_dir.empty()) save();
    if (interrupted()) break;
  }
  progress.finish();
  if (!o.out_dir.empty() && last_saved != st.step) save();
  if (metrics) metrics->close();
  return result;
}

}  // namespace delib::train
