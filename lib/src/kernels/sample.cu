// Sort-free top-k / top-p sampling over large vocabularies, one thread block per row.
//
// Semantics (delib/kernels.h, sample_top_k_top_p): e_v = exp((z_v - max z) / T) (unnormalised
// probabilities, in (0, 1]), E = sum e. Keep K = { v : e_v >= tau } with tau the largest value
// such that count(e >= tau) >= k and sum(e[e >= tau]) >= top_p E. Both conditions are monotone
// (non-increasing in tau), so tau is found by binary search. Positive IEEE floats order like
// their bit patterns read as unsigned integers, so a search on the 31 value bits, MSB first,
// finds tau exactly (it is always one of the e_v) in 31 block-wide count/sum passes over the
// row: no sort of V elements (a radix select in the spirit of FlashInfer's sorting-free
// sampling and PyTorch's radix top-k). The passes read e from a scratch row (L2 resident).
// Then the token: with target = u * mass(K), the first v in vocabulary order whose inclusive
// cumulative kept mass exceeds target: each thread owns a contiguous segment, a block
// exclusive scan (CUB) of segment masses finds the one segment, whose owner scans it.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda_launch.h"

namespace delib::kernels::cuda {
namespace {

constexpr int kThreads = 1024;

struct CountMass {
  int64_t count;
  float mass;
};
struct MaxOp {  // cub::Max is gone in CCCL 3; a local functor works with every version
  template <class T>
  __device__ __forceinline__ T operator()(const T& a, const T& b) const { return a < b ? b : a; }
};
struct SumCountMass {
  __device__ __forceinline__ CountMass operator()(const CountMass& a, const CountMass& b) const {
    return {a.count + b.count, a.mass + b.mass};
  }
};

__global__ void __launch_bounds__(kThreads)
sample_kernel(const float* __restrict__ logits, int64_t v, float inv_t, int64_t top_k, float top_p,
              const float* __restrict__ u, float* __restrict__ scratch, int64_t* __restrict__ out) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  using ReduceCM = cub::BlockReduce<CountMass, kThreads>;
  using Scan = cub::BlockScan<float, kThreads>;
  __shared__ union {
    typename Reduce::TempStorage r;
    typename ReduceCM::TempStorage rcm;
    typename Scan::TempStorage scan;
    typename cub::BlockReduce<long long, kThreads>::TempStorage rl;
  } tmp;
  __shared__ float s_bcast;
  __shared__ unsigned s_tau;
  __shared__ int64_t s_out;

  const int64_t row = blockIdx.x;
  const float* z = logits + row * v;
  float* e = scratch + row * v;

  // 1. max (NaN-free input assumed: callers pass finite logits or -inf for masked tokens)
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < v; i += kThreads) m = fmaxf(m, z[i]);
  m = Reduce(tmp.r).Reduce(m, MaxOp());
  if (threadIdx.x == 0) s_bcast = m;
  __syncthreads();
  m = s_bcast;
  __syncthreads();
  // 2. e = exp((z - m) / T), total E
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < v; i += kThreads) {
    const float x = expf((z[i] - m) * inv_t);
    e[i] = x;
    sum += x;
  }
  sum = Reduce(tmp.r).Sum(sum);
  if (threadIdx.x == 0) s_bcast = sum;
  __syncthreads();
  const float total = s_bcast;
  const bool use_k = top_k > 0 && top_k < v;
  const bool use_p = top_p < 1.f;
  const float need_mass = top_p * total;
  // 3. tau: largest bit pattern with count(e >= tau) >= k and mass(e >= tau) >= top_p E.
  unsigned tau = 0;  // tau = +0.0f keeps everything (e > 0 unless underflow; e >= 0 always)
  if (use_k || use_p) {
    for (int bit = 30; bit >= 0; --bit) {
      const unsigned cand = tau | (1u << bit);
      const float ct = __uint_as_float(cand);
      CountMass cm{0, 0.f};
      for (int64_t i = threadIdx.x; i < v; i += kThreads) {
        const float x = e[i];
        if (x >= ct) { cm.count += 1; cm.mass += x; }
      }
      cm = ReduceCM(tmp.rcm).Reduce(cm, SumCountMass());
      if (threadIdx.x == 0) {
        const bool ok = (!use_k || cm.count >= top_k) && (!use_p || cm.mass >= need_mass);
        s_tau = ok ? cand : tau;
      }
      __syncthreads();
      tau = s_tau;
      __syncthreads();
    }
  }
  const float tf = __uint_as_float(tau);
  // 4. inverse CDF over the kept set in vocabulary order, contiguous segments per thread
  const int64_t seg = (v + kThreads - 1) / kThreads;
  const int64_t b = threadIdx.x * seg, end = b + seg < v ? b + seg : v;
  float seg_mass = 0.f;
  int64_t last_kept = -1;
  for (int64_t i = b; i < end; ++i) {
    const float x = e[i];
    if (x >= tf) { seg_mass += x; last_kept = i; }
  }
  float prefix;
  float kept_total;
  Scan(tmp.scan).ExclusiveSum(seg_mass, prefix, kept_total);
  const float target = u[row] * kept_total;
  if (threadIdx.x == 0) s_out = -1;
  __syncthreads();
  if (seg_mass > 0.f && prefix <= target && target < prefix + seg_mass) {
    float acc = prefix;
    int64_t pick = last_kept;
    for (int64_t i = b; i < end; ++i) {
      const float x = e[i];
      if (x >= tf) {
        acc += x;
        if (acc > target) { pick = i; break; }
      }
    }
    s_out = pick;  // exactly one segment's half-open interval holds target
  }
  __syncthreads();
  if (s_out < 0) {
    // target rounded to >= kept_total: the last kept token (max over threads)
    long long lk = last_kept;
    lk = cub::BlockReduce<long long, kThreads>(tmp.rl).Reduce(lk, MaxOp());
    if (threadIdx.x == 0) out[row] = lk;
  } else if (threadIdx.x == 0) {
    out[row] = s_out;
  }
}

}  // namespace

void launch_sample_top_k_top_p(const float* logits, int64_t rows, int64_t v, float inv_temperature,
                               int64_t top_k, float top_p, const float* u, float* scratch,
                               int64_t* out, void* stream) {
  if (rows == 0) return;
  sample_kernel<<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      logits, v, inv_temperature, top_k, top_p, u, scratch, out);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("sample_kernel: ") + cudaGetErrorString(e));
}

}  // namespace delib::kernels::cuda
