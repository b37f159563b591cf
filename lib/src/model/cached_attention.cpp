// Attention of a decode step over the KV cache on the CPU (declared in model/modules.h).
//
// A decode step has one query per (row, head) against the S cached keys of that row. SDPA's
// CPU kernel is built for long sequences (blocked online softmax, per-call buffers) and costs
// ~75 us per layer here for 8 rows x 8 heads x 96 keys, about 20x the arithmetic. This is the
// textbook two-pass form (Vaswani et al. 2017, eq. 1) over the visible keys only:
//
//   s_j = (q . k_j) * scale (1 / sqrt(D); Gemma: query_pre_attn_scalar^-1/2), soft-capped
//         to cap * tanh(s_j / cap) when a cap is given,  for the keys j the mask allows
//   p_j = exp(s_j - max_j s_j) / sum_j exp(s_j - max_j s_j)
//   out = sum_j p_j v_j
//
// one (row, head, query) per task. Sums are in f32 in a fixed order, so results agree with SDPA
// to rounding and never depend on other rows or on how many masked slots follow.
#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "model/modules.h"

// x86-64: an AVX2 clone chosen at load time next to the baseline one.
#if defined(__x86_64__) && defined(__GNUC__)
#define DELIB_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DELIB_CLONES
#endif

namespace delib::model {

namespace {

// One (row, head, query): scores of the visible keys, softmax, weighted sum of values into o (D).
// The dot products keep 8 partial sums (lanes of one AVX register in the avx2 clone; the loops
// vectorise without reassociating), combined in a fixed tree.
DELIB_CLONES
void attend_one(const float* qv, const float* kb, int64_t ks, const float* vb, int64_t vs,
                const bool* m, int64_t S, int64_t D, float scale, float softcap, float* score,
                int64_t* keys, float* o) {
  int64_t n = 0;
  float mx = -INFINITY;
  const int64_t D8 = D - D % 8;
  for (int64_t j = 0; j < S; ++j) {
    if (!m[j]) continue;
    const float* kj = kb + j * ks;
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int64_t c = 0; c < D8; c += 8)
      for (int l = 0; l < 8; ++l) acc[l] += qv[c + l] * kj[c + l];
    float d = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (int64_t c = D8; c < D; ++c) d += qv[c] * kj[c];
    d *= scale;
    if (softcap > 0) d = std::tanh(d / softcap) * softcap;  // HF: (s / cap).tanh() * cap
    score[n] = d;
    keys[n] = j;
    ++n;
    mx = std::max(mx, d);
  }
  for (int64_t c = 0; c < D; ++c) o[c] = 0.f;
  if (n == 0) return;  // no visible key (not for a causal step: a query sees its own key)
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    score[i] = std::exp(score[i] - mx);
    sum += score[i];
  }
  const float inv = 1.f / sum;
  for (int64_t i = 0; i < n; ++i) {
    const float p = score[i] * inv;
    const float* vj = vb + keys[i] * vs;
    for (int64_t c = 0; c < D; ++c) o[c] += p * vj[c];
  }
}

}  // namespace

torch::Tensor cached_attention_cpu(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, const torch::Tensor& mask,
                                   double scale_in, double softcap) {
  if (!q.is_cpu() || q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || !mask.defined() || mask.dim() != 4)
    return {};
  if (q.scalar_type() != torch::kFloat32 || k.scalar_type() != torch::kFloat32 ||
      v.scalar_type() != torch::kFloat32 || mask.scalar_type() != torch::kBool)
    return {};
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2);
  if (k.size(0) != B || v.size(0) != B || v.size(1) != Hkv || v.size(2) != S || k.size(3) != D ||
      v.size(3) != D || Hkv == 0 || H % Hkv != 0 || mask.size(0) != B || mask.size(1) != 1 ||
      mask.size(2) != T || mask.size(3) != S || k.stride(3) != 1 || v.stride(3) != 1)
    return {};
  const torch::Tensor qc = q.contiguous(), mc = mask.contiguous();
  torch::Tensor out = torch::empty({B, H, T, D}, q.options());
  const float* qp = qc.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const bool* mp = mc.data_ptr<bool>();
  float* op = out.data_ptr<float>();
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const int64_t group = H / Hkv;
  const float scale = float(scale_in > 0 ? scale_in : 1.0 / std::sqrt(double(D)));
  const float cap = float(softcap);
  const int64_t tasks = B * H * T;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, S * D));
  at::parallel_for(0, tasks, grain, [&](int64_t t0, int64_t t1) {
    std::vector<float> score(static_cast<size_t>(S));
    std::vector<int64_t> keys(static_cast<size_t>(S));
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t t = task % T, h = (task / T) % H, b = task / (T * H);
      const float* qv = qp + ((b * H + h) * T + t) * D;
      const float* kb = kp + b * ks0 + (h / group) * ks1;
      const float* vb = vp + b * vs0 + (h / group) * vs1;
      const bool* m = mp + (b * T + t) * S;
      float* o = op + ((b * H + h) * T + t) * D;
      attend_one(qv, kb, ks2, vb, vs2, m, S, D, scale, cap, score.data(), keys.data(), o);
    }
  });
  return out;
}

}  // namespace delib::model
