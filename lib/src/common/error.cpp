#include "delib/error.h"

namespace delib {

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
