// Man pages and shell completions generated from a tool's CLI11 definitions, so the docs
// cannot drift from the flags (the test cli.docs.drift compares them with the committed files).
#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "delib/cli.h"
#include "delib/error.h"
#include "exit_status.h"

namespace delib::cli {
namespace {

// One documented option, as CLI11 holds it. Hidden options (group "") are left out.
struct Opt {
  std::vector<std::string> shorts, longs;
  std::string type;       // the metavar (type_name, "VALUE" when it has none); "" for a flag
  std::string help;
  std::string def;
  std::vector<std::string> choices;
  bool positional = false;
  bool required = false;
  bool repeat = false;
  bool terminal = false;  // -h/--help and --version: print and exit, no other argument matters
  std::string group;
};

// Choices come from CLI::IsMember, whose description CLI11 appends to the type name: TEXT:{a,b}.
std::vector<std::string> parse_choices(const std::string& type) {
  std::vector<std::string> out;
  auto b = type.find('{');
  auto e = type.find('}', b);
  if (b == std::string::npos || e == std::string::npos) return out;
  std::string inner = type.substr(b + 1, e - b - 1);
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    out.push_back(item);
  }
  return out;
}

// The options in the order CLI11's --help shows them: the positionals, then each group
// (in the order of its first option) with all its options, so a group is one section even
// when a tool adds to it in two places. -h/--help and --version come from the App, like any
// other option, and therefore once.
std::vector<Opt> collect(const CLI::App& app) {
  std::vector<Opt> out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    Opt x;
    x.shorts = o->get_snames();
    x.longs = o->get_lnames();
    x.positional = o->get_positional() && x.shorts.empty() && x.longs.empty();
    x.help = o->get_description();
    x.def = o->get_default_str();
    x.required = o->get_required();
    x.group = o->get_group();
    x.terminal = o == app.get_help_ptr() || o == app.get_version_ptr();
    // A flag takes no argument (add_flag sets expected(0)); anything else shows its metavar.
    bool flag = o->get_expected_max() == 0;
    if (flag) {
      // A counting flag (-v -v) takes all its occurrences; a bool flag keeps the last.
      x.repeat = o->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    } else {
      x.repeat = o->get_items_expected_max() > 1;
      x.type = o->get_type_name();
      x.choices = parse_choices(x.type);
      auto colon = x.type.find(':');  // "INT:INT in [0 - 9]": the validator's description
      if (colon != std::string::npos) x.type = x.type.substr(0, colon);
      if (x.type.empty()) x.type = "VALUE";
    }
    if (x.longs.empty() && x.shorts.empty() && !x.positional) continue;
    if (x.positional && x.type.empty()) x.type = o->get_name();
    out.push_back(std::move(x));
  }
  std::vector<std::string> groups;
  for (auto& o : out)
    if (!o.positional && std::find(groups.begin(), groups.end(), o.group) == groups.end())
      groups.push_back(o.group);
  std::stable_sort(out.begin(), out.end(), [&](const Opt& a, const Opt& b) {
    auto rank = [&](const Opt& o) {
      return o.positional ? -1 : int(std::find(groups.begin(), groups.end(), o.group) - groups.begin());
    };
    return rank(a) < rank(b);
  });
  return out;
}

// A metavar that names a file system path (FILE, DIR, PATH, FILE.md, DIR|NAME, NAME|FILE):
// the shells complete file names for it.
bool is_path(const std::string& type) {
  std::stringstream ss(type);
  std::string part;
  while (std::getline(ss, part, '|')) {
    part = part.substr(0, part.find('.'));
    if (part == "FILE" || part == "DIR" || part == "PATH") return true;
  }
  return false;
}

std::string roff_escape(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else if ((c == '.' || c == '\'') && (i == 0 || s[i - 1] == '\n')) out += "\\&" + std::string(1, c);
    else out += c;
  }
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// s ending with a full stop (unless it ends with . ! ?), so that what follows it in the man
// page ("Default: 3.") is a sentence of its own.
std::string full_stop(std::string s) {
  if (s.empty()) return s;
  char last = s.back();
  if (last != '.' && last != '!' && last != '?') s += '.';
  return s;
}

// s as a sentence: capitalised and ending with a full stop.
std::string sentence(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return full_stop(std::move(s));
}

// Whether text contains word, ignoring case.
bool mentions(std::string text, const std::string& word) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text.find(word) != std::string::npos;
}

std::string shell_quote(const std::string& s) {  // single-quoted for sh/zsh/fish
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string zsh_help(std::string s) {  // inside [...] of _arguments
  std::string out;
  for (char c : s) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    if (c == '\'') { out += "'\\''"; continue; }
    out += c;
  }
  return out;
}

}  // namespace

