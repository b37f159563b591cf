// Helpers shared by the eval unit tests: where the benchmark data and the repo are. ctest sets
// DELIB_SRC and DELIB_SHARED; to run test_eval by hand, export them (or run from the repo
// root, where ../shared is the default).
#pragma once
#include <cstdlib>
#include <string>

namespace eval_test {

inline std::string src_dir() {
  if (const char* s = std::getenv("DELIB_SRC"); s && *s) return s;
  return ".";
}
inline std::string shared_dir() {
  if (const char* s = std::getenv("DELIB_SHARED"); s && *s) return s;
  return src_dir() + "/../shared";
}
inline std::string bench(const std::string& rel) { return shared_dir() + "/data/bench/" + rel; }

}  // namespace eval_test
