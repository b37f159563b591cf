// Test data from the shared/ checkout next to delib (tokenizers, chat templates, benchmark
// files). ctest sets DELIB_SHARED (tests/CMakeLists.txt); run by hand, the checkout's sibling
// ../shared is the default. A test that needs a file which is not there FAILS naming the path:
// missing data is never a silent pass or an early return.
#pragma once
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace delib_test {

inline std::string shared_root() {
  if (const char* s = std::getenv("DELIB_SHARED"); s && *s) return s;
  if (const char* src = std::getenv("DELIB_SRC"); src && *src) return std::string(src) + "/../shared";
  const std::string here = __FILE__;  // .../tests/unit/shared_data.h
  return here.substr(0, here.rfind("/tests/unit/")) + "/../shared";
}

// shared_root()/rel, which must exist (file or directory); otherwise the test case fails.
inline std::string shared_path(const std::string& rel) {
  const std::string p = shared_root() + "/" + rel;
  if (!std::filesystem::exists(p))
    FAIL("missing shared test data " << p << " (set DELIB_SHARED to the shared/ checkout; "
                                     "ctest sets it to the sibling of the source tree)");
  return p;
}

}  // namespace delib_test
