// run_rl: the GRPO loop of rl-train (see delib/rl.h).
//
// One step:  P prompts (this process's part of the global batch)
//   1. rollout:  G completions each from the current policy (local engine, per-token log-probs)
//   2. reward:   every source scores every completion; reward = sum of weight x component; a
//                completion a source could not score (the judge failed) has no reward
//   3. advantage: normalised within each prompt's group, over the members that have a reward
//                (delib/rl.h); the others are left out of the update
//   4. update:   --ppo-epochs passes of the clipped surrogate with the k3 KL penalty to the
//                frozen starting model; gradients all-reduced across processes
//
// The code follows the same order, one function per stage:
//   setup     check_options, load_prompts, make_rewards, load_learner, open_outputs
//   a step    step_prompts, make_rollouts (1), score_rewards (2), count_step, mask_overlong,
//             record_failures, stop_reason, compute_advantages (3), make_update_batch, update_policy (4),
//             write_rollouts, write_metrics, then end_step (progress, checkpoint) or stop_run
//   the end   finish_run
// Collectives (all-reduce, gather, barrier) are called in the same order on every rank: every
// branch around one depends only on values that are the same on every rank.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/eval.h"
#include "delib/generate.h"
#include "delib/peft.h"
#include "delib/progress.h"
#include "delib/rl.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "rl/server.h"
#include "train/sharding.h"

