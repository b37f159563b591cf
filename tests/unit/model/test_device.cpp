// parse_device: the one reading of --device for every tool (delib/model.h). A malformed value
// is a usage error (exit 2) naming the flag and the value, whichever tool reads it.
#include <catch2/catch.hpp>

#include "delib/error.h"
#include "delib/model.h"

using delib::parse_device;

namespace {

// The exit code and message of parse_device(value, ...), or {0, ""} when it returned.
std::pair<int, std::string> refusal(const std::string& value, int local_rank = 0, const std::string& flag = "--device") {
  try {
    parse_device(value, local_rank, flag);
  } catch (const delib::Error& e) {
    return {e.exit_code(), e.what()};
  }
  return {0, ""};
}

}  // namespace

TEST_CASE("parse_device: cpu is the CPU") {
  CHECK(parse_device("cpu") == torch::Device(torch::kCPU));
  CHECK(parse_device("cpu", 3) == torch::Device(torch::kCPU));
}

TEST_CASE("parse_device: a malformed value is a usage error naming the flag and the value") {
  for (const char* bad : {"cuda:x", "cuda:", "cuda:-1", "cuda:1x", "cuda:128", "cuda:99999999999", "gpu", "CPU",
                          "", " cpu", "mps", "meta", "cuda0", "cpu:0"}) {
    INFO("value '" << bad << "'");
    auto [code, msg] = refusal(bad);
    CHECK(code == delib::kExitUsage);
    CHECK(msg == "--device '" + std::string(bad) + "': expected cpu, cuda or cuda:N");
  }
  // The flag it names is the caller's (e.g. a backend's --judge-device).
  CHECK(refusal("cuda:x", 0, "--judge-device").second == "--judge-device 'cuda:x': expected cpu, cuda or cuda:N");
}

TEST_CASE("parse_device: cuda and cuda:N need CUDA, and the device must exist") {
  if (!torch::cuda::is_available()) {
    // This machine: a well-formed CUDA value is refused as a usage error, not a LibTorch crash.
    for (const char* v : {"cuda", "cuda:0", "cuda:7"}) {
      INFO(v);
      auto [code, msg] = refusal(v);
      CHECK(code == delib::kExitUsage);
      CHECK(msg == "--device " + std::string(v) + ": CUDA is not available on this machine");
    }
  } else {
    const int n = int(torch::cuda::device_count());
    CHECK(parse_device("cuda") == torch::Device(torch::kCUDA, 0));
    CHECK(parse_device("cuda", n - 1) == torch::Device(torch::kCUDA, c10::DeviceIndex(n - 1)));  // LOCAL_RANK
    CHECK(parse_device("cuda:0", 5) == torch::Device(torch::kCUDA, 0));  // an explicit index wins
    auto [code, msg] = refusal("cuda:" + std::to_string(n));
    CHECK(code == delib::kExitUsage);
    CHECK_THAT(msg, Catch::Contains("does not exist"));
  }
}
