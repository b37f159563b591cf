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
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/generate.h"
#include "delib/progress.h"
#include "delib/rl.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"

namespace delib::rl {
namespace {

torch::Device parse_device(const std::string& s, int local_rank) {
  if (s == "cpu") return torch::kCPU;
  if (s == "cuda") return torch::Device(torch::kCUDA, local_rank);
  if (s.rfind("cuda:", 0) == 0) return torch::Device(s);
  throw Error(fmt::format("--device '{}': expected cpu, cuda or cuda:N", s), kExitUsage);
}

struct Prompt {
  Record record;
  std::string id, category;
  std::vector<Message> messages;
  std::vector<int32_t> prompt_ids;
};

// Log-probabilities of the label tokens of `b` under `model` (N,), in row-major order of the
// label positions; also the row of each (N,).
torch::Tensor label_logprobs(CausalLM& model, const train::Batch& b, const torch::Tensor& mask,
                             torch::Device device) {
  ForwardOptions fo;
  fo.positions = b.positions.to(device);
  if (b.attention_mask.defined()) fo.attention_mask = b.attention_mask.to(device);
  torch::Tensor h = model.hidden(b.input_ids.to(device), fo);  // (B, T, C)
  torch::Tensor hs = h.reshape({-1, h.size(-1)}).index({mask.reshape({-1})});  // (N, C)
  torch::Tensor targets = b.labels.to(device).reshape({-1}).index({mask.reshape({-1})});
  return chunked_token_logprobs(hs, model.lm_head_weight(), targets);
}

}  // namespace

RlResult run_rl(const RlOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  if (o.group_size < 2) throw Error("--group-size must be >= 2 (advantages compare completions of a prompt)", kExitUsage);
  if (o.prompts_per_step < 1 || o.steps < 1 || o.ppo_epochs < 1)
    throw Error("--prompts-per-step, --steps and --ppo-epochs must be >= 1", kExitUsage);
  const train::DistEnv denv = train::DistEnv::from_environment();
  const bool rank0 = denv.rank == 0;
  const torch::Device device = parse_device(o.device, denv.local_rank);
  train::DataParallel dp(denv, device);

  // ---- Prompts.
  auto tok = Tokenizer::load(o.model_dir);
  auto tmpl = ChatTemplate::for_tokenizer(*tok);
  std::vector<Prompt> prompts;
  {
    RecordReader reader(o.inputs, o.read);
    Record r;
    while (reader.next(r)) {
      Prompt p;
      p.id = r.id();
      p.messages = r.messages();
      p.category = r.get_string("category").value_or("");
      p.prompt_ids = encode_chat(*tmpl, *tok, p.messages);
      p.record = std::move(r);
      prompts.push_back(std::move(p));
    }
  }
  if (prompts.empty()) throw Error("no prompts in the input");

  // ---- Rewards.
  std::map<std::string, double> weight = {{"judge", 1.0}, {"format", 1.0}, {"rule", 1.0}};
  for (auto& [k, v] : o.weights) {
    if (!weight.count(k)) throw Error(fmt::format("--reward-weight '{}': no such reward (judge, format, rule)", k), kExitUsage);
    weight[k] = v;
  }
  std::optional<Spec> spec;
  std::unique_ptr<Backend> judge_backend;
  std::vector<std::unique_ptr<RewardSource>> sources;
  sources.push_back(make_format_reward(o.format_penalty));
  if (!o.rules.empty()) sources.push_back(make_rule_reward(o.rules));
  Backend* jb = o.judge_backend_override;
  if (!jb && !o.judge_backend.model.empty()) {
    judge_backend = make_backend(o.judge_backend);
    jb = judge_backend.get();
  }
  if (jb) {
    if (o.spec_path.empty()) throw Error("the judge reward needs --spec", kExitUsage);
    spec = Spec::load(o.spec_path);
    for (auto& p : prompts)
      if (!spec->category(p.category))
        throw Error(p.record.where(), fmt::format("category '{}' is not in the spec", p.category));
    JudgeOptions jo;
    jo.samples = o.judge_samples;
    jo.nonce_digits = o.judge_nonce_length;
    jo.rubric = o.judge_rubric;
    jo.seed = o.seed;
    jo.nonce_seed = o.judge_nonce_seed.value_or(o.seed);
    jo.params.temperature = 0;
    jo.params.max_tokens = 512;
    sources.push_back(make_judge_reward(*spec, *jb, jo));
  }
  if (sources.size() == 1 && rank0)
    cli::warn("only the format reward is active: give --judge-model (with --spec) or --rule-reward");

  // ---- Models, optimizer, state.
  std::optional<std::string> ckpt;
  if (!o.resume.empty() && !(o.resume == o.out_dir && !std::filesystem::exists(o.resume)))
    ckpt = train::Checkpointer::resolve(o.resume);
  auto model = CausalLM::load(ckpt ? *ckpt : o.model_dir, device, "f32");
  std::shared_ptr<CausalLM> ref;
  if (o.kl_coef != 0.0) {
    ref = CausalLM::load(o.model_dir, device, "f32");  // the frozen starting model
    for (auto& [n, p] : ref->named_parameters()) p.set_requires_grad(false);
  }
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& item : model->module().named_parameters(true))
    if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : trainable) params.push_back(p);
  dp.broadcast(params);
  auto optimizer = train::make_adamw(trainable, o.adamw);
  train::TrainState st;
  st.seed = o.seed;
  st.schedule.kind = train::ScheduleKind::kConstant;
  st.schedule.lr = o.adamw.lr;
  st.schedule.total_steps = o.steps;
  st.options = Json::object();
  st.options.set("prompts", int64_t(prompts.size()));
  st.options.set("prompts_per_step", o.prompts_per_step);
  st.options.set("group_size", o.group_size);
  st.options.set("world_size", denv.world_size);
  if (ckpt) {
    st = train::Checkpointer::load_state(*ckpt);
    train::Checkpointer::load_into(*ckpt, {}, *optimizer);
    if (rank0) cli::warn(fmt::format("resuming from {} at step {}", *ckpt, st.step));
  }
  std::unique_ptr<train::Checkpointer> checkpointer;
  if (!o.out_dir.empty() && rank0) checkpointer = std::make_unique<train::Checkpointer>(o.out_dir, o.keep_last, o.model_dir);

  EngineOptions eo;
  eo.batch_size = o.engine_batch;
  auto policy = make_local_backend(model, tok, eo);
  SamplingParams sp = o.sampling;
  sp.logprobs = true;

  std::unique_ptr<RecordWriter> rollouts;
  if (rank0) {
    WriteOptions wo = o.rollouts_write;
    wo.flush_each = true;
    wo.append = ckpt.has_value();
    rollouts = std::make_unique<RecordWriter>(o.rollouts, wo);
  }
  std::unique_ptr<RecordWriter> metrics;
  if (rank0 && !o.metrics.empty()) {
    WriteOptions wo = o.metrics_write;
    wo.flush_each = true;
    wo.append = ckpt.has_value();
    metrics = std::make_unique<RecordWriter>(o.metrics, wo);
  }
  const bool judging = jb != nullptr;
  train::PackOptions po;
  po.pack = false;
  po.max_length = 1 << 30;
  po.pad_id = tok->pad_id().value_or(tok->eos_id().value_or(0));

  RlResult result;
  const int64_t n = int64_t(prompts.size());
  const int64_t global_p = o.prompts_per_step * denv.world_size;
  Progress progress("rl-train", o.steps, o.progress && rank0);
  progress.add(st.step);
  int64_t last_saved = ckpt ? st.step : -1;
  // The run's judge failures, once, on stderr (rank 0: the counts are every process's).
  auto report_judge = [&](bool stopped) {
    std::string sum = result.judge_failures.summary(result.judge_attempted, "completions");
    if (rank0 && !sum.empty())
      cli::warn(fmt::format("judge: {}{}", sum,
                            stopped ? "" : ", left out of their groups' advantages (--on-judge-error skip)"));
  };
  auto save = [&]() {
    if (checkpointer) result.last_checkpoint = checkpointer->save(*model, {}, *optimizer, st);
    last_saved = st.step;
    dp.barrier();
  };

  while (st.step < o.steps && !interrupted()) {
    const auto step_t0 = std::chrono::steady_clock::now();
    // This step's prompts: a window of the epoch's seeded order (global, then this rank's part).
    std::vector<const Prompt*> batch;
    for (int64_t j = 0; j < o.prompts_per_step; ++j) {
      int64_t g = st.step * global_p + denv.rank * o.prompts_per_step + j;
      int64_t epoch = g / n;
      auto order = train::epoch_order(size_t(n), o.seed, epoch);
      batch.push_back(&prompts[order[size_t(g % n)]]);
    }
    // 1. Rollouts.
    std::vector<GenRequest> reqs;
    for (const Prompt* p : batch)
      for (int g = 0; g < o.group_size; ++g) {
        GenRequest r;
        r.messages = p->messages;
        r.params = sp;
        r.seed = o.seed;
        r.key = fmt::format("{}@{}", p->id, st.step);
        r.sample = g;
        reqs.push_back(std::move(r));
      }
    std::vector<GenResult> res = policy->generate_all(reqs);
    if (interrupted()) break;
    // 2. Rewards. A completion has a reward when it was generated without error and every
    // source scored it; the others are left out of the update (delib/rl.h).
    std::vector<RewardInput> rin;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const Prompt* p = batch[i / size_t(o.group_size)];
      RewardInput x;
      x.key = fmt::format("{}/{}", reqs[i].key, reqs[i].sample);
      x.category = p->category;
      x.messages = p->messages;
      x.reasoning = res[i].reasoning;
      x.answer = res[i].answer;
      x.format_ok = res[i].format_ok;
      rin.push_back(std::move(x));
    }
    const size_t nc = rin.size();
    std::vector<std::pair<std::string, std::vector<RewardValue>>> comps;
    std::vector<double> total(nc, 0.0);
    std::vector<bool> rewarded(nc, true);
    for (size_t i = 0; i < nc; ++i)
      if (!res[i].error.empty()) rewarded[i] = false;
    for (auto& s : sources) {
      std::vector<RewardValue> v = s->evaluate(rin);
      if (v.size() != nc)
        throw Error(fmt::format("internal: reward '{}' gave {} values for {} completions", s->name(), v.size(), nc));
      for (size_t i = 0; i < nc; ++i) {
        if (v[i].value) total[i] += weight[s->name()] * *v[i].value;
        else rewarded[i] = false;
      }
      comps.emplace_back(s->name(), std::move(v));
    }
    if (interrupted()) break;  // a judge cut short by the signal: not failures, nothing to train on
    const std::vector<RewardValue>* judge_values = nullptr;
    for (auto& [name, v] : comps)
      if (name == "judge") judge_values = &v;
    // Counts over every process's completions (the same on every rank, so every rank takes the
    // same branch below).
    int64_t local_judged = 0, local_backend = 0, local_parse = 0, local_rewarded = 0;
    double local_sum = 0;
    size_t first_failed = nc;  // this rank's first completion the judge could not score
    for (size_t i = 0; i < nc; ++i) {
      if (rewarded[i]) {
        ++local_rewarded;
        local_sum += total[i];
      }
    }
    if (judge_values)
      for (size_t i = 0; i < nc; ++i) {
        const RewardValue& v = (*judge_values)[i];
        if (v.value) {
          ++local_judged;
          continue;
        }
        if (first_failed == nc) first_failed = i;
        if (v.error_kind == "backend") ++local_backend;
        else ++local_parse;
      }
    const int64_t step_completions = int64_t(dp.all_reduce_sum(double(nc)));
    const int64_t step_judged = judging ? int64_t(dp.all_reduce_sum(double(local_judged))) : 0;
    const int64_t step_backend = judging ? int64_t(dp.all_reduce_sum(double(local_backend))) : 0;
    const int64_t step_parse = judging ? int64_t(dp.all_reduce_sum(double(local_parse))) : 0;
    const int64_t step_rewarded = int64_t(dp.all_reduce_sum(double(local_rewarded)));
    const double step_sum = dp.all_reduce_sum(local_sum);
    if (judging) {
      result.judge_attempted += step_completions;
      result.judged += step_judged;
      if (step_backend) result.judge_failures.add("backend", step_backend);
      if (step_parse) result.judge_failures.add("parse", step_parse);
      if (first_failed < nc) {
        const Prompt* p = batch[first_failed / size_t(o.group_size)];
        const RewardValue& v = (*judge_values)[first_failed];
        const std::string what = fmt::format("step {}: the judge could not score {} of {} completions (backend {}, parse {}); "
                                             "first: {} sample {}: {}", st.step + 1, local_backend + local_parse, nc,
                                             local_backend, local_parse, p->id, first_failed % size_t(o.group_size),
                                             v.error);
        if (!o.fail_on_judge_error) cli::warn(what + (local_rewarded ? " (left out of their groups)" : ""));
      }
    }
    // The run stops (exit 4) when the judge failed and --on-judge-error fail, or when no
    // completion of the step has a reward: after writing this step's rollouts and metrics and a
    // checkpoint of the steps done, without updating on this step.
    std::string fatal;
    Location fatal_where;
    if (o.fail_on_judge_error && step_backend + step_parse > 0) {
      if (first_failed < nc) {
        const Prompt* p = batch[first_failed / size_t(o.group_size)];
        fatal_where = p->record.where();
        fatal = fmt::format("step {}: id {} sample {}: {} (--on-judge-error fail)", st.step + 1, p->id,
                            first_failed % size_t(o.group_size), (*judge_values)[first_failed].error);
      } else {
        fatal = fmt::format("step {}: the judge failed on another process (--on-judge-error fail; its message names the record)",
                            st.step + 1);
      }
    } else if (step_rewarded == 0) {
      fatal = fmt::format("step {}: none of its {} completions has a reward", st.step + 1, step_completions);
      if (judging)
        fatal += fmt::format(" (the judge scored {}: backend errors {}, unparseable {})", step_judged, step_backend,
                             step_parse);
      fatal += "; nothing to learn from";
    }
    // 3. Advantages within each prompt's group, over the members that have a reward.
    const int64_t np = int64_t(batch.size());
    torch::Tensor rewards = torch::tensor(total, torch::kFloat64).reshape({np, o.group_size});
    std::vector<int64_t> rmask(rewarded.begin(), rewarded.end());
    torch::Tensor rewarded_t = torch::tensor(rmask).to(torch::kBool).reshape({np, o.group_size});
    torch::Tensor adv = group_advantages(rewards, rewarded_t, o.adv_eps).reshape({-1});
    // 4. Update: sequences = prompt ids + completion ids, loss on the completion; completions
    // without a reward are not in the batch.
    std::vector<train::TokenizedExample> ex;
    std::vector<float> old;
    std::vector<int64_t> seq_of;  // completion index of each kept sequence
    for (size_t i = 0; i < res.size(); ++i) {
      if (res[i].token_ids.empty() || !rewarded[i]) continue;
      const Prompt* p = batch[i / size_t(o.group_size)];
      train::TokenizedExample e;
      e.ids = p->prompt_ids;
      e.labels.assign(e.ids.size(), int32_t(train::kIgnoreIndex));
      for (int32_t t : res[i].token_ids) {
        e.ids.push_back(t);
        e.labels.push_back(t);
      }
      old.insert(old.end(), res[i].logprobs.begin(), res[i].logprobs.end());
      seq_of.push_back(int64_t(i));
      ex.push_back(std::move(e));
    }
    std::vector<double> seq_kl(res.size(), 0.0);
    double policy_obj = 0, mean_kl = 0, clip_frac = 0, grad_norm = 0;
    // Every rank takes part in the update when any rank has a sequence (the gradient
    // all-reduce is a collective); a rank with none contributes zero gradients.
    const bool update = fatal.empty() && dp.all_reduce_sum(double(ex.size())) > 0;
    if (update) {
      train::Batch b;
      torch::Tensor mask, seq_idx, tok_adv, old_logp, ref_logp;
      if (!ex.empty()) {
        std::vector<const train::TokenizedExample*> ptrs;
        for (auto& e : ex) ptrs.push_back(&e);
        b = train::pack_examples(ptrs, po);
        mask = (b.labels != train::kIgnoreIndex);
        torch::Tensor rows = torch::arange(b.rows()).unsqueeze(1).expand_as(b.labels).masked_select(mask);
        old_logp = torch::tensor(old, torch::kFloat32).to(device);
        if (old_logp.size(0) != rows.size(0))
          throw Error(fmt::format("internal: {} rollout log-probs for {} completion tokens", old_logp.size(0), rows.size(0)));
        seq_idx = rows.to(device);
        tok_adv = adv.to(torch::kFloat32).index({torch::tensor(seq_of).index({rows})}).to(device);
        if (ref) {
          torch::NoGradGuard ng;
          ref_logp = label_logprobs(*ref, b, mask, device);
        }
      }
      for (int e = 0; e < o.ppo_epochs; ++e) {
        optimizer->zero_grad(false);
        torch::Tensor logp;
        GrpoLossParts parts;
        if (!ex.empty()) {
          logp = label_logprobs(*model, b, mask, device);
          parts = grpo_loss(logp, old_logp, ref_logp, tok_adv, seq_idx, b.rows(), o.clip_eps, o.kl_coef);
          parts.loss.backward();
        }
        for (auto& p : params)
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        std::vector<torch::Tensor> grads;
        for (auto& p : params) grads.push_back(p.grad());
        dp.all_reduce_sum(grads);
        for (auto& g : grads) g.div_(double(denv.world_size));
        grad_norm = train::clip_grad_norm(params, o.max_grad_norm);
        train::set_lr(*optimizer, st.schedule.at(st.step));
        optimizer->step();
        if (e == 0 && !ex.empty()) {
          policy_obj = parts.policy;
          mean_kl = parts.kl;
          clip_frac = parts.clip_fraction;
          if (ref_logp.defined()) {
            torch::NoGradGuard ng;
            torch::Tensor k = k3_kl(logp.detach(), ref_logp);
            torch::Tensor s = torch::zeros({b.rows()}, k.options()).index_add(0, seq_idx, k);
            torch::Tensor l = torch::zeros({b.rows()}, k.options()).index_add(0, seq_idx, torch::ones_like(k));
            torch::Tensor m = (s / l.clamp_min(1)).cpu();
            for (int64_t r = 0; r < b.rows(); ++r) seq_kl[size_t(seq_of[size_t(r)])] = m[r].item<double>();
          }
        }
      }
    }
    // Rollout records: every rank's, written by rank 0 in rank order (one collective per step).
    const double mean_r = step_rewarded ? step_sum / double(step_rewarded) : 0.0;
    {
      std::string lines;
      for (size_t i = 0; i < res.size(); ++i) {
        const Prompt* p = batch[i / size_t(o.group_size)];
        Record r = p->record;
        r.set("sample", int64_t(i % size_t(o.group_size)));
        r.set("step", st.step + 1);
        r.set("reasoning", res[i].reasoning);
        r.set("answer", res[i].answer);
        r.set("format_ok", res[i].format_ok);
        Json c = Json::object();
        for (auto& [name, v] : comps) c.set(name, v[i].value ? Json(*v[i].value) : Json());
        r.set("rewards", c);
        // No reward: no total, no advantage, not in the update (null, not a made-up 0).
        r.set("reward", rewarded[i] ? Json(total[i]) : Json());
        r.set("advantage", rewarded[i] ? Json(adv[int64_t(i)].item<double>()) : Json());
        r.set("kl", rewarded[i] ? Json(seq_kl[i]) : Json());
        for (auto& [name, v] : comps)
          if (!v[i].value) r.set(name + "_error", v[i].error);
        if (!res[i].error.empty()) r.set("error", res[i].error);
        r.append_json(lines);
        lines += '\n';
      }
      std::vector<std::string> all = dp.gather_to_rank0(lines);
      if (rollouts)
        for (const std::string& part : all)
          for (size_t b = 0, e; b < part.size(); b = e + 1) {
            e = part.find('\n', b);
            rollouts->write_line(std::string_view(part).substr(b, e - b));
          }
    }
    if (metrics) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count();
      Json m = Json::object();
      m.set("step", st.step + 1);
      m.set("updated", update);
      m.set("completions", step_completions);
      m.set("rewarded", step_rewarded);
      m.set("reward", step_rewarded ? Json(mean_r) : Json());
      if (judging) {
        m.set("judged", step_judged);
        m.set("judge_errors", step_backend + step_parse);
        m.set("judge_backend_errors", step_backend);
        m.set("judge_parse_errors", step_parse);
      }
      m.set("policy", update ? Json(policy_obj) : Json());
      m.set("kl", update ? Json(mean_kl) : Json());
      m.set("clip_fraction", update ? Json(clip_frac) : Json());
      m.set("grad_norm", update ? Json(grad_norm) : Json());
      m.set("tokens", int64_t(dp.all_reduce_sum(double(old.size()))));
      m.set("step_time_s", secs);
      metrics->write_line(m.dump());
    } else {
      dp.all_reduce_sum(double(old.size()));  // the same collectives on every rank
    }
    if (!fatal.empty()) {
      progress.finish();
      report_judge(/*stopped=*/true);
      if (!o.out_dir.empty() && last_saved != st.step && st.step > 0) save();
      if (rollouts) rollouts->close();
      if (metrics) metrics->close();
      throw Error(fatal_where, fatal, kExitBackend);
    }
    result.mean_reward.push_back(mean_r);
    st.step += 1;
    st.tokens_seen += int64_t(old.size());
    result.steps = st.step;
    progress.add(1, fmt::format("reward {:.3f} kl {:.4f} clip {:.2f} |g| {:.2f} obj {:.3f}{}", mean_r, mean_kl,
                                clip_frac, grad_norm, policy_obj,
                                judging ? fmt::format(" judged {}/{}", step_judged, step_completions) : ""));
    if (o.save_every > 0 && st.step % o.save_every == 0 && !o.out_dir.empty()) save();
  }
  progress.finish();
  report_judge(/*stopped=*/false);
  if (!o.out_dir.empty() && last_saved != st.step) save();
  if (rollouts) rollouts->close();
  if (metrics) metrics->close();
  return result;
}

}  // namespace delib::rl
