// The (temperature, top-k, top-p) settings the sampling tests sweep, shared by the CPU
// (test_sample.cpp) and CUDA (gpu/test_sample_cuda.cpp) tests.
#pragma once
#include <cstdint>

namespace {

struct Cfg {
  double t;
  int64_t k;
  double p;
};
const Cfg kCfgs[] = {{1.0, 0, 1.0}, {1.0, 50, 1.0}, {0.7, 0, 0.9}, {1.0, 20, 0.95}, {1.3, 1, 1.0}, {1.0, 0, 1e-6}};

}  // namespace