namespace delib::rl {
namespace {

struct Prompt {
  Record record;
  std::string id, category;
  std::string expected_action;  // RewardInput::expected_action ("" = unlabelled)
  std::vector<Message> messages;
  std::vector<int32_t> prompt_ids;
};

// Log-probabilities of the label tokens of `b` under `model` (N,), in row-major order of the
// label positions.
torch::Tensor label_logprobs(CausalLM& model, const train::Batch& b, const torch::Tensor& mask,
                             torch::Device device) {
  ForwardOptions fo;
  fo.positions = b.positions.to(device);
  if (b.attention_mask.defined()) fo.attention_mask = b.attention_mask.to(device);
  torch::Tensor h = model.hidden(b.input_ids.to(device), fo);  // (B, T, C)
  torch::Tensor hs = h.reshape({-1, h.size(-1)}).index({mask.reshape({-1})});  // (N, C)
  torch::Tensor targets = b.labels.to(device).reshape({-1}).index({mask.reshape({-1})});
  const LmHead head = model.lm_head();  // Gemma's soft-cap is applied per chunk
  return chunked_token_logprobs(hs, head.weight, targets, /*chunk_rows=*/1024, head.softcap);
}

// An active reward source: its registry row, the source, its weight, and (for a source that
// can fail) its failures over the run, every process's completions.
struct ActiveReward {
  const RewardKind* kind = nullptr;
  std::unique_ptr<RewardSource> source;
  double weight = 1.0;
  int64_t attempted = 0, scored = 0;
  FailureCounts failures;
};

// The policy being trained and what its update needs.
struct Learner {
  std::optional<std::string> ckpt;       // the checkpoint resumed from
  std::shared_ptr<CausalLM> model;
  std::shared_ptr<CausalLM> ref;         // the frozen starting model; null when kl_coef == 0
  std::vector<torch::Tensor> params;     // the trainable parameters
  std::vector<std::pair<std::string, torch::Tensor>> saved;  // by name in checkpoints (--lora: the adapters)
  std::unique_ptr<torch::optim::AdamW> optimizer;        // --sharding none
  std::unique_ptr<train::ShardedAdamW> sharded;          // --sharding grad-opt, full (train/sharding.h)
  train::TrainState st;
};

// What a run writes (rank 0 only; null elsewhere and when not asked for).
struct Outputs {
  std::unique_ptr<train::Checkpointer> checkpointer;
  std::unique_ptr<RecordWriter> rollouts, metrics;
};

// Everything a run holds from setup to the end.
struct Run {
  explicit Run(const RlOptions& options)
      : o(options), denv(train::DistEnv::from_environment()), rank0(denv.rank == 0),
        device(parse_device(o.device, denv.local_rank)), dp(denv, device) {}
  const RlOptions& o;
  const train::DistEnv denv;
  const bool rank0;
  const torch::Device device;
  train::DataParallel dp;
  std::shared_ptr<const Tokenizer> tok;
  std::vector<Prompt> prompts;
  std::vector<ActiveReward> rewards;
  Learner learner;
  Outputs out;
  std::unique_ptr<Backend> policy;       // the rollout engine over learner.model (local rollouts)
  std::unique_ptr<detail::RolloutServer> server;  // --rollout-backend openai: the rollout server
  std::unique_ptr<detail::WeightSync> sync;       // and what keeps it on the current policy
  SamplingParams sampling;               // o.sampling with logprobs on
  train::PackOptions pack;
  std::optional<Progress> progress;
  bool policy_whole = false;             // --sharding full: the policy is gathered whole (WholePolicy)
  int64_t last_saved = -1;               // the step of the newest checkpoint (-1: none)
  // --drop-uniform-groups: the global position in the seeded prompt order of the next draw, and
  // where it will be once the step in progress has trained (saved in the run state as
  // "prompt_cursor", so a resumed run draws what the uninterrupted one would).
  int64_t prompt_cursor = 0, next_cursor = 0;
  // The step's metrics beyond the fixed ones (composite rewards, dynamic sampling), in order;
  // computed on every rank (their counts are all-reduced), written by rank 0.
  std::vector<std::pair<std::string, Json>> step_metrics;
  RlResult result;
};

// ---------------------------------------------------------------------------------------------
// Setup

// The usage errors that need no input.
void check_options(const RlOptions& o) {
  if (o.group_size < 2) throw Error("--group-size must be >= 2 (advantages compare completions of a prompt)", kExitUsage);
  if (o.prompts_per_step < 1 || o.steps < 1 || o.ppo_epochs < 1)
    throw Error("--prompts-per-step, --steps and --ppo-epochs must be >= 1", kExitUsage);
  const LossConfig lc = loss_config(o);
  if (!(lc.clip_low >= 0 && lc.clip_low < 1) || !(lc.clip_high >= 0))
    throw Error(fmt::format("the clip range [1 - {}, 1 + {}]: --clip-eps-low must be in [0, 1) and --clip-eps-high >= 0",
                            lc.clip_low, lc.clip_high), kExitUsage);
  if (o.loss == Loss::kDrGrpo && o.sampling.max_tokens < 1)
    throw Error("--loss dr-grpo divides by the generation budget --max-tokens: it must be >= 1", kExitUsage);
}

// Every prompt record, its conversation encoded with the policy's chat template.
std::vector<Prompt> load_prompts(const RlOptions& o, const Tokenizer& tok) {
  auto tmpl = ChatTemplate::for_tokenizer(tok);
  std::vector<Prompt> prompts;
  RecordReader reader(o.inputs, o.read);
  Record r;
  while (reader.next(r)) {
    Prompt p;
    p.id = r.id();
    p.messages = r.messages();
    p.category = r.get_string("category").value_or("");
    if (r.get_string("expected_action") || r.get_string("label")) p.expected_action = eval::expected_action(r);
    p.prompt_ids = encode_chat(*tmpl, tok, p.messages);
    p.record = std::move(r);
    prompts.push_back(std::move(p));
  }
  if (prompts.empty()) throw Error("no prompts in the input");
  return prompts;
}

// The sources the options turn on, in registry order, weighted by --reward-weight.
std::vector<ActiveReward> make_rewards(const RlOptions& o, const std::vector<Prompt>& prompts, bool rank0) {
  std::map<std::string, double> weight;
  for (auto& [k, v] : o.weights) {
    if (!find_reward_kind(k))
      throw Error(fmt::format("--reward-weight '{}': no such reward ({})", k, reward_names()), kExitUsage);
    weight[k] = v;
  }
  std::vector<RewardPrompt> where;
  for (const Prompt& p : prompts) where.push_back({p.category, p.record.where(), p.expected_action});
  const RewardContext context{o, where};
  std::vector<ActiveReward> active;
  std::vector<std::string> off;  // how to turn on each source left off
  for (const RewardKind& k : reward_kinds()) {
    std::unique_ptr<RewardSource> s = k.make(context);
    if (!s) {
      off.push_back(k.enabled_by);
      continue;
    }
    if (s->name() != k.name)
      throw Error(fmt::format("internal: the reward row '{}' made a source named '{}'", k.name, s->name()));
    ActiveReward a;
    a.kind = &k;
    a.source = std::move(s);
    a.weight = weight.count(k.name) ? weight[k.name] : 1.0;
    active.push_back(std::move(a));
  }
  const bool only_always_on = std::all_of(active.begin(), active.end(), [](auto& a) { return a.kind->enabled_by.empty(); });
  if (only_always_on && rank0 && !off.empty()) {
    std::string names, give;
    for (auto& a : active) names += (names.empty() ? "" : ", ") + a.kind->name;
    for (size_t i = 0; i < off.size(); ++i) give += (i == 0 ? "" : i + 1 == off.size() ? " or " : ", ") + off[i];
    warn(fmt::format("only the {} reward is active: give {}", names, give));
  }
  return active;
}

// A checkpoint resumes with the --sharding it was written with: a sharded one has a part per
// rank instead of optimizer.pt. Its trainer_state.json's options.sharding (absent: written
// before rl-train had --sharding, so "none") must be `now`.
void check_same_sharding(const train::TrainState& saved, train::Sharding now, const std::string& ckpt) {
  const Json* s = saved.options.is_object() ? saved.options.find("sharding") : nullptr;
  const std::string was = s && s->is_string() ? s->as_string() : "none";
  if (was != train::sharding_name(now))
    throw Error(Location{(std::filesystem::path(ckpt) / "trainer_state.json").string(), 0},
                fmt::format("cannot resume: options.sharding was \"{}\" in the checkpointed run, now \"{}\"; HINT: "
                            "resume with --sharding {}", was, train::sharding_name(now), was),
                kExitUsage);
}

// The policy (from the checkpoint when resuming), its reference, optimizer and run state; the
// weights broadcast from rank 0.
Learner load_learner(Run& r) {
  const RlOptions& o = r.o;
  Learner l;
  if (!o.resume.empty() && !(o.resume == o.out_dir && !std::filesystem::exists(o.resume)))
    l.ckpt = train::Checkpointer::resolve(o.resume);
  // Full fine-tuning resumes from the checkpoint's weights; LoRA from the base model plus the
  // checkpoint's adapters (as sft-train).
  const std::string weights = l.ckpt && !o.lora ? *l.ckpt : o.model_dir;
  // --sharding full: no rank reads the whole policy; its parameters are left unallocated and
  // each rank reads its part of each unit below (ShardedAdamW::read_parts), as sft-train.
  const bool full = o.sharding == train::Sharding::kFull;
  l.model = full ? CausalLM::load_unallocated(weights, r.device, "f32") : CausalLM::load(weights, r.device, "f32");
  if (o.lora) {
    torch::manual_seed(o.seed);
    add_lora(*l.model, o.lora_options);
  }
  if (o.kl_coef != 0.0) {
    l.ref = CausalLM::load(o.model_dir, r.device, "f32");  // the frozen starting model
    for (auto& [n, p] : l.ref->named_parameters()) p.set_requires_grad(false);
  }
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& item : l.model->module().named_parameters(true))
    if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  for (auto& [n, p] : trainable) l.params.push_back(p);
  if (o.lora) l.saved = trainable;
  // Rank 0's trainable parameters to every rank; full: those loaded (LoRA's adapters), every
  // rank reading the rest from the same checkpoint.
  std::vector<torch::Tensor> loaded;
  for (const auto& p : l.params)
    if (p.storage().nbytes() >= size_t(p.numel()) * p.element_size()) loaded.push_back(p);
  r.dp.broadcast(loaded);
  l.sharded = train::make_sharded(*l.model, trainable, o.adamw, r.dp, o.sharding);
  if (full) l.sharded->read_parts(safetensors::Checkpoint::open(weights));
  if (!l.sharded) l.optimizer = train::make_adamw(trainable, o.adamw);
  train::TrainState& st = l.st;
  st.seed = o.seed;
  st.schedule.kind = train::ScheduleKind::kConstant;
  st.schedule.lr = o.adamw.lr;
  st.schedule.total_steps = o.steps;
  st.options = Json::object();
  st.options.set("prompts", int64_t(r.prompts.size()));
  st.options.set("prompts_per_step", o.prompts_per_step);
  st.options.set("group_size", o.group_size);
  st.options.set("world_size", r.denv.world_size);
  st.options.set("sharding", train::sharding_name(o.sharding));
  if (l.ckpt) {
    st = train::Checkpointer::load_state(*l.ckpt);
    check_same_sharding(st, o.sharding, *l.ckpt);
    if (l.sharded) train::load_sharded_checkpoint(*l.sharded, r.dp, *l.ckpt);
    else train::Checkpointer::load_into(*l.ckpt, l.saved, *l.optimizer);
    if (r.rank0) warn(fmt::format("resuming from {} at step {}", *l.ckpt, st.step));
  }
  return l;
}

// Rank 0's checkpointer and writers; rollouts and metrics are appended to when resuming.
Outputs open_outputs(const RlOptions& o, bool rank0, bool resumed) {
  Outputs out;
  if (!rank0) return out;
  if (!o.out_dir.empty())
    out.checkpointer = std::make_unique<train::Checkpointer>(o.out_dir, o.keep_last, o.model_dir, o.max_shard_size);
  WriteOptions wo = o.rollouts_write;
  wo.flush_each = true;
  wo.append = resumed;
  out.rollouts = std::make_unique<RecordWriter>(o.rollouts, wo);
  if (!o.metrics.empty()) {
    WriteOptions mo = o.metrics_write;
    mo.flush_each = true;
    mo.append = resumed;
    out.metrics = std::make_unique<RecordWriter>(o.metrics, mo);
  }
  return out;
}

// --rollout-backend openai: the policy written for the server as version `version` and loaded
// there (WeightSync::push). --sharding full: the writer's reads gather the units one at a time
// (the PEFT adapter: the adapters' units only), every rank taking part as in a checkpoint save;
// a merged LoRA checkpoint (--sync-method disk --lora) gathers the whole model first.
void push_policy(Run& r, int64_t version) {
  train::ShardedAdamW* s = r.learner.sharded.get();
  const bool whole = r.o.lora && r.sync && r.sync->method() == "disk";
  if (s && whole) s->materialize_all();
  if (r.rank0) {
    r.sync->push(*r.learner.model, version);
  } else if (s && !whole) {  // a rank that does not write: the writer's reads, in its order
    std::vector<torch::Tensor> reads;
    if (r.o.lora) {
      for (auto& [name, p] : r.learner.model->named_parameters())
        if (name.find(".lora_") != std::string::npos) reads.push_back(p);
    } else {
      reads = train::save_reads(*r.learner.model);
    }
    s->touch_in_order(reads);
  }
  if (s) s->release_all();
}

// The weight push of policy `version` with several processes (server.h): every rank's --async
// prefetch ends first (the barrier: no rank still has requests naming the adapter about to be
// unloaded), rank 0 alone writes and loads the weights (push_policy), and one all-reduce tells
// every rank whether that worked before it asks for them (WeightSync::follow): no rank samples
// its next rollouts with a policy other than the one they record. A failure throws on every
// rank: rank 0 its own error, the others one with the same exit code.
void sync_policy(Run& r, int64_t version) {
  r.server->wait();
  r.dp.barrier();
  std::exception_ptr failed;
  int code = 0;
  try {
    push_policy(r, version);
  } catch (const Error& e) {
    failed = std::current_exception();
    code = e.exit_code() == kExitOk ? kExitFailure : e.exit_code();
  } catch (...) {
    failed = std::current_exception();
    code = kExitFailure;
  }
  const torch::Tensor codes = torch::zeros({r.denv.world_size}, torch::kFloat64);
  codes[r.denv.rank] = double(code);
  r.dp.all_reduce_sum(std::vector<torch::Tensor>{codes});
  if (failed) std::rethrow_exception(failed);
  for (int k = 0; k < r.denv.world_size; ++k)
    if (const int c = int(codes[k].item<double>()); c != 0)
      throw Error(fmt::format("the weight push of policy version {} failed on rank {} (its message is on that "
                              "rank's stderr)", version, k), c);
  if (!r.rank0) r.sync->follow(version);
}

// --rollout-backend openai: the server and the weight sync, on every rank (each rank asks for its
// own prompts' rollouts; rank 0 pushes the weights, sync_policy). A resumed run pushes the
// resumed policy before its first rollout, so the server never samples for the resumed steps
// with the weights it had (the starting model, or whatever a killed run left there).
void start_rollout_server(Run& r) {
  r.server = std::make_unique<detail::RolloutServer>(r.o);
  r.sync = std::make_unique<detail::WeightSync>(r.o, *r.server);
  if (r.learner.st.step > 0) {
    sync_policy(r, r.learner.st.step);
    if (r.rank0)
      warn(fmt::format("the rollout server now serves the resumed policy (version {}, {})", r.learner.st.step,
                       r.server->model()));
  }
}

void setup(Run& r) {
  const RlOptions& o = r.o;
  r.tok = Tokenizer::load(o.model_dir);
  r.prompts = load_prompts(o, *r.tok);
  r.rewards = make_rewards(o, r.prompts, r.rank0);
  r.learner = load_learner(r);
  r.out = open_outputs(o, r.rank0, r.learner.ckpt.has_value());
  EngineOptions eo;
  eo.batch_size = o.engine_batch;
  if (o.rollout_backend.backend == "openai") start_rollout_server(r);
  else if (o.async_rollouts) throw Error("--async needs --rollout-backend openai", kExitUsage);
  else r.policy = make_local_backend(r.learner.model, r.tok, eo);
  r.sampling = o.sampling;
  r.sampling.logprobs = true;
  r.pack.pack = false;
  r.pack.max_length = 1 << 30;
  r.pack.pad_id = r.tok->pad_id().value_or(r.tok->eos_id().value_or(0));
  r.last_saved = r.learner.ckpt ? r.learner.st.step : -1;
  {
    const Json* c = r.learner.st.options.find("prompt_cursor");
    r.prompt_cursor = c ? c->as_int() : r.learner.st.step * o.prompts_per_step * r.denv.world_size;
  }
  r.progress.emplace("rl-train", o.steps, o.progress && r.rank0);
  r.progress->add(r.learner.st.step);
}

// A checkpoint of the steps done (rank 0 writes it; every rank waits for it). Sharded: every
// rank writes its part too (train::save_sharded_checkpoint; with --lora the units gathered whole
// for the merged model, as sft-train).
void save(Run& r) {
  Learner& l = r.learner;
  if (l.sharded) {
    const std::string dir = train::save_sharded_checkpoint(*l.sharded, r.dp, r.out.checkpointer.get(), *l.model,
                                                           l.saved, l.st, r.o.out_dir, r.o.lora);
    if (!dir.empty()) r.result.last_checkpoint = dir;
  } else {
    if (r.out.checkpointer) r.result.last_checkpoint = r.out.checkpointer->save(*l.model, l.saved, *l.optimizer, l.st);
    r.dp.barrier();
  }
  r.last_saved = l.st.step;
}

// ---------------------------------------------------------------------------------------------
// 1. Rollouts

// A step's completions: G per prompt, prompt-major (completion i is sample i % G of prompt i / G).
struct Rollouts {
  std::vector<const Prompt*> batch;
  // Server rollouts: the trainer step whose weights sampled them (the server's weights change
  // only between steps); -1 local. version: per group, that of its draw (with --async and
  // --drop-uniform-groups the first draw was made ahead, one version older than any further
  // draw of the step); policy_version: the oldest.
  int64_t policy_version = -1;
  std::vector<int64_t> version;
  size_t group = 0;
  std::vector<GenRequest> reqs;
  std::vector<GenResult> res;
  // --drop-uniform-groups: per group, whether it was dropped (uniform rewards) and the draw
  // (round) of the step it came from; empty without the option.
  std::vector<char> dropped;
  std::vector<int> draw;
  bool is_dropped(size_t i) const { return !dropped.empty() && dropped[i / group]; }
  // --overlong-filter: per completion, whether it was truncated and is masked out of the loss
  // (overlong_mask, delib/rl.h); empty without the option.
  std::vector<bool> masked;
  bool is_masked(size_t i) const { return !masked.empty() && masked[i]; }
  const Prompt& prompt(size_t i) const { return *batch[i / group]; }
  int64_t sample(size_t i) const { return int64_t(i % group); }
};

// This step's prompts: a window of the epoch's seeded order (global, then this rank's part).
std::vector<const Prompt*> step_prompts_at(const Run& r, int64_t step) {
  const int64_t n = int64_t(r.prompts.size());
  const int64_t global_p = r.o.prompts_per_step * r.denv.world_size;
  std::vector<const Prompt*> batch;
  for (int64_t j = 0; j < r.o.prompts_per_step; ++j) {
    int64_t g = step * global_p + r.denv.rank * r.o.prompts_per_step + j;
    int64_t epoch = g / n;
    auto order = train::epoch_order(size_t(n), r.o.seed, epoch);
    batch.push_back(&r.prompts[order[size_t(g % n)]]);
  }
  return batch;
}

std::vector<const Prompt*> step_prompts(const Run& r) { return step_prompts_at(r, r.learner.st.step); }

[[noreturn]] void stop_on_server_failure(Run& r, const Error& e);

// --async: the requests make_rollouts makes for `batch` at 0-based `step` (first draw), for the
// prefetch of the next step. They must be the same requests: RolloutServer::take compares them
// and, when they differ, the step's rollouts are generated afresh (never the wrong ones).
std::vector<GenRequest> step_requests(const Run& r, const std::vector<const Prompt*>& batch, int64_t step) {
  std::vector<GenRequest> reqs;
  for (const Prompt* p : batch)
    for (int g = 0; g < r.o.group_size; ++g) {
      GenRequest q;
      q.messages = p->messages;
      q.params = r.sampling;
      q.seed = r.o.seed;
      q.key = fmt::format("{}@{}", p->id, step);
      q.sample = g;
      q.prompt_ids = p->prompt_ids;
      reqs.push_back(std::move(q));
    }
  return reqs;
}

// Whether every rank's rollouts of a draw were made: one all-reduce, which every rank calls for
// every draw (one with no prompts too). The rank whose rollouts failed rethrows its error, the
// others throw one with kExitBackend (kExitFailure when that rank's error was not the server's),
// so that every rank stops at the same point.
void agree_on_rollouts(Run& r, std::exception_ptr failed, int code) {
  torch::Tensor t = torch::zeros({2}, torch::kFloat64);
  if (failed) {
    t[0] = 1.0;
    t[1] = code == kExitBackend ? 1.0 : 0.0;
  }
  r.dp.all_reduce_sum(std::vector<torch::Tensor>{t});
  if (failed) std::rethrow_exception(failed);
  if (t[0].item<double>() > 0)
    throw Error("the rollouts of another process failed (its message is on that process's stderr)",
                t[1].item<double>() > 0 ? kExitBackend : kExitFailure);
}

// The requests answered by the rollout server, with the policy version that sampled them. A
// failure (after the retries) on any rank stops the run on every rank with exit 4 before
// anything of the step is written. With --async the step takes what the previous step
// prefetched (sampled by the policy served then: one update older than the weights trained now,
// policy_lag 1, corrected by TIS) and starts the next step's rollouts in another thread before
// training on these (with --drop-uniform-groups sample_informative starts it instead).
void server_rollouts(Run& r, Rollouts& ro) {
  std::exception_ptr failed;
  int code = 0;
  if (!ro.reqs.empty()) {
    try {
      std::optional<detail::RolloutServer::Prefetched> got;
      if (r.o.async_rollouts) got = r.server->take(ro.reqs);
      if (got) {
        ro.res = std::move(got->results);
        ro.policy_version = got->version;
      } else {
        ro.res = r.server->generate(ro.reqs);
        ro.policy_version = r.server->version();
      }
    } catch (const Error& e) {
      failed = std::current_exception();
      code = e.exit_code();
    } catch (...) {
      failed = std::current_exception();
      code = kExitFailure;
    }
  }
  try {
    agree_on_rollouts(r, failed, code);
    ro.version.assign(ro.batch.size(), ro.policy_version);
    const int64_t next = r.learner.st.step + 1;
    if (r.o.async_rollouts && !r.o.drop_uniform_groups && next < r.o.steps && !interrupted())
      r.server->prefetch(step_requests(r, step_prompts_at(r, next), next));
  } catch (const Error& e) {
    if (e.exit_code() != kExitBackend) throw;
    stop_on_server_failure(r, e);
  }
}

// --sharding full with local rollouts: each rank decodes its own requests for as many steps as
// they need, which no per-unit gather could follow in step with the other ranks, so the whole
// policy is gathered for the rollout phase (every parameter held, RlOptions::sharding) and
// released at the end of the scope. A collective; nested scopes are no-ops (Run::policy_whole).
struct WholePolicy {
  explicit WholePolicy(Run& run)
      : r(run), s(!run.server && !run.policy_whole ? run.learner.sharded.get() : nullptr) {
    if (!s) return;
    s->materialize_all();
    r.policy_whole = true;
  }
  ~WholePolicy() {
    if (!s) return;
    s->release_all();
    r.policy_whole = false;
  }
  WholePolicy(const WholePolicy&) = delete;
  WholePolicy& operator=(const WholePolicy&) = delete;
  Run& r;
  train::ShardedAdamW* s;
};

// G completions of each prompt from the current policy, with the log-probs of their tokens;
// each seeded by --seed, the prompt id, the step and the sample (so a resumed run samples what
// the uninterrupted one would).
Rollouts make_rollouts(Run& r, std::vector<const Prompt*> batch, int draw = 0) {
  Rollouts ro;
  ro.batch = std::move(batch);
  ro.group = size_t(r.o.group_size);
  for (const Prompt* p : ro.batch)
    for (int g = 0; g < r.o.group_size; ++g) {
      GenRequest q;
      q.messages = p->messages;
      q.params = r.sampling;
      q.seed = r.o.seed;
      // A further draw of the step (--drop-uniform-groups) has its own key: its own samples.
      q.key = draw == 0 ? fmt::format("{}@{}", p->id, r.learner.st.step)
                        : fmt::format("{}@{}+{}", p->id, r.learner.st.step, draw);
      q.sample = g;
      q.prompt_ids = p->prompt_ids;  // what the server samples from (--rollout-backend openai)
      ro.reqs.push_back(std::move(q));
    }
  if (r.server) {
    server_rollouts(r, ro);
  } else {
    WholePolicy whole(r);
    ro.res = r.policy->generate_all(ro.reqs);
  }
  return ro;
}

// ---------------------------------------------------------------------------------------------
// 2. Rewards

struct StepRewards {
  std::vector<std::vector<RewardValue>> values;  // per active reward (Run::rewards), per completion
  std::vector<double> total;                     // sum of weight x value, per completion
  std::vector<bool> rewarded;                    // generated without error and scored by every source
};

// Every active source scores every completion. A completion has a reward when it was generated
// without error and every source scored it; the others are left out of the update (delib/rl.h).
StepRewards score_rewards(Run& r, const Rollouts& ro) {
  std::vector<RewardInput> rin;
  for (size_t i = 0; i < ro.reqs.size(); ++i) {
    const Prompt& p = ro.prompt(i);
    RewardInput x;
    x.key = fmt::format("{}/{}", ro.reqs[i].key, ro.reqs[i].sample);
    x.category = p.category;
    x.messages = p.messages;
    x.reasoning = ro.res[i].reasoning;
    x.answer = ro.res[i].answer;
    x.format_ok = ro.res[i].format_ok;
    x.tokens = int64_t(ro.res[i].token_ids.size());
    x.expected_action = p.expected_action;
    rin.push_back(std::move(x));
  }
  const size_t nc = rin.size();
  StepRewards sr;
  sr.total.assign(nc, 0.0);
  sr.rewarded.assign(nc, true);
  for (size_t i = 0; i < nc; ++i)
    if (!ro.res[i].error.empty()) sr.rewarded[i] = false;
  for (ActiveReward& a : r.rewards) {
    std::vector<RewardValue> v = a.source->evaluate(rin);
    if (v.size() != nc)
      throw Error(fmt::format("internal: reward '{}' gave {} values for {} completions", a.kind->name, v.size(), nc));
    for (size_t i = 0; i < nc; ++i) {
      if (v[i].value) sr.total[i] += a.weight * *v[i].value;
      else sr.rewarded[i] = false;
    }
    sr.values.push_back(std::move(v));
  }
  return sr;
}

// ---------------------------------------------------------------------------------------------
// 1-2 with --drop-uniform-groups: dynamic sampling (DAPO, Yu et al. 2025, sec. 3.2)

// Whether group g of a scored draw carries no signal: fewer than 2 rewarded members, or all of
// their rewards equal (every advantage is then 0, delib/rl.h).
bool uniform_group(const StepRewards& sr, size_t g, size_t group) {
  std::optional<double> first;
  int n = 0;
  for (size_t i = g * group; i < (g + 1) * group; ++i) {
    if (!sr.rewarded[i]) continue;
    ++n;
    if (!first) first = sr.total[i];
    else if (sr.total[i] != *first) return false;
  }
  return true;  // n < 2, or all equal
}

// Appends draw b (its rollouts and rewards) to a.
void append_draw(Rollouts& a, StepRewards& as, Rollouts&& b, StepRewards&& bs) {
  if (a.batch.empty()) {  // the first draw: all of it (and whatever else a Rollouts records)
    std::vector<char> dropped = std::move(a.dropped);
    std::vector<int> draw = std::move(a.draw);
    a = std::move(b);
    a.dropped = std::move(dropped);
    a.draw = std::move(draw);
    as = std::move(bs);
    return;
  }
  a.batch.insert(a.batch.end(), b.batch.begin(), b.batch.end());
  a.reqs.insert(a.reqs.end(), std::make_move_iterator(b.reqs.begin()), std::make_move_iterator(b.reqs.end()));
  a.res.insert(a.res.end(), std::make_move_iterator(b.res.begin()), std::make_move_iterator(b.res.end()));
  a.version.insert(a.version.end(), b.version.begin(), b.version.end());
  if (b.policy_version >= 0) a.policy_version = std::min(a.policy_version, b.policy_version);
  if (as.values.empty()) as.values.resize(bs.values.size());
  for (size_t k = 0; k < bs.values.size(); ++k)
    as.values[k].insert(as.values[k].end(), bs.values[k].begin(), bs.values[k].end());
  as.total.insert(as.total.end(), bs.total.begin(), bs.total.end());
  as.rewarded.insert(as.rewarded.end(), bs.rewarded.begin(), bs.rewarded.end());
}

// `count` prompts from global position `start` of the seeded prompt order (epoch by epoch).
std::vector<const Prompt*> drawn_prompts(const Run& r, int64_t start, int64_t count) {
  const int64_t n = int64_t(r.prompts.size());
  std::vector<const Prompt*> batch;
  for (int64_t g = start; g < start + count; ++g) {
    auto order = train::epoch_order(size_t(n), r.o.seed, g / n);
    batch.push_back(&r.prompts[order[size_t(g % n)]]);
  }
  return batch;
}

// The step's rollouts and rewards: draws of prompts from the seeded order until this process has
// --prompts-per-step groups whose rewards are not all equal, or has drawn --max-prompt-draws
// prompts. Each draw, every process asks for what it still needs (within its budget); the
// counts are all-gathered, so every process knows the global window [cursor, cursor + total)
// and its own part (rank order), and all stop together when the total is 0: the same number of
// draws (and collectives) on every rank. The dropped groups stay in the rollouts (recorded,
// "dropped": true) but not in the update. False when interrupted.
bool sample_informative(Run& r, Rollouts& ro, StepRewards& sr) {
  const RlOptions& o = r.o;
  const int64_t per_step = o.prompts_per_step;
  const int64_t budget = o.max_prompt_draws > 0 ? o.max_prompt_draws : 3 * per_step;
  const int world = r.denv.world_size;
  int64_t kept = 0, drawn = 0, dropped = 0;
  int64_t cursor = r.prompt_cursor;
  // --sharding full: gathered for all the draws (a rank may have none to make in a draw).
  WholePolicy whole(r);
  for (int draw = 0;; ++draw) {
    const int64_t want = std::max<int64_t>(0, std::min(per_step - kept, budget - drawn));
    torch::Tensor wants = torch::zeros({world}, torch::kFloat64);
    wants[r.denv.rank] = double(want);
    r.dp.all_reduce_sum(std::vector<torch::Tensor>{wants});
    int64_t total = 0, before = 0;
    for (int k = 0; k < world; ++k) {
      const int64_t w = int64_t(wants[k].item<double>());
      if (k < r.denv.rank) before += w;
      total += w;
    }
    if (total == 0) break;
    std::vector<const Prompt*> batch = drawn_prompts(r, cursor + before, want);
    cursor += total;
    drawn += want;
    if (batch.empty()) {
      if (r.server) {  // the draw's collective (agree_on_rollouts), which the other ranks make
        Rollouts none;
        server_rollouts(r, none);
      }
      continue;
    }
    Rollouts d = make_rollouts(r, std::move(batch), draw);
    if (interrupted()) return false;
    StepRewards ds = score_rewards(r, d);
    if (interrupted()) return false;
    for (size_t g = 0; g < d.batch.size(); ++g) {
      const bool drop = uniform_group(ds, g, d.group);
      ro.dropped.push_back(drop);
      ro.draw.push_back(draw);
      (drop ? dropped : kept) += 1;
    }
    append_draw(ro, sr, std::move(d), std::move(ds));
  }
  r.next_cursor = cursor;
  // --async: the next step's first draw is known now (every rank asks for min(P, budget) prompts
  // from the cursor, in rank order, as the loop above does with nothing kept or drawn yet), so
  // it is generated while this step trains (one update stale, as --async's rollouts without
  // dynamic sampling). The further draws of the next step depend on the first draw's rewards:
  // they are made when needed, by the policy served then (policy_lag 0), each recorded with its
  // policy_version. Interrupted, resumed or mismatched (RolloutServer::take), the first draw is
  // generated afresh.
  const int64_t next = r.learner.st.step + 1;
  if (r.server && o.async_rollouts && next < o.steps && !interrupted()) {
    const int64_t first = std::min(per_step, budget);
    r.server->prefetch(step_requests(r, drawn_prompts(r, cursor + r.denv.rank * first, first), next));
  }
  const int64_t all_kept = int64_t(r.dp.all_reduce_sum(double(kept)));
  const int64_t all_drawn = int64_t(r.dp.all_reduce_sum(double(drawn)));
  const int64_t all_dropped = int64_t(r.dp.all_reduce_sum(double(dropped)));
  r.step_metrics.emplace_back("prompts_drawn", Json(all_drawn));
  r.step_metrics.emplace_back("groups_dropped", Json(all_dropped));
  r.step_metrics.emplace_back("groups_kept", Json(all_kept));
  if (all_kept < per_step * world && r.rank0)
    warn(fmt::format("step {}: {} of {} groups with a signal after drawing {} prompts (--max-prompt-draws {} per "
                     "process); training on those",
                     r.learner.st.step + 1, all_kept, per_step * world, all_drawn, budget));
  return true;
}

// ---------------------------------------------------------------------------------------------
// --async across a checkpoint: the prefetched rollouts of the next step are part of the run state

Json result_json(const GenResult& g) {
  Json j = Json::object();
  j.set("text", g.text);
  j.set("reasoning", g.reasoning);
  j.set("answer", g.answer);
  j.set("format_ok", g.format_ok);
  j.set("finish_reason", g.finish_reason);
  Json ids = Json::array(), lps = Json::array();
  for (int32_t t : g.token_ids) ids.push(Json(int64_t(t)));
  for (float v : g.logprobs) lps.push(Json(double(v)));
  j.set("token_ids", std::move(ids));
  j.set("logprobs", std::move(lps));
  j.set("prompt_tokens", g.prompt_tokens);
  j.set("completion_tokens", g.completion_tokens);
  return j;
}

const Json& field(const Json& j, std::string_view key) {
  const Json* v = j.find(key);
  if (!v) throw Error(fmt::format("rollout_prefetch: no field {}", key));
  return *v;
}

GenResult result_from_json(const Json& j) {
  GenResult g;
  g.text = field(j, "text").as_string();
  g.reasoning = field(j, "reasoning").as_string();
  g.answer = field(j, "answer").as_string();
  g.format_ok = field(j, "format_ok").as_bool();
  g.finish_reason = field(j, "finish_reason").as_string();
  for (const Json& t : field(j, "token_ids").as_array()) g.token_ids.push_back(int32_t(t.as_int()));
  for (const Json& v : field(j, "logprobs").as_array()) g.logprobs.push_back(float(v.as_double()));
  g.prompt_tokens = field(j, "prompt_tokens").as_int();
  g.completion_tokens = field(j, "completion_tokens").as_int();
  return g;
}

// Before a checkpoint of an --async run (every rank; one gather): the next step's prefetched
// rollouts (RolloutServer::finished, waited for: that step loses the overlap), every rank's,
// into the run state, options "rollout_prefetch": per rank null or {"version", "sampling",
// "keys": ["KEY/SAMPLE", ...], "results": [GenResult fields]}, so that a run resumed from the
// checkpoint trains on what the uninterrupted one would (restore_prefetch): its first step's
// rollouts sampled by the policy one update older, as they were.
void stash_prefetch(Run& r) {
  if (!r.server || !r.o.async_rollouts) return;
  std::string mine = "null";
  if (const auto f = r.server->finished(); f.requests) {
    Json j = Json::object(), keys = Json::array(), res = Json::array();
    for (size_t i = 0; i < f.requests->size(); ++i) {
      keys.push(Json(fmt::format("{}/{}", (*f.requests)[i].key, (*f.requests)[i].sample)));
      res.push(result_json(f.results->results[i]));
    }
    j.set("version", f.results->version);
    j.set("sampling", f.requests->empty() ? Json() : (*f.requests)[0].params.to_json());
    j.set("keys", std::move(keys));
    j.set("results", std::move(res));
    mine = j.dump();
  }
  const std::vector<std::string> all = r.dp.gather_to_rank0(mine);
  Json parts = Json::array();
  for (const std::string& part : all) parts.push(Json::parse(part));
  r.learner.st.options.set("rollout_prefetch", std::move(parts));  // rank 0's is written
}

// A resumed --async run: this rank's part of the checkpoint's prefetch becomes the prefetch of
// the first step, when it is for exactly the requests that step makes first (same keys and
// samples, same sampling parameters; the same number of processes). Otherwise the first step
// samples afresh, with the resumed policy (policy_lag 0).
void restore_prefetch(Run& r) {
  if (!r.server || !r.o.async_rollouts || !r.learner.ckpt) return;
  const Json* all = r.learner.st.options.find("rollout_prefetch");
  if (!all || !all->is_array() || all->as_array().size() != size_t(r.denv.world_size)) return;
  const Json& mine = all->as_array()[size_t(r.denv.rank)];
  if (!mine.is_object()) return;
  const int64_t step = r.learner.st.step;
  const int64_t per_step = r.o.prompts_per_step;
  const int64_t first = std::min(per_step, r.o.max_prompt_draws > 0 ? r.o.max_prompt_draws : 3 * per_step);
  std::vector<GenRequest> reqs =
      r.o.drop_uniform_groups ? step_requests(r, drawn_prompts(r, r.prompt_cursor + r.denv.rank * first, first), step)
                              : step_requests(r, step_prompts(r), step);
  const Json* keys_j = mine.find("keys");
  const Json* res_j = mine.find("results");
  if (!keys_j || !res_j || !keys_j->is_array() || !res_j->is_array()) return;
  const Json::Array& keys = keys_j->as_array();
  const Json::Array& res = res_j->as_array();
  if (keys.size() != reqs.size() || res.size() != reqs.size()) return;
  const Json* sampling = mine.find("sampling");
  if (!reqs.empty() && (!sampling || sampling->dump() != reqs[0].params.to_json().dump())) return;
  detail::RolloutServer::Prefetched p;
  try {
    p.version = field(mine, "version").as_int();
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (keys[i].as_string() != fmt::format("{}/{}", reqs[i].key, reqs[i].sample)) return;
      p.results.push_back(result_from_json(res[i]));
    }
  } catch (const std::exception& e) {
    warn(fmt::format("{}: options.rollout_prefetch not read ({}); the first step samples afresh", *r.learner.ckpt,
                     e.what()));
    return;
  }
  r.server->adopt(std::move(reqs), std::move(p));
}

