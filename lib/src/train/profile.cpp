// StepProfiler (train.h): the PyTorch profiler's Kineto backend around a range of steps.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/train.h"

namespace delib::train {

namespace prof = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

StepProfiler::StepProfiler(const std::string& path, const std::string& spec, bool cuda)
    : path_(path), spec_(spec), cuda_(cuda) {
  if (path_.empty()) return;
  const auto colon = spec.find(':');
  try {
    size_t a = 0, b = 0;
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    first_ = std::stoll(spec.substr(0, colon), &a);
    last_ = std::stoll(spec.substr(colon + 1), &b);
    if (a != colon || b != spec.size() - colon - 1) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    throw Error(fmt::format("--profile-steps '{}': expected A:B, the first and last step to trace", spec), kExitUsage);
  }
  if (first_ < 1 || last_ < first_)
    throw Error(fmt::format("--profile-steps '{}': expected 1 <= A <= B", spec), kExitUsage);
}

StepProfiler::~StepProfiler() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; finish() reported what it could
  }
}

void StepProfiler::before_step(int64_t n) {
  steps_ = std::max(steps_, n);
  if (path_.empty() || done_ || active_ || n != first_) return;
  std::set<impl::ActivityType> acts{impl::ActivityType::CPU};
  if (cuda_) acts.insert(impl::ActivityType::CUDA);
  const impl::ProfilerConfig cfg(impl::ProfilerState::KINETO, /*report_input_shapes=*/false);
  prof::prepareProfiler(cfg, acts);
  prof::enableProfiler(cfg, acts);
  active_ = true;
}

void StepProfiler::after_step(int64_t n) {
  if (active_ && n >= last_) finish();
}

void StepProfiler::require_traced(const std::string& steps_name) const {
  if (path_.empty() || steps_ >= first_) return;
  throw Error(fmt::format("--profile: the run took {} {}, none of --profile-steps {}: nothing traced", steps_,
                          steps_name, spec_));
}

void StepProfiler::finish() {
  if (!active_ || done_) return;
  if (cuda_) torch::cuda::synchronize();
  std::unique_ptr<prof::ProfilerResult> res = prof::disableProfiler();
  active_ = false;
  done_ = true;
  res->save(path_);
  // Totals per name: on CUDA the device's own events (kernels, memcpy, memset), which add up
  // to the device's busy time; on the CPU the operators, whose inclusive times nest (a
  // linear contains its matmul), so they rank operators but do not add up.
  std::map<std::string, std::pair<double, int64_t>> tot;  // name -> (ms, count)
  double busy = 0;
  for (const auto& e : res->events()) {
    const bool device = e.deviceType() == c10::DeviceType::CUDA;
    if (device != cuda_) continue;
    auto& t = tot[e.name()];
    t.first += double(e.durationNs()) / 1e6;
    t.second += 1;
    if (device) busy += double(e.durationNs()) / 1e6;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(tot.begin(), tot.end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.first > y.second.first; });
  std::string out = fmt::format("profile of steps {}..{} ({}; trace {}){}\n", first_, last_,
                                cuda_ ? "CUDA device events" : "CPU operators, inclusive", path_,
                                cuda_ ? fmt::format(", device busy {:.1f} ms", busy) : "");
  out += fmt::format("{:>10} {:>8}  {}\n", "total ms", "calls", "name");
  for (size_t i = 0; i < rows.size() && i < 25; ++i)
    out += fmt::format("{:>10.2f} {:>8}  {}\n", rows[i].second.first, rows[i].second.second, rows[i].first.substr(0, 160));
  std::ofstream f(path_ + ".top.txt");
  f << out;
  if (!f) throw Error(fmt::format("{}.top.txt: cannot write the profile summary", path_), kExitIo);
  fmt::print(stderr, "{}", out);
}

}  // namespace delib::train
