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

namespace {

// Ranks candidates by descending weight, ties by the lower id: the order top-k and top-p use.
struct ByWeightDesc {
  const std::vector<double>& w;
  bool operator()(int32_t a, int32_t b) const {
    return w[size_t(a)] > w[size_t(b)] || (w[size_t(a)] == w[size_t(b)] && a < b);
  }
};

// The inverse-CDF draw over the kept tokens in ascending id (as the CUDA kernel walks them):
// u ~ U[0, 1) scaled by the kept mass, then the first id whose cumulative w exceeds it.
// kept(i) says whether id i is in; `fallback` (the arg max) is returned when nothing is.
template <class Kept>
int32_t draw_ascending(const std::vector<double>& w, int64_t V, double kept_mass, Kept kept, int64_t fallback,
                       Rng& rng) {
  const double u = rng.uniform() * kept_mass;
  double acc = 0;
  int64_t last = fallback;
  for (int64_t i = 0; i < V; ++i) {
    if (!kept(i)) continue;
    acc += w[size_t(i)];
    last = i;
    if (acc > u) return int32_t(i);
  }
  return int32_t(last);  // rounding left u at the very top: the last kept token
}

// Without top-k and top-p nothing needs ranking: min-p (if any) zeroes w_i < min_p in place
// (max_j w_j is 1), then one draw over all ids with w > 0.
int32_t sample_unranked(std::vector<double>& w, int64_t V, double min_p, int64_t arg, Rng& rng) {
  const double floor = min_p > 0 ? min_p : 0.0;
  double total = 0;
  for (int64_t i = 0; i < V; ++i) {
    if (w[size_t(i)] < floor) w[size_t(i)] = 0;
    total += w[size_t(i)];
  }
  return draw_ascending(w, V, total, [&](int64_t i) { return w[size_t(i)] > 0; }, arg, rng);
}

// 3. Top-p over the n candidates idx[0, n) of total mass `total`: the smallest K such that the
// K most likely hold mass >= top_p * total (HF keeps the token that crosses the threshold; at
// least one token). Reorders idx[0, n) so that idx[0, K) are those K; returns K.
//
// First, one pass over a histogram of the mass by log w = (l - max) / T (buckets of 1/32 nat;
// w < e^-32 share the last) narrows the answer: candidates in buckets above the one where the
// cumulative mass reaches `need` are all in, those below all out, so only the boundary bucket
// is selected exactly. log w is monotone in w, so this is the same set. Then a quickselect on
// mass: the answer lies in (lo, hi]; idx[0, lo) are in and their mass is already taken from
// `need`. Expected O(n), never a sort.
int64_t top_p_count(const float* logits, float mx, double inv_t, const std::vector<double>& w,
                    std::vector<int32_t>& idx, int64_t n, double total, double top_p,
                    std::vector<double>& hist) {
  double need = top_p * total;
  int64_t lo = 0, hi = n;
  constexpr int kBuckets = 1024;
  constexpr double kPerNat = 32.0;
  auto bucket = [&](int32_t id) {
    const double z = (double(logits[id]) - double(mx)) * inv_t;  // <= 0
    return z > -1.0 / kPerNat ? 0 : int(std::min<double>(kBuckets - 1, -z * kPerNat));
  };
  hist.assign(kBuckets, 0.0);
  for (int64_t i = 0; i < n; ++i) hist[size_t(bucket(idx[size_t(i)]))] += w[size_t(idx[size_t(i)])];
  double cum = 0;
  int boundary = -1;
  for (int b = 0; b < kBuckets; ++b) {
    if (cum + hist[size_t(b)] >= need) {
      boundary = b;
      break;
    }
    cum += hist[size_t(b)];
  }
  if (boundary >= 0) {
    auto first = idx.begin(), last = idx.begin() + n;
    auto in_end = std::partition(first, last, [&](int32_t id) { return bucket(id) < boundary; });
    auto at_end = std::partition(in_end, last, [&](int32_t id) { return bucket(id) == boundary; });
    lo = in_end - first;
    hi = at_end - first;
    need -= cum;
  }
  const ByWeightDesc desc{w};
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    std::nth_element(idx.begin() + lo, idx.begin() + m, idx.begin() + hi, desc);
    double left = 0;  // mass of idx[lo, m): the (m - lo) most likely of the range
    for (int64_t j = lo; j < m; ++j) left += w[size_t(idx[size_t(j)])];
    if (left >= need) {
      hi = m;
      continue;
    }
    left += w[size_t(idx[size_t(m)])];
    if (left >= need) return m + 1;
    need -= left;
    lo = m + 1;
  }
  return std::max<int64_t>(lo, 1);  // top_p 0, or rounding kept everything
}

}  // namespace

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
  if (!use_k && !use_p) return sample_unranked(w, V, p.min_p, arg, rng);

  // Candidates in descending w (ties: lower id first) as a SET: idx[0, n) holds the n most
  // likely ids in no particular order. Nothing is sorted: top-k is one nth_element, top-p a
  // quickselect on mass, both expected O(V), so a flat nucleus of most of a 150k vocabulary
  // costs about as much as the exp() pass (a lazily growing partial sort cost ~10x more).
  // 2. Top-k: n = k.
  auto& idx = scratch.idx;
  idx.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) idx[size_t(i)] = int32_t(i);
  int64_t n = V;
  if (use_k) {
    n = p.top_k;
    std::nth_element(idx.begin(), idx.begin() + n, idx.end(), ByWeightDesc{w});
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += w[size_t(idx[size_t(i)])];
  const int64_t keep = use_p ? top_p_count(logits, mx, inv_t, w, idx, n, total, p.top_p, scratch.hist) : n;

  // 4. Min-p relative to the most likely token (its w is 1): of idx[0, keep), those with
  // w >= min_p are drawn from.
  const double floor = p.min_p > 0 ? p.min_p : 0.0;
  auto& flag = scratch.keep;
  flag.assign(size_t(V), 0);
  double kept = 0;
  for (int64_t i = 0; i < keep; ++i) {
    const int32_t id = idx[size_t(i)];
    if (w[size_t(id)] >= floor) {
      flag[size_t(id)] = 1;
      kept += w[size_t(id)];
    }
  }
  return draw_ascending(w, V, kept, [&](int64_t i) { return flag[size_t(i)] != 0; }, arg, rng);
}

double token_logprob(const float* logits, int64_t V, int32_t id) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, double(logits[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(logits[i]) - mx);
  return double(logits[id]) - (mx + std::log(s));
}

}  // namespace delib::generate
