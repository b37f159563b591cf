// libFuzzer target: the record reader on arbitrary bytes (plain or zstd framing, any line
// content). Everything must end in lines, records or a delib::Error, never a crash.
#include <cstdint>
#include <string>

#include "delib/filter.h"
#include "delib/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reader = delib::LineReader::from_memory(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;
  try {
    while (reader->next(line)) {
      try {
        delib::Record r = delib::Record::parse(line);
        (void)r.id();
        r.set("x", delib::Json(1));
        (void)r.to_json();
        (void)r.path("a.b.0");
        try {
          (void)r.messages();
        } catch (const delib::Error&) {
        }
      } catch (const delib::Error&) {
      }
    }
  } catch (const delib::Error&) {
  }
  return 0;
}