std::vector<ExitStatus> exit_statuses(const ToolInfo& info) {
  std::vector<ExitStatus> codes = {
      {kExitOk, "success", "Success."},
      {kExitFailure, "failure (bad input or a failed check)",
       "Failure: bad input data (the message names FILE:LINE and the field) or a failed check."},
      {kExitUsage, "usage error", "Usage error: unknown option or bad value."},
      {kExitIo, "I/O error", "I/O error: a file could not be opened, read or written."},
      {kExitBackend, "model/server error", "The model or the server failed after retries."},
      {kExitInterrupt, "interrupted (SIGINT)",
       "Interrupted by SIGINT; output is complete up to the last whole record."},
      {kExitTerminate, "terminated (SIGTERM)", "Terminated by SIGTERM; likewise."}};
  for (const auto& [code, what] : info.exit_codes) {
    auto it = std::find_if(codes.begin(), codes.end(), [c = code](const ExitStatus& e) { return e.code == c; });
    if (it != codes.end()) it->text = sentence(what);
    else codes.push_back({code, what, sentence(what)});
  }
  std::stable_sort(codes.begin(), codes.end(), [](auto& a, auto& b) { return a.code < b.code; });
  return codes;
}

std::string generate_man(const CLI::App& app, const ToolInfo& info) {
  auto opts = collect(app);
  std::string m;
  m += fmt::format(".\\\" Generated by '{} --generate man' from the tool's option table; do not edit.\n", info.name);
  m += fmt::format(".TH {} 1 \"\" \"delib {}\" \"delib manual\"\n", upper(info.name), DELIB_VERSION);
  m += ".SH NAME\n" + roff_escape(info.name) + " \\- " + roff_escape(info.summary) + "\n";
  m += ".SH SYNOPSIS\n.B " + roff_escape(info.name) + "\n[\\fIOPTIONS\\fR]";
  for (auto& o : opts)
    if (o.positional) m += " [\\fI" + roff_escape(o.type) + "\\fR...]";
  m += "\n";
  if (!info.description.empty()) {
    m += ".SH DESCRIPTION\n";
    std::stringstream ss(info.description);
    std::string line;
    while (std::getline(ss, line)) {
      if (line.empty()) { m += ".PP\n"; continue; }
      if (line.rfind("  ", 0) == 0) m += ".nf\n" + roff_escape(line.substr(2)) + "\n.fi\n";
      else m += roff_escape(line) + "\n";
    }
  }
  // One entry per option: its names, then its metavar unless it is a flag.
  m += ".SH OPTIONS\n";
  std::string group;
  for (auto& o : opts) {
    if (o.positional) continue;
    if (o.group != group) {
      group = o.group;
      m += ".SS " + roff_escape(group) + "\n";
    }
    m += ".TP\n";
    std::string names;
    for (auto& s : o.shorts) names += (names.empty() ? "" : ", ") + std::string("\\fB\\-") + s + "\\fR";
    for (auto& l : o.longs) names += (names.empty() ? "" : ", ") + std::string("\\fB\\-\\-") + roff_escape(l) + "\\fR";
    if (!o.type.empty()) names += " \\fI" + roff_escape(o.type) + "\\fR";
    std::string help = o.help;
    if (!o.choices.empty()) {
      std::string c;
      for (auto& x : o.choices) c += (c.empty() ? "" : ", ") + x;
      help += " (one of: " + c + ")";
    }
    m += names + "\n" + roff_escape(full_stop(help));
    // Said once: not again when the help already says it ("(repeatable)", "(default: medium)").
    if (!o.def.empty() && !mentions(o.help, "default:")) m += " Default: " + roff_escape(o.def) + ".";
    if (o.required) m += " Required.";
    if (o.repeat && !mentions(o.help, "repeat")) m += " May be repeated.";
    m += "\n";
  }
  m += ".SH EXIT STATUS\n";
  for (auto& e : exit_statuses(info)) m += fmt::format(".TP\n.B {}\n{}\n", e.code, roff_escape(e.text));
  m += ".SH INPUT AND OUTPUT\nRecords are JSON objects, one per line (see \\fBdelib-records\\fR(5)). Input "
       "files may be plain or zstd\\-compressed (detected by content); \\fB\\-\\fR or no file reads stdin. "
       "Output goes to stdout unless \\fB\\-o\\fR is given, zstd\\-compressed unless \\fB\\-\\-plain\\fR "
       "is given or stdout is a terminal. Fields a tool does not own pass through untouched. A closed "
       "pipe (e.g. \\fB| head\\fR) ends the tool quietly with status 0.\n";
  if (!info.examples.empty()) {
    m += ".SH EXAMPLES\n.nf\n";
    m += roff_escape(info.examples);
    if (info.examples.back() != '\n') m += "\n";
    m += ".fi\n";
  }
  m += ".SH SEE ALSO\n" + roff_escape(info.see_also) + "\n";
  return m;
}

