// Chunked linear + cross-entropy and token log-probabilities (declared in delib/model.h).
//
// The problem: a language-model loss needs, for every position i, log softmax(h_i W^T)[t_i],
// where h is (N, C) hidden states, W is (V, C) the output projection and t the next tokens.
// The obvious way materialises the (N, V) logits, then the (N, V) softmax for backward: with a
// 150k-word vocabulary and N = 16k tokens that is 2 x 9.8 GB in f32, the usual out-of-memory
// cause in fine-tuning. Here the logits only ever exist for `chunk_rows` rows at a time:
// memory is O(chunk_rows x V) in forward and backward, plus O(N) for the saved logsumexps.
//
// Forward, per chunk of rows R (math as in llm.c's crossentropy_forward, split over rows):
//   z_r   = h_r W^T                        (|R|, V)   logits of the chunk
//   lse_r = log sum_v exp(z_rv)            (|R|,)     logsumexp, computed stably (max-shifted),
//                                                     in place on z_r (no second (R, V) buffer)
//   nll_r = lse_r - z_{r, t_r}             (|R|,)     = -log softmax(z_r)[t_r]; 0 where t_r = -100
// Only lse (N,) is kept for backward; the chunk's z is dropped.
//
// Backward (a custom autograd Function, so autograd never stores the chunk logits): with g_r the
// incoming gradient of nll_r,
//   d nll_r / d z_rv = softmax(z_r)_v - [v == t_r]          (the classic "p - y")
//   dz_r  = g_r (exp(z_r - lse_r) - onehot(t_r)),  0 for ignored rows
//   dh_r  = dz_r W                         (|R|, C)
//   dW   += dz_r^T h_r                     (V, C)   accumulated over chunks in f32, in place
//                                                     (addmm: the GEMM adds into dW)
// z_r is recomputed from h_r and W (one extra matmul per chunk: the price of the memory saving,
// the same trade as activation checkpointing).
//
// Final logit soft-cap (Gemma 2/3's final_logit_softcapping, cap > 0; cap = 0 is exactly the
// above, op for op). The logits are the capped linear outputs, per chunk:
//   u_r   = h_r W^T                        (|R|, V)   linear outputs
//   z_r   = cap tanh(u_r / cap)            (|R|, V)   in place on u_r (HF: / cap, tanh, * cap)
// then lse, nll as above. Backward through the cap, with th = tanh(u / cap):
//   d z / d u = 1 - th^2                               (d/dx cap tanh(x/cap) = 1 - tanh^2(x/cap))
//   du_r  = g_r (exp(cap th_r - lse_r) - onehot(t_r)) * (1 - th_r^2)
//   dh_r  = du_r W,   dW += du_r^T h_r
// th lives in place of the recomputed u; the softmax term needs a second buffer, taken over
// kCapRows rows at a time, so the cap adds O(kCapRows x V) to the chunk, not another chunk.
//
// Both public functions are views of one per-row NLL op:
//   chunked_cross_entropy = sum_r nll_r,   chunked_token_logprobs = -nll_r.
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "delib/error.h"
#include "delib/kernels.h"
#include "delib/model.h"

