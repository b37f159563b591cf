// CUDA kernels where they pay on H100/H200, each behind a function that also runs on CPU
// (ATen reference path), so that callers never branch on the device themselves.
// Area: kernels (delib_torch).
//
//   fused_linear_nll / fused_linear_cross_entropy / fused_token_logprobs
//       linear + cross-entropy / log-prob gather that never materialises the (N, V) logits.
//       CUDA: per row chunk, logits via cuBLAS (at::matmul) then ONE fused kernel computing
//       logsumexp + target logit (online softmax, reads the chunk once, in its own dtype) and,
//       in backward, softmax-minus-onehot written in place into the recomputed chunk.
//       CPU: delib::chunked_token_logprobs (delib/model.h), same semantics. Both take the
//       final logit soft-cap (Gemma 2/3) and apply it per chunk, forward and backward.
//   sample_top_k_top_p
//       sort-free top-k / top-p (nucleus) sampling over large vocabularies: a 31-step binary
//       search on the float bit pattern of the keep threshold, one thread block per row.
//       CPU (or no CUDA build): sample_top_k_top_p_reference (sort based), same semantics.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace delib::kernels {

// True when delib was built with CUDA kernels (DELIB_HAVE_CUDA) AND a CUDA device is present.
bool cuda_kernels_available();

// Per-row negative log-likelihood of `targets` under softmax(z), z = softcap(hidden @ weight^T):
// (N,) f32, 0 where targets == -100. hidden (N, C) f32/bf16/f16, weight (V, C), targets (N,)
// int64. softcap > 0: z = softcap * tanh(u / softcap) of the linear output u (Gemma 2/3's
// final_logit_softcapping, delib::LmHead in delib/model.h), applied per chunk in the kernels;
// 0 = none (the same arithmetic as before the cap existed).
// Differentiable w.r.t. hidden and weight; peak extra memory O(chunk_rows x V) in the
// matmul dtype (no f32 copy of the chunk on CUDA). Throws delib::Error on bad shapes.
torch::Tensor fused_linear_nll(const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t chunk_rows = 1024,
                               double softcap = 0);
// Sum of fused_linear_nll (callers divide), i.e. a drop-in for delib::chunked_cross_entropy.
torch::Tensor fused_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, int64_t chunk_rows = 1024,
                                         double softcap = 0);
// -fused_linear_nll: log p(target) per row, a drop-in for delib::chunked_token_logprobs.
torch::Tensor fused_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, int64_t chunk_rows = 1024,
                                   double softcap = 0);

// Row statistics of a chunk of linear outputs u (R, V) (f32/bf16/f16, contiguous), with
// z = softcap * tanh(u / softcap) (softcap > 0) or z = u (softcap == 0): writes lse (R,) f32 =
// logsumexp_v z_rv and nll (R,) f32 = lse_r - z_{r,t_r} (0 where t_r == -100). The building
// block of fused_linear_nll's forward; exposed for tests. CUDA kernel or ATen.
void logits_row_stats(const torch::Tensor& u, const torch::Tensor& targets, torch::Tensor& lse,
                      torch::Tensor& nll, double softcap = 0);
// In place on the linear outputs u (R, V): u_rv <- d nll_r / d u_rv scaled by g_r,
//   softcap == 0:  g_r * (exp(u_rv - lse_r) - [v == t_r])
//   softcap > 0:   g_r * (exp(z_rv - lse_r) - [v == t_r]) * (1 - tanh^2(u_rv / softcap)),
//                  z = softcap * tanh(u / softcap)   (d/du cap tanh(u/cap) = 1 - tanh^2(u/cap))
// and 0 on rows with t_r == -100. g (R,) f32 is the incoming gradient of nll.
void softmax_minus_onehot_(torch::Tensor& u, const torch::Tensor& targets,
                           const torch::Tensor& lse, const torch::Tensor& g, double softcap = 0);

// Samples one token per row of logits (B, V) with temperature, top-k and top-p, driven by
// caller-supplied uniforms u (B,) in [0, 1) (so that results are reproducible and the same
// on CPU and GPU). Returns (B,) int64.
//   p_v  = softmax(z / temperature)_v; temperature <= 0 means greedy (argmax, u unused).
//   Keep set K = { v : p_v >= tau }, tau the LARGEST value such that
//     |{v : p_v >= tau}| >= top_k            (top_k <= 0 or >= V: no constraint)
//     sum_{v : p_v >= tau} p_v >= top_p       (top_p >= 1: no constraint)
//   and with neither constraint, tau = 0 (every token is kept).
//   i.e. tau = min(k-th largest p, the smallest p of the shortest descending prefix with mass
//   >= top_p). Ties at tau are all kept (so |K| can exceed top_k only on exact ties).
//   The token is the first v (vocabulary order) whose cumulative kept mass exceeds u * mass(K).
torch::Tensor sample_top_k_top_p(const torch::Tensor& logits, double temperature, int64_t top_k,
                                 double top_p, const torch::Tensor& u);
// The same on any device with sort + cumsum (ATen); the CPU path and the tests' reference.
torch::Tensor sample_top_k_top_p_reference(const torch::Tensor& logits, double temperature,
                                           int64_t top_k, double top_p, const torch::Tensor& u);

}  // namespace delib::kernels
