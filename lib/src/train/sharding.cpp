// --sharding grad-opt and full: gradients and AdamW state split over the ranks, and with full
// the parameters too, gathered a unit at a time (train/sharding.h).
#include "train/sharding.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>

#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "delib/error.h"
#include "delib/json.h"
#include "delib/safetensors.h"

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

// After AccumulateGrad has added a backward's gradient to a parameter's .grad.
struct GradReady final : torch::autograd::PostAccumulateGradHook {
  GradReady(ShardedAdamW& s, size_t unit, size_t param) : s(s), unit(unit), param(param) {}
  void operator()(const torch::autograd::Variable&) override {
    const bool outer = t_in_callback;
    t_in_callback = true;  // the reduce-scatter's own operators are not observed
    try {
      s.grad_ready(unit, param);
    } catch (...) {
      t_in_callback = outer;
      throw;
    }
    t_in_callback = outer;
  }
  ShardedAdamW& s;
  size_t unit, param;
};

// A gathered unit's buffer, kept alive by each parameter storage that views it.
void release_buffer(void* ctx) { delete static_cast<torch::Tensor*>(ctx); }

// A parameter of CausalLM::load_unallocated: sizes without memory.
bool unallocated(const torch::Tensor& p) {
  return p.storage().nbytes() < size_t(p.numel()) * p.element_size();
}

// Unmaps the resident pages under a CPU view of a read-only file mapping (safetensors::File):
// they leave this process's RSS (the page cache keeps them; a later read faults them back in).
void drop_mapped_pages(const torch::Tensor& view) {
  static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(view.data_ptr()) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(view.data_ptr()) + view.nbytes();
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

std::vector<ShardedAdamW::Unit> ShardedAdamW::make_units(
    const std::vector<std::pair<std::string, torch::Tensor>>& params, int64_t W, const std::string& suffix) {
  std::vector<Unit> units;
  std::map<std::string, size_t> index;
  for (const auto& [name, p] : params) {
    const std::string u = sharding_unit(name);
    auto it = index.find(u);
    if (it == index.end()) {
      it = index.emplace(u, units.size()).first;
      units.push_back(Unit{});
      units.back().name = u + suffix;
    }
    Unit& unit = units[it->second];
    unit.offsets.push_back(unit.numel);
    unit.params.push_back(p);
    unit.names.push_back(name);
    unit.unread.push_back(unallocated(p));
    unit.numel += p.numel();
  }
  for (Unit& u : units) {
    u.part = (u.numel + W - 1) / W;
    u.options = u.params.front().options().requires_grad(false);
  }
  return units;
}

ShardedAdamW::ShardedAdamW(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                           const AdamWConfig& c, DataParallel& dp, bool full,
                           const std::vector<std::pair<std::string, torch::Tensor>>& frozen)
    : dp_(dp), full_(full) {
  torch::NoGradGuard no_grad;
  const int64_t W = dp.world_size(), rank = dp.rank();
  units_ = make_units(trainable, W, "");
  std::vector<torch::Tensor> decay, no_decay;
  for (size_t k = 0; k < units_.size(); ++k) {
    Unit& u = units_[k];
    u.reported.assign(u.params.size(), false);
    const int64_t lo_r = rank * u.part, hi_r = lo_r + u.part;
    for (size_t i = 0; i < u.params.size(); ++i) {
      const int64_t lo = std::max(lo_r, u.offsets[i]), hi = std::min(hi_r, u.offsets[i] + u.params[i].numel());
      if (lo >= hi) continue;
      if (u.unread[i] && !full_)
        throw Error(fmt::format("--sharding grad-opt: parameter {} is not loaded", u.names[i]));
      torch::Tensor v = u.unread[i]
                            ? torch::zeros({hi - lo}, u.options)
                            : u.params[i].detach().reshape({-1}).slice(0, lo - u.offsets[i], hi - u.offsets[i]).clone();
      v.requires_grad_(true);
      (u.params[i].dim() >= 2 ? decay : no_decay).push_back(v);
      u.pieces.push_back(Unit::Piece{i, lo, hi, v});
    }
    for (size_t i = 0; i < u.params.size(); ++i)
      torch::autograd::impl::set_post_acc_grad_hooks(u.params[i], std::make_unique<GradReady>(*this, k, i));
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
  // The frozen parameters (LoRA's base): units of their own, this rank's part kept as `master`.
  frozen_ = make_units(frozen, W, " (frozen)");
  for (Unit& u : frozen_) {
    u.master = torch::zeros({u.part}, u.options);
    const int64_t lo_r = rank * u.part, hi_r = lo_r + u.part;
    for (size_t i = 0; i < u.params.size(); ++i) {
      const int64_t lo = std::max(lo_r, u.offsets[i]), hi = std::min(hi_r, u.offsets[i] + u.params[i].numel());
      if (lo < hi && !u.unread[i])
        u.master.slice(0, lo - lo_r, hi - lo_r).copy_(u.params[i].detach().reshape({-1}).slice(0, lo - u.offsets[i], hi - u.offsets[i]));
    }
  }
  for (size_t i = 0; i < all_units(); ++i)
    for (const auto& p : unit(i).params) unit_of_storage_[p.storage().unsafeGetStorageImpl()] = i;
  resident_.resize(all_units());
  for (size_t i = 0; i < all_units(); ++i) resident_[i] = i;
  release_all();
  g_full = this;
  callback_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_operator).needsInputs(true));
}

