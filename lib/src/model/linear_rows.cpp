// linear_rows: y = x W^T + b for the few rows of a decode step on the CPU (see delib/model.h).
//
// A decode step multiplies a handful of activation rows (one per sequence in the batch) by every
// weight matrix of the model: with 8 rows, 8 FMAs per weight element read. The LM head of a
// 32k-vocabulary model (32 MB in f32) is then bound by reading W from memory, the layers'
// smaller matrices (L2/L3-resident) by arithmetic. A general GEMM packs and tiles for large
// products and pays that on every call. The kernel below streams W once, row by row, with the
// rows of x held in L1:
//
//   for each output o (split across threads):       y[r][o] = sum_k x[r][k] * W[o][k]
//     acc_r (8 lanes) += W[o][k:k+8] * x[r][k:k+8]  for k in steps of 8, r < 8
//     y[r][o] = lane sum of acc_r, plus the scalar tail k >= K - K % 8
//
// so each W load feeds up to 8 FMAs. For fewer rows several outputs are computed together
// (NO outputs x NR rows accumulators) so that enough independent FMA chains hide the FMA latency.
// Measured on the 2-core development machine (8 rows, K 256, 2 threads): LM head 32000 outputs
// 1.6-2.0 ms (16-20 GB/s) against 3.6-3.7 ms for MKL's (W x^T)^T and 7.5-7.6 ms for
// at::linear; 128-1024-output projections 1.6-3x faster than MKL. Above 8 rows it runs blocks
// of 8 over L1-sized tiles of W (16 rows: LM head 4.3 ms against 7.2 ms for MKL; 32 rows x 1024
// outputs: 234 us against 220 us). It takes 9-32 rows only when they are separate sequences
// ((N, 1, C), a decode step): its per-row results are bit-identical whatever the number of rows
// (every (r, o) is reduced the same way), which keeps decoding independent of the batch size;
// the tokens of one prompt above 8 rows stay with MKL, as fast there. Sums run in another order
// than MKL's, so results agree with at::linear to f32 rounding, not bit for bit.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <ATen/Parallel.h>

#include "delib/model.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define DELIB_LINEAR_ROWS_AVX2 1
#endif

namespace delib {

namespace {

#if DELIB_LINEAR_ROWS_AVX2

__attribute__((target("avx2,fma"))) inline float lane_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[r * ldy + o] for r < NR, o in [o0, o1): x (NR, K) row-major, W (O, K) row-major.
// Per step of 8 along k: each of the NO W-vectors is loaded once and multiplied with the NR
// x-vectors (L1-resident; the loads fold into the FMAs), into NO * NR accumulators.
// (A register-blocked variant, x in registers and 2 outputs x 4 rows, measured no faster here.)
template <int NR, int NO>
__attribute__((target("avx2,fma"))) void rows_kernel(const float* x, const float* W, int64_t K,
                                                     int64_t o0, int64_t o1, float* y, int64_t ldy) {
  const int64_t K8 = K - K % 8;
  int64_t o = o0;
  for (; o + NO <= o1; o += NO) {
    __m256 acc[NO][NR];
    for (int j = 0; j < NO; ++j)
      for (int r = 0; r < NR; ++r) acc[j][r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K8; k += 8) {
      for (int j = 0; j < NO; ++j) {
        const __m256 w = _mm256_loadu_ps(W + (o + j) * K + k);
        for (int r = 0; r < NR; ++r) acc[j][r] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + r * K + k), acc[j][r]);
      }
    }
    // Every (r, o) is reduced by the same instructions whatever NR and NO are, so a row's
    // result does not depend on the rows and outputs computed next to it.
    for (int j = 0; j < NO; ++j) {
      const float* wr = W + (o + j) * K;
      for (int r = 0; r < NR; ++r) {
        float s = lane_sum(acc[j][r]);
        for (int64_t k = K8; k < K; ++k) s += x[r * K + k] * wr[k];
        y[r * ldy + o + j] = s;
      }
    }
  }
  if constexpr (NO > 1) {
    if (o < o1) rows_kernel<NR, 1>(x, W, K, o, o1, y, ldy);  // the last o1 - o < NO outputs
  }
}