namespace delib {
namespace {

constexpr int64_t kIgnoreIndex = -100;
constexpr int64_t kCapRows = 64;  // rows of the backward's second buffer under a soft-cap

// Per-row negative log-likelihood of `targets` under softmax(z), chunked, z = hidden @ weight^T
// soft-capped by `softcap` (0 = none) as above.
// hidden (N, C), weight (V, C) any float dtype (the matmul runs in hidden's dtype; logsumexp and
// the softmax gradient in f32, or f64 for f64 inputs); targets (N,) int64, kIgnoreIndex = ignored
// (nll 0, no gradient). Returns (N,) in that accumulation dtype.
torch::ScalarType accumulation_dtype(const torch::Tensor& hidden) {
  return hidden.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

class ChunkedNll : public torch::autograd::Function<ChunkedNll> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               int64_t chunk_rows, double softcap) {
    const int64_t n = hidden.size(0);
    torch::Tensor w = weight.to(hidden.scalar_type());
    const auto acc = accumulation_dtype(hidden);
    auto f32 = hidden.options().dtype(acc);
    torch::Tensor nll = torch::zeros({n}, f32);
    torch::Tensor lse_all = torch::empty({n}, f32);
    for (int64_t r0 = 0; r0 < n; r0 += chunk_rows) {
      const int64_t r1 = std::min(n, r0 + chunk_rows);
      torch::Tensor z = torch::matmul(hidden.slice(0, r0, r1), w.t()).to(acc);  // (R, V)
      // z = cap tanh(u / cap), in place. `z` is the matmul's own result or a fresh copy of it.
      if (softcap > 0) z.div_(softcap).tanh_().mul_(softcap);
      torch::Tensor t = targets.slice(0, r0, r1);
      torch::Tensor valid = t.ne(kIgnoreIndex);
      torch::Tensor zt = z.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);               // (R,)
      // lse = m + log sum_v exp(z_v - m), m = max_v z_v (0 where infinite), op for op as
      // torch::logsumexp but in place on z, which is dropped after: torch::logsumexp makes
      // exp(z - m) as a second (R, V) buffer, the loss forward's largest after z itself.
      torch::Tensor m = at::amax(z, /*dim=*/{1}, /*keepdim=*/true);                         // (R, 1)
      m.masked_fill_(m.abs() == std::numeric_limits<double>::infinity(), 0);
      torch::Tensor lse = z.sub_(m).exp_().sum(/*dim=*/1).log_().add_(m.squeeze(1));        // (R,)
      nll.slice(0, r0, r1).copy_(torch::where(valid, lse - zt, torch::zeros_like(lse)));
      lse_all.slice(0, r0, r1).copy_(lse);
    }
    ctx->save_for_backward({hidden, weight, targets, lse_all});
    ctx->saved_data["chunk_rows"] = chunk_rows;
    ctx->saved_data["softcap"] = softcap;
    return nll;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& hidden = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& targets = saved[2];
    const torch::Tensor& lse_all = saved[3];
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const double softcap = ctx->saved_data["softcap"].toDouble();
    const auto acc = accumulation_dtype(hidden);
    torch::Tensor g = grad_outputs[0].to(acc);  // (N,)
    const int64_t n = hidden.size(0);
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);

