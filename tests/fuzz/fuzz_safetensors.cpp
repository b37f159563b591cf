// libFuzzer target for the safetensors header parser: any input is either accepted (and then
// every tensor lies inside the data section without overlap) or rejected with delib::Error;
// it never crashes or reads out of bounds (ASan/UBSan are on).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "delib/error.h"
#include "delib/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = delib::safetensors::parse_header(data, size, "fuzz.safetensors");
    const uint64_t data_size = size - h.data_offset;
    uint64_t prev_end = 0;
    for (const auto& t : h.tensors) {
      if (t.end > data_size || t.begin > t.end) std::abort();
      if (t.end > t.begin && t.begin < prev_end) std::abort();
      if (t.end > t.begin) prev_end = t.end;
    }
  } catch (const delib::Error&) {
  }
  return 0;
}
