// libFuzzer target for the spec parser: any bytes must parse (or throw delib::Error) without a
// crash, and whatever parses leniently must lint and render its views without one. Also checks
// two properties: rendering is deterministic, and Spec::parse throws exactly when the lenient
// parser reports an error.
//   cmake -DDELIB_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ... && ninja fuzz_spec
//   ./fuzz_spec -max_len=4096 -dict=... corpus/ ../specs/
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "delib/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<delib::SpecDiagnostic> diags;
  delib::Spec lenient = delib::parse_spec_lenient(text, "fuzz.md", diags);
  bool has_error = false;
  for (const auto& d : diags) {
    has_error |= d.severity == delib::Severity::kError;
    (void)d.str();
    (void)d.to_json().dump();
  }
  bool threw = false;
  try {
    delib::Spec::parse(text, "fuzz.md");
  } catch (const delib::Error&) {
    threw = true;
  }
  if (threw != has_error) std::abort();

  delib::LintOptions options;
  options.max_view_chars = 1000;
  options.min_examples = 1;
  (void)delib::lint_spec(lenient, options);
  for (const auto& c : lenient.categories) {
    std::string a = lenient.render_view(c.id);
    if (a != lenient.render_view(c.id)) std::abort();
    (void)lenient.resolve(c.id + ".S1");
  }
  return 0;
}
