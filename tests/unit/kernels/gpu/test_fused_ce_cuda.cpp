// The CUDA row kernels and fused_linear_nll on the GPU against the same math in f64 on the
// CPU. A gpu-labelled test (test_kernels_gpu): its main (tests/unit/gpu_main.cpp) exits with
// ctest's skip code when there is no CUDA device or the build has no CUDA kernels, so the
// cases below always run on a device when they run at all.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/error.h"
#include "delib/kernels.h"
#include "fused_ce_ref.h"

TEST_CASE("CUDA row kernels equal the ATen reference (f32, bf16, f16; -inf logits; V = 151936)", "[kernels][gpu]") {
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
    // f32: lse is stored in f32 and is ~20 here (z ~ 4 N(0,1) over 151936 tokens), so it carries
    // up to half an ulp of 20 (9.5e-7) into every exp(z - lse) as a relative error, times g <= 1.5,
    // plus the exp's own rounding: 4e-6 (1e-6 failed on an H200 with 1.45e-6). bf16: 8-bit storage.
    const double tol = dt == torch::kFloat32 ? 4e-6 : 1e-2;
    CHECK((dz.cpu().to(torch::kFloat64) - dref).abs().max().item<double>() < tol);
    CHECK(rel(dz, dref) < (dt == torch::kFloat32 ? 1e-5 : 1e-2));
  }
}

TEST_CASE("CUDA fused_linear_nll equals naive log-softmax (f32 and bf16)", "[kernels][gpu]") {
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

// The final logit soft-cap (Gemma 2/3) inside both row kernels (first passed on an H200,
// 2026-12-04; the same math on the CPU is checked by test_fused_ce.cpp / test_chunked_loss.cpp).
TEST_CASE("CUDA row kernels with a soft-cap equal the ATen reference (f32, bf16)", "[kernels][gpu]") {
  auto dev = torch::Device(torch::kCUDA);
  const double cap = 30.0;  // Gemma 2's final_logit_softcapping
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    torch::manual_seed(4);
    const int64_t r = 33, v = 256000;  // Gemma's vocabulary
    torch::Tensor u = (torch::randn({r, v}, torch::TensorOptions().device(dev)) * 40).to(dt);
    torch::Tensor t = torch::randint(0, v, {r}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    t.index_put_({torch::indexing::Slice(0, 3)}, -100);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
    torch::Tensor lse = torch::empty({r}, f32), nll = torch::empty({r}, f32);
    delib::kernels::logits_row_stats(u, t, lse, nll, cap);
    torch::Tensor ud = u.cpu().to(torch::kFloat64), tc = t.cpu();
    torch::Tensor th = torch::tanh(ud / cap), zd = th * cap;
    torch::Tensor lref = torch::logsumexp(zd, 1);
    torch::Tensor nref = torch::where(tc.ne(-100), lref - zd.gather(1, tc.clamp_min(0).unsqueeze(1)).squeeze(1), torch::zeros_like(lref));
    INFO("dtype " << dt);
    CHECK((lse.cpu().to(torch::kFloat64) - lref).abs().max().item<double>() < 1e-4);
    CHECK((nll.cpu().to(torch::kFloat64) - nref).abs().max().item<double>() < 1e-4);
    torch::Tensor g = torch::rand({r}, f32) + 0.5;
    torch::Tensor du = u.clone();
    delib::kernels::softmax_minus_onehot_(du, t, lse, g, cap);
    torch::Tensor dref = (zd - lref.unsqueeze(1)).exp();
    dref.scatter_add_(1, tc.clamp_min(0).unsqueeze(1), torch::full({r, 1}, -1.0, dref.options()));
    dref.mul_(torch::where(tc.ne(-100), g.cpu().to(torch::kFloat64), torch::zeros_like(lref)).unsqueeze(1));
    dref.mul_(1 - th * th);
    CHECK(rel(du, dref) < (dt == torch::kFloat32 ? 1e-5 : 1e-2));
  }
}

TEST_CASE("CUDA fused_linear_nll with a soft-cap equals the naive capped log-softmax", "[kernels][gpu]") {
  auto dev = torch::Device(torch::kCUDA);
  Case k = make_case(300, 64, 5000, 6, torch::kFloat32);
  k = {k.h.to(dev), (k.w * 8).to(dev), k.t.to(dev)};
  for (int64_t chunk : {1, 64, 300}) check_against_naive(k, chunk, 1e-4, 1e-3, /*softcap=*/5.0);
}
