// --sharding grad-opt: gradients and AdamW state split over the ranks (train/sharding.h).
#include "train/sharding.h"

#include <cmath>
#include <map>

#include "delib/error.h"

namespace delib::train {

std::string sharding_unit(const std::string& name) {
  static const std::string kLayers = "model.layers.";
  if (name.rfind(kLayers, 0) == 0) {
    const size_t dot = name.find('.', kLayers.size());
    return name.substr(0, dot);
  }
  if (name.rfind("model.embed_tokens.", 0) == 0) return "model.embed_tokens";
  return "head";
}

ShardedAdamW::ShardedAdamW(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                           const AdamWConfig& c, DataParallel& dp)
    : dp_(dp) {
  torch::NoGradGuard no_grad;
  const int64_t W = dp.world_size(), rank = dp.rank();
  std::map<std::string, size_t> index;
  for (const auto& [name, p] : trainable) {
    const std::string u = sharding_unit(name);
    auto it = index.find(u);
    if (it == index.end()) {
      it = index.emplace(u, units_.size()).first;
      units_.push_back(Unit{});
      units_.back().name = u;
    }
    Unit& unit = units_[it->second];
    unit.offsets.push_back(unit.numel);
    unit.params.push_back(p);
    unit.numel += p.numel();
  }
  std::vector<torch::Tensor> decay, no_decay;
  for (Unit& u : units_) {
    u.part = (u.numel + W - 1) / W;
    const auto& p0 = u.params.front();
    u.grad_part = torch::zeros({u.part}, p0.options().requires_grad(false));
    const int64_t lo_r = rank * u.part, hi_r = lo_r + u.part;
    for (size_t i = 0; i < u.params.size(); ++i) {
      const int64_t lo = std::max(lo_r, u.offsets[i]), hi = std::min(hi_r, u.offsets[i] + u.params[i].numel());
      if (lo >= hi) continue;
      torch::Tensor v = u.params[i].detach().reshape({-1}).slice(0, lo - u.offsets[i], hi - u.offsets[i]).clone();
      v.requires_grad_(true);
      v.mutable_grad() = u.grad_part.slice(0, lo - lo_r, hi - lo_r);
      (u.params[i].dim() >= 2 ? decay : no_decay).push_back(v);
      u.pieces.push_back(Unit::Piece{i, lo, hi, v});
    }
  }
  // make_adamw's two groups (optim.cpp), over the pieces.
  auto opts = [&](double wd) {
    return torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(wd);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts(c.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts(0.0)));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), opts(c.weight_decay));
}

void ShardedAdamW::reduce_scatter_grads() {
  torch::NoGradGuard no_grad;
  const int64_t W = dp_.world_size();
  for (Unit& u : units_) {
    // (W * part,): the unit's gradient flattened, zeros for padding and missing gradients.
    torch::Tensor flat = torch::zeros({W * u.part}, u.grad_part.options());
    for (size_t i = 0; i < u.params.size(); ++i) {
      torch::Tensor& g = u.params[i].mutable_grad();
      if (g.defined()) flat.slice(0, u.offsets[i], u.offsets[i] + g.numel()).copy_(g.reshape({-1}));
      g = torch::Tensor();  // released: the next backward starts afresh
    }
    dp_.reduce_scatter_sum(flat, u.grad_part);
  }
}

double ShardedAdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  double local = 0;
  for (const Unit& u : units_) local += u.grad_part.to(torch::kFloat64).pow(2).sum().item<double>();
  const double norm = std::sqrt(dp_.all_reduce_sum(local));
  if (max_norm > 0 && std::isfinite(norm)) {
    const double scale = max_norm / (norm + 1e-6);
    if (scale < 1.0)
      for (Unit& u : units_) u.grad_part.mul_(scale);
  }
  return norm;
}

void ShardedAdamW::step(double lr) {
  set_lr(*optimizer_, lr);
  optimizer_->step();
  torch::NoGradGuard no_grad;
  const int64_t W = dp_.world_size();
  for (Unit& u : units_) {
    const int64_t base = dp_.rank() * u.part;
    torch::Tensor mine = torch::zeros({u.part}, u.grad_part.options());
    for (const auto& pc : u.pieces) mine.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
    torch::Tensor all = torch::empty({W * u.part}, mine.options());
    dp_.all_gather(mine, all);
    for (size_t i = 0; i < u.params.size(); ++i) {
      torch::Tensor& p = u.params[i];
      p.detach().copy_(all.slice(0, u.offsets[i], u.offsets[i] + p.numel()).view(p.sizes()));
    }
    u.grad_part.zero_();
  }
}

}  // namespace delib::train
