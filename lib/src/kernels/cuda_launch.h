// Launchers of the CUDA kernels in lib/src/kernels/*.cu (compiled only with DELIB_HAVE_CUDA).
// Plain C++ signatures (raw device pointers, cudaStream_t as void*) so the .cu files need no
// LibTorch headers; the torch-facing wrappers are in kernels_cuda.cpp.
#pragma once
#include <cstdint>

namespace delib::kernels::cuda {

// dtype codes of the logits chunk
enum class Dtype : int { f32 = 0, bf16 = 1, f16 = 2 };

// u (rows, v) row-major in `dtype`, the linear outputs; z = softcap * tanh(u / softcap) when
// softcap > 0, else z = u; targets (rows,) int64; lse, nll (rows,) f32 of z.
void launch_row_stats(const void* u, Dtype dtype, const int64_t* targets, int64_t rows, int64_t v,
                      float softcap, float* lse, float* nll, void* stream);
// In place on u: u = g * (exp(z - lse) - onehot(t)) * dz/du, 0 on ignored rows
// (dz/du = 1 - tanh^2(u / softcap), or 1 without the cap).
void launch_softmax_minus_onehot(void* u, Dtype dtype, const int64_t* targets, const float* lse,
                                 const float* g, int64_t rows, int64_t v, float softcap, void* stream);
// logits (rows, v) f32; u (rows,) f32; scratch (rows, v) f32; out (rows,) int64.
void launch_sample_top_k_top_p(const float* logits, int64_t rows, int64_t v, float inv_temperature,
                               int64_t top_k, float top_p, const float* u, float* scratch,
                               int64_t* out, void* stream);

}  // namespace delib::kernels::cuda
