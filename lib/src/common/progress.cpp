#include "delib/progress.h"

#include <cstdio>

#include <fmt/format.h>

namespace delib {

Progress::Progress(std::string what, int64_t total, bool enabled)
    : what_(std::move(what)), total_(total), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_(start_ - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(int64_t n, const std::string& extra) {
  done_ += n;
  if (!extra.empty()) extra_ = extra;
  if (!enabled_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(250) && done_ != total_) return;
  last_ = now;
  draw();
}

static std::string hms(double s) {
  long t = long(s + 0.5);
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

void Progress::draw() {
  double el = elapsed_seconds();
  double rate = el > 0 ? done_ / el : 0;
  std::string line;
  if (total_ > 0) {
    double frac = double(done_) / double(total_);
    std::string eta = rate > 0 && done_ < total_ ? " ETA " + hms((total_ - done_) / rate) : "";
    line = fmt::format("\r{}: {}/{} ({:.0f}%) {:.1f}/s{}", what_, done_, total_, 100 * frac, rate, eta);
  } else {
    line = fmt::format("\r{}: {} {:.1f}/s {}", what_, done_, rate, hms(el));
  }
  if (!extra_.empty()) line += " " + extra_;
  line += "\x1b[K";
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) {
    fputs("\r\x1b[K", stderr);
    fflush(stderr);
  }
}

}  // namespace delib
