// delib::kernels::fused_linear_nll and its row kernels against the naive full-logits
// computation. The CPU cases (ATen reference path, f64) run everywhere; the CUDA cases compare
// the kernels with the same math in f64 on the CPU and return early with a WARN when no CUDA
// device is present (Catch2 v2 has no SKIP) — tests/gpu/run.sh runs them on a GPU machine.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/error.h"
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

// Naive f64 reference: nll_r = -log_softmax(h W^T)_r[t_r], 0 on ignored rows; grads of sum(nll * gw).
struct Ref {
  torch::Tensor nll, dh, dw;
};
Ref naive(const Case& k, const torch::Tensor& gw) {
  // .to() returns k.h itself when it already is f64 on the CPU: detach + clone so the case's
  // tensors never become leaves that accumulate gradients across calls
  torch::Tensor h = k.h.detach().cpu().to(torch::kFloat64).clone().requires_grad_(true);
  torch::Tensor w = k.w.detach().cpu().to(torch::kFloat64).clone().requires_grad_(true);
  torch::Tensor t = k.t.cpu();
  torch::Tensor lp = torch::log_softmax(torch::matmul(h, w.t()), 1);
  torch::Tensor valid = t.ne(-100);
  torch::Tensor nll = torch::where(valid, -lp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1), torch::zeros({t.size(0)}, lp.options()));
  (nll * gw.cpu().to(torch::kFloat64)).sum().backward();
  return {nll.detach(), h.grad(), w.grad()};
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor x = a.cpu().to(torch::kFloat64), y = b.cpu().to(torch::kFloat64);
  return ((x - y).norm() / (y.norm() + 1e-30)).item<double>();
}

void check_against_naive(const Case& k, int64_t chunk, double tol_val, double tol_grad) {
  torch::Tensor h = k.h.detach().clone().requires_grad_(true), w = k.w.detach().clone().requires_grad_(true);
  torch::Tensor gw = torch::rand({k.t.size(0)}, torch::TensorOptions().dtype(torch::kFloat32).device(k.h.device())) + 0.5;
  torch::Tensor nll = delib::kernels::fused_linear_nll(h, w, k.t, chunk);
  (nll * gw).sum().backward();
  Ref r = naive(k, gw);
  INFO("chunk " << chunk << " dtype " << k.h.scalar_type() << " device " << k.h.device());
  CHECK(nll.scalar_type() == torch::kFloat32);
  CHECK(rel(nll, r.nll) < tol_val);
  CHECK(rel(h.grad(), r.dh) < tol_grad);
  CHECK(rel(w.grad(), r.dw) < tol_grad);
  // ignored rows: exactly zero loss and zero gradient
  torch::Tensor ign = k.t.eq(-100);
  CHECK(nll.masked_select(ign).abs().sum().item<double>() == 0.0);
  CHECK(h.grad().index({ign}).abs().sum().item<double>() == 0.0);
}

bool have_cuda(const char* what) {
  if (delib::kernels::cuda_kernels_available()) return true;
  WARN(what << ": skipped, no CUDA device or built without CUDA (run tests/gpu/run.sh on a GPU machine)");
  return false;
}

}  // namespace

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

TEST_CASE("fused_linear_nll rejects bad arguments", "[kernels]") {
  Case k = make_case(4, 8, 11, 2, torch::kFloat32);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w.t(), k.t), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t.to(torch::kInt32)), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t, 0), delib::Error);
  CHECK_THROWS_AS(delib::kernels::fused_linear_nll(k.h, k.w, k.t.slice(0, 0, 3)), delib::Error);
}

TEST_CASE("CUDA row kernels equal the ATen reference (f32, bf16, f16; -inf logits; V = 151936)", "[kernels][gpu]") {
  if (!have_cuda("CUDA row kernels")) return;
  auto dev = torch::Device(torch::kCUDA);
  for (auto dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
    torch::manual_seed(3);
    const int64_t r = 67, v = 151936;
    torch::Tensor z = (torch::randn({r, v}, torch::TensorOptions().device(dev)) * 4).to(dt);
    z.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 100)}, -INFINITY);  // masked tokens
    torch::Tensor t = torch::randint(100, v, {r}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    t.index_put_({torch::indexing::Slice(0, 5)}, -100);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
    torch::Tensor lse = torch::empty({r}, f32), nll = torch::empty({r}, f32);
    delib::kernels::logits_row_stats(z, t, lse, nll);
    // reference in f64 on the CPU from the same stored values
    torch::Tensor zd = z.cpu().to(torch::kFloat64), tc = t.cpu();
    torch::Tensor lref = torch::logsumexp(zd, 1);
    torch::Tensor nref = torch::where(tc.ne(-100), lref - zd.gather(1, tc.clamp_min(0).unsqueeze(1)).squeeze(1), torch::zeros_like(lref));
    INFO("dtype " << dt);
    CHECK((lse.cpu().to(torch::kFloat64) - lref).abs().max().item<double>() < 1e-4);
    CHECK((nll.cpu().to(torch::kFloat64) - nref).abs().max().item<double>() < 1e-4);
    // backward kernel, in place
    torch::Tensor g = torch::rand({r}, f32) + 0.5;
    torch::Tensor dz = z.clone();
    delib::kernels::softmax_minus_onehot_(dz, t, lse, g);
    torch::Tensor dref = (zd - lref.unsqueeze(1)).exp();
    dref.scatter_add_(1, tc.clamp_min(0).unsqueeze(1), torch::full({r, 1}, -1.0, dref.options()));
    dref.mul_(torch::where(tc.ne(-100), g.cpu().to(torch::kFloat64), torch::zeros_like(lref)).unsqueeze(1));
    const double tol = dt == torch::kFloat32 ? 1e-6 : 1e-2;  // storage rounding of dz (bf16: 8 bits)
    CHECK((dz.cpu().to(torch::kFloat64) - dref).abs().max().item<double>() < tol);
    CHECK(rel(dz, dref) < (dt == torch::kFloat32 ? 1e-5 : 1e-2));
  }
}

TEST_CASE("CUDA fused_linear_nll equals naive log-softmax (f32 and bf16)", "[kernels][gpu]") {
  if (!have_cuda("CUDA fused_linear_nll")) return;
  auto dev = torch::Device(torch::kCUDA);
  {
    Case k = make_case(300, 64, 5000, 4, torch::kFloat32);
    k = {k.h.to(dev), k.w.to(dev), k.t.to(dev)};
    for (int64_t chunk : {1, 64, 300}) check_against_naive(k, chunk, 1e-4, 1e-3);
  }
  {
    // bf16 inputs: the reference is computed in f64 from the same bf16 values, so the only
    // error is bf16 rounding of the matmul outputs and of dz: ~2^-8 relative.
    Case k = make_case(512, 128, 32000, 5, torch::kBFloat16);
    k = {k.h.to(dev), k.w.to(dev), k.t.to(dev)};
    check_against_naive(k, 128, 2e-2, 3e-2);
  }
}
