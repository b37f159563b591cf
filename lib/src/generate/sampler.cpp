#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace delib::generate {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return double(next() >> 11) * 0x1.0p-53; }

int32_t sample_token(const float* logits, int64_t V, const SamplingParams& p, Rng& rng,
                     SamplerScratch& scratch) {
  // Max logit (first among ties): the greedy choice, and the shift that keeps exp() in range.
  int64_t arg = 0;
  float mx = logits[0];
  for (int64_t i = 1; i < V; ++i) {
    if (logits[i] > mx) {
      mx = logits[i];
      arg = i;
    }
  }
  if (!(p.temperature > 0) || std::isnan(mx)) return int32_t(arg);

  // 1. Temperature: w_i = exp((l_i - max) / T) in float64; w_arg = 1.
  auto& w = scratch.w;
  w.resize(size_t(V));
  const double inv_t = 1.0 / p.temperature;
  for (int64_t i = 0; i < V; ++i) w[size_t(i)] = std::exp((double(logits[i]) - double(mx)) * inv_t);

  const bool use_k = p.top_k > 0 && p.top_k < V;
  const bool use_p = p.top_p < 1.0;
  double total = 0;
  if (!use_k && !use_p) {
    // No sort needed: min-p (if any) filters in place, then walk ids in ascending order.
    const double floor = p.min_p > 0 ? p.min_p : 0.0;  // max_j w_j == 1
    for (int64_t i = 0; i < V; ++i) {
      if (w[size_t(i)] < floor) w[size_t(i)] = 0;
      total += w[size_t(i)];
    }
    const double u = rng.uniform() * total;
    double acc = 0;
    int64_t last = arg;
    for (int64_t i = 0; i < V; ++i) {
      if (w[size_t(i)] <= 0) continue;
      acc += w[size_t(i)];
      last = i;
      if (acc > u) return int32_t(i);
    }
    return int32_t(last);  // rounding left u at the very top: the last kept token
  }

  // Candidates in descending w (ties: lower id first). Sorting all V ids per token is the
  // expensive part; top-k needs only k, and top-p usually a few hundred, so sort lazily.
  auto& idx = scratch.idx;
  idx.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) idx[size_t(i)] = int32_t(i);
  auto desc = [&w](int32_t a, int32_t b) {
    return w[size_t(a)] > w[size_t(b)] || (w[size_t(a)] == w[size_t(b)] && a < b);
  };
  int64_t n = V;  // the candidate set is idx[0, n)
  if (use_k) {
    n = p.top_k;
    std::nth_element(idx.begin(), idx.begin() + n, idx.end(), desc);
  }
  for (int64_t i = 0; i < n; ++i) total += w[size_t(idx[size_t(i)])];

  // 2./3. Sort a prefix big enough to hold the top-p nucleus (or the whole top-k set).
  int64_t sorted = use_k ? n : std::min<int64_t>(n, 256);
  int64_t keep = n;
  for (;;) {
    std::partial_sort(idx.begin(), idx.begin() + sorted, idx.begin() + n, desc);
    if (!use_p) break;
    // 3. Top-p: the smallest prefix with renormalised mass >= top_p (HF keeps the token that
    // crosses the threshold; at least one token).
    const double target = p.top_p * total;
    double acc = 0;
    int64_t i = 0;
    for (; i < sorted; ++i) {
      acc += w[size_t(idx[size_t(i)])];
      if (acc >= target) break;
    }
    if (i < sorted) {
      keep = std::max<int64_t>(1, i + 1);
      break;
    }
    if (sorted == n) {  // rounding: the whole set did not reach the target
      keep = n;
      break;
    }
    sorted = std::min<int64_t>(n, sorted * 8);
  }
  keep = std::min(keep, sorted);

  // 4. Min-p relative to the most likely token (w of the first candidate).
  if (p.min_p > 0) {
    const double floor = p.min_p * w[size_t(idx[0])];
    int64_t m = 1;
    while (m < keep && w[size_t(idx[size_t(m)])] >= floor) ++m;
    keep = m;
  }
  double kept = 0;
  for (int64_t i = 0; i < keep; ++i) kept += w[size_t(idx[size_t(i)])];
  const double u = rng.uniform() * kept;
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += w[size_t(idx[size_t(i)])];
    if (acc > u) return idx[size_t(i)];
  }
  return idx[size_t(keep - 1)];
}

double token_logprob(const float* logits, int64_t V, int32_t id) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, double(logits[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(logits[i]) - mx);
  return double(logits[id]) - (mx + std::log(s));
}

}  // namespace delib::generate