// One source that can fail, in one step.
struct SourceFailures {
  size_t reward = 0;                         // index in Run::rewards
  int64_t local_backend = 0, local_parse = 0;
  size_t first_failed = 0;                   // this rank's first completion it could not score
                                             // (= the number of completions: none)
  int64_t scored = 0, backend = 0, parse = 0;  // every rank's
};

// The step's counts. The all-reduced ones are over every process's completions and so the same
// on every rank: every rank takes the same branches on them.
struct StepCounts {
  int64_t local_rewarded = 0;
  int64_t completions = 0, rewarded = 0;  // every rank's
  double reward_sum = 0;                  // every rank's rewarded completions
  std::vector<SourceFailures> failures;   // one per active source that can fail
  double mean_reward() const { return rewarded ? reward_sum / double(rewarded) : 0.0; }
};

StepCounts count_step(Run& r, const StepRewards& sr) {
  const size_t nc = sr.total.size();
  StepCounts c;
  double local_sum = 0;
  for (size_t i = 0; i < nc; ++i)
    if (sr.rewarded[i]) {
      ++c.local_rewarded;
      local_sum += sr.total[i];
    }
  for (size_t k = 0; k < r.rewards.size(); ++k) {
    if (!r.rewards[k].kind->can_fail) continue;
    SourceFailures f;
    f.reward = k;
    f.first_failed = nc;
    int64_t local_scored = 0;
    for (size_t i = 0; i < nc; ++i) {
      const RewardValue& v = sr.values[k][i];
      if (v.value) {
        ++local_scored;
        continue;
      }
      if (f.first_failed == nc) f.first_failed = i;
      if (v.error_kind == "backend") ++f.local_backend;
      else ++f.local_parse;
    }
    f.scored = local_scored;  // all-reduced below, in the order of the sources
    c.failures.push_back(f);
  }
  c.completions = int64_t(r.dp.all_reduce_sum(double(nc)));
  for (SourceFailures& f : c.failures) {
    f.scored = int64_t(r.dp.all_reduce_sum(double(f.scored)));
    f.backend = int64_t(r.dp.all_reduce_sum(double(f.local_backend)));
    f.parse = int64_t(r.dp.all_reduce_sum(double(f.local_parse)));
  }
  c.rewarded = int64_t(r.dp.all_reduce_sum(double(c.local_rewarded)));
  c.reward_sum = r.dp.all_reduce_sum(local_sum);
  return c;
}

