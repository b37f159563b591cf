// Truncated importance sampling weights (delib/rl.h, tis_weights) on hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/error.h"
#include "delib/rl.h"

using namespace delib;
using namespace delib::rl;

TEST_CASE("TIS weights are exactly 1 and the mismatch 0 when server and trainer agree", "[rl][tis]") {
  torch::Tensor lp = torch::tensor({-0.5f, -2.25f, -7.0f, -0.01f});
  TisWeights w = tis_weights(lp, lp.clone(), 2.0);
  REQUIRE(w.weight.sizes() == lp.sizes());
  REQUIRE(w.weight.scalar_type() == torch::kFloat32);
  for (int64_t i = 0; i < 4; ++i) CHECK(w.weight[i].item<float>() == 1.0f);
  CHECK(w.diff_mean == 0.0);
  CHECK(w.diff_max == 0.0);
  CHECK(w.clipped_fraction == 0.0);
}

TEST_CASE("TIS weights are min(exp(trainer - rollout), cap) under an injected mismatch", "[rl][tis]") {
  // log-ratios d = trainer - rollout: 0.5, -1, 1.2, 0 (cap 2: exp(0.5) = 1.6487 stays, exp(1.2) =
  // 3.3201 is cut to 2, exp(-1) = 0.3679 stays).
  torch::Tensor trainer = torch::tensor({-1.0, -3.0, -0.3, -2.0}, torch::kFloat64);
  torch::Tensor rollout = torch::tensor({-1.5, -2.0, -1.5, -2.0}, torch::kFloat64);
  TisWeights w = tis_weights(trainer, rollout, 2.0);
  CHECK(w.weight[0].item<double>() == Approx(std::exp(0.5)).epsilon(1e-12));
  CHECK(w.weight[1].item<double>() == Approx(std::exp(-1.0)).epsilon(1e-12));
  CHECK(w.weight[2].item<double>() == 2.0);
  CHECK(w.weight[3].item<double>() == 1.0);
  CHECK(w.diff_mean == Approx((0.5 + 1.0 + 1.2 + 0.0) / 4).epsilon(1e-12));
  CHECK(w.diff_max == Approx(1.2).epsilon(1e-12));
  CHECK(w.clipped_fraction == 0.25);
  // The weights are constants: no gradient flows through them.
  torch::Tensor t = trainer.clone().requires_grad_(true);
  CHECK_FALSE(tis_weights(t, rollout, 2.0).weight.requires_grad());
  // A tighter cap clips the 0.5 token too.
  TisWeights tight = tis_weights(trainer, rollout, 1.5);
  CHECK(tight.weight[0].item<double>() == 1.5);
  CHECK(tight.clipped_fraction == 0.5);
}

TEST_CASE("TIS on no tokens is empty, and a non-positive cap or mismatched shapes are errors", "[rl][tis]") {
  torch::Tensor none = torch::zeros({0});
  TisWeights w = tis_weights(none, none, 2.0);
  CHECK(w.weight.numel() == 0);
  CHECK(w.diff_max == 0.0);
  CHECK_THROWS_AS(tis_weights(none, none, 0.0), Error);
  CHECK_THROWS_AS(tis_weights(torch::zeros({3}), torch::zeros({2}), 2.0), Error);
}
