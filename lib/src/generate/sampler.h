// Token sampling for the generation engine (private to lib/src/generate; unit-tested).
//
// Everything here runs on the host in float64 on one row of logits, so a request's sampled
// tokens depend only on its logits and its own random stream: never on the batch it shares,
// the device's reduction order in a sampling kernel, or the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "delib/backend.h"

namespace delib::generate {

// xoshiro256** (Blackman & Vigna 2018), seeded through SplitMix64 as its authors recommend.
// One stream per request; the stream is a pure function of the seed.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();

 private:
  uint64_t s_[4];
};

// Reusable buffers so that sampling does not allocate per token.
struct SamplerScratch {
  std::vector<double> w;
  std::vector<int32_t> idx;
  std::vector<uint8_t> keep;
  std::vector<double> hist;
};

// Chooses the next token from one row of raw model logits (V floats).
//
// temperature == 0 (or below): greedy, the arg max (the lowest id among exact ties); the
// random stream is not consumed.
// Otherwise, in this order (the order of Hugging Face's logits warpers and of vLLM):
//   1. temperature: w_i = exp((l_i - max_j l_j) / T), the unnormalised softmax(l / T);
//   2. top_k > 0: keep the k largest w (ties broken by the lower id);
//   3. top_p < 1: keep the smallest prefix, in descending w, of the kept tokens whose
//      renormalised mass reaches top_p (at least one token);
//   4. min_p > 0: keep w_i >= min_p * max_j w_j (relative to the most likely token,
//      Nguyen et al. 2024, "Min P sampling");
//   then draws u ~ U[0, 1) from `rng` (exactly one draw per token) and returns the first kept
//   token, walking the kept tokens in ascending id, whose cumulative mass exceeds
//   u * (total kept mass). Expected O(V): selection (nth_element), never a sort.
// REQUIRES: V > 0.
int32_t sample_token(const float* logits, int64_t V, const SamplingParams& params, Rng& rng,
                     SamplerScratch& scratch);

// log softmax(l)[id] at temperature 1 of the raw logits (no top-k/top-p/min-p), in float64:
// l_id - (max + log sum_j exp(l_j - max)). This is the policy's log-probability that RL needs.
double token_logprob(const float* logits, int64_t V, int32_t id);

}  // namespace delib::generate