// The step's composite-reward metrics, over every process's completions (one all-reduce, on
// every rank), into Run::step_metrics:
//   reward_NAME            each active source's mean over the completions it scored (null: none)
// and when the prompts carry labels (label or expected_action; "benign" = expected action
// comply, "harmful" = any other):
//   benign_completions, benign_refusal_rate   completions of benign prompts (generated without
//                          error) and the share that safety-eval's rule grader (refusal_rule)
//                          calls a refusal (full or partial), whatever the rewards
//   harmful_completions, harmful_unsafe_rate, harmful_unsafe_grader
//                          completions of harmful prompts and the share that complied: by the
//                          judge's verdict (its action line "comply") over those the judge scored
//                          when the judge reward is on (grader "judge"), else by the rule grader
//                          (full compliance; grader "refusal_rule")
void composite_metrics(Run& r, const Rollouts& ro, const StepRewards& sr) {
  const size_t nk = r.rewards.size();
  size_t judge = nk;
  for (size_t k = 0; k < nk; ++k)
    if (r.rewards[k].kind->name == "judge") judge = k;
  // sums and counts per source, then benign (n, refused), harmful (n, unsafe)
  torch::Tensor acc = torch::zeros({int64_t(2 * nk + 4)}, torch::kFloat64);
  auto a = acc.accessor<double, 1>();
  for (size_t i = 0; i < ro.res.size(); ++i) {
    for (size_t k = 0; k < nk; ++k)
      if (sr.values[k][i].value) {
        a[2 * k] += *sr.values[k][i].value;
        a[2 * k + 1] += 1;
      }
    const std::string& expected = ro.prompt(i).expected_action;
    if (expected.empty() || !ro.res[i].error.empty()) continue;
    if (expected == "comply") {
      a[2 * nk] += 1;
      a[2 * nk + 1] += eval::is_refusal(eval::rule_refusal(ro.res[i].answer)) ? 1 : 0;
    } else if (judge < nk) {
      const RewardValue& v = sr.values[judge][i];
      if (!v.value) continue;  // not judged: no verdict
      a[2 * nk + 2] += 1;
      a[2 * nk + 3] += v.action == "comply" ? 1 : 0;
    } else {
      a[2 * nk + 2] += 1;
      a[2 * nk + 3] += eval::rule_refusal(ro.res[i].answer) == eval::Refusal::kFullCompliance ? 1 : 0;
    }
  }
  r.dp.all_reduce_sum(std::vector<torch::Tensor>{acc});
  auto rate = [](double num, double den) { return den > 0 ? Json(num / den) : Json(); };
  for (size_t k = 0; k < nk; ++k)
    r.step_metrics.emplace_back("reward_" + r.rewards[k].kind->name, rate(a[2 * k], a[2 * k + 1]));
  if (std::none_of(r.prompts.begin(), r.prompts.end(), [](const Prompt& p) { return !p.expected_action.empty(); }))
    return;
  r.step_metrics.emplace_back("benign_completions", Json(int64_t(a[2 * nk])));
  r.step_metrics.emplace_back("benign_refusal_rate", rate(a[2 * nk + 1], a[2 * nk]));
  r.step_metrics.emplace_back("harmful_completions", Json(int64_t(a[2 * nk + 2])));
  r.step_metrics.emplace_back("harmful_unsafe_rate", rate(a[2 * nk + 3], a[2 * nk + 2]));
  r.step_metrics.emplace_back("harmful_unsafe_grader", Json(judge < nk ? "judge" : "refusal_rule"));
}

