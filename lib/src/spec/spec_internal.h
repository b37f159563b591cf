// Private helpers shared by the spec parser (spec.cpp) and the linter (lint.cpp).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "delib/spec.h"

namespace delib::spec_detail {

// The file split into lines the way the parser sees them: '\n' separated, a trailing '\r'
// and a leading UTF-8 BOM removed, invalid UTF-8 bytes replaced by U+FFFD, and lines inside
// HTML comments (`<!-- ... -->`, whole lines) and their delimiter lines blanked.
// `unterminated_comment` is the 1-based line of an unclosed `<!--`, or 0.
struct SourceLines {
  std::vector<std::string> lines;       // lines[i] is line i+1
  std::vector<bool> in_comment;         // line i+1 was blanked as a comment
  std::vector<int> bad_utf8_col;        // 1-based column of the first invalid byte, or 0
  int unterminated_comment = 0;
};
SourceLines split_source(std::string_view text);

// 1-based column (in code points) of byte offset `byte` in `line`.
int column_of(std::string_view line, size_t byte);

// Id patterns. Category ids: [a-z][a-z0-9]*(-[a-z0-9]+)* and not a reserved word (`style`,
// `helpfulness`, `spec`). Element ids (levels, rules, examples): [A-Z]+[0-9]+.
bool valid_category_id(std::string_view id);
bool reserved_category_id(std::string_view id);
bool valid_element_id(std::string_view id);
// Splits an element id into its letter prefix and number ("S12" -> "S", 12). REQUIRES valid.
std::pair<std::string, long> split_element_id(std::string_view id);

std::string_view trim(std::string_view s);
std::string lower_ascii(std::string_view s);

}  // namespace delib::spec_detail
