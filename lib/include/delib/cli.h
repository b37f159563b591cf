// The option table shared by every tool, and the tool runner.
//
// A tool's main is:
//
//   int main(int argc, char** argv) {
//     delib::cli::ToolInfo info{"jsonl-cat", "concatenate, convert and filter records", ...};
//     delib::cli::IoOptions io;  Mine mine;
//     return delib::cli::run_tool(argc, argv, info,
//         [&](CLI::App& app) { delib::cli::add_io_options(app, io); app.add_option(...); },
//         [&]() { ...; return delib::kExitOk; });
//   }
//
// run_tool parses flags (usage errors: stderr, exit 2), answers --help (stdout, exit 0) and
// --version, installs signal handlers, runs the body, and maps exceptions to exit codes,
// printing `tool: FILE:LINE: message`. The hidden flag `--generate man|bash|zsh|fish` prints
// the man page or a completion script generated from the CLI11 definitions; scripts/gen-docs.sh
// writes them to man/ and completions/, and the test `cli.docs.drift` fails when they differ.
//
// This is the command-line layer (library delib_cli, lib/src/cli), linked by the tools only:
// it declares the flags and binds them to the library's own option structs (BackendOptions,
// SamplingParams, CotGenOptions, ...). The library proper (delib_core, delib_torch) never
// includes this header; its builds define DELIB_LIBRARY_BUILD, which makes that an error.
#pragma once
#ifdef DELIB_LIBRARY_BUILD
#error "delib/cli.h is the command-line layer: the library does not include it (see lib/CMakeLists.txt)"
#endif
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "delib/backend.h"
#include "delib/error.h"
#include "delib/records.h"

namespace delib::cli {

struct ToolInfo {
  std::string name;        // binary name
  std::string summary;     // one line, for NAME in the man page and the top of --help
  std::string description; // paragraphs for DESCRIPTION (plain text, blank line = new paragraph)
  std::string examples;    // lines for EXAMPLES (commands, one per line; '#' lines are comments)
  // Exit codes of this tool, added to the common ones (0, 1, 2, 3, 4, 130, 143); an entry whose
  // code is a common one replaces that entry in --help and the man page's EXIT STATUS.
  std::vector<std::pair<int, std::string>> exit_codes;
  std::string see_also = "delib-records(5)";
};

// Inputs, output and the record stream's policies.
struct IoOptions {
  std::vector<std::string> inputs;  // positional FILE...; empty or "-" = stdin
  std::string output = "-";         // -o FILE
  bool plain = false;               // --plain
  bool zstd = false;                // --zstd (force, even to a terminal)
  int level = 3;                    // --level
  int zstd_threads = 1;             // --zstd-threads (1: compress in a background thread)
  std::string on_error = "fail";    // --on-error fail|skip
  std::string rejects;              // --rejects FILE
  std::string shard;                // --shard K/N

  ReadOptions read_options() const;
  WriteOptions write_options() const;
};

// Options for every run: --seed, -q/--quiet, and --threads in the tools that have work to
// spread over threads (see add_run_options).
struct RunOptions {
  uint64_t seed = 0;
  int threads = 0;      // 0 = all cores
  bool quiet = false;
  // True when progress should be shown: stderr is a terminal and not --quiet.
  bool progress() const;
};

void add_io_options(CLI::App& app, IoOptions& o, bool with_output = true);
// --seed and -q/--quiet; --threads too unless with_threads is false (tools with nothing to
// spread over threads, such as jsonl-cat and chat-render, do not accept a flag they would
// ignore).
void add_run_options(CLI::App& app, RunOptions& o, bool with_threads = true);
// The flags of BackendOptions (--backend, --model, --base-url, ...; all but `threads`, which
// the tool copies from --threads), each named --PREFIX-NAME when prefix is given (e.g.
// "judge": --judge-model, --judge-completions, --judge-chat-template), and sets o.prefix.
// The defaults shown are o's values at the call.
void add_backend_options(CLI::App& app, BackendOptions& o, const std::string& prefix = "");
// --temperature, --top-p, --top-k, --min-p, --max-tokens and --stop, into o's fields (o's
// values at the call are the defaults shown; logprobs has no flag).
void add_sampling_options(CLI::App& app, SamplingParams& o);
// --spec FILE (required unless `required` is false; default value shown when given).
void add_spec_option(CLI::App& app, std::string& path, bool required = true);
// --profile FILE and --profile-steps A:B for train::StepProfiler (train.h), in `group`;
// `what` says what a traced step holds (e.g. "rollouts, rewards and update").
void add_profile_options(CLI::App& app, std::string& path, std::string& steps, const std::string& group,
                         const std::string& what);

// Runs the tool as described above. `setup` adds options; `body` does the work and returns an
// exit code.
int run_tool(int argc, char** argv, const ToolInfo& info,
             const std::function<void(CLI::App&)>& setup, const std::function<int()>& body);

// Documentation generated from an App (used by --generate and tests).
std::string generate_man(const CLI::App& app, const ToolInfo& info);
std::string generate_bash(const CLI::App& app, const ToolInfo& info);
std::string generate_zsh(const CLI::App& app, const ToolInfo& info);
std::string generate_fish(const CLI::App& app, const ToolInfo& info);

// `tool: warning: message` on stderr: the library's delib::warn (delib/error.h), the tool
// name set by run_tool.
using delib::warn;

}  // namespace delib::cli