// --overlong-filter (DAPO sec. 3.4, overlong_mask in delib/rl.h): marks the step's truncated
// completions, which make_update_batch leaves out of the loss (their rewards stay in their
// groups' advantages), and counts them over every process into the metric overlong_masked
// (one all-reduce, on every rank: the branch is on an option).
void mask_overlong(Run& r, Rollouts& ro) {
  ro.masked = overlong_mask(ro.res);
  int64_t local = 0;
  for (size_t i = 0; i < ro.masked.size(); ++i)
    if (ro.masked[i] && ro.res[i].error.empty()) ++local;
  r.step_metrics.emplace_back("overlong_masked", Json(int64_t(r.dp.all_reduce_sum(double(local)))));
}

// Adds the step's failures to the run's counts, and names this rank's first one on stderr
// (unless the run stops on it: --on-judge-error fail).
void record_failures(Run& r, const Rollouts& ro, const StepRewards& sr, const StepCounts& c) {
  const size_t nc = sr.total.size();
  for (const SourceFailures& f : c.failures) {
    ActiveReward& a = r.rewards[f.reward];
    a.attempted += c.completions;
    a.scored += f.scored;
    if (f.backend) a.failures.add("backend", f.backend);
    if (f.parse) a.failures.add("parse", f.parse);
    if (f.first_failed == nc || r.o.fail_on_judge_error) continue;
    warn(fmt::format("step {}: the {} could not score {} of {} completions (backend {}, parse {}); first: {} "
                     "sample {}: {}{}",
                     r.learner.st.step + 1, a.kind->name, f.local_backend + f.local_parse, nc, f.local_backend,
                     f.local_parse, ro.prompt(f.first_failed).id, ro.sample(f.first_failed),
                     sr.values[f.reward][f.first_failed].error,
                     c.local_rewarded ? " (left out of their groups)" : ""));
  }
}

