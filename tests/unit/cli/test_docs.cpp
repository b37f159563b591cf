// The generated man page and completions show each option once, a flag without an argument
// and an option with its metavar, and each exit status once.
#include <catch2/catch.hpp>

#include <iostream>
#include <regex>
#include <sstream>

#include "cli/exit_status.h"
#include "delib/cli.h"

namespace {

using delib::cli::ToolInfo;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

// The text from the line that starts with `start` to the next line that starts with `end`.
std::string section(const std::string& text, const std::string& start, const std::string& end) {
  auto b = text.find("\n" + start);
  REQUIRE(b != std::string::npos);
  auto e = text.find("\n" + end, b + 1);
  return text.substr(b + 1, e == std::string::npos ? std::string::npos : e - b - 1);
}

// The line of `text` that contains `needle` (exactly one such line).
std::string line_with(const std::string& text, const std::string& needle) {
  std::stringstream ss(text);
  std::string line, found;
  int n = 0;
  while (std::getline(ss, line))
    if (line.find(needle) != std::string::npos) { found = line; ++n; }
  INFO(needle << " in:\n" << text);
  REQUIRE(n == 1);
  return found;
}

// An App set up as run_tool sets one up (CLI11's -h,--help, a --version flag), with a flag, a
// counting flag, options with and without a metavar, choices, a repeatable option, a hidden
// option and a group that the tool adds to in two places.
struct Fixture {
  CLI::App app{"test tool", "t"};
  bool plain = false, dry = false;
  int verbose = 0, level = 3;
  std::string out = "-", mode = "a", field, old;
  std::vector<std::string> tags;
  ToolInfo info;
  Fixture() {
    app.set_version_flag("--version", "t 1");
    app.add_option("-o,--output", out, "Write to FILE")->type_name("FILE")->capture_default_str()->group("IO");
    app.add_flag("--plain", plain, "Write plain JSONL")->group("IO");
    app.add_flag("-v,--verbose", verbose, "More output")->group("Run");
    app.add_option("--level", level, "Level")->check(CLI::Range(0, 9))->capture_default_str()->group("IO");
    app.add_option("--mode", mode, "Mode")->check(CLI::IsMember({"a", "b"}))->group("Run");
    app.add_option("--field", field, "Field")->group("Run");
    app.add_option("--tag", tags, "A tag")->type_name("NAME")->group("Run");
    app.add_option("--stop", tags, "Stop string (repeatable)")->group("Run");
    app.add_option("--effort", mode, "Effort (default: a)")->capture_default_str()->group("Run");
    app.add_option("--old", old, "Deprecated")->group("");
    app.add_flag("--dry-run", dry, "Do nothing")->group("IO");
    info.name = "t";
    info.summary = "test tool";
    info.exit_codes = {{1, "bad input records"}, {4, "the judge failed"}, {5, "a tool-specific failure"}};
  }
};

}  // namespace

TEST_CASE("man: a flag has no argument, an option its metavar, each option once", "[cli][docs]") {
  Fixture f;
  std::string man = delib::cli::generate_man(f.app, f.info);
  std::string opts = section(man, ".SH OPTIONS", ".SH ");
  INFO(opts);
  CHECK(line_with(opts, "\\-\\-plain") == "\\fB\\-\\-plain\\fR");
  CHECK(line_with(opts, "\\-\\-dry\\-run") == "\\fB\\-\\-dry\\-run\\fR");
  CHECK(line_with(opts, "\\-\\-verbose") == "\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR");
  CHECK(line_with(opts, "\\-\\-output") == "\\fB\\-o\\fR, \\fB\\-\\-output\\fR \\fIFILE\\fR");
  CHECK(line_with(opts, "\\-\\-level") == "\\fB\\-\\-level\\fR \\fIINT\\fR");
  CHECK(line_with(opts, "\\-\\-mode") == "\\fB\\-\\-mode\\fR \\fITEXT\\fR");
  CHECK(line_with(opts, "\\-\\-tag") == "\\fB\\-\\-tag\\fR \\fINAME\\fR");
  CHECK(line_with(opts, "\\-\\-help") == "\\fB\\-h\\fR, \\fB\\-\\-help\\fR");
  CHECK(line_with(opts, "\\-\\-version") == "\\fB\\-\\-version\\fR");
  CHECK(count(man, "VALUE") == 0);
  CHECK(count(man, "\\-\\-old") == 0);  // hidden
  // The description ends its sentence before the default; choices and repetition are said.
  CHECK(count(opts, "Level. Default: 3.") == 1);
  CHECK(count(opts, "Mode (one of: a, b).") == 1);
  CHECK(count(opts, "A tag. May be repeated.") == 1);
  CHECK(count(opts, "More output. May be repeated.") == 1);
  // ... once: not again where the help says it.
  CHECK(count(opts, "Stop string (repeatable).\n") == 1);
  CHECK(count(opts, "Effort (default: a).") == 1);
  CHECK(count(opts, "Default: a.") == 0);
  // Each group is one section, even though IO options were added before and after Run's.
  CHECK(count(opts, ".SS IO\n") == 1);
  CHECK(count(opts, ".SS Run\n") == 1);
  CHECK(opts.find("\\-\\-dry\\-run") < opts.find(".SS Run"));
}

