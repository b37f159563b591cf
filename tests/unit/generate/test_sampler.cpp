// Sampling on the host: greedy, temperature, top-k, top-p, min-p against the distributions
// they define; the log-probability; the per-sample seed.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

#include <torch/torch.h>
#include <xxhash.h>

#include "delib/generate.h"
#include "generate/sampler.h"

using delib::SamplingParams;
using delib::generate::Rng;
using delib::generate::sample_token;
using delib::generate::SamplerScratch;
using delib::generate::token_logprob;

namespace {

// Empirical frequencies of n draws.
std::vector<double> frequencies(const std::vector<float>& logits, const SamplingParams& p, int n,
                                uint64_t seed = 1) {
  Rng rng(seed);
  SamplerScratch scratch;
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) f[size_t(sample_token(logits.data(), int64_t(logits.size()), p, rng, scratch))] += 1.0 / n;
  return f;
}

// softmax(logits / T) restricted to `keep` (renormalised).
std::vector<double> expected(const std::vector<float>& logits, double T, const std::set<int>& keep) {
  std::vector<double> e(logits.size(), 0.0);
  double z = 0;
  for (int i : keep) z += std::exp(logits[size_t(i)] / T);
  for (int i : keep) e[size_t(i)] = std::exp(logits[size_t(i)] / T) / z;
  return e;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("Rng: a pure function of the seed, uniform in [0, 1)") {
  Rng a(42), b(42), c(43);
  bool differs = false;
  double mean = 0;
  for (int i = 0; i < 10000; ++i) {
    double x = a.uniform();
    REQUIRE(x == b.uniform());
    REQUIRE(x >= 0.0);
    REQUIRE(x < 1.0);
    differs |= x != c.uniform();
    mean += x / 10000;
  }
  CHECK(differs);
  CHECK(mean == Approx(0.5).margin(0.02));
}

TEST_CASE("greedy: the arg max, lowest id among ties, no random draw") {
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
  SamplingParams p;
  p.temperature = 0;
  Rng rng(7), fresh(7);
  SamplerScratch s;
  CHECK(sample_token(l.data(), 5, p, rng, s) == 1);
  CHECK(rng.next() == fresh.next());  // the stream was not consumed
  // top_k = 1 at any temperature is greedy too.
  p.temperature = 5.0;
  p.top_k = 1;
  for (int i = 0; i < 50; ++i) CHECK(sample_token(l.data(), 5, p, rng, s) == 1);
}

TEST_CASE("temperature sampling follows softmax(l / T)") {
  std::vector<float> l = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f};
  for (double T : {0.5, 1.0, 1.7}) {
    SamplingParams p;
    p.temperature = T;
    auto f = frequencies(l, p, 40000);
    CHECK(max_abs_diff(f, expected(l, T, {0, 1, 2, 3, 4})) < 0.012);
  }
}

TEST_CASE("top-k, top-p and min-p keep the tokens they define") {
  // Probabilities 0.5, 0.3, 0.15, 0.05 at T = 1 (in shuffled id order).
  std::vector<float> l = {std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};
  SamplingParams p;
  p.temperature = 1.0;
  SECTION("top-k 2") {
    p.top_k = 2;
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 1.0, {1, 3})) < 0.012);
  }
  SECTION("top-p 0.7: the smallest prefix reaching 0.7 is {0.5, 0.3}") {
    p.top_p = 0.7;
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 1.0, {1, 3})) < 0.012);
  }
  SECTION("top-p 0.81 needs the third token") {
    p.top_p = 0.81;
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 1.0, {1, 3, 0})) < 0.012);
  }
  SECTION("min-p 0.4: keep p >= 0.2") {
    p.min_p = 0.4;
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 1.0, {1, 3})) < 0.012);
  }
  SECTION("top-k then top-p renormalises over the top-k set") {
    p.top_k = 3;    // {0.5, 0.3, 0.15} -> renormalised 0.526, 0.316, 0.158
    p.top_p = 0.8;  // 0.526 + 0.316 = 0.842 >= 0.8
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 1.0, {1, 3})) < 0.012);
  }
  SECTION("temperature applies before the filters") {
    p.temperature = 0.5;  // squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 (/ sum)
    p.top_p = 0.95;       // 0.25/0.365 = 0.685, + 0.09/0.365 = 0.932, + 0.062 -> 3 tokens
    CHECK(max_abs_diff(frequencies(l, p, 40000), expected(l, 0.5, {1, 3, 0})) < 0.012);
  }
}

TEST_CASE("top-p over a flat distribution grows past the first sorted block") {
  // 5000 equal logits: the nucleus of 0.9 is the 4500 lowest ids (ties break by id).
  std::vector<float> l(5000, 0.0f);
  SamplingParams p;
  p.top_p = 0.9;
  Rng rng(3);
  SamplerScratch s;
  int above_block = 0;
  for (int i = 0; i < 3000; ++i) {
    int id = sample_token(l.data(), 5000, p, rng, s);
    REQUIRE(id < 4500);
    above_block += id >= 256;
  }
  CHECK(above_block > 2000);
}

TEST_CASE("token_logprob is log_softmax at temperature 1") {
  auto g = torch::randn({1000}, torch::kFloat32) * 4;
  auto ref = torch::log_softmax(g.to(torch::kFloat64), 0);
  for (int id : {0, 17, 999}) {
    CHECK(token_logprob(g.data_ptr<float>(), 1000, id) == Approx(ref[id].item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("sample_seed hashes (seed, sample, key)") {
  using delib::sample_seed;
  uint64_t s = sample_seed(1, "rec-1", 0);
  CHECK(s == sample_seed(1, "rec-1", 0));
  CHECK(s != sample_seed(2, "rec-1", 0));
  CHECK(s != sample_seed(1, "rec-2", 0));
  CHECK(s != sample_seed(1, "rec-1", 1));
  // The documented byte layout: seed (8 LE), sample (8 LE), key.
  std::string bytes = std::string("\x01\0\0\0\0\0\0\0", 8) + std::string("\x02\0\0\0\0\0\0\0", 8) + "k";
  CHECK(sample_seed(1, "k", 2) == XXH3_64bits(bytes.data(), bytes.size()));
}
