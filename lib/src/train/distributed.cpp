// Data parallelism over c10d (delib/train.h): the launcher's environment, a TCPStore
// rendezvous, and Gloo (CPU) or NCCL (CUDA) all-reduce.
//
// LibTorch's c10d headers compile their backends only under these macros; the compiled
// backends are inside libtorch_cpu (Gloo) and libtorch_cuda (NCCL). The gloo headers
// themselves are not shipped with the wheel: see gloo_shim/README.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(DELIB_HAVE_CUDA) && __has_include(<nccl.h>)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define DELIB_HAVE_NCCL 1
#endif

#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/train.h"

namespace delib::train {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int fallback, int min_value) {
  auto v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v->c_str(), &end, 10);
  if (*end || x < min_value || x > 1 << 30)
    throw Error(fmt::format("environment variable {}='{}': expected an integer >= {}", name, *v,
                            min_value), kExitUsage);
  return int(x);
}

// Bucket size for the flattened all-reduce: big enough to amortise the per-call latency,
// small enough not to double a large model's gradient memory.
constexpr int64_t kBucketBytes = int64_t(64) << 20;

}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  if (env("RANK") || env("WORLD_SIZE")) {
    e.launcher = "torchrun";
    e.rank = env_int("RANK", 0, 0);
    e.world_size = env_int("WORLD_SIZE", 1, 1);
    e.local_rank = env_int("LOCAL_RANK", 0, 0);
    // torchrun's agent serves the store itself; workers connect as clients.
    auto agent = env("TORCHELASTIC_USE_AGENT_STORE");
    e.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  } else if (env("SLURM_PROCID") && env("SLURM_NTASKS")) {
    e.launcher = "slurm";
    e.rank = env_int("SLURM_PROCID", 0, 0);
    e.world_size = env_int("SLURM_NTASKS", 1, 1);
    e.local_rank = env_int("SLURM_LOCALID", 0, 0);
  }
  if (e.rank >= e.world_size)
    throw Error(fmt::format("rank {} is not below the world size {}", e.rank, e.world_size), kExitUsage);
  if (auto a = env("MASTER_ADDR")) e.master_addr = *a;
  e.master_port = env_int("MASTER_PORT", 29500, 1);
  if (e.master_port > 65535) throw Error("MASTER_PORT must be below 65536", kExitUsage);
  return e;
}

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
  torch::Device device = torch::kCPU;
};

DataParallel::DataParallel(const DistEnv& env_in, torch::Device device,
                           std::chrono::milliseconds timeout)
    : env_(env_in), impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  // One process under torchrun (WORLD_SIZE=1) still gets a process group of one: the
  // collectives then run through Gloo / NCCL as on more processes (tests/gpu/run.sh checks
  // --sharding full on NCCL that way); without a launcher every collective is a no-op.
  if (!env_.distributed() && env_.launcher != "torchrun") return;
  c10d::TCPStoreOptions so;
  so.port = uint16_t(env_.master_port);
  so.isServer = !env_.agent_store && env_.rank == 0;
  so.numWorkers = env_.agent_store ? std::nullopt : std::optional<size_t>(env_.world_size);
  so.waitWorkers = !env_.agent_store;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, so);
  } catch (const std::exception& ex) {
    throw Error(fmt::format("rendezvous at {}:{} (rank {} of {}) failed: {}", env_.master_addr,
                            env_.master_port, env_.rank, env_.world_size, ex.what()), kExitIo);
  }
  // torchrun's agent store is shared with the agent: keep our keys apart, per restart attempt,
  // as torch.distributed's env:// rendezvous does.
  std::string prefix = "delib/";
  if (env_.agent_store)
    prefix = "/worker/attempt_" + std::to_string(env_int("TORCHELASTIC_RESTART_COUNT", 0, 0)) + "/delib/";
  impl_->store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  if (device.is_cuda()) {
#ifdef DELIB_HAVE_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env_.rank, env_.world_size, opts);
#else
    throw Error("data parallel on CUDA needs a build with NCCL (nccl.h was not found at build time)", kExitUsage);
#endif
  } else {
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl_->store, env_.rank, env_.world_size, c10d::ProcessGroupGloo::Options::create_default(timeout));
  }
}

DataParallel::~DataParallel() {
  if (!impl_ || !impl_->pg) return;
  // What torch.distributed.destroy_process_group() does (NCCL warns at exit without it): a
  // normal exit flushes and shuts the backend down; leaving by an exception aborts it, which
  // never waits on ranks that may have stopped.
  try {
    if (std::uncaught_exceptions() > 0)
      impl_->pg->abort();
    else
      impl_->pg->shutdown();
  } catch (...) {  // a destructor must not throw; the process is ending anyway
  }
}

void DataParallel::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  if (!impl_->pg || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  // Flatten same-dtype tensors into buckets: one collective per bucket, not per tensor.
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& t : tensors) by_dtype[t.scalar_type()].push_back(t);
  for (auto& [dtype, list] : by_dtype) {
    size_t i = 0;
    while (i < list.size()) {
      std::vector<torch::Tensor> bucket;
      int64_t bytes = 0;
      while (i < list.size() && (bucket.empty() || bytes + list[i].nbytes() <= size_t(kBucketBytes))) {
        bytes += list[i].nbytes();
        bucket.push_back(list[i++]);
      }
      std::vector<torch::Tensor> flat_parts;
      for (const auto& t : bucket) flat_parts.push_back(t.reshape(-1));
      // A host tensor on a CUDA group (counters, exit codes) travels through the device: NCCL
      // reduces device memory only. The copy back below writes each caller's tensor where it is.
      std::vector<at::Tensor> io{torch::cat(flat_parts).to(impl_->device)};
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      impl_->pg->allreduce(io, opts)->wait();
      int64_t off = 0;
      for (auto& t : bucket) {
        t.copy_(io[0].slice(0, off, off + t.numel()).view(t.sizes()));
        off += t.numel();
      }
    }
  }
}