ShardedAdamW::~ShardedAdamW() {
  for (Unit& u : units_)
    for (auto& p : u.params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  try {
    finish_reduce();  // its buffers must outlive the collective
  } catch (const std::exception& e) {
    warn(fmt::format("--sharding: the last gradient reduce-scatter failed: {}", e.what()));
  }
  if (!full_) return;
  at::removeCallback(callback_);
  g_full = nullptr;
  try {
    drop_prefetch();  // its buffers must outlive the collective
  } catch (const std::exception& e) {
    warn(fmt::format("--sharding full: the last prefetch failed: {}", e.what()));
  }
}

void ShardedAdamW::read_parts(const safetensors::Checkpoint& source) {
  if (!full_) return;
  torch::NoGradGuard no_grad;
  const int64_t rank = dp_.rank();
  for (size_t k = 0; k < all_units(); ++k) {
    Unit& u = unit(k);
    const int64_t lo_r = rank * u.part, hi_r = lo_r + u.part;
    std::vector<torch::Tensor> views;  // this unit's tensors in the mapping
    for (size_t i = 0; i < u.params.size(); ++i) {
      if (!u.unread[i]) continue;
      u.unread[i] = false;
      const int64_t lo = std::max(lo_r, u.offsets[i]), hi = std::min(hi_r, u.offsets[i] + u.params[i].numel());
      if (lo >= hi) continue;
      torch::Tensor src = source.tensor(u.names[i]);
      views.push_back(src);
      src = src.reshape({-1}).slice(0, lo - u.offsets[i], hi - u.offsets[i]);
      if (u.master.defined()) {
        u.master.slice(0, lo - lo_r, hi - lo_r).copy_(src);
        continue;
      }
      for (auto& pc : u.pieces)
        if (pc.param == i) pc.value.detach().copy_(src);
    }
    for (const auto& v : views) drop_mapped_pages(v);
  }
}

void ShardedAdamW::touch(const c10::StorageImpl* storage) {
  auto it = unit_of_storage_.find(storage);
  if (it == unit_of_storage_.end()) return;
  const size_t u = it->second;
  auto r = std::find(resident_.begin(), resident_.end(), u);
  if (r == resident_.end()) {
    arrive(u);
    return;
  }
  resident_.erase(r);  // most recently used last
  resident_.push_back(u);
  if (std::find(since_.begin(), since_.end(), u) == since_.end()) since_.push_back(u);
}

void ShardedAdamW::arrive(size_t u) {
  const auto t0 = std::chrono::steady_clock::now();
  ++stats_.gathers;
  if (prefetch_ && prefetch_->unit == u) {
    ++stats_.prefetched;
    prefetch_->wait();
    install(u, prefetch_->all);
    prefetch_.reset();
  } else {
    drop_prefetch();  // not the unit that came next
    gather(u);
  }
  stats_.wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  resident_.push_back(u);
  while (resident_.size() > 2) {
    release(resident_.front());
    resident_.erase(resident_.begin());
  }
  if (!arrivals_.empty()) triggers_.push_back(since_.back());
  arrivals_.push_back(u);
  since_.assign(1, u);
  const size_t k = arrivals_.size();
  on_track_ = on_track_ && k <= replay_.size() && replay_[k - 1] == u;
  // The next unit comes in now if the last step used no other unit before it: a decision from
  // the sequence of gathers alone (identical on every rank, also while a checkpoint is written,
  // when the writing rank reads the parameters by other operators than the others).
  if (on_track_ && k < replay_.size() && replay_triggers_[k - 1] == u) prefetch(replay_[k]);
}

void ShardedAdamW::prefetch(size_t u) {
  if (prefetch_ || std::find(resident_.begin(), resident_.end(), u) != resident_.end()) return;
  torch::NoGradGuard no_grad;
  Prefetch p{u, {}, torch::empty({dp_.world_size() * unit(u).part}, unit(u).options), {}};
  p.mine = own_part(u, p.all);
  p.wait = dp_.all_gather_async(p.mine, p.all);  // in place
  prefetch_ = std::move(p);
}

void ShardedAdamW::drop_prefetch() {
  if (!prefetch_) return;
  Prefetch p = std::move(*prefetch_);
  prefetch_.reset();
  p.wait();  // then its buffers are freed
}

void ShardedAdamW::touch_in_order(const std::vector<torch::Tensor>& params) {
  if (!full_) return;
  for (const auto& p : params) touch(p.storage().unsafeGetStorageImpl());
}

torch::Tensor ShardedAdamW::own_part(size_t index, const torch::Tensor& all) {
  torch::NoGradGuard no_grad;
  Unit& u = unit(index);
  const int64_t base = dp_.rank() * u.part;
  torch::Tensor mine = all.slice(0, base, base + u.part);
  if (u.master.defined()) return mine.copy_(u.master);
  mine.zero_();
  for (const auto& pc : u.pieces) mine.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
  return mine;
}

void ShardedAdamW::gather(size_t index) {
  torch::NoGradGuard no_grad;
  Unit& u = unit(index);
  torch::Tensor all = torch::empty({dp_.world_size() * u.part}, u.options);
  dp_.all_gather(own_part(index, all), all);  // in place
  install(index, all);
}

void ShardedAdamW::install(size_t index, const torch::Tensor& all) {
  Unit& u = unit(index);
  char* data = static_cast<char*>(all.data_ptr());
  for (size_t i = 0; i < u.params.size(); ++i) {
    const torch::Tensor& p = u.params[i];
    c10::StorageImpl* st = p.storage().unsafeGetStorageImpl();
    // The storage views its range of the gathered buffer (its own handle keeps the buffer
    // alive); set without touching the parameter's version counter, which autograd checks on
    // the tensors it saved.
    st->set_data_ptr_noswap(c10::DataPtr(data + u.offsets[i] * p.element_size(), new torch::Tensor(all),
                                         &release_buffer, all.device()));
    st->set_nbytes(size_t(p.numel()) * p.element_size());
  }
}

void ShardedAdamW::release(size_t index) {
  for (const auto& p : unit(index).params) {
    c10::StorageImpl* st = p.storage().unsafeGetStorageImpl();
    st->set_data_ptr_noswap(c10::DataPtr(nullptr, st->device()));
    st->set_nbytes(0);
  }
}

void ShardedAdamW::materialize_all() {
  if (!full_) return;
  for (size_t i = 0; i < all_units(); ++i) {
    if (std::find(resident_.begin(), resident_.end(), i) != resident_.end()) continue;
    if (prefetch_ && prefetch_->unit == i) {
      prefetch_->wait();
      install(i, prefetch_->all);
      prefetch_.reset();
    } else {
      gather(i);
    }
  }
  drop_prefetch();
  resident_.clear();
  for (size_t i = 0; i < all_units(); ++i) resident_.push_back(i);
}

void ShardedAdamW::release_all() {
  if (!full_) return;
  drop_prefetch();
  for (size_t u : resident_) release(u);
  resident_.clear();
  arrivals_.clear();
  triggers_.clear();
  since_.clear();
  on_track_ = true;
  if (!replay_.empty()) prefetch(replay_.front());
}

void ShardedAdamW::grad_ready(size_t index, size_t param) {
  torch::NoGradGuard no_grad;
  Unit& u = units_[index];
  torch::Tensor& g = u.params[param].mutable_grad();
  if (!g.defined()) return;
  if (!u.flat.defined()) u.flat = torch::zeros({dp_.world_size() * u.part}, u.options);
  u.flat.slice(0, u.offsets[param], u.offsets[param] + g.numel()).add_(g.reshape({-1}));
  g = torch::Tensor();  // released: the sum lives in `flat` until the reduce-scatter
  if (!u.reported[param]) {
    u.reported[param] = true;
    ++u.pending;
  }
  if (u.pending == u.params.size()) flush(index);
}

void ShardedAdamW::flush(size_t index) {
  torch::NoGradGuard no_grad;
  finish_reduce();  // one in flight at most (and a unit's second sum after its first)
  Unit& u = units_[index];
  if (!u.flat.defined()) u.flat = torch::zeros({dp_.world_size() * u.part}, u.options);
  Reduce r{index, std::move(u.flat), {}, u.grad_part.defined(), {}};
  if (!r.add) {
    u.grad_part = torch::empty({u.part}, u.options);
    r.out = u.grad_part;  // the pieces' gradients view it; read only after finish_reduce()
    const int64_t base = dp_.rank() * u.part;
    for (auto& pc : u.pieces) pc.value.mutable_grad() = u.grad_part.slice(0, pc.lo - base, pc.hi - base);
  } else {  // another micro-batch of the step: its sum is added when it is done
    r.out = torch::empty({u.part}, u.options);
  }
  r.wait = dp_.reduce_scatter_sum_async(r.flat, r.out);
  reduce_ = std::move(r);
  u.flat = torch::Tensor();
  u.reported.assign(u.params.size(), false);
  u.pending = 0;
}

void ShardedAdamW::finish_reduce() {
  if (!reduce_) return;
  Reduce r = std::move(*reduce_);
  reduce_.reset();
  r.wait();
  torch::NoGradGuard no_grad;
  if (r.add) units_[r.unit].grad_part.add_(r.out);
}  // r.flat and r.out freed here

void ShardedAdamW::reduce_scatter_grads() {
  for (size_t k = 0; k < units_.size(); ++k) {
    Unit& u = units_[k];
    if (u.pending > 0 || !u.grad_part.defined()) flush(k);
  }
  finish_reduce();
}

double ShardedAdamW::clip_grad_norm(double max_norm) {
  finish_reduce();
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
  finish_reduce();
  set_lr(*optimizer_, lr);
  optimizer_->step();
  torch::NoGradGuard no_grad;
  for (Unit& u : units_) {  // the next step's gradients start afresh, allocated when reduced
    for (auto& pc : u.pieces) pc.value.mutable_grad() = torch::Tensor();
    u.grad_part = torch::Tensor();
  }
  if (full_) {  // the parts are the parameters now; gathered (and prefetched) units are stale
    if (!arrivals_.empty()) triggers_.push_back(since_.back());
    replay_ = arrivals_;
    replay_triggers_ = triggers_;
    release_all();
    return;
  }
  const int64_t W = dp_.world_size();
  for (Unit& u : units_) {
    const int64_t base = dp_.rank() * u.part;
    torch::Tensor mine = torch::zeros({u.part}, u.options);
    for (const auto& pc : u.pieces) mine.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
    torch::Tensor all = torch::empty({W * u.part}, u.options);
    dp_.all_gather(mine, all);
    for (size_t i = 0; i < u.params.size(); ++i) {
      torch::Tensor& p = u.params[i];
      p.detach().copy_(all.slice(0, u.offsets[i], u.offsets[i] + p.numel()).view(p.sizes()));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoint parts

namespace {

constexpr const char* kPartFormat = "delib-sharded-optimizer";

std::string meta_value(const safetensors::Header& h, const std::string& key, const std::string& path) {
  for (const auto& [k, v] : h.metadata)
    if (k == key) return v;
  throw Error(Location{path, 0}, fmt::format("no __metadata__ field '{}': not a sharded optimizer part", key), kExitIo);
}

int64_t meta_int(const safetensors::Header& h, const std::string& key, const std::string& path) {
  const std::string v = meta_value(h, key, path);
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end) throw Error(Location{path, 0}, fmt::format("__metadata__ field '{}' is not an integer: '{}'", key, v), kExitIo);
  return int64_t(x);
}

}  // namespace

void ShardedAdamW::save_part(const std::string& path) const {
  torch::NoGradGuard no_grad;
  const int64_t base_rank = dp_.rank();
  int64_t step = -1;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  Json units = Json::array();
  for (const Unit& u : units_) {
    const int64_t base = base_rank * u.part;
    torch::Tensor master = torch::zeros({u.part}, u.options), m = torch::zeros({u.part}, u.options),
                  v = torch::zeros({u.part}, u.options);
    for (const auto& pc : u.pieces) {
      master.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
      auto it = optimizer_->state().find(pc.value.unsafeGetTensorImpl());
      int64_t s = 0;
      if (it != optimizer_->state().end()) {
        auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
        m.slice(0, pc.lo - base, pc.hi - base).copy_(st.exp_avg().reshape({-1}));
        v.slice(0, pc.lo - base, pc.hi - base).copy_(st.exp_avg_sq().reshape({-1}));
        s = st.step();
      }
      if (step >= 0 && s != step) throw Error(Location{path, 0}, "the AdamW step differs between this rank's parameters");
      step = s;
    }
    tensors.emplace_back(u.name + ".master", master);
    tensors.emplace_back(u.name + ".exp_avg", m);
    tensors.emplace_back(u.name + ".exp_avg_sq", v);
    Json e = Json::array();
    e.push(u.name);
    e.push(u.numel);
    units.push(e);
  }
  safetensors::save_file(path + ".tmp", tensors,
                         {{"format_delib", kPartFormat},
                          {"world_size", std::to_string(dp_.world_size())},
                          {"rank", std::to_string(dp_.rank())},
                          {"adamw_step", std::to_string(std::max<int64_t>(step, 0))},
                          {"units", units.dump()}});
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0)
    throw Error(Location{path, 0}, "cannot write this rank's part of the model and optimizer", kExitIo);
}

void ShardedAdamW::load_parts(const std::vector<std::string>& paths) {
  torch::NoGradGuard no_grad;
  const int64_t Q = int64_t(paths.size());
  std::vector<std::shared_ptr<safetensors::File>> files;
  int64_t step = -1;
  for (int64_t q = 0; q < Q; ++q) {
    const std::string& path = paths[size_t(q)];
    files.push_back(safetensors::File::open(path));
    const auto& h = files.back()->header();
    if (meta_value(h, "format_delib", path) != kPartFormat)
      throw Error(Location{path, 0}, "__metadata__ field 'format_delib': not a sharded optimizer part", kExitIo);
    if (meta_int(h, "world_size", path) != Q || meta_int(h, "rank", path) != q)
      throw Error(Location{path, 0}, fmt::format("__metadata__ fields 'world_size', 'rank': expected {} and {}", Q, q), kExitIo);
    const int64_t s = meta_int(h, "adamw_step", path);
    if (step >= 0 && s != step) throw Error(Location{path, 0}, fmt::format("__metadata__ field 'adamw_step' is {}, rank 0's {}", s, step), kExitIo);
    step = s;
    // The units must be the model's: same names, order and sizes.
    const Json units = Json::parse(meta_value(h, "units", path));
    if (!units.is_array() || units.as_array().size() != units_.size())
      throw Error(Location{path, 0}, fmt::format("__metadata__ field 'units': {} units, the model has {} (a checkpoint "
                                                 "of another model or of LoRA?)", units.is_array() ? units.as_array().size() : 0,
                                                 units_.size()), kExitUsage);
    for (size_t k = 0; k < units_.size(); ++k) {
      const Json& e = units.as_array()[k];
      if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_string() || !e.as_array()[1].is_int() ||
          e.as_array()[0].as_string() != units_[k].name || e.as_array()[1].as_int() != units_[k].numel)
        throw Error(Location{path, 0}, fmt::format("__metadata__ field 'units'[{}] is {}, the model's unit is [\"{}\", {}] "
                                                   "(a checkpoint of another model?)", k, e.dump(), units_[k].name,
                                                   units_[k].numel), kExitUsage);
    }
  }
  const int64_t rank = dp_.rank();
  for (Unit& u : units_) {
    const int64_t part_q = (u.numel + Q - 1) / Q;
    const int64_t lo = rank * u.part, hi = std::min(u.numel, lo + u.part);  // this rank's range
    torch::Tensor buf[3];
    const char* kinds[3] = {".master", ".exp_avg", ".exp_avg_sq"};
    for (int k = 0; k < 3; ++k) buf[k] = torch::zeros({u.part}, u.options);
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t qlo = std::max(lo, q * part_q), qhi = std::min(hi, (q + 1) * part_q);
      if (qlo >= qhi) continue;
      for (int k = 0; k < 3; ++k) {
        const std::string name = u.name + kinds[k];
        const auto* info = files[size_t(q)]->find(name);
        if (!info) throw Error(Location{paths[size_t(q)], 0}, fmt::format("no tensor '{}'", name), kExitIo);
        torch::Tensor t = files[size_t(q)]->tensor(name);
        if (t.dim() != 1 || t.size(0) != part_q)
          throw Error(Location{paths[size_t(q)], 0}, fmt::format("tensor '{}' has {} elements, expected {}", name, t.numel(), part_q), kExitIo);
        buf[k].slice(0, qlo - lo, qhi - lo).copy_(t.slice(0, qlo - q * part_q, qhi - q * part_q));
      }
    }
    for (auto& pc : u.pieces) {
      const auto sizes = pc.value.sizes();
      pc.value.detach().copy_(buf[0].slice(0, pc.lo - lo, pc.hi - lo).view(sizes));
      if (step <= 0) continue;
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(step);
      st->exp_avg(buf[1].slice(0, pc.lo - lo, pc.hi - lo).clone().view(sizes));
      st->exp_avg_sq(buf[2].slice(0, pc.lo - lo, pc.hi - lo).clone().view(sizes));
      optimizer_->state()[pc.value.unsafeGetTensorImpl()] = std::move(st);
    }
  }
  if (full_) return;
  // grad-opt: the model's parameters from the parts (equal to the loaded weights already
  // when those are the checkpoint's f32 copy; exact either way).
  const int64_t W = dp_.world_size();
  for (Unit& u : units_) {
    const int64_t base = rank * u.part;
    torch::Tensor mine = torch::zeros({u.part}, u.options);
    for (const auto& pc : u.pieces) mine.slice(0, pc.lo - base, pc.hi - base).copy_(pc.value.detach());
    torch::Tensor all = torch::empty({W * u.part}, u.options);
    dp_.all_gather(mine, all);
    for (size_t i = 0; i < u.params.size(); ++i) {
      torch::Tensor& p = u.params[i];
      p.detach().copy_(all.slice(0, u.offsets[i], u.offsets[i] + p.numel()).view(p.sizes()));
    }
  }
}

}  // namespace delib::train
