// The Catch2 main of every gpu-labelled test binary (tests/unit/<area>/gpu/*.cpp ->
// test_<area>_gpu). Without a CUDA device, or in a build without the CUDA kernels, it runs no
// case and exits with kSkipExit, which tests/CMakeLists.txt declares as the test's
// SKIP_RETURN_CODE: ctest then reports the test as skipped, never as passed.
// DELIB_REQUIRE_GPU=1 (tests/gpu/run.sh on a GPU machine) turns that skip into a failure, so a
// broken CUDA setup there cannot hide behind a skip.
#include <torch/torch.h>
#undef CHECK  // LibTorch's glog-style CHECK; Catch2's must win (see torch_first.h)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "delib/kernels.h"

namespace {
constexpr int kSkipExit = 77;  // SKIP_RETURN_CODE in tests/CMakeLists.txt
}

int main(int argc, char** argv) {
  if (!delib::kernels::cuda_kernels_available()) {
    const char* req = std::getenv("DELIB_REQUIRE_GPU");
    const bool required = req && *req && std::string(req) != "0";
    std::fprintf(stderr, "%s: %s: no CUDA device, or delib was built without CUDA kernels (%s)\n",
                 argc > 0 ? argv[0] : "gpu test", required ? "FAILED" : "SKIPPED",
                 required ? "DELIB_REQUIRE_GPU is set" : "run tests/gpu/run.sh on a GPU machine");
    return required ? 1 : kSkipExit;
  }
  return Catch::Session().run(argc, argv);
}
