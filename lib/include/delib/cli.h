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
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

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

// How a tool reaches a model: local directory or OpenAI-compatible server.
struct BackendOptions {
  std::string backend = "local";    // --backend local|openai
  std::string model;                // --model DIR (local) or NAME (openai)
  std::string base_url;             // --base-url URL
  std::string api_key_env = "OPENAI_API_KEY";  // --api-key-env VAR
  std::string api_key_file;         // --api-key-file FILE
  int concurrency = 16;             // --concurrency N (requests in flight)
  double timeout = 600;             // --timeout SECONDS per request
  int max_retries = 6;              // --max-retries N
  std::string device = "cpu";       // --device cpu|cuda|cuda:N
  std::string dtype = "auto";       // --dtype auto|f32|bf16|f16
  int batch_size = 16;              // --batch-size N (local engine slots)
  bool completions = false;         // --completions: use /v1/completions with a rendered prompt
  // --chat-template FILE (a model directory, a tokenizer_config.json or a template file): with
  // --completions the HTTP backend renders each chat request with it (make_backend loads it
  // once). REQUIRES: set when completions is; "" otherwise.
  std::string chat_template;
  // LibTorch intra-op CPU threads of the local model (0: LibTorch's default, one per core).
  // No flag of its own: the tool copies RunOptions::threads (--threads) here. Torch's thread
  // count is per process, so two local backends in one process share the last value set.
  int threads = 0;
  // The flag prefix add_backend_options registered these under ("" or e.g. "judge"), so that
  // errors name the flag the user typed (--judge-chat-template).
  std::string prefix;
  // "--NAME" or "--PREFIX-NAME".
  std::string flag(const std::string& name) const {
    return "--" + prefix + (prefix.empty() ? "" : "-") + name;
  }
};

// Sampling flags shared by generating tools.
struct SamplingOptions {
  double temperature = 1.0;   // --temperature
  double top_p = 1.0;         // --top-p
  int top_k = 0;              // --top-k (0 = off)
  double min_p = 0.0;         // --min-p
  int max_tokens = 1024;      // --max-tokens
  std::vector<std::string> stop;  // --stop STR (repeatable)
};

void add_io_options(CLI::App& app, IoOptions& o, bool with_output = true);
// --seed and -q/--quiet; --threads too unless with_threads is false (tools with nothing to
// spread over threads, such as jsonl-cat and chat-render, do not accept a flag they would
// ignore).
void add_run_options(CLI::App& app, RunOptions& o, bool with_threads = true);
// The flags of BackendOptions, each named --PREFIX-NAME when prefix is given (e.g. "judge":
// --judge-model, --judge-completions, --judge-chat-template), and sets o.prefix.
void add_backend_options(CLI::App& app, BackendOptions& o, const std::string& prefix = "");
void add_sampling_options(CLI::App& app, SamplingOptions& o);
// --spec FILE (required unless `required` is false; default value shown when given).
void add_spec_option(CLI::App& app, std::string& path, bool required = true);

// Runs the tool as described above. `setup` adds options; `body` does the work and returns an
// exit code.
int run_tool(int argc, char** argv, const ToolInfo& info,
             const std::function<void(CLI::App&)>& setup, const std::function<int()>& body);

// Documentation generated from an App (used by --generate and tests).
std::string generate_man(const CLI::App& app, const ToolInfo& info);
std::string generate_bash(const CLI::App& app, const ToolInfo& info);
std::string generate_zsh(const CLI::App& app, const ToolInfo& info);
std::string generate_fish(const CLI::App& app, const ToolInfo& info);

// The tool name for messages ("jsonl-cat"); set by run_tool.
const std::string& tool_name();
// Prints `tool: warning: message` to stderr.
void warn(const std::string& message);

}  // namespace delib::cli