double DataParallel::all_reduce_sum(double value) {
  if (!impl_->pg) return value;
  torch::Tensor t = torch::full({1}, value, torch::TensorOptions().dtype(torch::kFloat64).device(impl_->device));
  all_reduce_sum(std::vector<torch::Tensor>{t});
  return t.item<double>();
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (!impl_->pg) return;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    // Non-contiguous or host tensors (on a CUDA group) go through a contiguous device copy.
    const bool direct = t.is_contiguous() && t.device() == impl_->device;
    std::vector<at::Tensor> io{direct ? t : t.contiguous().to(impl_->device)};
    c10d::BroadcastOptions opts;
    opts.rootRank = 0;
    impl_->pg->broadcast(io, opts)->wait();
    if (!direct) t.copy_(io[0]);
  }
}

void DataParallel::reduce_scatter_sum(const torch::Tensor& input, const torch::Tensor& output) {
  reduce_scatter_sum_async(input, output)();
}

std::function<void()> DataParallel::reduce_scatter_sum_async(const torch::Tensor& input, const torch::Tensor& output) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(input.is_contiguous() && output.is_contiguous() && input.numel() == output.numel() * env_.world_size,
              "reduce_scatter_sum: input must be world_size x output, both contiguous");
  if (!impl_->pg) {
    output.copy_(input);
    return [] {};
  }
  at::Tensor in = input, out = output;
  c10d::ReduceScatterOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  c10::intrusive_ptr<c10d::Work> work = impl_->pg->_reduce_scatter_base(out, in, opts);
  return [work] { work->wait(); };
}

void DataParallel::all_gather(const torch::Tensor& input, const torch::Tensor& output) {
  all_gather_async(input, output)();
}

std::function<void()> DataParallel::all_gather_async(const torch::Tensor& input, const torch::Tensor& output) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(input.is_contiguous() && output.is_contiguous() && output.numel() == input.numel() * env_.world_size,
              "all_gather: output must be world_size x input, both contiguous");
  const int64_t n = input.numel();
  if (!impl_->pg) {
    if (input.data_ptr() != output.data_ptr()) output.copy_(input);
    return [] {};
  }
  if (impl_->device.is_cuda()) {  // NCCL gathers in place (input = output's slice) or not
    at::Tensor in = input, out = output;
    c10::intrusive_ptr<c10d::Work> work = impl_->pg->_allgather_base(out, in);
    return [work] { work->wait(); };
  }
  // Gloo's all-gather gathers into a buffer of its own and copies it out, twice the output's
  // memory for as long as it runs: W broadcasts instead, rank q's from output's slice q, each
  // in place (the same bytes on the wire).
  torch::Tensor mine = output.slice(0, env_.rank * n, (env_.rank + 1) * n);
  if (input.data_ptr() != mine.data_ptr()) mine.copy_(input);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (int q = 0; q < env_.world_size; ++q) {
    std::vector<at::Tensor> io{output.slice(0, q * n, (q + 1) * n)};
    c10d::BroadcastOptions opts;
    opts.rootRank = q;
    works.push_back(impl_->pg->broadcast(io, opts));
  }
  return [works] {
    for (const auto& w : works) w->wait();
  };
}

std::vector<std::string> DataParallel::gather_to_rank0(const std::string& bytes) {
  if (!impl_->pg) return {bytes};
  torch::NoGradGuard no_grad;
  // Two all-reduces (each rank fills only its own slots, zeros elsewhere, so the sum is the
  // concatenation): the lengths, then the bytes at each rank's offset. Plain all-reduce keeps
  // this on the one collective both Gloo and NCCL implement for every dtype.
  const int w = env_.world_size;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(impl_->device);
  torch::Tensor len = torch::zeros({w}, i64);
  len[env_.rank] = int64_t(bytes.size());
  all_reduce_sum(std::vector<torch::Tensor>{len});
  std::vector<int64_t> lens(static_cast<size_t>(w), 0), off(static_cast<size_t>(w) + 1, 0);
  torch::Tensor lc = len.cpu();
  for (int r = 0; r < w; ++r) {
    lens[size_t(r)] = lc[r].item<int64_t>();
    off[size_t(r) + 1] = off[size_t(r)] + lens[size_t(r)];
  }
  std::vector<std::string> out;
  if (off[size_t(w)] == 0) {
    if (env_.rank == 0) out.assign(size_t(w), std::string());
    return out;
  }
  torch::Tensor buf = torch::zeros({off[size_t(w)]}, torch::TensorOptions().dtype(torch::kUInt8));
  if (!bytes.empty()) std::memcpy(buf.data_ptr<uint8_t>() + off[size_t(env_.rank)], bytes.data(), bytes.size());
  torch::Tensor dev = buf.to(impl_->device);
  all_reduce_sum(std::vector<torch::Tensor>{dev});
  if (env_.rank != 0) return out;
  buf = dev.cpu();
  for (int r = 0; r < w; ++r)
    out.emplace_back(reinterpret_cast<const char*>(buf.data_ptr<uint8_t>()) + off[size_t(r)], size_t(lens[size_t(r)]));
  return out;
}

void DataParallel::barrier() {
  if (!impl_->pg) return;
  if (impl_->device.is_cuda()) {
    // NCCL's barrier needs a device; an all-reduce of one element is a portable barrier.
    all_reduce_sum(0.0);
    return;
  }
  impl_->pg->barrier()->wait();
}

}  // namespace delib::train
