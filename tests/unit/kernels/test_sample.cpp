// delib::kernels::sample_top_k_top_p on the CPU: the sort-based reference against the
// definition in delib/kernels.h (brute force over every candidate threshold, f64). The CUDA
// radix-select kernel is tested in gpu/test_sample_cuda.cpp (ctest label gpu).
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "delib/error.h"
#include "delib/kernels.h"
#include "sample_cfgs.h"

namespace {

// The definition, literally: tau = the largest e_v meeting both conditions (with no
// filter at all, every token is kept); the first kept
// token whose cumulative kept mass exceeds u * mass(K).
int64_t brute_force(const torch::Tensor& row, double temperature, int64_t k, double p, double u) {
  const int64_t v = row.size(0);
  torch::Tensor zf = row.to(torch::kFloat32);
  std::vector<float> e(v);
  const float m = zf.max().item<float>();
  for (int64_t i = 0; i < v; ++i) e[i] = std::exp((zf[i].item<float>() - m) * float(1.0 / temperature));
  double total = 0;
  for (float x : e) total += x;
  float tau = 0;
  for (float cand : e) {
    int64_t cnt = 0;
    double mass = 0;
    for (float x : e)
      if (x >= cand) ++cnt, mass += x;
    const bool use_k = k > 0 && k < v, use_p = p < 1;
    const bool ok = (use_k || use_p) ? (!use_k || cnt >= k) && (!use_p || mass >= p * total) : cnt == v;
    if (ok && cand > tau) tau = cand;
  }
  double kept = 0;
  for (float x : e)
    if (x >= tau) kept += x;
  double acc = 0;
  int64_t last = -1;
  for (int64_t i = 0; i < v; ++i)
    if (e[i] >= tau) {
      acc += e[i];
      last = i;
      if (acc > u * kept) return i;
    }
  return last;
}

}  // namespace

TEST_CASE("sample_top_k_top_p reference follows the definition", "[kernels]") {
  torch::manual_seed(7);
  const int64_t b = 24, v = 61;
  torch::Tensor z = torch::randn({b, v}) * 2;
  torch::Tensor u = torch::rand({b});
  for (const Cfg& c : kCfgs) {
    torch::Tensor got = delib::kernels::sample_top_k_top_p(z, c.t, c.k, c.p, u);  // CPU: reference
    REQUIRE(got.scalar_type() == torch::kInt64);
    for (int64_t i = 0; i < b; ++i) {
      INFO("T " << c.t << " k " << c.k << " p " << c.p << " row " << i);
      CHECK(got[i].item<int64_t>() == brute_force(z[i], c.t, c.k, c.p, u[i].item<double>()));
    }
  }
  // top-k 1 and tiny top-p are greedy; temperature 0 is greedy whatever u
  torch::Tensor am = z.argmax(1);
  CHECK(delib::kernels::sample_top_k_top_p(z, 1.0, 1, 1.0, u).equal(am));
  CHECK(delib::kernels::sample_top_k_top_p(z, 1.0, 0, 1e-6, u).equal(am));
  CHECK(delib::kernels::sample_top_k_top_p(z, 0.0, 0, 1.0, u).equal(am));
  CHECK_THROWS_AS(delib::kernels::sample_top_k_top_p(z, 1.0, 0, 1.0, u.slice(0, 0, 3)), delib::Error);
}

TEST_CASE("sample_top_k_top_p reference: sampled frequencies match the truncated distribution", "[kernels]") {
  // 20000 draws over V = 8, top-k 3: frequencies within 4 sigma of the renormalised top-3 probs
  torch::Tensor z = torch::tensor({0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 1.9f, -3.0f, 0.0f}).unsqueeze(0).repeat({20000, 1});
  torch::manual_seed(8);
  torch::Tensor s = delib::kernels::sample_top_k_top_p(z, 1.0, 3, 1.0, torch::rand({20000}));
  torch::Tensor p = torch::softmax(z[0], 0);
  const double mass = (p[1] + p[3] + p[5]).item<double>();
  for (int64_t tok : {1, 3, 5}) {
    const double q = p[tok].item<double>() / mass;
    const double f = s.eq(tok).sum().item<double>() / 20000.0;
    CHECK(std::abs(f - q) < 4 * std::sqrt(q * (1 - q) / 20000.0));
  }
  CHECK(s.eq(1).logical_or(s.eq(3)).logical_or(s.eq(5)).all().item<bool>());
}