TEST_CASE("man: each exit status once, a tool's entry replacing the common one", "[cli][docs]") {
  Fixture f;
  std::string man = delib::cli::generate_man(f.app, f.info);
  std::string codes = section(man, ".SH EXIT STATUS", ".SH ");
  INFO(codes);
  std::regex code_line("\n\\.B ([0-9]+)\n");
  std::vector<std::string> seen;
  for (auto it = std::sregex_iterator(codes.begin(), codes.end(), code_line); it != std::sregex_iterator(); ++it)
    seen.push_back((*it)[1]);
  CHECK(seen == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "130", "143"});
  CHECK(count(codes, "\n.B 1\nBad input records.\n") == 1);
  CHECK(count(codes, "\n.B 4\nThe judge failed.\n") == 1);
  CHECK(count(codes, "\n.B 5\nA tool\\-specific failure.\n") == 1);
  CHECK(count(codes, "Failure: bad input data") == 0);
  CHECK(count(man, "EXIT STATUS") == 1);
  CHECK(count(man, "Exit status") == 0);  // the --help footer is not repeated in the man page
}

TEST_CASE("exit_statuses: common codes with the tool's texts, sorted, each code once", "[cli][docs]") {
  ToolInfo info;
  info.exit_codes = {{3, "a checkpoint could not be written"}, {7, "custom"}};
  auto st = delib::cli::exit_statuses(info);
  std::vector<int> codes;
  for (auto& e : st) codes.push_back(e.code);
  CHECK(codes == std::vector<int>{0, 1, 2, 3, 4, 7, 130, 143});
  CHECK(st[3].text == "A checkpoint could not be written.");
  CHECK(st[3].brief == "I/O error");
  CHECK(st[5].brief == "custom");
  CHECK(delib::cli::exit_statuses(ToolInfo{}).size() == 7);
}

TEST_CASE("--help: the footer lists each exit status once", "[cli][docs]") {
  ToolInfo info;
  info.name = "t";
  info.summary = "test tool";
  info.exit_codes = {{4, "the judge failed"}};
  bool plain = false;
  const char* argv[] = {"t", "--help"};
  std::stringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  int rc = delib::cli::run_tool(
      2, const_cast<char**>(argv), info,
      [&](CLI::App& app) { app.add_flag("--plain", plain, "Plain")->group("IO"); }, [] { return 0; });
  std::cout.rdbuf(old);
  std::string help = captured.str();
  INFO(help);
  CHECK(rc == 0);
  CHECK(count(help, "Exit status:") == 1);
  CHECK(count(help, "Exit status: 0 success, 1 failure (bad input or a failed check), 2 usage error, 3 I/O "
                    "error, 4 model/server error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).") == 1);
  CHECK(count(help, "-h,--help") == 1);
}

TEST_CASE("bash: a flag is followed by the usual completion, an option by its value's", "[cli][docs]") {
  Fixture f;
  std::string s = delib::cli::generate_bash(f.app, f.info);
  INFO(s);
  // Only options that take a value have a case arm (which returns before the generic part).
  CHECK(count(s, "    --plain)") == 0);
  CHECK(count(s, "--dry-run)") == 0);
  CHECK(count(s, "-v|--verbose)") == 0);
  CHECK(count(s, "    -o|--output)\n      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;") == 1);
  CHECK(count(s, "    --mode)\n      COMPREPLY=($(compgen -W 'a b' -- \"$cur\")); return ;;") == 1);
  CHECK(count(s, "    --level)\n      return ;;") == 1);
  // Each name once in the word list.
  std::string words = line_with(s, "compgen -W '-h");
  CHECK(count(words, " --help ") == 1);
  CHECK(count(words, " --version ") == 1);
  CHECK(count(words, " --plain ") == 1);
  CHECK(count(s, "--old") == 0);
}

TEST_CASE("zsh: a flag's spec has no argument action; names are brace-expanded outside quotes", "[cli][docs]") {
  Fixture f;
  std::string s = delib::cli::generate_zsh(f.app, f.info);
  INFO(s);
  CHECK(line_with(s, "--plain[") == "  '--plain[Write plain JSONL]' \\");
  CHECK(line_with(s, "--dry-run[") == "  '--dry-run[Do nothing]' \\");
  CHECK(line_with(s, "--verbose") == "  {'*-v','*--verbose'}'[More output]' \\");
  CHECK(line_with(s, "--output") == "  '(-o --output)'{-o,--output}'[Write to FILE]:FILE:_files' \\");
  CHECK(line_with(s, "--level[") == "  '--level[Level]:INT: ' \\");
  CHECK(line_with(s, "--mode[") == "  '--mode[Mode]:TEXT:(a b)' \\");
  CHECK(line_with(s, "--tag[") == "  '*--tag[A tag]:NAME: ' \\");
  CHECK(line_with(s, "--effort[") == "  '--effort[Effort (default\\: a)]:TEXT: '");  // the last spec ends the command
  CHECK(line_with(s, "--help") == "  '(- *)'{-h,--help}'[Print this help message and exit]' \\");
  CHECK(line_with(s, "--version") == "  '(- *)--version[Display program version information and exit]' \\");
  CHECK(count(s, "--old") == 0);
}

TEST_CASE("fish: a flag takes no argument; an option requires one", "[cli][docs]") {
  Fixture f;
  std::string s = delib::cli::generate_fish(f.app, f.info);
  INFO(s);
  CHECK(line_with(s, "-l plain ") == "complete -c t -l plain -d 'Write plain JSONL'");
  CHECK(line_with(s, "-l verbose ") == "complete -c t -s v -l verbose -d 'More output'");
  CHECK(line_with(s, "-l output ") == "complete -c t -s o -l output -r -F -d 'Write to FILE'");
  CHECK(line_with(s, "-l level ") == "complete -c t -l level -x -d 'Level'");
  CHECK(line_with(s, "-l mode ") == "complete -c t -l mode -x -a 'a b' -d 'Mode'");
  CHECK(line_with(s, "-l help ") == "complete -c t -s h -l help -d 'Print this help message and exit'");
  CHECK(line_with(s, "-l version ") == "complete -c t -l version -d 'Display program version information and exit'");
}