    torch::Tensor w = weight.to(hidden.scalar_type());
    torch::Tensor dh = need_h ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor dw = need_w ? torch::zeros(weight.sizes(), weight.options().dtype(acc))
                              : torch::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += chunk_rows) {
      const int64_t r1 = std::min(n, r0 + chunk_rows);
      torch::Tensor h = hidden.slice(0, r0, r1);
      torch::Tensor t = targets.slice(0, r0, r1);
      torch::Tensor valid = t.ne(kIgnoreIndex);
      torch::Tensor scale = torch::where(valid, g.slice(0, r0, r1), torch::zeros_like(lse_all.slice(0, r0, r1)));
      torch::Tensor dz = torch::matmul(h, w.t()).to(acc);  // (R, V) = u, the linear outputs
      if (softcap > 0) {
        // du = g (exp(cap th - lse) - onehot) (1 - th^2), th = tanh(u / cap), in place on u.
        for (int64_t s0 = 0; s0 < r1 - r0; s0 += kCapRows) {
          const int64_t s1 = std::min(r1 - r0, s0 + kCapRows);
          torch::Tensor th = dz.slice(0, s0, s1).div_(softcap).tanh_();        // view of dz
          torch::Tensor p = (th * softcap).sub_(lse_all.slice(0, r0 + s0, r0 + s1).unsqueeze(1)).exp_();
          p.scatter_add_(1, t.slice(0, s0, s1).clamp_min(0).unsqueeze(1),
                         torch::full({s1 - s0, 1}, -1.0f, p.options()));      // - onehot
          p.mul_(scale.slice(0, s0, s1).unsqueeze(1));
          th.mul_(th).neg_().add_(1).mul_(p);  // (1 - th^2) * dz, written into dz's rows
        }
      } else {
        // dz = g (softmax - onehot), zero on ignored rows. Built in place on the recomputed logits.
        dz.sub_(lse_all.slice(0, r0, r1).unsqueeze(1)).exp_();             // softmax
        dz.scatter_add_(1, t.clamp_min(0).unsqueeze(1),
                        torch::full({r1 - r0, 1}, -1.0f, dz.options()));  // - onehot
        dz.mul_(scale.unsqueeze(1));
      }
      torch::Tensor dz_c = dz.to(hidden.scalar_type());
      if (need_h) dh.slice(0, r0, r1).copy_(torch::matmul(dz_c, w));
      // dW += dz_r^T h_r. When the matmul runs in the accumulation dtype (f32, f64 inputs) the
      // GEMM accumulates straight into dW (C = 1 C + 1 A B, at::addmm_out): no (V, C) product
      // beside the accumulator, which is the loss backward's largest transient after the
      // chunk's logits (V x C x 4 bytes: 98 MB for a 32k vocabulary at C = 768). Lower-precision
      // matmuls (bf16 on the CPU) keep the product in their dtype and add its f32 cast, as the
      // GEMM's output dtype is its inputs'.
      if (need_w) {
        if (hidden.scalar_type() == acc) at::addmm_out(dw, dw, dz_c.t(), h);
        else dw.add_(torch::matmul(dz_c.t(), h).to(acc));
      }
    }
    return {dh, need_w ? dw.to(weight.scalar_type()) : torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

void check_args(const torch::Tensor& hidden, const torch::Tensor& weight,
                const torch::Tensor& targets, int64_t chunk_rows, double softcap, const char* what) {
  if (hidden.dim() != 2 || weight.dim() != 2 || targets.dim() != 1)
    throw Error(std::string(what) + ": expected hidden (N, C), weight (V, C), targets (N,)");
  if (hidden.size(1) != weight.size(1) || hidden.size(0) != targets.size(0))
    throw Error(std::string(what) + ": shape mismatch: hidden " + std::to_string(hidden.size(0)) +
                "x" + std::to_string(hidden.size(1)) + ", weight " +
                std::to_string(weight.size(0)) + "x" + std::to_string(weight.size(1)) +
                ", targets " + std::to_string(targets.size(0)));
  if (targets.scalar_type() != torch::kInt64)
    throw Error(std::string(what) + ": targets must be int64");
  if (chunk_rows <= 0) throw Error(std::string(what) + ": chunk_rows must be positive");
  if (!(softcap >= 0)) throw Error(std::string(what) + ": softcap must be >= 0 (0 = none)");
}

// CUDA tensors go to the fused kernels (delib/kernels.h): the same per-row NLL, with the chunk's
// logits kept in the matmul dtype and read once by an online-softmax kernel.
bool use_fused(const torch::Tensor& hidden) {
  return hidden.is_cuda() && kernels::cuda_kernels_available();
}
constexpr int64_t kFusedMaxRows = 65535;  // one CUDA grid dimension

}  // namespace

torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets, int64_t chunk_rows, double softcap) {
  check_args(hidden, weight, targets, chunk_rows, softcap, "chunked_cross_entropy");
  if (use_fused(hidden))
    return kernels::fused_linear_cross_entropy(hidden, weight, targets, std::min(chunk_rows, kFusedMaxRows), softcap);
  return ChunkedNll::apply(hidden, weight, targets, chunk_rows, softcap).sum();
}

torch::Tensor chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, int64_t chunk_rows, double softcap) {
  check_args(hidden, weight, targets, chunk_rows, softcap, "chunked_token_logprobs");
  if (use_fused(hidden))
    return kernels::fused_token_logprobs(hidden, weight, targets, std::min(chunk_rows, kFusedMaxRows), softcap);
  return ChunkedNll::apply(hidden, weight, targets, chunk_rows, softcap).neg();
}

}  // namespace delib
