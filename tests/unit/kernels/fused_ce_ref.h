// Shared by the CPU (tests/unit/kernels/test_fused_ce.cpp) and CUDA
// (tests/unit/kernels/gpu/test_fused_ce_cuda.cpp) tests of delib::kernels::fused_linear_nll:
// random cases and the naive full-logits reference in f64 on the CPU.
#pragma once
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/kernels.h"

namespace {

struct Case {
  torch::Tensor h, w, t;
};

Case make_case(int64_t n, int64_t c, int64_t v, uint64_t seed, torch::Dtype dtype, double ignore_share = 0.3) {
  torch::manual_seed(seed);
  auto opt = torch::TensorOptions().dtype(torch::kFloat64);
  Case k;
  k.h = torch::randn({n, c}, opt).to(dtype);
  k.w = (torch::randn({v, c}, opt) * (2.0 / std::sqrt(double(c)))).to(dtype);
  k.t = torch::randint(0, v, {n}, torch::kInt64);
  k.t.masked_fill_(torch::rand({n}, opt).lt(ignore_share), -100);
  return k;
}

// Naive f64 reference: nll_r = -log_softmax(z)_r[t_r], z = h W^T or, with softcap > 0,
// softcap * tanh(h W^T / softcap) (the full capped logits, as HF Gemma 2/3); 0 on ignored rows;
// grads of sum(nll * gw).
struct Ref {
  torch::Tensor nll, dh, dw;
};
Ref naive(const Case& k, const torch::Tensor& gw, double softcap = 0) {
  // .to() returns k.h itself when it already is f64 on the CPU: detach + clone so the case's
  // tensors never become leaves that accumulate gradients across calls
  torch::Tensor h = k.h.detach().cpu().to(torch::kFloat64).clone().requires_grad_(true);
  torch::Tensor w = k.w.detach().cpu().to(torch::kFloat64).clone().requires_grad_(true);
  torch::Tensor t = k.t.cpu();
  torch::Tensor z = torch::matmul(h, w.t());
  if (softcap > 0) z = torch::tanh(z / softcap) * softcap;
  torch::Tensor lp = torch::log_softmax(z, 1);
  torch::Tensor valid = t.ne(-100);
  torch::Tensor nll = torch::where(valid, -lp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1), torch::zeros({t.size(0)}, lp.options()));
  (nll * gw.cpu().to(torch::kFloat64)).sum().backward();
  return {nll.detach(), h.grad(), w.grad()};
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor x = a.cpu().to(torch::kFloat64), y = b.cpu().to(torch::kFloat64);
  return ((x - y).norm() / (y.norm() + 1e-30)).item<double>();
}

void check_against_naive(const Case& k, int64_t chunk, double tol_val, double tol_grad, double softcap = 0) {
  torch::Tensor h = k.h.detach().clone().requires_grad_(true), w = k.w.detach().clone().requires_grad_(true);
  torch::Tensor gw = torch::rand({k.t.size(0)}, torch::TensorOptions().dtype(torch::kFloat32).device(k.h.device())) + 0.5;
  torch::Tensor nll = delib::kernels::fused_linear_nll(h, w, k.t, chunk, softcap);
  (nll * gw).sum().backward();
  Ref r = naive(k, gw, softcap);
  INFO("chunk " << chunk << " dtype " << k.h.scalar_type() << " device " << k.h.device() << " softcap " << softcap);
  CHECK(nll.scalar_type() == torch::kFloat32);
  CHECK(rel(nll, r.nll) < tol_val);
  CHECK(rel(h.grad(), r.dh) < tol_grad);
  CHECK(rel(w.grad(), r.dw) < tol_grad);
  // ignored rows: exactly zero loss and zero gradient
  torch::Tensor ign = k.t.eq(-100);
  CHECK(nll.masked_select(ign).abs().sum().item<double>() == 0.0);
  CHECK(h.grad().index({ign}).abs().sum().item<double>() == 0.0);
}

}  // namespace
