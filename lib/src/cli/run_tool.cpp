// run_tool: the one place where a tool's outcome becomes an exit code and a message.
#include <cstdio>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "delib/cli.h"
#include "exit_status.h"

namespace delib::cli {

int run_tool(int argc, char** argv, const ToolInfo& info,
             const std::function<void(CLI::App&)>& setup, const std::function<int()>& body) {
  set_tool_name(info.name);
  CLI::App app(info.summary, info.name);
  app.set_version_flag("--version", std::string(info.name) + " (delib) " DELIB_VERSION);
  app.get_formatter()->column_width(34);
  std::string generate;
  app.add_option("--generate", generate, "Print the man page or a shell completion script")
      ->check(CLI::IsMember({"man", "bash", "zsh", "fish"}))
      ->group("");  // hidden
  setup(app);
  // The exit statuses in brief, from the table the man page's EXIT STATUS lists in full.
  std::string footer = "Exit status:";
  for (const auto& e : exit_statuses(info)) footer += fmt::format(" {} {},", e.code, e.brief);
  footer.back() = '.';
  footer += "\nSee man " + info.name + " for details.";
  app.footer(footer);

  // --generate needs no other flags (required ones included), so it is handled before parsing.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--generate") == 0) {
      std::string what = argv[i + 1];
      std::string out;
      if (what == "man") out = generate_man(app, info);
      else if (what == "bash") out = generate_bash(app, info);
      else if (what == "zsh") out = generate_zsh(app, info);
      else if (what == "fish") out = generate_fish(app, info);
      else {
        fmt::print(stderr, "{}: --generate: expected man, bash, zsh or fish\n", info.name);
        return kExitUsage;
      }
      fwrite(out.data(), 1, out.size(), stdout);
      return kExitOk;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}: {}\nRun '{} --help' for usage.\n", info.name, e.what(), info.name);
    return kExitUsage;
  }

  install_signal_handlers();
  int code = kExitOk;
  try {
    code = body();
  } catch (const BrokenPipe&) {
    return kExitOk;  // the reader went away (`| head`): not an error
  } catch (const Error& e) {
    std::string where = e.where().str();
    if (where.empty())
      fmt::print(stderr, "{}: {}\n", info.name, e.what());
    else
      fmt::print(stderr, "{}: {}: {}\n", info.name, where, e.what());
    code = e.exit_code();
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}: {}\n", info.name, e.what());
    code = kExitUsage;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: out of memory\n", info.name);
    code = kExitFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", info.name, e.what());
    code = kExitFailure;
  }
  if (int sig = interrupted(); sig != 0 && code == kExitOk) {
    fflush(stdout);
    return 128 + sig;
  }
  return code;
}

}  // namespace delib::cli