// Blocks of up to 8 rows; fewer rows take several outputs per pass so that >= 8 independent
// accumulator chains hide the FMA latency.
void rows_block(int nr, const float* x, const float* W, int64_t K, int64_t o0, int64_t o1, float* y, int64_t ldy) {
  switch (nr) {
    case 1: return rows_kernel<1, 8>(x, W, K, o0, o1, y, ldy);
    case 2: return rows_kernel<2, 4>(x, W, K, o0, o1, y, ldy);
    case 3: return rows_kernel<3, 3>(x, W, K, o0, o1, y, ldy);
    case 4: return rows_kernel<4, 2>(x, W, K, o0, o1, y, ldy);
    case 5: return rows_kernel<5, 2>(x, W, K, o0, o1, y, ldy);
    case 6: return rows_kernel<6, 1>(x, W, K, o0, o1, y, ldy);
    case 7: return rows_kernel<7, 1>(x, W, K, o0, o1, y, ldy);
    default: return rows_kernel<8, 1>(x, W, K, o0, o1, y, ldy);
  }
}

bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// The streaming kernel for up to kMaxRows f32 rows; false when it does not apply (no AVX2, other
// dtypes), and the caller falls back to MKL.
constexpr int64_t kMaxRows = 32;

bool stream_rows(const torch::Tensor& x2, const torch::Tensor& w, torch::Tensor& y) {
  if (!have_avx2_fma() || x2.scalar_type() != torch::kFloat32 || w.scalar_type() != torch::kFloat32) return false;
  const torch::Tensor xc = x2.contiguous(), wc = w.contiguous();
  const int64_t R = xc.size(0), K = xc.size(1), O = wc.size(0);
  y = torch::empty({R, O}, xc.options());
  const float* xp = xc.data_ptr<float>();
  const float* wp = wc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // Each thread streams a contiguous band of W rows; bands of at least ~64 KB of weights so
  // that small projections do not pay for waking the thread pool. Blocks of 8 rows take turns
  // over a tile of ~16 KB of W, so W comes from memory once and from L1/L2 for later blocks.
  const int64_t row_bytes = std::max<int64_t>(1, K * int64_t(sizeof(float)));
  const int64_t grain = std::max<int64_t>(16, (int64_t(1) << 16) / row_bytes);
  const int64_t tile = std::max<int64_t>(1, (int64_t(1) << 14) / row_bytes);
  at::parallel_for(0, O, grain, [&](int64_t o0, int64_t o1) {
    for (int64_t t0 = o0; t0 < o1; t0 += tile) {
      const int64_t t1 = std::min(o1, t0 + tile);
      for (int64_t r0 = 0; r0 < R; r0 += 8) {
        const int nr = int(std::min<int64_t>(8, R - r0));
        rows_block(nr, xp + r0 * K, wp, K, t0, t1, yp + r0 * O, O);
      }
    }
  });
  return true;
}

#else
constexpr int64_t kMaxRows = 0;
bool stream_rows(const torch::Tensor&, const torch::Tensor&, torch::Tensor&) { return false; }
#endif

}  // namespace

torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const int64_t in = x.size(-1);
  const int64_t rows = in > 0 ? x.numel() / in : 0;
  if (!x.is_cpu() || rows == 0 || rows > 32 || torch::GradMode::is_enabled()) return at::linear(x, w, b);
  // (N, 1, C): one row per sequence, as in a decode step. Those take the kernel up to kMaxRows
  // so that no row's bits depend on how many others share the step; other inputs (the tokens of
  // one prompt) take it up to 8 rows and MKL above, as fast on those arithmetic-bound shapes.
  const bool one_per_sequence = x.dim() == 3 && x.size(1) == 1;
  torch::Tensor x2 = x.reshape({rows, in}), y;
  if (rows > (one_per_sequence ? kMaxRows : 8) || !stream_rows(x2, w, y))
    y = at::matmul(w, x2.t()).t().contiguous();  // (rows, out); MKL packs only x (see model.h)
  if (b.defined()) y = y + b;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  return y.view(shape);
}

}  // namespace delib
