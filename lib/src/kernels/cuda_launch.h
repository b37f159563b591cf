// Launchers of the CUDA kernels in lib/src/kernels/*.cu (compiled only with DELIB_HAVE_CUDA).
// Plain C++ signatures (raw device pointers, cudaStream_t as void*) so the .cu files need no
// LibTorch headers; the torch-facing wrappers are in kernels_cuda.cpp.
#pragma once
#include <cstdint>

namespace delib::kernels::cuda {

// dtype codes of the logits chunk
enum class Dtype : int { f32 = 0, bf16 = 1, f16 = 2 };

// z (rows, v) row-major in `dtype`; targets (rows,) int64; lse, nll (rows,) f32.
void launch_row_stats(const void* z, Dtype dtype, const int64_t* targets, int64_t rows, int64_t v,
                      float* lse, float* nll, void* stream);
// In place on z: z = g * (exp(z - lse) - onehot(t)), 0 on ignored rows.
void launch_softmax_minus_onehot(void* z, Dtype dtype, const int64_t* targets, const float* lse,
                                 const float* g, int64_t rows, int64_t v, void* stream);
// logits (rows, v) f32; u (rows,) f32; scratch (rows, v) f32; out (rows,) int64.
void launch_sample_top_k_top_p(const float* logits, int64_t rows, int64_t v, float inv_temperature,
                               int64_t top_k, float top_p, const float* u, float* scratch,
                               int64_t* out, void* stream);

}  // namespace delib::kernels::cuda
