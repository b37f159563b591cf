// --sharding grad-opt and full: gradients and AdamW state split over the ranks, and with full
// the parameters too, gathered a unit at a time (train/sharding.h).
#include "train/sharding.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
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

namespace {

// The one fully sharded optimizer of the process, seen by the RecordFunction callback.
std::atomic<ShardedAdamW*> g_full{nullptr};
thread_local bool t_in_callback = false;

void touch_value(ShardedAdamW& s, const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (t.defined() && t.has_storage()) s.touch(t.storage().unsafeGetStorageImpl());
  } else if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorVector())
      if (t.defined() && t.has_storage()) s.touch(t.storage().unsafeGetStorageImpl());
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) touch_value(s, e);
  }
}

std::unique_ptr<at::ObserverContext> on_operator(const at::RecordFunction& fn) {
  ShardedAdamW* s = g_full.load();
  if (!s || t_in_callback) return nullptr;
  t_in_callback = true;  // the gathers' own operators are not observed
  try {
    for (const c10::IValue& v : fn.inputs()) touch_value(*s, v);
  } catch (...) {
    t_in_callback = false;
    throw;
  }
  t_in_callback = false;
  return nullptr;
}

}  // namespace

ShardedAdamW::ShardedAdamW(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                           const AdamWConfig& c, DataParallel& dp, bool full)
    : dp_(dp), full_(full) {
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
  if (!full_) return;
  if (g_full.load()) throw Error("--sharding full: one fully sharded model per process");
  for (size_t i = 0; i < units_.size(); ++i)
    for (const auto& p : units_[i].params) unit_of_storage_[p.storage().unsafeGetStorageImpl()] = i;
  resident_.resize(units_.size());
  for (size_t i = 0; i < units_.size(); ++i) resident_[i] = i;
  release_all();
  g_full = this;
  callback_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_operator).needsInputs(true));
}

ShardedAdamW::~ShardedAdamW() {
  if (!full_) return;
  at::removeCallback(callback_);
  g_full = nullptr;
}

void ShardedAdamW::touch(const c10::StorageImpl* storage) {
  auto it = unit_of_storage_.find(storage);
  if (it == unit_of_storage_.end()) return;
  const size_t u = it->second;
  auto r = std::find(resident_.begin(), resident_.end(), u);
  if (r != resident_.end()) {  // most recently used last
    resident_.erase(r);
    resident_.push_back(u);
    return;
  }
  gather(u);
  resident_.push_back(u);
  while (resident_.size() > 2) {
    release(resident_.front());
    resident_.erase(resident_.begin());
  }
}

void ShardedAdamW::gather(size_t index) {
  torch::NoGradGuard no_grad;
  Unit& u = units_[index];
  const int64_t W = dp_.world_size(), base = dp_.rank() * u.part;
  torch::Tensor mine = torch::zeros({u.part}, u.grad_part.options());
  for (const auto& pc : u.pieces) mine.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
  torch::Tensor all = torch::empty({W * u.part}, mine.options());
  dp_.all_gather(mine, all);
  for (size_t i = 0; i < u.params.size(); ++i) {
    const torch::Tensor& p = u.params[i];
    c10::StorageImpl* st = p.storage().unsafeGetStorageImpl();
    const size_t nbytes = size_t(p.numel()) * p.element_size();
    c10::DataPtr data = st->allocator()->allocate(nbytes);
    // Written through a tensor of its own: the parameter's version counter must not move
    // (autograd checks it on the tensors it saved).
    at::from_blob(data.get(), {p.numel()}, p.options().requires_grad(false))
        .copy_(all.slice(0, u.offsets[i], u.offsets[i] + p.numel()));
    st->set_data_ptr_noswap(std::move(data));
    st->set_nbytes(nbytes);
  }
}

void ShardedAdamW::release(size_t index) {
  for (const auto& p : units_[index].params) {
    c10::StorageImpl* st = p.storage().unsafeGetStorageImpl();
    st->set_data_ptr_noswap(c10::DataPtr(nullptr, st->device()));
    st->set_nbytes(0);
  }
}

void ShardedAdamW::materialize_all() {
  if (!full_) return;
  for (size_t i = 0; i < units_.size(); ++i)
    if (std::find(resident_.begin(), resident_.end(), i) == resident_.end()) gather(i);
  resident_.clear();
  for (size_t i = 0; i < units_.size(); ++i) resident_.push_back(i);
}

void ShardedAdamW::release_all() {
  if (!full_) return;
  for (size_t u : resident_) release(u);
  resident_.clear();
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
  if (full_) {  // the parts are the parameters now; gathered units are stale
    release_all();
    for (Unit& u : units_) u.grad_part.zero_();
    return;
  }
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
