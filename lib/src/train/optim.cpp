// Learning-rate schedule, AdamW construction and gradient clipping (delib/train.h).
#include <cmath>

#include "delib/error.h"
#include "delib/train.h"

namespace delib::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "linear") return ScheduleKind::kLinear;
  if (name == "constant") return ScheduleKind::kConstant;
  throw Error("unknown schedule '" + name + "' (expected cosine, linear or constant)", kExitUsage);
}

static const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::kCosine: return "cosine";
    case ScheduleKind::kLinear: return "linear";
    case ScheduleKind::kConstant: return "constant";
  }
  return "cosine";
}

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  const double min_lr = lr * min_lr_ratio;
  const int64_t decay = std::max<int64_t>(1, total_steps - warmup_steps);
  const double p = std::clamp(double(step - warmup_steps) / double(decay), 0.0, 1.0);
  switch (kind) {
    case ScheduleKind::kCosine: return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * p));
    case ScheduleKind::kLinear: return lr + (min_lr - lr) * p;
    case ScheduleKind::kConstant: return lr;
  }
  return lr;
}

Json LrSchedule::to_json() const {
  Json j = Json::object();
  j.set("kind", schedule_name(kind));
  j.set("lr", lr);
  j.set("warmup_steps", warmup_steps);
  j.set("total_steps", total_steps);
  j.set("min_lr_ratio", min_lr_ratio);
  return j;
}

LrSchedule LrSchedule::from_json(const Json& j) {
  LrSchedule s;
  auto num = [&](const char* k) -> const Json& {
    const Json* v = j.find(k);
    if (!v || !v->is_number()) throw Error(std::string("schedule: missing number '") + k + "'");
    return *v;
  };
  const Json* kind = j.find("kind");
  if (!kind || !kind->is_string()) throw Error("schedule: missing 'kind'");
  s.kind = parse_schedule(kind->as_string());
  s.lr = num("lr").as_double();
  s.warmup_steps = num("warmup_steps").as_int();
  s.total_steps = num("total_steps").as_int();
  s.min_lr_ratio = num("min_lr_ratio").as_double();
  return s;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, torch::Tensor>>& params, const AdamWConfig& c) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  auto opts = [&](double wd) {
    return torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(wd);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  // Both groups always exist (possibly empty) so that a saved optimizer state always matches.
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts(c.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts(0.0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), opts(c.weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& g : optimizer.param_groups()) g.options().set_lr(lr);
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  // One f64 scalar per tensor, left on the device and summed there: one device sync for the
  // whole norm (a .cpu() per tensor was a wait per parameter, ~300 per step on a 0.5B model).
  std::vector<torch::Tensor> squares;
  for (const auto& p : params)
    if (p.grad().defined()) squares.push_back(p.grad().to(torch::kFloat64).pow(2).sum());
  const double norm =
      squares.empty() ? 0.0 : std::sqrt(torch::stack(squares).sum().item<double>());
  if (max_norm > 0 && std::isfinite(norm)) {
    const double scale = max_norm / (norm + 1e-6);
    if (scale < 1.0)
      for (const auto& p : params)
        if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

}  // namespace delib::train
