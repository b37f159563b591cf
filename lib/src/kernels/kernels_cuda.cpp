// Torch-facing side of the CUDA kernels (delib/kernels.h): argument checks, the chunked
// autograd Function, the device dispatch, and the ATen reference paths that run on CPU (and
// in builds without CUDA), which are also what the GPU tests compare the kernels against.
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "delib/error.h"
#include "delib/kernels.h"
#include "delib/model.h"

#ifdef DELIB_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda_launch.h"
#endif

namespace delib::kernels {
namespace {

constexpr int64_t kIgnoreIndex = -100;

#ifdef DELIB_HAVE_CUDA
void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

cuda::Dtype dtype_code(const torch::Tensor& z) {
  switch (z.scalar_type()) {
    case torch::kFloat32: return cuda::Dtype::f32;
    case torch::kBFloat16: return cuda::Dtype::bf16;
    case torch::kFloat16: return cuda::Dtype::f16;
    default: throw Error("kernels: logits must be f32, bf16 or f16");
  }
}

bool use_cuda(const torch::Tensor& t) { return t.is_cuda(); }
#endif

void check_linear_args(const torch::Tensor& hidden, const torch::Tensor& weight,
                       const torch::Tensor& targets, int64_t chunk_rows, double softcap, const char* what) {
  if (hidden.dim() != 2 || weight.dim() != 2 || targets.dim() != 1)
    throw Error(std::string(what) + ": expected hidden (N, C), weight (V, C), targets (N,)");
  if (hidden.size(1) != weight.size(1) || hidden.size(0) != targets.size(0))
    throw Error(std::string(what) + ": shape mismatch: hidden " + std::to_string(hidden.size(0)) + "x" +
                std::to_string(hidden.size(1)) + ", weight " + std::to_string(weight.size(0)) + "x" +
                std::to_string(weight.size(1)) + ", targets " + std::to_string(targets.size(0)));
  if (targets.scalar_type() != torch::kInt64) throw Error(std::string(what) + ": targets must be int64");
  if (chunk_rows <= 0 || chunk_rows > 65535)
    throw Error(std::string(what) + ": chunk_rows must be in [1, 65535]");
  if (hidden.device() != weight.device() || hidden.device() != targets.device())
    throw Error(std::string(what) + ": hidden, weight and targets must be on one device");
  if (!(softcap >= 0)) throw Error(std::string(what) + ": softcap must be >= 0 (0 = none)");
}

// Per-row NLL over row chunks; see chunked_loss.cpp for the chunking math, fused_ce.cu for the
// kernels. Differences from delib::chunked_token_logprobs: the chunk's logits stay in the
// matmul dtype (bf16 in training) and are read once by a fused online-softmax kernel, and the
// backward writes softmax-minus-onehot into the recomputed chunk in place, so the peak is one
// (chunk_rows, V) buffer in the matmul dtype instead of a bf16 chunk plus an f32 copy.
// The final logit soft-cap is applied inside both kernels (fused_ce.cu): the chunk holds the
// linear outputs u and the kernels read z = cap tanh(u / cap) from them, so the cap costs no
// buffer. With a cap too, the CUDA path passed its tests on an H200 (2026-12-04).
class FusedNll : public torch::autograd::Function<FusedNll> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               int64_t chunk_rows, double softcap) {
    const int64_t n = hidden.size(0);
    torch::Tensor w = weight.to(hidden.scalar_type());
    auto f32 = hidden.options().dtype(torch::kFloat32);
    torch::Tensor nll = torch::empty({n}, f32), lse = torch::empty({n}, f32);
    for (int64_t r0 = 0; r0 < n; r0 += chunk_rows) {
      const int64_t r1 = std::min(n, r0 + chunk_rows);
      torch::Tensor z = torch::matmul(hidden.slice(0, r0, r1), w.t());  // (R, V), hidden's dtype
      torch::Tensor l = lse.slice(0, r0, r1), x = nll.slice(0, r0, r1);
      logits_row_stats(z, targets.slice(0, r0, r1), l, x, softcap);
    }
    ctx->save_for_backward({hidden, weight, targets, lse});
    ctx->saved_data["chunk_rows"] = chunk_rows;
    ctx->saved_data["softcap"] = softcap;
    return nll;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &hidden = saved[0], &weight = saved[1], &targets = saved[2], &lse = saved[3];
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const double softcap = ctx->saved_data["softcap"].toDouble();
    torch::Tensor g = grad_outputs[0].to(torch::kFloat32).contiguous();
    const int64_t n = hidden.size(0);
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    torch::Tensor w = weight.to(hidden.scalar_type());
    torch::Tensor dh = need_h ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor dw = need_w ? torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32))
                              : torch::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += chunk_rows) {
      const int64_t r1 = std::min(n, r0 + chunk_rows);
      torch::Tensor h = hidden.slice(0, r0, r1);
      torch::Tensor dz = torch::matmul(h, w.t());  // recomputed u, becomes du in place
      softmax_minus_onehot_(dz, targets.slice(0, r0, r1), lse.slice(0, r0, r1), g.slice(0, r0, r1), softcap);
      if (need_h) dh.slice(0, r0, r1).copy_(torch::matmul(dz, w));
      if (need_w) dw.add_(torch::matmul(dz.t(), h));
    }
    return {dh, need_w ? dw.to(weight.scalar_type()) : torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

bool cuda_kernels_available() {
#ifdef DELIB_HAVE_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

void logits_row_stats(const torch::Tensor& z, const torch::Tensor& targets, torch::Tensor& lse,
                      torch::Tensor& nll, double softcap) {
  if (z.dim() != 2 || targets.dim() != 1 || targets.size(0) != z.size(0) || lse.numel() != z.size(0) ||
      nll.numel() != z.size(0))
    throw Error("logits_row_stats: expected z (R, V), targets (R,), lse (R,), nll (R,)");
#ifdef DELIB_HAVE_CUDA
  if (use_cuda(z)) {
    c10::cuda::CUDAGuard guard(z.device());
    torch::Tensor zc = z.contiguous(), tc = targets.contiguous();
    const bool direct = lse.is_contiguous() && nll.is_contiguous() && lse.scalar_type() == torch::kFloat32 &&
                        nll.scalar_type() == torch::kFloat32;
    torch::Tensor l = direct ? lse : torch::empty({z.size(0)}, z.options().dtype(torch::kFloat32));
    torch::Tensor x = direct ? nll : torch::empty({z.size(0)}, z.options().dtype(torch::kFloat32));
    cuda::launch_row_stats(zc.data_ptr(), dtype_code(zc), tc.data_ptr<int64_t>(), zc.size(0), zc.size(1),
                           static_cast<float>(softcap), l.data_ptr<float>(), x.data_ptr<float>(), current_stream());
    if (!direct) {
      lse.copy_(l);
      nll.copy_(x);
    }
    return;
  }
#endif
  // ATen reference: lse_r = logsumexp(z_r), nll_r = lse_r - z_{r,t_r}, in f32, with
  // z = cap tanh(u / cap) under a soft-cap (out of place: `z` is the caller's u).
  torch::Tensor zf = z.to(torch::kFloat32);
  if (softcap > 0) zf = torch::tanh(zf / softcap) * softcap;
  torch::Tensor l = torch::logsumexp(zf, 1);
  torch::Tensor valid = targets.ne(kIgnoreIndex);
  torch::Tensor zt = zf.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1);
  lse.copy_(l);
  nll.copy_(torch::where(valid, l - zt, torch::zeros_like(l)));
}

void softmax_minus_onehot_(torch::Tensor& z, const torch::Tensor& targets, const torch::Tensor& lse,
                           const torch::Tensor& g, double softcap) {
  if (z.dim() != 2 || targets.size(0) != z.size(0) || lse.numel() != z.size(0) || g.numel() != z.size(0))
    throw Error("softmax_minus_onehot_: expected z (R, V), targets, lse, g (R,)");
#ifdef DELIB_HAVE_CUDA
  if (use_cuda(z)) {
    if (!z.is_contiguous()) throw Error("softmax_minus_onehot_: z must be contiguous");
    if (z.size(0) > 65535) throw Error("softmax_minus_onehot_: at most 65535 rows per call");
    c10::cuda::CUDAGuard guard(z.device());
    torch::Tensor tc = targets.contiguous(), lc = lse.to(torch::kFloat32).contiguous(),
                  gc = g.to(torch::kFloat32).contiguous();
    cuda::launch_softmax_minus_onehot(z.data_ptr(), dtype_code(z), tc.data_ptr<int64_t>(), lc.data_ptr<float>(),
                                      gc.data_ptr<float>(), z.size(0), z.size(1), static_cast<float>(softcap),
                                      current_stream());
    return;
  }
#endif
  // ATen reference: dz = g (exp(z - lse) - onehot(t)), 0 on ignored rows, computed in f32;
  // under a soft-cap z = cap th, th = tanh(u / cap), and du = dz (1 - th^2).
  torch::Tensor valid = targets.ne(kIgnoreIndex);
  torch::Tensor zf = z.to(torch::kFloat32), th;
  if (softcap > 0) {
    th = torch::tanh(zf / softcap);
    zf = th * softcap;
  }
  torch::Tensor dz = (zf - lse.to(torch::kFloat32).unsqueeze(1)).exp_();
  dz.scatter_add_(1, targets.clamp_min(0).unsqueeze(1), torch::full({z.size(0), 1}, -1.0f, dz.options()));
  torch::Tensor scale = torch::where(valid, g.to(torch::kFloat32), torch::zeros_like(lse, torch::kFloat32));
  dz.mul_(scale.unsqueeze(1));
  if (softcap > 0) dz.mul_(1 - th * th);
  z.copy_(dz);
}

torch::Tensor fused_linear_nll(const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t chunk_rows, double softcap) {
  check_linear_args(hidden, weight, targets, chunk_rows, softcap, "fused_linear_nll");
  return FusedNll::apply(hidden, weight, targets, chunk_rows, softcap);
}

torch::Tensor fused_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, int64_t chunk_rows, double softcap) {
  check_linear_args(hidden, weight, targets, chunk_rows, softcap, "fused_linear_cross_entropy");
  return FusedNll::apply(hidden, weight, targets, chunk_rows, softcap).sum();
}

