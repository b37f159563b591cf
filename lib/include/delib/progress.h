// Progress on stderr for long work: one line redrawn at most 4 times a second, shown only
// when enabled (stderr is a terminal and the tool was not given -q).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace delib {

class Progress {
 public:
  // total < 0: unknown (no ETA).
  Progress(std::string what, int64_t total, bool enabled);
  ~Progress();  // finish()
  // Adds n units; `extra` is appended to the line (e.g. "312 tok/s").
  void add(int64_t n = 1, const std::string& extra = "");
  void set_total(int64_t total) { total_ = total; }
  // Erases the line.
  void finish();
  double elapsed_seconds() const;

 private:
  std::string what_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
  std::string extra_;
  void draw();
};

}  // namespace delib