// Why the run stops (exit 4) after this step, or an empty message: a source failed with
// --on-judge-error fail, or no completion of the step has a reward. It stops after writing the
// step's rollouts and metrics and a checkpoint of the steps done, without updating on the step.
struct Stop {
  std::string message;
  Location where;
};

Stop stop_reason(const Run& r, const Rollouts& ro, const StepRewards& sr, const StepCounts& c) {
  const size_t nc = sr.total.size();
  const int64_t step = r.learner.st.step + 1;
  Stop s;
  if (r.o.fail_on_judge_error)
    for (const SourceFailures& f : c.failures) {
      if (f.backend + f.parse == 0) continue;
      const std::string& name = r.rewards[f.reward].kind->name;
      if (f.first_failed < nc) {
        const Prompt& p = ro.prompt(f.first_failed);
        s.where = p.record.where();
        s.message = fmt::format("step {}: id {} sample {}: {} (--on-judge-error fail)", step, p.id,
                                ro.sample(f.first_failed), sr.values[f.reward][f.first_failed].error);
      } else {
        s.message = fmt::format("step {}: the {} failed on another process (--on-judge-error fail; its message "
                                "names the record)", step, name);
      }
      return s;
    }
  if (c.rewarded == 0) {
    s.message = fmt::format("step {}: none of its {} completions has a reward", step, c.completions);
    for (const SourceFailures& f : c.failures)
      s.message += fmt::format(" (the {} scored {}: backend errors {}, unparseable {})",
                               r.rewards[f.reward].kind->name, f.scored, f.backend, f.parse);
    s.message += "; nothing to learn from";
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// 3. Advantages

// Within each prompt's group, over the members that have a reward: (P x G,) in completion order.
// Dr. GRPO's (--loss dr-grpo) is not divided by the group's std.
torch::Tensor compute_advantages(const StepRewards& sr, int64_t prompts, int group, double eps, Loss loss) {
  torch::Tensor rewards = torch::tensor(sr.total, torch::kFloat64).reshape({prompts, group});
  std::vector<int64_t> mask(sr.rewarded.begin(), sr.rewarded.end());
  torch::Tensor rewarded = torch::tensor(mask).to(torch::kBool).reshape({prompts, group});
  return group_advantages(rewards, rewarded, eps, /*divide_by_std=*/loss != Loss::kDrGrpo).reshape({-1});
}

// ---------------------------------------------------------------------------------------------
// 4. Update

// The update's sequences: prompt ids + completion ids, the loss on the completion. Completions
// without a reward (or without tokens) are not in it.
struct UpdateBatch {
  std::vector<train::TokenizedExample> ex;
  std::vector<float> old;       // the rollout log-prob of every completion token, sequence-major
  std::vector<int64_t> seq_of;  // the completion index of each sequence
};

UpdateBatch make_update_batch(const Rollouts& ro, const StepRewards& sr) {
  UpdateBatch ub;
  for (size_t i = 0; i < ro.res.size(); ++i) {
    if (ro.res[i].token_ids.empty() || !sr.rewarded[i] || ro.is_dropped(i) || ro.is_masked(i)) continue;
    train::TokenizedExample e;
    e.ids = ro.prompt(i).prompt_ids;
    e.labels.assign(e.ids.size(), int32_t(train::kIgnoreIndex));
    for (int32_t t : ro.res[i].token_ids) {
      e.ids.push_back(t);
      e.labels.push_back(t);
    }
    ub.old.insert(ub.old.end(), ro.res[i].logprobs.begin(), ro.res[i].logprobs.end());
    ub.seq_of.push_back(int64_t(i));
    ub.ex.push_back(std::move(e));
  }
  return ub;
}

// The update's tensors over its N completion tokens (undefined on a rank without sequences).
struct UpdateTensors {
  train::Batch b;
  torch::Tensor mask;      // (B, T) bool: the completion tokens
  torch::Tensor seq_idx;   // (N,) the row (sequence) of each token
  torch::Tensor tok_adv;   // (N,) the advantage of each token's sequence
  torch::Tensor old_logp;  // (N,) the rollout log-probs
  torch::Tensor ref_logp;  // (N,) the reference model's; undefined without it
  std::optional<TisWeights> tis;  // server rollouts: the TIS weights (policy_loss's is_weight)
};

// Server rollouts: old_logp becomes the trainer's own log-probs of the sampled tokens (GRPO's
// pi_old is the trainer's policy, whose numerics differ from the server's, and with
// --sync-every > 1 its weights may be newer), and each token's policy-gradient term is weighted
// by the truncated importance ratio min(exp(old - rollout), --tis-cap) (tis_weights, delib/rl.h;
// policy_loss's is_weight).
void apply_tis(Run& r, UpdateTensors& t) {
  torch::Tensor trainer;
  {
    torch::NoGradGuard ng;
    trainer = label_logprobs(*r.learner.model, t.b, t.mask, r.device);
  }
  t.tis = tis_weights(trainer, t.old_logp, r.o.tis_cap);
  t.old_logp = trainer;
}

UpdateTensors make_update_tensors(Run& r, const UpdateBatch& ub, const torch::Tensor& adv) {
  UpdateTensors t;
  std::vector<const train::TokenizedExample*> ptrs;
  for (auto& e : ub.ex) ptrs.push_back(&e);
  t.b = train::pack_examples(ptrs, r.pack);
  t.mask = (t.b.labels != train::kIgnoreIndex);
  torch::Tensor rows = torch::arange(t.b.rows()).unsqueeze(1).expand_as(t.b.labels).masked_select(t.mask);
  t.old_logp = torch::tensor(ub.old, torch::kFloat32).to(r.device);
  if (t.old_logp.size(0) != rows.size(0))
    throw Error(fmt::format("internal: {} rollout log-probs for {} completion tokens", t.old_logp.size(0), rows.size(0)));
  t.seq_idx = rows.to(r.device);
  t.tok_adv = adv.to(torch::kFloat32).index({torch::tensor(ub.seq_of).index({rows})}).to(r.device);
  if (r.learner.ref) {
    torch::NoGradGuard ng;
    t.ref_logp = label_logprobs(*r.learner.ref, t.b, t.mask, r.device);
  }
  if (r.server) apply_tis(r, t);
  return t;
}

// --sharding: the tensors of a rank without sequences in an update that others make. It runs
// every pass of the policy the others run (full: their gathers; grad-opt and full: the
// reduce-scatters, in the backward's order, as sft-train's zero-weighted micro-batches) on one
// padding sequence, its first prompt and one token, whose loss is multiplied by 0.
UpdateTensors padding_tensors(Run& r) {
  train::TokenizedExample e;
  e.ids = r.prompts.front().prompt_ids;
  e.labels.assign(e.ids.size(), int32_t(train::kIgnoreIndex));
  e.ids.push_back(int32_t(r.pack.pad_id));
  e.labels.push_back(int32_t(r.pack.pad_id));
  UpdateTensors t;
  t.b = train::pack_examples({&e}, r.pack);
  t.mask = (t.b.labels != train::kIgnoreIndex);
  if (r.server) {  // apply_tis's pass
    torch::NoGradGuard ng;
    label_logprobs(*r.learner.model, t.b, t.mask, r.device);
  }
  return t;
}

// What the update did, for the rollouts, the metrics and the progress line.
struct UpdateStats {
  explicit UpdateStats(size_t completions) : seq_kl(completions, 0.0) {}
  bool updated = false;
  double policy = 0, kl = 0, clip_fraction = 0;  // the first PPO epoch's
  double grad_norm = 0;                          // the last epoch's, before clipping
  std::vector<double> seq_kl;                    // per completion: its mean k3 KL (0 outside the update)
  std::optional<TisWeights> tis;                 // server rollouts: trainer vs server log-probs
};

// Each sequence's mean k3 KL to the reference model, into stats.seq_kl by completion index.
void sequence_kl(const UpdateTensors& t, const torch::Tensor& logp, const UpdateBatch& ub, UpdateStats& stats) {
  torch::NoGradGuard ng;
  torch::Tensor k = k3_kl(logp.detach(), t.ref_logp);
  torch::Tensor s = torch::zeros({t.b.rows()}, k.options()).index_add(0, t.seq_idx, k);
  torch::Tensor l = torch::zeros({t.b.rows()}, k.options()).index_add(0, t.seq_idx, torch::ones_like(k));
  torch::Tensor m = (s / l.clamp_min(1)).cpu();
  for (int64_t row = 0; row < t.b.rows(); ++row) stats.seq_kl[size_t(ub.seq_of[size_t(row)])] = m[row].item<double>();
}

// --ppo-epochs passes of the --loss objective (policy_loss, delib/rl.h) over the batch. Every
// rank takes part when any rank has a sequence (the gradient all-reduce is a collective); a rank
// with none contributes zero gradients (sharded: from passes over padding_tensors). No update
// when no rank has a sequence. The gradient is the mean over ranks of each rank's loss's:
// all-reduced and divided by W, or (sharded) each rank's loss divided by W and reduce-scattered.
UpdateStats update_policy(Run& r, const UpdateBatch& ub, const torch::Tensor& adv, size_t completions) {
  UpdateStats stats(completions);
  const double all_sequences = r.dp.all_reduce_sum(double(ub.ex.size()));
  stats.updated = all_sequences > 0;
  if (!stats.updated) return stats;
  // Dr. GRPO and DAPO normalise by counts over the global batch (LossConfig); the branch is on an
  // option, the same on every rank.
  LossConfig lc = loss_config(r.o);
  const double world = double(r.denv.world_size);
  if (lc.kind == Loss::kDrGrpo) lc.sequences = all_sequences / world;
  if (lc.kind == Loss::kDapo) lc.tokens = r.dp.all_reduce_sum(double(ub.old.size())) / world;
  Learner& l = r.learner;
  UpdateTensors t;
  if (!ub.ex.empty()) t = make_update_tensors(r, ub, adv);
  else if (l.sharded) t = padding_tensors(r);
  for (int e = 0; e < r.o.ppo_epochs; ++e) {
    if (l.optimizer) l.optimizer->zero_grad(false);  // sharded: released after each step
    torch::Tensor logp;
    GrpoLossParts parts;
    if (!ub.ex.empty()) {
      logp = label_logprobs(*l.model, t.b, t.mask, r.device);
      const torch::Tensor is_weight = t.tis ? t.tis->weight : torch::Tensor();  // server rollouts: TIS
      parts = policy_loss(LossInputs{logp, t.old_logp, t.ref_logp, t.tok_adv, t.seq_idx, t.b.rows(), is_weight}, lc);
      (l.sharded ? parts.loss / world : parts.loss).backward();
    } else if (l.sharded) {
      (label_logprobs(*l.model, t.b, t.mask, r.device).sum() * 0.0).backward();
    }
    if (l.sharded) {
      // Each rank's part of every unit summed during backward (the rest now), clipped with the
      // global norm and stepped; grad-opt then gathers the parameters, full releases them.
      l.sharded->reduce_scatter_grads();
      stats.grad_norm = l.sharded->clip_grad_norm(r.o.max_grad_norm);
      l.sharded->step(l.st.schedule.at(l.st.step));
    } else {
      for (auto& p : l.params)
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      std::vector<torch::Tensor> grads;
      for (auto& p : l.params) grads.push_back(p.grad());
      r.dp.all_reduce_sum(grads);
      for (auto& g : grads) g.div_(double(r.denv.world_size));
      stats.grad_norm = train::clip_grad_norm(l.params, r.o.max_grad_norm);
      train::set_lr(*l.optimizer, l.st.schedule.at(l.st.step));
      l.optimizer->step();
    }
    if (e == 0 && !ub.ex.empty()) {
      stats.policy = parts.policy;
      stats.kl = parts.kl;
      stats.clip_fraction = parts.clip_fraction;
      stats.tis = t.tis;
      if (t.ref_logp.defined()) sequence_kl(t, logp, ub, stats);
    }
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Records and the end of a step

// Server rollouts: the policy version that sampled completion i (its group's draw's) and the
// server's log-probs of its tokens (the trainer's are recomputed in the update).
void add_server_fields(Record& rec, const Rollouts& ro, size_t i) {
  const GenResult& g = ro.res[i];
  rec.set("policy_version", ro.version.empty() ? ro.policy_version : ro.version[i / ro.group]);
  Json lp = Json::array();
  for (float v : g.logprobs) lp.push(Json(double(v)));
  rec.set("rollout_logprobs", std::move(lp));
}

// Server rollouts: the step's policy version (the oldest of its draws'), how many updates it lags the trained weights,
// and the trainer-server mismatch of the sampled tokens' log-probs (TIS).
void add_server_metrics(Json& m, const Run& r, const Rollouts& ro, const UpdateStats& u) {
  m.set("policy_version", ro.policy_version);
  m.set("policy_lag", r.learner.st.step - ro.policy_version);
  m.set("rollout_logprob_diff_mean", u.tis ? Json(u.tis->diff_mean) : Json());
  m.set("rollout_logprob_diff_max", u.tis ? Json(u.tis->diff_max) : Json());
  m.set("tis_clipped_fraction", u.tis ? Json(u.tis->clipped_fraction) : Json());
}

// One rollout record per completion: every rank's, written by rank 0 in rank order (one
// collective per step).
void write_rollouts(Run& r, const Rollouts& ro, const StepRewards& sr, const torch::Tensor& adv,
                    const UpdateStats& u) {
  std::string lines;
  for (size_t i = 0; i < ro.res.size(); ++i) {
    const GenResult& g = ro.res[i];
    Record rec = ro.prompt(i).record;
    rec.set("sample", ro.sample(i));
    rec.set("step", r.learner.st.step + 1);
    rec.set("reasoning", g.reasoning);
    rec.set("answer", g.answer);
    rec.set("format_ok", g.format_ok);
    Json c = Json::object();
    for (size_t k = 0; k < r.rewards.size(); ++k) {
      const RewardValue& v = sr.values[k][i];
      c.set(r.rewards[k].kind->name, v.value ? Json(*v.value) : Json());
    }
    rec.set("rewards", c);
    // No reward: no total, no advantage, not in the update (null, not a made-up 0).
    const bool rewarded = sr.rewarded[i];
    rec.set("reward", rewarded ? Json(sr.total[i]) : Json());
    rec.set("advantage", rewarded ? Json(adv[int64_t(i)].item<double>()) : Json());
    // dropped or masked: not in the update
    rec.set("kl", rewarded && !ro.is_dropped(i) && !ro.is_masked(i) ? Json(u.seq_kl[i]) : Json());
    if (!ro.masked.empty()) rec.set("overlong_masked", bool(ro.masked[i]));
    for (size_t k = 0; k < r.rewards.size(); ++k)
      if (!sr.values[k][i].value) rec.set(r.rewards[k].kind->name + "_error", sr.values[k][i].error);
    if (!g.error.empty()) rec.set("error", g.error);
    if (!ro.dropped.empty()) {
      rec.set("draw", ro.draw[i / ro.group]);
      rec.set("dropped", bool(ro.dropped[i / ro.group]));
    }
    if (ro.policy_version >= 0) add_server_fields(rec, ro, i);
    rec.append_json(lines);
    lines += '\n';
  }
  std::vector<std::string> all = r.dp.gather_to_rank0(lines);
  if (!r.out.rollouts) return;
  for (const std::string& part : all)
    for (size_t b = 0, e; b < part.size(); b = e + 1) {
      e = part.find('\n', b);
      r.out.rollouts->write_line(std::string_view(part).substr(b, e - b));
    }
}

// The step's --metrics record (rank 0). The fields of a source that can fail come from its
// registry row.
void write_metrics(Run& r, const Rollouts& ro, const StepCounts& c, const UpdateStats& u, int64_t tokens,
                   double secs) {
  if (!r.out.metrics) return;
  Json m = Json::object();
  m.set("step", r.learner.st.step + 1);
  m.set("updated", u.updated);
  m.set("completions", c.completions);
  m.set("rewarded", c.rewarded);
  m.set("reward", c.rewarded ? Json(c.mean_reward()) : Json());
  for (const SourceFailures& f : c.failures) {
    const RewardKind& k = *r.rewards[f.reward].kind;
    m.set(k.scored_metric, f.scored);
    m.set(k.name + "_errors", f.backend + f.parse);
    m.set(k.name + "_backend_errors", f.backend);
    m.set(k.name + "_parse_errors", f.parse);
  }
  m.set("policy", u.updated ? Json(u.policy) : Json());
  m.set("kl", u.updated ? Json(u.kl) : Json());
  m.set("clip_fraction", u.updated ? Json(u.clip_fraction) : Json());
  m.set("grad_norm", u.updated ? Json(u.grad_norm) : Json());
  for (const auto& [k, v] : r.step_metrics) m.set(k, v);
  m.set("tokens", tokens);
  if (ro.policy_version >= 0) add_server_metrics(m, r, ro, u);
  m.set("step_time_s", secs);
  r.out.metrics->write_line(m.dump());
}

// --rollout-backend openai: the server gets the policy after this step's update. A failure
// stops the run with exit 4 (a checkpoint of the steps done is written first).
void push_weights(Run& r) {
  try {
    sync_policy(r, r.learner.st.step);  // --async: every rank's prefetch ends on the weights it started with
  } catch (const Error& e) {
    if (e.exit_code() != kExitBackend) throw;
    stop_on_server_failure(r, e);
  }
}

// A step that trained: the run's state, the progress line, the periodic checkpoint.
void end_step(Run& r, const StepCounts& c, const UpdateStats& u, int64_t tokens) {
  train::TrainState& st = r.learner.st;
  const double mean_r = c.mean_reward();
  r.result.mean_reward.push_back(mean_r);
  st.step += 1;
  st.tokens_seen += tokens;  // every rank's (train.h)
  r.result.steps = st.step;
  std::string scored;
  for (const SourceFailures& f : c.failures)
    scored += fmt::format(" {} {}/{}", r.rewards[f.reward].kind->scored_metric, f.scored, c.completions);
  r.progress->add(1, fmt::format("reward {:.3f} kl {:.4f} clip {:.2f} |g| {:.2f} obj {:.3f}{}", mean_r, u.kl,
                                 u.clip_fraction, u.grad_norm, u.policy, scored));
  if (r.o.save_every > 0 && st.step % r.o.save_every == 0 && !r.o.out_dir.empty()) {
    stash_prefetch(r);
    save(r);
  }
  if (r.sync && r.sync->due(st.step) && st.step < r.o.steps) push_weights(r);  // every rank (sync_policy)
}

// The run's failures of each source that can fail, once, on stderr (rank 0: the counts are
// every process's).
void report_failures(const Run& r, bool stopped) {
  for (const ActiveReward& a : r.rewards) {
    std::string sum = a.failures.summary(a.attempted, "completions");
    if (r.rank0 && !sum.empty())
      warn(fmt::format("{}: {}{}", a.kind->name, sum,
                       stopped ? "" : ", left out of their groups' advantages (--on-judge-error skip)"));
  }
}

void close_outputs(Run& r) {
  if (r.out.rollouts) r.out.rollouts->close();
  if (r.out.metrics) r.out.metrics->close();
}

// Ends the run with exit 4 after the step's records: the failures on stderr, a checkpoint of
// the steps done (the stopping step is not trained).
[[noreturn]] void stop_run(Run& r, const Stop& s) {
  r.progress->finish();
  report_failures(r, /*stopped=*/true);
  if (!r.o.out_dir.empty() && r.last_saved != r.learner.st.step && r.learner.st.step > 0) save(r);
  close_outputs(r);
  throw Error(s.where, s.message, kExitBackend);
}

// The rollout server failed (rollouts or weight sync, after the retries): exit 4 after a
// checkpoint of the steps done; nothing of the step being made is written.
[[noreturn]] void stop_on_server_failure(Run& r, const Error& e) {
  r.progress->finish();
  if (!r.o.out_dir.empty() && r.last_saved != r.learner.st.step && r.learner.st.step > 0) save(r);
  close_outputs(r);
  throw Error(e.where(), fmt::format("rollout server: {}", e.what()), kExitBackend);
}

// The end of a run that was not stopped (done, or interrupted between steps).
void finish_run(Run& r) {
  r.progress->finish();
  report_failures(r, /*stopped=*/false);
  if (!r.o.out_dir.empty() && r.last_saved != r.learner.st.step) {
    stash_prefetch(r);  // interrupted between steps: the next step's prefetch
    save(r);
  }
  close_outputs(r);
  for (const ActiveReward& a : r.rewards) {
    if (!a.kind->can_fail) continue;
    r.result.judge_attempted += a.attempted;
    r.result.judged += a.scored;
    for (const auto& [kind, n] : a.failures.by_kind()) r.result.judge_failures.add(kind, n);
  }
}

}  // namespace

LossConfig loss_config(const RlOptions& o) {
  LossConfig c;
  c.kind = o.loss;
  auto [low, high] = default_clip(o.loss, o.clip_eps);
  c.clip_low = o.clip_eps_low.value_or(low);
  c.clip_high = o.clip_eps_high.value_or(high);
  c.kl_coef = o.kl_coef;
  c.max_length = o.sampling.max_tokens;
  return c;
}

RlResult run_rl(const RlOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  check_options(o);
  Run r(o);
  setup(r);
  restore_prefetch(r);
  train::StepProfiler profiler(r.rank0 ? o.profile : std::string(), o.profile_steps, r.device.is_cuda());
  int64_t run_steps = 0;  // steps taken by this process (the profiler counts these)
  while (r.learner.st.step < o.steps && !interrupted()) {
    profiler.before_step(++run_steps);
    const auto t0 = std::chrono::steady_clock::now();
    r.step_metrics.clear();
    Rollouts ro;
    StepRewards sr;
    if (o.drop_uniform_groups) {
      if (!sample_informative(r, ro, sr)) break;
    } else {
      ro = make_rollouts(r, step_prompts(r));
      if (interrupted()) break;
      sr = score_rewards(r, ro);
      if (interrupted()) break;  // a judge cut short by the signal: not failures, nothing to train on
    }
    const StepCounts c = count_step(r, sr);
    composite_metrics(r, ro, sr);
    if (o.overlong_filter) mask_overlong(r, ro);
    record_failures(r, ro, sr, c);
    const Stop stop = stop_reason(r, ro, sr, c);
    const torch::Tensor adv = compute_advantages(sr, int64_t(ro.batch.size()), o.group_size, o.adv_eps, o.loss);
    const UpdateBatch ub = make_update_batch(ro, sr);
    const UpdateStats u = stop.message.empty() ? update_policy(r, ub, adv, ro.res.size()) : UpdateStats(ro.res.size());
    write_rollouts(r, ro, sr, adv, u);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int64_t tokens = int64_t(r.dp.all_reduce_sum(double(ub.old.size())));  // every rank's
    write_metrics(r, ro, c, u, tokens, secs);
    if (!stop.message.empty()) stop_run(r, stop);
    if (o.drop_uniform_groups) {  // the step trained: its draws are done (before end_step's checkpoint)
      r.prompt_cursor = r.next_cursor;
      r.learner.st.options.set("prompt_cursor", r.prompt_cursor);
    }
    end_step(r, c, u, tokens);
    profiler.after_step(run_steps);
  }
  profiler.finish();
  finish_run(r);
  if (!interrupted()) profiler.require_traced();
  return r.result;
}

}  // namespace delib::rl
