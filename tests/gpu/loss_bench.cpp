// Peak GPU memory and time of the LM loss (forward + backward) at SFT scale: the naive path
// (full (N, V) logits, f32 cross-entropy) against delib::chunked_cross_entropy (model.h) and
// delib::kernels::fused_linear_cross_entropy (kernels.h). Prints Markdown rows on stdout.
// Peak = CUDA caching allocator peak allocated bytes during the call minus bytes allocated
// before it (inputs and their gradient buffers excluded), so it is the loss's own working set.
//   loss_bench [N=16384] [C=1024] [V=151936] [chunk=2048]
#include <torch/torch.h>

#include <c10/cuda/CUDACachingAllocator.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "delib/kernels.h"
#include "delib/model.h"

namespace {

struct Result {
  double peak_mb, ms, loss;
};

Result measure(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& loss_fn,
               const torch::Tensor& h0, const torch::Tensor& w0, int reps) {
  namespace alloc = c10::cuda::CUDACachingAllocator;
  double best_ms = 1e30, peak = 0, loss = 0;
  for (int i = 0; i < reps; ++i) {
    torch::Tensor h = h0.detach().clone().requires_grad_(true), w = w0.detach().clone().requires_grad_(true);
    torch::cuda::synchronize();
    const auto before = alloc::getDeviceStats(0).allocated_bytes[0].current;
    alloc::resetPeakStats(0);
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor l = loss_fn(h, w);
    l.backward();
    torch::cuda::synchronize();
    auto t1 = std::chrono::steady_clock::now();
    const auto p = alloc::getDeviceStats(0).allocated_bytes[0].peak;
    peak = double(p - before) / (1 << 20);
    loss = l.item<double>();
    if (i > 0 || reps == 1) best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return {peak, best_ms, loss};
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 16384;
  const int64_t c = argc > 2 ? std::atoll(argv[2]) : 1024;
  const int64_t v = argc > 3 ? std::atoll(argv[3]) : 151936;
  const int64_t chunk = argc > 4 ? std::atoll(argv[4]) : 2048;
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "loss_bench: no CUDA device\n");
    return 2;
  }
  torch::manual_seed(0);
  auto opt = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  torch::Tensor h = torch::randn({n, c}, opt), w = torch::randn({v, c}, opt) * 0.02;
  torch::Tensor t = torch::randint(0, v, {n}, opt.dtype(torch::kInt64));
  auto naive = [&](const torch::Tensor& hh, const torch::Tensor& ww) {
    torch::Tensor logits = torch::matmul(hh, ww.t()).to(torch::kFloat32);  // (N, V) f32, the usual HF path
    return torch::nn::functional::cross_entropy(logits, t, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  };
  auto chunked = [&](const torch::Tensor& hh, const torch::Tensor& ww) { return delib::chunked_cross_entropy(hh, ww, t, chunk); };
  auto fused = [&](const torch::Tensor& hh, const torch::Tensor& ww) { return delib::kernels::fused_linear_cross_entropy(hh, ww, t, chunk); };
  Result rn = measure(naive, h, w, 3), rc = measure(chunked, h, w, 3), rf = measure(fused, h, w, 3);
  std::printf("Loss forward+backward, N %lld tokens, C %lld, V %lld, bf16 hidden/weight, chunk %lld rows; "
              "peak = allocator peak during the call minus memory before it.\n\n",
              (long long)n, (long long)c, (long long)v, (long long)chunk);
  std::printf("| path | peak MB | vs naive (target <= 0.1x) | ms (best of 2) | loss |\n|---|---|---|---|---|\n");
  auto row = [&](const char* name, const Result& r) {
    std::printf("| %s | %.0f | %.3fx | %.1f | %.4f |\n", name, r.peak_mb, r.peak_mb / rn.peak_mb, r.ms, r.loss);
  };
  row("naive logits + F.cross_entropy (f32)", rn);
  row("delib::chunked_cross_entropy", rc);
  row("delib::kernels::fused_linear_cross_entropy", rf);
  const double rel = std::abs(rf.loss - rn.loss) / std::abs(rn.loss);
  std::printf("\nfused vs naive loss relative difference: %.2e\n", rel);
  return rel < 1e-2 ? 0 : 1;
}
