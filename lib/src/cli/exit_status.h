// The exit statuses a tool documents, shared by run_tool (the --help footer) and the man page
// generator (EXIT STATUS), so that both say the same and each code is listed once.
#pragma once
#include <string>
#include <vector>

#include "delib/cli.h"

namespace delib::cli {

struct ExitStatus {
  int code;
  std::string brief;  // a few words, for the --help footer ("usage error")
  std::string text;   // one or two sentences, for the man page
};

// The common statuses of every tool (the codes of delib/error.h: 0, 1, 2, 3, 4, 130, 143),
// where each entry of info.exit_codes replaces the common entry of the same code (a tool says
// what that code means for it) or adds a code of its own; sorted by code, each code once.
// A tool's entry keeps the common brief of its code (its own text when the code is new) and
// its text is made a sentence (capitalised, ending with a full stop).
std::vector<ExitStatus> exit_statuses(const ToolInfo& info);

}  // namespace delib::cli
