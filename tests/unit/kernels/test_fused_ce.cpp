// delib::kernels::fused_linear_nll and its ATen reference path on the CPU against the naive
// full-logits computation (f64). The CUDA cases are in gpu/test_fused_ce_cuda.cpp (ctest label
// gpu; reported as skipped without a CUDA device).
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "delib/error.h"
#include "delib/kernels.h"
#include "fused_ce_ref.h"

TEST_CASE("fused_linear_nll on CPU equals naive log-softmax in value and gradient", "[kernels]") {
  Case k = make_case(37, 16, 53, 1, torch::kFloat64);
  // The fused loss returns float32 (checked above), so even from f64 inputs its values carry
  // f32 rounding (~6e-8 relative): 1e-12 could never hold; 1e-6 is a few f32 ulps of the sum.
  for (int64_t chunk : {1, 7, 37, 1000}) check_against_naive(k, chunk, 1e-6, 1e-6);
  // sum / neg views
  torch::Tensor nll = delib::kernels::fused_linear_nll(k.h, k.w, k.t, 8);
  CHECK(delib::kernels::fused_linear_cross_entropy(k.h, k.w, k.t, 8).item<double>() == Approx(nll.sum().item<double>()));
  CHECK(rel(delib::kernels::fused_token_logprobs(k.h, k.w, k.t, 8), -nll) < 1e-15);
}

TEST_CASE("fused_linear_nll with a soft-cap on CPU equals the naive capped log-softmax", "[kernels]") {
  // Logits of a few times the cap (w scaled by 4): tanh saturates, so a dropped cap fails.
  Case k = make_case(37, 16, 53, 3, torch::kFloat64);
  k.w = k.w * 4;
  for (int64_t chunk : {1, 7, 37, 1000}) check_against_naive(k, chunk, 1e-6, 1e-6, /*softcap=*/2.5);
  torch::Tensor gw = torch::ones({37}, torch::kFloat32);
  CHECK(rel(delib::kernels::fused_linear_nll(k.h, k.w, k.t, 8), naive(k, gw, 2.5).nll) > 1e-2);
  // the row kernels' ATen path alone: lse and nll of z = cap tanh(u / cap)
  torch::Tensor u = torch::matmul(k.h, k.w.t()).to(torch::kFloat32);
  torch::Tensor lse = torch::empty({37}), nll = torch::empty({37});
  delib::kernels::logits_row_stats(u, k.t, lse, nll, 2.5);
  CHECK(rel(nll, naive(k, gw, 2.5).nll) < 1e-6);
}

TEST_CASE("fused_linear_nll rejects bad arguments", "[kernels]") {
  Case k = make_case(4, 8, 11, 2, torch::kFloat32);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w.t(), k.t), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t.to(torch::kInt32)), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t, 0), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t.slice(0, 0, 3)), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t, 4, -2.0), delib::Error);
}
