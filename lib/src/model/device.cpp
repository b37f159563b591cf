// parse_device: the one reading of a --device value (delib/model.h).
#include <fmt/format.h>

#include "delib/error.h"
#include "delib/model.h"

namespace delib {

torch::Device parse_device(const std::string& value, int local_rank, const std::string& flag) {
  int index = -1;
  if (value == "cpu") return torch::Device(torch::kCPU);
  if (value == "cuda") {
    index = local_rank;
  } else if (value.rfind("cuda:", 0) == 0 && value.size() > 5 && value.size() <= 8 &&
             value.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(value.substr(5));  // at most 3 digits: no overflow
  }
  // torch::Device's own parser would also take "mps", "meta", "xpu:0" ...: the flags promise
  // cpu, cuda and cuda:N, so that is what is accepted; an index fits c10::DeviceIndex (int8).
  if (index < 0 || index > 127)
    throw Error(fmt::format("{} '{}': expected cpu, cuda or cuda:N", flag, value), kExitUsage);
  if (!torch::cuda::is_available())
    throw Error(fmt::format("{} {}: CUDA is not available on this machine", flag, value), kExitUsage);
  const int64_t count = int64_t(torch::cuda::device_count());
  if (index >= count)
    throw Error(fmt::format("{} {}: cuda:{} does not exist (this machine has {} CUDA device{})", flag, value,
                            index, count, count == 1 ? "" : "s"),
                kExitUsage);
  return torch::Device(torch::kCUDA, c10::DeviceIndex(index));
}

}  // namespace delib
