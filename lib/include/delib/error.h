// Errors and exit codes shared by every tool.
//
// The library throws delib::Error at well-defined borders (bad input, bad option, I/O);
// each tool's main has one catch (delib::cli::run_tool) that prints
//   tool: FILE:LINE: message
// and exits with the error's code. Exit codes are the same for every tool:
#pragma once
#include <stdexcept>
#include <string>

namespace delib {

enum ExitCode : int {
  kExitOk = 0,          // success
  kExitFailure = 1,     // bad input data, failed check, or a processing error
  kExitUsage = 2,       // bad command line (unknown flag, bad value)
  kExitIo = 3,          // a file could not be opened, read or written
  kExitBackend = 4,     // the model or server failed (after retries)
  kExitInterrupt = 130, // SIGINT: output flushed up to the last complete record
  kExitTerminate = 143, // SIGTERM: likewise
};

// Where in an input something went wrong. file "-" is stdin; line 0 means "no line".
struct Location {
  std::string file;
  long line = 0;
  std::string str() const;  // "FILE:LINE" or "FILE" when line == 0, "" when file empty
};

// The one exception type of the library. what() is the bare message; str() the full
// "FILE:LINE: message" form that tools print.
class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, int exit_code = kExitFailure)
      : std::runtime_error(std::move(message)), exit_code_(exit_code) {}
  Error(Location where, std::string message, int exit_code = kExitFailure)
      : std::runtime_error(std::move(message)), where_(std::move(where)), exit_code_(exit_code) {}

  const Location& where() const { return where_; }
  int exit_code() const { return exit_code_; }
  std::string str() const;

 private:
  Location where_;
  int exit_code_;
};

// Raised when stdout's reader went away (EPIPE): tools exit 0 quietly, as `| head` expects.
struct BrokenPipe {};

// Warnings: what the user should know about a run that goes on (records skipped under
// --on-error skip, failures within --max-failures, a resumed run): one line on stderr,
//   tool: warning: message
// with the name given to set_tool_name ("delib" until then; cli::run_tool sets it).
void warn(const std::string& message);
void set_tool_name(std::string name);
const std::string& tool_name();

}  // namespace delib
