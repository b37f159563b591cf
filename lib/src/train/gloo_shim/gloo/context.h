// See ../README: opaque stand-in for the gloo header of the same name.
#pragma once
#include <chrono>

namespace gloo {
// Declared with the one member the c10d header's inline code names; defined in libtorch_cpu.
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
