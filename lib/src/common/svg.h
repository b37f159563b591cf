// The parts of delib's standalone SVG plots that every plot shares, so that they look alike:
// safety-eval's Pareto plot (lib/src/eval/plot.cpp) and spec-lint's coverage plot
// (lib/src/spec/coverage.cpp). Private to the library.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace delib::svg {

// Text for XML content and attribute values: & < > " ' escaped, control characters other than
// tab and newline dropped (XML 1.0 does not allow them).
std::string escape(std::string_view s);
// A coordinate or length: fixed, two decimals ("12.50").
std::string num(double v);
// The series colours, in order (matplotlib's tab10 with red second); wraps around.
const char* color(size_t i);
inline constexpr const char* kGridColor = "#dddddd";  // grid lines, 1 px
inline constexpr const char* kTickColor = "#333333";  // tick labels
inline constexpr const char* kNoteColor = "#555555";  // small explanatory text (font-size 11)
// The opening of a plot: the XML declaration, <svg> of width x height with the shared font
// (sans-serif, 12), a white background and `title` (escaped) centred at the top in bold 15.
// The caller adds its content and svg::close().
std::string open(double width, double height, std::string_view title);
inline std::string close() { return "</svg>\n"; }

}  // namespace delib::svg
