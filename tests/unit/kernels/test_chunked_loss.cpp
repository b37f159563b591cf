// chunked_cross_entropy / chunked_token_logprobs against the naive full-logits computation
// (values and gradients), in f64 so that the comparison is tight.
#include <torch/torch.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

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
