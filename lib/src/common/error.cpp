#include "delib/error.h"

#include <cstdio>

namespace delib {
namespace {
std::string g_tool = "delib";
}

void set_tool_name(std::string name) { g_tool = std::move(name); }
const std::string& tool_name() { return g_tool; }

void warn(const std::string& message) {
  std::string line = g_tool + ": warning: " + message + "\n";
  fwrite(line.data(), 1, line.size(), stderr);
}

std::string Location::str() const {
  if (file.empty()) return "";
  if (line <= 0) return file;
  return file + ":" + std::to_string(line);
}

std::string Error::str() const {
  std::string w = where_.str();
  if (w.empty()) return what();
  return w + ": " + what();
}

}  // namespace delib