torch::Tensor fused_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, int64_t chunk_rows, double softcap) {
  check_linear_args(hidden, weight, targets, chunk_rows, softcap, "fused_token_logprobs");
  return FusedNll::apply(hidden, weight, targets, chunk_rows, softcap).neg();
}

namespace {
void check_sample_args(const torch::Tensor& logits, const torch::Tensor& u, const char* what) {
  if (logits.dim() != 2 || u.dim() != 1 || u.size(0) != logits.size(0))
    throw Error(std::string(what) + ": expected logits (B, V) and u (B,)");
  if (logits.size(1) == 0) throw Error(std::string(what) + ": empty vocabulary");
}
}  // namespace

torch::Tensor sample_top_k_top_p_reference(const torch::Tensor& logits, double temperature, int64_t top_k,
                                           double top_p, const torch::Tensor& u) {
  check_sample_args(logits, u, "sample_top_k_top_p");
  torch::Tensor z = logits.to(torch::kFloat32);
  if (temperature <= 0) return z.argmax(1);
  const int64_t v = z.size(1);
  // e = exp((z - max) / T): the kernel's unnormalised probabilities, same f32 arithmetic
  torch::Tensor e = ((z - std::get<0>(z.max(1, true))) * static_cast<float>(1.0 / temperature)).exp();
  torch::Tensor sorted = std::get<0>(e.sort(1, /*descending=*/true));  // (B, V)
  torch::Tensor tau = torch::zeros({z.size(0), 1}, e.options());
  const bool use_k = top_k > 0 && top_k < v, use_p = top_p < 1.0;
  if (use_k || use_p) {
    torch::Tensor tk = use_k ? sorted.select(1, top_k - 1).unsqueeze(1) : torch::full_like(tau, INFINITY);
    torch::Tensor tp = torch::full_like(tau, INFINITY);
    if (use_p) {
      // smallest j with sum_{i<=j} sorted_i >= top_p E; tau_p = sorted_j
      torch::Tensor total = e.sum(1, true);
      torch::Tensor reach = sorted.cumsum(1).ge(total * static_cast<float>(top_p));
      torch::Tensor j = reach.to(torch::kInt32).argmax(1, true).to(torch::kInt64);  // first true
      j = torch::where(reach.any(1, true), j, torch::full_like(j, v - 1));
      tp = sorted.gather(1, j);
    }
    tau = torch::minimum(tk, tp);
  }
  torch::Tensor kept = e.ge(tau);
  torch::Tensor ke = torch::where(kept, e, torch::zeros_like(e));
  torch::Tensor cum = ke.cumsum(1);
  torch::Tensor target = u.to(e.device()).to(torch::kFloat32).unsqueeze(1) * cum.select(1, v - 1).unsqueeze(1);
  torch::Tensor hit = cum.gt(target).logical_and(kept);
  torch::Tensor first = hit.to(torch::kInt32).argmax(1);
  // no hit (target rounded up to the total): the last kept token
  torch::Tensor idx = torch::arange(v, torch::TensorOptions().dtype(torch::kInt64).device(e.device()));
  torch::Tensor last = torch::where(kept, idx.unsqueeze(0), torch::full_like(idx, -1).unsqueeze(0)).amax(1);
  return torch::where(hit.any(1), first.to(torch::kInt64), last);
}

torch::Tensor sample_top_k_top_p(const torch::Tensor& logits, double temperature, int64_t top_k, double top_p,
                                 const torch::Tensor& u) {
  check_sample_args(logits, u, "sample_top_k_top_p");
#ifdef DELIB_HAVE_CUDA
  if (use_cuda(logits) && temperature > 0) {
    c10::cuda::CUDAGuard guard(logits.device());
    torch::Tensor z = logits.to(torch::kFloat32).contiguous();
    torch::Tensor uc = u.to(logits.device()).to(torch::kFloat32).contiguous();
    torch::Tensor scratch = torch::empty_like(z);
    torch::Tensor out = torch::empty({z.size(0)}, z.options().dtype(torch::kInt64));
    cuda::launch_sample_top_k_top_p(z.data_ptr<float>(), z.size(0), z.size(1), static_cast<float>(1.0 / temperature),
                                    top_k, static_cast<float>(top_p), uc.data_ptr<float>(), scratch.data_ptr<float>(),
                                    out.data_ptr<int64_t>(), current_stream());
    return out;
  }
#endif
  return sample_top_k_top_p_reference(logits, temperature, top_k, top_p, u);
}

}  // namespace delib::kernels