// bash: after an option that takes a value, complete that value (its choices, file names for a
// path, nothing otherwise); after a flag or a value, the next option or a file.
std::string generate_bash(const CLI::App& app, const ToolInfo& info) {
  auto opts = collect(app);
  std::string fn = "_delib_" + info.name;
  std::replace(fn.begin(), fn.end(), '-', '_');
  std::string all, cases;
  for (auto& o : opts) {
    if (o.positional) continue;
    std::string names;
    for (auto& s : o.shorts) { all += " -" + s; names += (names.empty() ? "" : "|") + std::string("-") + s; }
    for (auto& l : o.longs) { all += " --" + l; names += (names.empty() ? "" : "|") + std::string("--") + l; }
    if (o.type.empty()) continue;  // a flag: what follows it is completed as usual
    if (!o.choices.empty()) {
      std::string c;
      for (auto& x : o.choices) c += (c.empty() ? "" : " ") + x;
      cases += fmt::format("    {})\n      COMPREPLY=($(compgen -W '{}' -- \"$cur\")); return ;;\n", names, c);
    } else if (is_path(o.type)) {
      cases += fmt::format("    {})\n      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", names);
    } else {
      cases += fmt::format("    {})\n      return ;;\n", names);
    }
  }
  std::string s = fmt::format("# bash completion for {} (generated by '{} --generate bash'; do not edit)\n", info.name, info.name);
  s += fn + "() {\n  local cur prev\n  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n";
  if (!cases.empty()) s += "  case \"$prev\" in\n" + cases + "  esac\n";
  s += "  if [[ \"$cur\" == -* ]]; then\n    COMPREPLY=($(compgen -W '" + all.substr(1) + "' -- \"$cur\"))\n";
  s += "  else\n    COMPREPLY=($(compgen -f -- \"$cur\"))\n  fi\n}\n";
  s += "complete -o filenames -F " + fn + " " + info.name + "\n";
  return s;
}

// zsh _arguments specs: 'NAME[help]' for a flag, 'NAME[help]:METAVAR:ACTION' for an option;
// several names share one spec through brace expansion outside the quotes,
// '(-o --output)'{-o,--output}'[help]:FILE:_files', and exclude each other.
std::string generate_zsh(const CLI::App& app, const ToolInfo& info) {
  auto opts = collect(app);
  std::string s = fmt::format("#compdef {}\n# zsh completion for {} (generated by '{} --generate zsh'; do not edit)\n",
                              info.name, info.name, info.name);
  s += "_arguments -s -S \\\n";
  for (auto& o : opts) {
    if (o.positional) {
      s += "  '*:" + zsh_help(o.type) + ":_files' \\\n";
      continue;
    }
    std::string action;
    if (!o.type.empty()) {
      if (!o.choices.empty()) {
        std::string c;
        for (auto& x : o.choices) c += (c.empty() ? "" : " ") + x;
        action = ":" + zsh_help(o.type) + ":(" + c + ")";
      } else if (is_path(o.type)) {
        action = ":" + zsh_help(o.type) + ":_files";
      } else {
        action = ":" + zsh_help(o.type) + ": ";
      }
    }
    std::vector<std::string> names;
    for (auto& x : o.shorts) names.push_back("-" + x);
    for (auto& x : o.longs) names.push_back("--" + x);
    // Exclusions: --help and --version end the command line; the names of one option exclude
    // each other unless it may be repeated ('*' before the name).
    std::string excl;
    if (o.terminal) {
      excl = "(- *)";
    } else if (names.size() > 1 && !o.repeat) {
      for (auto& n : names) excl += (excl.empty() ? "(" : " ") + n;
      excl += ")";
    }
    std::string spec = "[" + zsh_help(o.help) + "]" + action;
    if (names.size() == 1) {
      s += "  '" + excl + (o.repeat ? "*" : "") + names[0] + spec + "' \\\n";
    } else {
      std::string braces;
      for (auto& n : names) braces += (braces.empty() ? "" : ",") + (o.repeat ? "'*" + n + "'" : n);
      s += "  " + (excl.empty() ? "" : "'" + excl + "'") + "{" + braces + "}'" + spec + "' \\\n";
    }
  }
  // Drop the last line continuation.
  s.erase(s.size() - 3);
  s += "\n";
  return s;
}

// fish: a flag is a bare -s/-l; an option requires its argument (-r), completed from its
// choices, as file names for a path (-F), else not at all (-x: no file names).
std::string generate_fish(const CLI::App& app, const ToolInfo& info) {
  auto opts = collect(app);
  std::string s = fmt::format("# fish completion for {} (generated by '{} --generate fish'; do not edit)\n",
                              info.name, info.name);
  for (auto& o : opts) {
    if (o.positional) continue;
    std::string line = "complete -c " + info.name;
    for (auto& x : o.shorts) line += " -s " + x;
    for (auto& x : o.longs) line += " -l " + x;
    if (!o.type.empty()) {
      if (!o.choices.empty()) {
        std::string c;
        for (auto& x : o.choices) c += (c.empty() ? "" : " ") + x;
        line += " -x -a " + shell_quote(c);
      } else if (is_path(o.type)) {
        line += " -r -F";
      } else {
        line += " -x";
      }
    }
    line += " -d " + shell_quote(o.help.substr(0, o.help.find(". ")));
    s += line + "\n";
  }
  return s;
}

}  // namespace delib::cli
