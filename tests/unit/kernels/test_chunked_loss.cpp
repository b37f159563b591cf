// chunked_cross_entropy / chunked_token_logprobs against the naive full-logits computation
// (values and gradients), in f64 so that the comparison is tight.
#include <torch/torch.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/error.h"
#include "delib/model.h"

namespace {

namespace F = torch::nn::functional;

struct Case {
  torch::Tensor h, w, t;
};

Case make_case(int64_t n, int64_t c, int64_t v, uint64_t seed, double ignore_share = 0.3) {
  torch::manual_seed(seed);
  auto opt = torch::TensorOptions().dtype(torch::kFloat64);
  Case k;
  k.h = torch::randn({n, c}, opt).requires_grad_(true);
  k.w = (torch::randn({v, c}, opt) * 0.5).requires_grad_(true);
  k.t = torch::randint(0, v, {n}, torch::kInt64);
  k.t.masked_fill_(torch::rand({n}, opt).lt(ignore_share), -100);
  return k;
}

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST_CASE("chunked cross-entropy equals the naive sum, values and gradients", "[kernels]") {
  for (int64_t chunk : {1, 3, 7, 64, 1024}) {
    Case a = make_case(/*n=*/37, /*c=*/16, /*v=*/50, /*seed=*/1);
    Case b{a.h.detach().clone().requires_grad_(true), a.w.detach().clone().requires_grad_(true), a.t};

    torch::Tensor got = delib::chunked_cross_entropy(a.h, a.w, a.t, chunk);
    torch::Tensor want = F::cross_entropy(torch::matmul(b.h, b.w.t()), b.t,
                                          F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
    CHECK(got.item<double>() == Approx(want.item<double>()).epsilon(1e-12));
    got.backward();
    want.backward();
    INFO("chunk " << chunk);
    CHECK(maxdiff(a.h.grad(), b.h.grad()) < 1e-12);
    CHECK(maxdiff(a.w.grad(), b.w.grad()) < 1e-12);
  }
}

TEST_CASE("chunked token logprobs equal log_softmax gather, with per-row upstream gradients", "[kernels]") {
  Case a = make_case(29, 8, 33, 2, /*ignore_share=*/0.0);
  Case b{a.h.detach().clone().requires_grad_(true), a.w.detach().clone().requires_grad_(true), a.t};
  torch::Tensor got = delib::chunked_token_logprobs(a.h, a.w, a.t, /*chunk_rows=*/5);
  torch::Tensor want = torch::log_softmax(torch::matmul(b.h, b.w.t()), 1).gather(1, b.t.unsqueeze(1)).squeeze(1);
  REQUIRE(got.sizes() == want.sizes());
  CHECK(maxdiff(got.to(torch::kFloat64), want) < 1e-12);
  torch::Tensor upstream = torch::randn({29}, torch::kFloat64);
  (got * upstream).sum().backward();
  (want * upstream).sum().backward();
  CHECK(maxdiff(a.h.grad(), b.h.grad()) < 1e-12);
  CHECK(maxdiff(a.w.grad(), b.w.grad()) < 1e-12);
}

TEST_CASE("ignored rows contribute neither loss nor gradient", "[kernels]") {
  Case a = make_case(10, 4, 12, 3, 0.0);
  a.t.slice(0, 5, 10).fill_(-100);
  torch::Tensor loss = delib::chunked_cross_entropy(a.h, a.w, a.t, 3);
  loss.backward();
  CHECK(a.h.grad().slice(0, 5, 10).abs().max().item<double>() == 0.0);
  CHECK(a.h.grad().slice(0, 0, 5).abs().max().item<double>() > 0.0);
  // Everything ignored: zero loss, zero gradients (no NaN from an empty mean).
  Case c = make_case(6, 4, 12, 4, 1.1);
  torch::Tensor z = delib::chunked_cross_entropy(c.h, c.w, c.t, 4);
  CHECK(z.item<double>() == 0.0);
  z.backward();
  CHECK(c.h.grad().abs().max().item<double>() == 0.0);
  CHECK(c.w.grad().abs().max().item<double>() == 0.0);
}

TEST_CASE("f32 and bf16 inputs stay close to the f64 result", "[kernels]") {
  Case a = make_case(64, 32, 100, 5);
  double ref = delib::chunked_cross_entropy(a.h, a.w, a.t, 16).item<double>();
  double f32 = delib::chunked_cross_entropy(a.h.detach().to(torch::kFloat32),
                                            a.w.detach().to(torch::kFloat32), a.t, 16).item<double>();
  CHECK(f32 == Approx(ref).epsilon(1e-5));
  torch::Tensor hb = a.h.detach().to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor wb = a.w.detach().to(torch::kFloat32).requires_grad_(true);  // f32 master weight
  torch::Tensor lb = delib::chunked_cross_entropy(hb, wb, a.t, 16);
  CHECK(lb.item<double>() == Approx(ref).epsilon(2e-2));
  lb.backward();
  CHECK(hb.grad().scalar_type() == torch::kBFloat16);
  CHECK(wb.grad().scalar_type() == torch::kFloat32);
}

TEST_CASE("bad shapes are errors", "[kernels]") {
  auto h = torch::zeros({4, 3});
  auto w = torch::zeros({5, 2});
  auto t = torch::zeros({4}, torch::kInt64);
  CHECK_THROWS_AS(delib::chunked_cross_entropy(h, w, t, 2), delib::Error);
  CHECK_THROWS_AS(delib::chunked_cross_entropy(h, torch::zeros({5, 3}), t.to(torch::kInt32), 2), delib::Error);
  CHECK_THROWS_AS(delib::chunked_token_logprobs(h, torch::zeros({5, 3}), t, 0), delib::Error);
}

namespace {

// The full-logits reference of a soft-capped head, as HF Gemma 2/3 computes it:
// logits = cap * tanh(h W^T / cap), then the usual cross-entropy over all of them.
torch::Tensor capped_logits(const torch::Tensor& h, const torch::Tensor& w, double cap) {
  return torch::tanh(torch::matmul(h, w.t()) / cap) * cap;
}

}  // namespace

TEST_CASE("chunked cross-entropy with a soft-cap equals the full capped logits, values and gradients",
          "[kernels]") {
  const double cap = 4.0;
  // (0.5 * 8)-scale weights: logits of a few times cap, so that tanh saturates and an uncapped
  // result would be far off (checked last). 150 rows: chunks above and below the 64-row blocks
  // of the backward's second buffer.
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    for (int64_t chunk : {1, 7, 64, 100, 1024}) {
      Case a = make_case(/*n=*/150, /*c=*/16, /*v=*/70, /*seed=*/6);
      torch::Tensor h0 = a.h.detach().to(dtype), w0 = (a.w.detach() * 8).to(dtype);
      torch::Tensor h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
      // reference in f64 from the same values
      torch::Tensor hr = h0.to(torch::kFloat64).requires_grad_(true), wr = w0.to(torch::kFloat64).requires_grad_(true);
      torch::Tensor got = delib::chunked_cross_entropy(h, w, a.t, chunk, cap);
      torch::Tensor want = F::cross_entropy(capped_logits(hr, wr, cap), a.t,
                                            F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
      got.backward();
      want.backward();
      INFO("chunk " << chunk << " dtype " << dtype);
      // f64: to rounding; f32: a few f32 ulps of sums over 150 rows x 70 logits
      const double tol = dtype == torch::kFloat64 ? 1e-12 : 2e-6;
      CHECK(got.item<double>() == Approx(want.item<double>()).epsilon(tol));
      auto rel = [](const torch::Tensor& x, const torch::Tensor& y) {
        return ((x.to(torch::kFloat64) - y).norm() / y.norm()).item<double>();
      };
      CHECK(rel(h.grad(), hr.grad()) < tol);
      CHECK(rel(w.grad(), wr.grad()) < tol);
      // the cap matters on these logits: the uncapped loss is far from the capped one
      double uncapped = delib::chunked_cross_entropy(h0, w0, a.t, chunk).item<double>();
      CHECK(std::abs(uncapped - want.item<double>()) > 0.1 * std::abs(want.item<double>()));
    }
  }
}

TEST_CASE("chunked token logprobs with a soft-cap equal log_softmax of the capped logits", "[kernels]") {
  const double cap = 3.0;
  Case a = make_case(90, 8, 33, 7, /*ignore_share=*/0.0);
  torch::Tensor w8 = (a.w.detach() * 6).requires_grad_(true);
  Case b{a.h.detach().clone().requires_grad_(true), w8.detach().clone().requires_grad_(true), a.t};
  torch::Tensor got = delib::chunked_token_logprobs(a.h, w8, a.t, /*chunk_rows=*/80, cap);
  torch::Tensor want = torch::log_softmax(capped_logits(b.h, b.w, cap), 1).gather(1, b.t.unsqueeze(1)).squeeze(1);
  CHECK(maxdiff(got, want) < 1e-12);
  torch::Tensor upstream = torch::randn({90}, torch::kFloat64);
  (got * upstream).sum().backward();
  (want * upstream).sum().backward();
  CHECK(maxdiff(a.h.grad(), b.h.grad()) < 1e-12);
  CHECK(maxdiff(w8.grad(), b.w.grad()) < 1e-12);
  // every logit is within (-cap, cap): no token's log-prob is below -2 cap - log V
  CHECK(got.min().item<double>() > -2 * cap - std::log(33.0));
}

TEST_CASE("a soft-cap below zero is an error; zero is no cap", "[kernels]") {
  Case a = make_case(12, 4, 9, 8);
  CHECK_THROWS_AS(delib::chunked_cross_entropy(a.h, a.w, a.t, 4, -1.0), delib::Error);
  CHECK_THROWS_AS(delib::chunked_token_logprobs(a.h, a.w, a.t, 4, std::nan("")), delib::Error);
  CHECK(torch::equal(delib::chunked_token_logprobs(a.h, a.w, a.t, 4, 0.0),
                     delib::chunked_token_logprobs(a.h, a.w, a.t, 4)));
}
