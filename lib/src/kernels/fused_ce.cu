// Fused logits-chunk kernels for the chunked linear + cross-entropy (see kernels_cuda.cpp for
// the autograd wrapper and lib/src/kernels/chunked_loss.cpp for the chunking argument).
//
// Forward, one thread block per row r of the chunk z (R, V), ONE read of the row:
//   online softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"):
//   each thread keeps a running max m and a running sum s = sum_i exp(z_i - m) over its strided
//   elements; on a new max m' > m the sum is rescaled: s <- s exp(m - m') + 1. Two partial states
//   (m1, s1), (m2, s2) combine as m = max(m1, m2), s = s1 exp(m1 - m) + s2 exp(m2 - m), which is
//   associative, so a block reduction gives the row's (m, s) and
//     lse_r = m + log s,     nll_r = lse_r - z_{r, t_r}   (0 for t_r = -100).
//   Arithmetic in f32 whatever the storage dtype (bf16 logits are read directly: no f32 copy).
// Backward, in place on the recomputed chunk (llm.c crossentropy_softmax_backward):
//     dz_rv = g_r (exp(z_rv - lse_r) - [v == t_r])       (softmax minus one-hot, scaled)
//   written back in z's dtype, ready for the two matmuls dh = dz W, dW += dz^T h.
// Final logit soft-cap (Gemma 2/3's final_logit_softcapping; cap = 0: none, the lines above
// exactly). The chunk holds the linear outputs u = h W^T and the logits are
//     z_rv = cap tanh(u_rv / cap)
// computed on the fly from u in f32 (no second buffer). Forward: the same online softmax over z.
// Backward, by the chain rule through the cap (d/du cap tanh(u/cap) = 1 - tanh^2(u/cap)):
//     du_rv = dz_rv (1 - tanh^2(u_rv / cap)),  dz_rv as above with z = cap tanh(u / cap)
//   written back in place of u, so the matmuls take du instead of dz.
// Passed tests/unit/kernels/gpu on an H200 (2026-12-04), soft-cap included; the CPU/ATen path of
// the same math is what the default suite checks (tests/unit/kernels).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda_launch.h"

namespace delib::kernels::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int64_t kIgnore = -100;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
// z = cap tanh(u / cap), or u when cap == 0 (no arithmetic at all then).
__device__ __forceinline__ float capped(float u, float cap) { return cap > 0.f ? cap * tanhf(u / cap) : u; }
template <class T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half(x); }

// Combine two online-softmax states (m, s); m = -inf means "empty".
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
  if (m2 == -INFINITY) return;
  if (m == -INFINITY) { m = m2; s = s2; return; }
  const float mm = fmaxf(m, m2);
  s = s * __expf(m - mm) + s2 * __expf(m2 - mm);
  m = mm;
}

template <class T>
__global__ void row_stats_kernel(const T* __restrict__ z, const int64_t* __restrict__ targets,
                                 int64_t v, float cap, float* __restrict__ lse_out, float* __restrict__ nll_out) {
  const int64_t r = blockIdx.x;
  const T* row = z + r * v;
  float m = -INFINITY, s = 0.f;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
    const float x = capped(to_f(row[i]), cap);
    if (x > m) { s = (m == -INFINITY ? 0.f : s * __expf(m - x)) + 1.f; m = x; }
    else s += __expf(x - m);
  }
  // warp reduction of (m, s), then across warps through shared memory
  for (int off = 16; off > 0; off >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
    combine(m, s, m2, s2);
  }
  __shared__ float sm[32], ss[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  if (lane == 0) { sm[warp] = m; ss[warp] = s; }
  __syncthreads();
  if (warp == 0) {
    m = lane < nwarps ? sm[lane] : -INFINITY;
    s = lane < nwarps ? ss[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
      const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
      combine(m, s, m2, s2);
    }
    if (lane == 0) {
      const float lse = m + logf(s);
      const int64_t t = targets[r];
      lse_out[r] = lse;
      nll_out[r] = (t == kIgnore || t < 0 || t >= v) ? 0.f : lse - capped(to_f(row[t]), cap);
    }
  }
}

template <class T>
__global__ void softmax_minus_onehot_kernel(T* __restrict__ z, const int64_t* __restrict__ targets,
                                            const float* __restrict__ lse, const float* __restrict__ g,
                                            int64_t v, float cap) {
  const int64_t r = blockIdx.y;
  const int64_t t = targets[r];
  const bool ignored = t == kIgnore || t < 0 || t >= v;
  const float gr = ignored ? 0.f : g[r];
  const float l = lse[r];
  T* row = z + r * v;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < v; i += (int64_t)gridDim.x * blockDim.x) {
    const float u = to_f(row[i]);
    if (cap > 0.f) {
      const float th = tanhf(u / cap);  // z = cap th; dz/du = 1 - th^2
      const float p = __expf(cap * th - l);
      row[i] = from_f<T>(gr * (p - (i == t ? 1.f : 0.f)) * (1.f - th * th));
    } else {
      const float p = __expf(u - l);
      row[i] = from_f<T>(gr * (p - (i == t ? 1.f : 0.f)));
    }
  }
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

void launch_row_stats(const void* z, Dtype dtype, const int64_t* targets, int64_t rows, int64_t v,
                      float softcap, float* lse, float* nll, void* stream) {
  if (rows == 0) return;
  auto st = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case Dtype::f32: row_stats_kernel<float><<<rows, kThreads, 0, st>>>(static_cast<const float*>(z), targets, v, softcap, lse, nll); break;
    case Dtype::bf16: row_stats_kernel<__nv_bfloat16><<<rows, kThreads, 0, st>>>(static_cast<const __nv_bfloat16*>(z), targets, v, softcap, lse, nll); break;
    case Dtype::f16: row_stats_kernel<__half><<<rows, kThreads, 0, st>>>(static_cast<const __half*>(z), targets, v, softcap, lse, nll); break;
  }
  check(cudaGetLastError(), "row_stats_kernel");
}

void launch_softmax_minus_onehot(void* z, Dtype dtype, const int64_t* targets, const float* lse,
                                 const float* g, int64_t rows, int64_t v, float softcap, void* stream) {
  if (rows == 0) return;
  auto st = static_cast<cudaStream_t>(stream);
  // enough blocks per row to fill the GPU even for a small chunk; each thread ~8 elements
  const int64_t per_row = (v + kThreads * 8 - 1) / (kThreads * 8);
  dim3 grid(static_cast<unsigned>(per_row < 1 ? 1 : per_row), static_cast<unsigned>(rows));
  switch (dtype) {
    case Dtype::f32: softmax_minus_onehot_kernel<float><<<grid, kThreads, 0, st>>>(static_cast<float*>(z), targets, lse, g, v, softcap); break;
    case Dtype::bf16: softmax_minus_onehot_kernel<__nv_bfloat16><<<grid, kThreads, 0, st>>>(static_cast<__nv_bfloat16*>(z), targets, lse, g, v, softcap); break;
    case Dtype::f16: softmax_minus_onehot_kernel<__half><<<grid, kThreads, 0, st>>>(static_cast<__half*>(z), targets, lse, g, v, softcap); break;
  }
  check(cudaGetLastError(), "softmax_minus_onehot_kernel");
}

}  // namespace delib::kernels::cuda
