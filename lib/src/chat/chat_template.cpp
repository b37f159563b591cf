// ChatTemplate factories, template recognition, and the Python/Jinja string helpers the
// family renderers share.
//
// delib does not interpret Jinja. It recognises the known template families from distinctive
// substrings of the template text (the lines that decide what is rendered), and renders them
// with C++ transcriptions of those templates (qwen3.cpp, llama3.cpp, gptoss.cpp, chatml.cpp).
// A template that matches no family is an Error: rendering a chat in a format the model was
// not trained on silently ruins a run, so there is no fallback.
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "chat/chat_internal.h"
#include "delib/error.h"
#include "delib/fs.h"

namespace delib {
namespace chat_detail {

std::string_view py_lstrip(std::string_view s, std::string_view chars) {
  size_t i = s.find_first_not_of(chars);
  return i == std::string_view::npos ? std::string_view() : s.substr(i);
}

std::string_view py_rstrip(std::string_view s, std::string_view chars) {
  size_t i = s.find_last_not_of(chars);
  return i == std::string_view::npos ? std::string_view() : s.substr(0, i + 1);
}

std::string_view py_strip(std::string_view s, std::string_view chars) {
  return py_rstrip(py_lstrip(s, chars), chars);
}

namespace {

// CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B, S and category Zs.
bool py_isspace(uint32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

// Decodes the UTF-8 sequence starting at s[i]; returns its length (0 when invalid).
size_t utf8_at(std::string_view s, size_t i, uint32_t& cp) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d >> 6) != 2) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  return n;
}

}  // namespace

std::string_view py_trim(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    uint32_t cp;
    size_t n = utf8_at(s, b, cp);
    if (n == 0 || !py_isspace(cp)) break;
    b += n;
  }
  // From the end: step back over continuation bytes to the start of the last character.
  size_t e = s.size();
  while (e > b) {
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) >> 6) == 2 && e - start < 4) --start;
    uint32_t cp;
    size_t n = utf8_at(s, start, cp);
    if (n != e - start || !py_isspace(cp)) break;
    e = start;
  }
  return s.substr(b, e - b);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
bool contains(std::string_view s, std::string_view p) {
  return s.find(p) != std::string_view::npos;
}

std::string local_date(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

void Builder::open(size_t index, std::string role) {
  TurnSpan s{index, std::move(role), text_.size(), text_.size()};
  spans_.push_back(std::move(s));
}

void split_think(std::string_view content, std::string& reasoning, std::string& answer) {
  // content.split('</think>')[-1] is the text after the LAST '</think>'; [0] the text before
  // the FIRST one; .split('<think>')[-1] the text after the last '<think>' in that.
  size_t first_close = content.find("</think>");
  size_t last_close = content.rfind("</think>");
  answer = std::string(py_lstrip(content.substr(last_close + 8), "\n"));
  std::string_view before = py_rstrip(content.substr(0, first_close), "\n");
  size_t open = before.rfind("<think>");
  if (open != std::string_view::npos) before = before.substr(open + 7);
  reasoning = std::string(py_lstrip(before, "\n"));
}

std::string think_block(std::string_view reasoning) {
  std::string out = "<think>\n";
  out += py_strip(reasoning, "\n");
  out += "\n</think>\n\n";
  return out;
}

ParsedCompletion parse_think_tags(std::string_view completion,
                                  const std::vector<std::string>& stop_strings) {
  for (const auto& stop : stop_strings) {
    if (ends_with(completion, stop)) {
      completion.remove_suffix(stop.size());
      break;
    }
  }
  ParsedCompletion out;
  if (contains(completion, "</think>")) {
    split_think(completion, out.reasoning, out.answer);
    out.ok = true;
  } else if (contains(completion, "<think>")) {
    // Opened but never closed: the model was cut off (or never stopped) while reasoning.
    size_t open = completion.find("<think>");
    out.reasoning = std::string(py_lstrip(completion.substr(open + 7), "\n"));
    out.ok = false;
  } else {
    out.answer = std::string(completion);
    out.ok = true;
  }
  return out;
}

namespace {

// --- Recognition -------------------------------------------------------------------------
//
// Templates are compared in a normal form in which two templates that render the same text
// for every input (as far as layout goes) are equal:
//   - raw text between tags gets the whitespace handling transformers' Jinja environment
//     applies (trim_blocks, lstrip_blocks, and the `-` markers), then is written as R'...';
//   - comments are dropped (their whitespace effects applied);
//   - inside {{ }} and {% %}: whitespace outside string literals is removed, string literals
//     are re-quoted with single quotes (escapes \n \' \\), adjacent literal concatenations are
//     merged ('a' + 'b' -> 'ab'), and message.role / message.content become message['role'] /
//     message['content'].
// Whitespace that would be rendered stays significant: a template with an extra newline is a
// different template.

// The inside of a tag, normalised.
std::string normalize_expr(std::string_view t) {
  struct Tok {
    bool literal;
    std::string text;  // literal: the unescaped value; else: one character
  };
  std::vector<Tok> toks;
  for (size_t i = 0; i < t.size();) {
    char c = t[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < t.size() && t[j] != c; ++j) {
        if (t[j] == '\\' && j + 1 < t.size()) {
          char e = t[++j];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v += t[j];
        }
      }
      toks.push_back({true, std::move(v)});
      i = j + 1;
    } else {
      toks.push_back({false, std::string(1, c)});
      ++i;
    }
  }
  std::string out;
  for (size_t k = 0; k < toks.size(); ++k) {
    if (toks[k].literal) {
      std::string v = toks[k].text;
      while (k + 2 < toks.size() && !toks[k + 1].literal && toks[k + 1].text == "+" &&
             toks[k + 2].literal) {
        v += toks[k + 2].text;
        k += 2;
      }
      out += '\'';
      for (char ch : v) {
        if (ch == '\n') out += "\\n";
        else if (ch == '\'') out += "\\'";
        else if (ch == '\\') out += "\\\\";
        else out += ch;
      }
      out += '\'';
    } else {
      out += toks[k].text;
    }
  }
  for (auto [from, to] : {std::pair{"message.role", "message['role']"},
                          std::pair{"message.content", "message['content']"}}) {
    std::string_view f(from), tt(to);
    for (size_t p = 0; (p = out.find(f, p)) != std::string::npos; p += tt.size())
      out.replace(p, f.size(), tt);
  }
  return out;
}

std::string normalize_jinja(std::string_view t) {
  struct Seg {
    char kind;  // 'r' raw text, '{' expression, '%' statement, '#' comment
    bool lminus = false, rminus = false;
    std::string body;
  };
  std::vector<Seg> segs;
  size_t i = 0;
  while (i < t.size()) {
    size_t j = i;
    for (;;) {
      j = t.find('{', j);
      if (j == std::string_view::npos || j + 1 >= t.size()) {
        j = std::string_view::npos;
        break;
      }
      char k = t[j + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++j;
    }
    if (j == std::string_view::npos) {
      segs.push_back({'r', false, false, std::string(t.substr(i))});
      break;
    }
    if (j > i) segs.push_back({'r', false, false, std::string(t.substr(i, j - i))});
    Seg tag{t[j + 1], false, false, {}};
    std::string_view close = tag.kind == '{' ? "}}" : tag.kind == '%' ? "%}" : "#}";
    size_t b = j + 2;
    if (b < t.size() && (t[b] == '-' || t[b] == '+')) {
      tag.lminus = t[b] == '-';
      ++b;
    }
    // Find the closing delimiter outside string literals (comments have none).
    size_t e = b;
    char quote = 0;
    for (; e < t.size(); ++e) {
      if (quote) {
        if (t[e] == '\\') ++e;
        else if (t[e] == quote) quote = 0;
      } else if (tag.kind != '#' && (t[e] == '\'' || t[e] == '"')) {
        quote = t[e];
      } else if (t.substr(e, 2) == close) {
        break;
      }
    }
    size_t body_end = e;
    if (body_end > b && (t[body_end - 1] == '-' || t[body_end - 1] == '+')) {
      tag.rminus = t[body_end - 1] == '-';
      --body_end;
    }
    tag.body = std::string(t.substr(b, body_end - b));
    segs.push_back(std::move(tag));
    i = std::min(t.size(), e + 2);
  }

  const std::string_view ws = " \t\n\r";
  std::string out, raw;
  auto flush_raw = [&] {
    if (raw.empty()) return;
    out += "R'";
    for (char ch : raw) {
      if (ch == '\n') out += "\\n";
      else if (ch == '\'') out += "\\'";
      else if (ch == '\\') out += "\\\\";
      else out += ch;
    }
    out += "'";
    raw.clear();
  };
  for (size_t k = 0; k < segs.size(); ++k) {
    const Seg& s = segs[k];
    if (s.kind == 'r') {
      std::string_view v(s.body);
      const Seg* prev = k > 0 ? &segs[k - 1] : nullptr;
      const Seg* next = k + 1 < segs.size() ? &segs[k + 1] : nullptr;
      if (prev && prev->rminus) {
        v = py_lstrip(v, ws);
      } else if (prev && prev->kind != '{') {  // trim_blocks
        if (starts_with(v, "\r\n")) v.remove_prefix(2);
        else if (starts_with(v, "\n")) v.remove_prefix(1);
      }
      if (next && next->lminus) {
        v = py_rstrip(v, ws);
      } else if (next && next->kind != '{') {  // lstrip_blocks: spaces from line start to tag
        size_t nl = v.find_last_of('\n');
        std::string_view last = nl == std::string_view::npos ? v : v.substr(nl + 1);
        bool at_line_start = nl != std::string_view::npos || k == 0;
        if (at_line_start && last.find_first_not_of(" \t") == std::string_view::npos)
          v.remove_suffix(last.size());
      }
      raw += v;
    } else if (s.kind == '#') {
      continue;
    } else {
      flush_raw();
      out += s.kind == '{' ? "{{" : "{%";
      out += normalize_expr(s.body);
      out += s.kind == '{' ? "}}" : "%}";
    }
  }
  flush_raw();
  return out;
}

std::string unescape_normalized(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char e = v[++i];
      out += e == 'n' ? '\n' : e;
    } else {
      out += v[i];
    }
  }
  return out;
}

// True when the normalised template contains every needle (normalised the same way; a needle
// is one or more whole tags).
bool has_all(const std::string& normalized, std::initializer_list<std::string_view> needles) {
  for (auto n : needles)
    if (!contains(normalized, normalize_jinja(n))) return false;
  return true;
}

}  // namespace
}  // namespace chat_detail

using namespace chat_detail;

const char* chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::kQwen3: return "qwen3";
    case ChatFamily::kLlama3: return "llama3";
    case ChatFamily::kGptOss: return "gpt-oss";
    case ChatFamily::kChatML: return "chatml";
  }
  return "?";
}

std::string python_json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_template(const std::string& template_text) {
  return from_template(template_text, ChatOptions{});
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_template(const std::string& t,
                                                          const ChatOptions& options) {
  if (t.empty())
    throw Error("no chat template: the tokenizer has no `chat_template` (pass a template file)");

  const std::string n = normalize_jinja(t);

  // gpt-oss (harmony): the system message it builds, the developer message, the two channels
  // of assistant turns (analysis kept only for a final turn without generation prompt), and
  // the generation prompt.
  if (has_all(n, {R"({{- "<|start|>system<|message|>" }}{{- build_system_message() }}{{- "<|end|>" }})",
                  R"({{- model_identity + "\n" }}{{- "Knowledge cutoff: 2024-06\n" }}{{- "Current date: " + strftime_now("%Y-%m-%d") + "\n\n" }})",
                  R"({{- "Reasoning: " + reasoning_effort + "\n\n" }})",
                  R"({%- set model_identity = "You are ChatGPT, a large language model trained by OpenAI." %})",
                  R"({{- "# Valid channels: analysis, commentary, final. Channel must be included for every message." }})",
                  R"({%- if developer_message %}{{- "# Instructions\n\n" }}{{- developer_message }}{{- "\n\n" }}{%- endif %})",
                  R"({%- elif loop.last and not add_generation_prompt %})",
                  R"({%- if "thinking" in message %}{{- "<|start|>assistant<|channel|>analysis<|message|>" + message.thinking + "<|end|>" }}{%- endif %})",
                  R"({{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|return|>" }})",
                  R"({%- else %}{{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|end|>" }})",
                  R"({%- elif message.role == 'user' -%}{{- "<|start|>user<|message|>" + message.content + "<|end|>" }}{%- endif -%}{%- endfor -%})"}) &&
      ends_with(n, normalize_jinja("{%- if add_generation_prompt -%}\n<|start|>assistant\n{%- endif -%}"))) {
    return make_gptoss(options);
  }

  // Qwen3 (hybrid thinking): the system turn (no default), the reverse scan for the last user
  // query, the <think> block of assistant turns after it, tool responses wrapped in a user
  // turn, and the generation prompt (with or without the enable_thinking switch) at the end.
  const char* qwen_gen_switch =
      R"({%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}{%- endif %})";
  const char* qwen_gen_plain = R"({%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})";
  if (has_all(n, {R"({%- else %}{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}{%- endif %}{%- endif %})",
                  R"({%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %})",
                  R"({%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %})",
                  R"({%- if (message.role == "user") or (message.role == "system" and not loop.first) %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }})",
                  R"({%- if message.reasoning_content is defined and message.reasoning_content is not none %}{%- set reasoning_content = message.reasoning_content %})",
                  R"({%- if '</think>' in message.content %}{%- set content = message.content.split('</think>')[-1].lstrip('\n') %}{%- set reasoning_content = message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}{%- endif %})",
                  R"({%- if loop.index0 > ns.last_query_index %}{%- if loop.last or (not loop.last and reasoning_content) %}{{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}{%- else %}{{- '<|im_start|>' + message.role + '\n' + content }}{%- endif %}{%- else %}{{- '<|im_start|>' + message.role + '\n' + content }}{%- endif %})",
                  R"({{- '<|im_end|>\n' }}{%- elif message.role == "tool" %}{%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}{{- '\n<tool_response>\n' }}{{- message.content }}{{- '\n</tool_response>' }}{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\n' }}{%- endif %}{%- endif %}{%- endfor %})"}) &&
      (ends_with(n, normalize_jinja(qwen_gen_switch)) || ends_with(n, normalize_jinja(qwen_gen_plain)))) {
    return make_qwen3(t, options);
  }

  // Qwen2 / Qwen2.5 instruct: ChatML with a default system prompt in the tool-less branch,
  // assistant turns verbatim, tool responses wrapped in one user turn, and the generation
  // prompt at the end.
  {
    const std::string head = normalize_jinja(
        R"({%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}{%- else %})") +
        "{{'<|im_start|>system\\n";
    const std::string tail =
        "<|im_end|>\\n'}}" + normalize_jinja(R"({%- endif %}{%- endif %}{%- for message in messages %}{%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- elif message.role == "assistant" %})");
    size_t h = n.find(head);
    size_t e = h == std::string::npos ? h : n.find(tail, h + head.size());
    if (h != std::string::npos && e != std::string::npos &&
        has_all(n, {R"({%- elif message.role == "tool" %}{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}{{- '\n<tool_response>\n' }}{{- message.content }}{{- '\n</tool_response>' }}{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\n' }}{%- endif %}{%- endif %}{%- endfor %})"}) &&
        ends_with(n, normalize_jinja(R"({%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})"))) {
      std::string_view mid = std::string_view(n).substr(h + head.size(), e - h - head.size());
      bool single = true;
      for (size_t k = 0; k < mid.size(); ++k) {
        if (mid[k] == '\\') ++k;
        else if (mid[k] == '\'') single = false;
      }
      if (single) return make_qwen25(unescape_normalized(mid), options);
    }
  }

  // Llama 3.1 / 3.3 / 3.2: the system header always rendered with the knowledge cutoff date,
  // the system message folded into it, tool results under ipython, and the generation prompt.
  if (starts_with(n, "{{bos_token}}") &&
      has_all(n, {R"({%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = "" %}{%- endif %})",
                  R"({{- "<|start_header_id|>system<|end_header_id|>\n\n" }})",
                  R"({{- "Cutting Knowledge Date: December 2023\n" }}{{- "Today Date: " + date_string + "\n\n" }})",
                  R"({{- system_message }}{{- "<|eot_id|>" }})",
                  R"({%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }})",
                  R"({%- elif message.role == "tool" or message.role == "ipython" %}{{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}{%- if message.content is mapping or message.content is iterable %}{{- message.content | tojson }}{%- else %}{{- message.content }}{%- endif %}{{- "<|eot_id|>" }}{%- endif %}{%- endfor %})"}) &&
      ends_with(n, normalize_jinja(R"({%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %})"))) {
    if (contains(n, normalize_jinja(R"({%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %})")))
      return make_llama3(32, options);
    if (contains(n, normalize_jinja(R"({%- if not date_string is defined %}{%- set date_string = "26 Jul 2024" %}{%- endif %})")))
      return make_llama3(31, options);
  }

  // Llama 3 (Meta-Llama-3-8B-Instruct's template), exactly.
  if (n == normalize_jinja(
               "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
               "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
               "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
               "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
               "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")) {
    return make_llama3(30, options);
  }

  // Generic ChatML, exactly, optionally with a default system prompt inserted when the
  // conversation has none (SmolLM2 style).
  const std::string chatml = normalize_jinja(
      R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})");
  if (n == chatml) return make_chatml(false, "", options);
  const std::string sys_head = normalize_jinja(
      R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %})") +
      "{{'<|im_start|>system\\n";
  const std::string sys_tail =
      "<|im_end|>\\n'}}" +
      normalize_jinja(
          R"({% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})");
  if (starts_with(n, sys_head) && ends_with(n, sys_tail) && n.size() > sys_head.size() + sys_tail.size()) {
    std::string_view mid(n);
    mid = mid.substr(sys_head.size(), n.size() - sys_head.size() - sys_tail.size());
    // A single literal (no quote left unescaped inside).
    bool single = true;
    for (size_t k = 0; k < mid.size(); ++k) {
      if (mid[k] == '\\') ++k;
      else if (mid[k] == '\'') single = false;
    }
    if (single) return make_chatml(true, unescape_normalized(mid), options);
  }

  std::string head = t.substr(0, 120);
  for (char& c : head)
    if (c == '\n') c = ' ';
  throw Error("unrecognised chat template (starts: \"" + head +
              "...\"): delib renders the Qwen3, Qwen2/2.5, Llama 3/3.1/3.2/3.3, gpt-oss and plain ChatML "
              "templates exactly and refuses others rather than guess; pass one of those "
              "templates with --chat-template FILE");
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_variant(const std::string& variant,
                                                         const ChatOptions& options) {
  if (variant == "qwen3") return make_qwen3("enable_thinking", options);
  if (variant == "llama3") return make_llama3(30, options);
  if (variant == "llama3.1" || variant == "llama3.3") return make_llama3(31, options);
  if (variant == "llama3.2") return make_llama3(32, options);
  if (variant == "gpt-oss") return make_gptoss(options);
  if (variant == "chatml") return make_chatml(false, "", options);
  if (variant == "qwen2.5")
    return make_qwen25("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", options);
  throw Error("unknown chat format '" + variant +
                  "' (known: qwen3, qwen2.5, llama3, llama3.1, llama3.2, llama3.3, gpt-oss, chatml)",
              kExitUsage);
}

std::unique_ptr<ChatTemplate> ChatTemplate::for_tokenizer(const Tokenizer& tok) {
  return for_tokenizer(tok, ChatOptions{});
}

std::unique_ptr<ChatTemplate> ChatTemplate::for_tokenizer(const Tokenizer& tok,
                                                          const ChatOptions& options) {
  ChatOptions o = options;
  if (!o.bos_token) {
    if (auto bos = tok.bos_id()) o.bos_token = tok.id_to_token(*bos);
  }
  return from_template(tok.chat_template(), o);
}

namespace {

std::string read_file(const std::string& path) { return read_text_file(path, ""); }

// simdjson refuses integers beyond 64 bits, and tokenizer_config.json files carry one
// (model_max_length = int(1e30) in many Llama and gpt-oss configs). Outside strings, integer
// literals of more than 18 digits are replaced by 0; no field read here is a number.
std::string tame_big_integers(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      ++i;
    } else if (c == '"') {
      in_string = true;
      out += c;
      ++i;
    } else if (c >= '0' && c <= '9') {
      size_t j = i;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
      bool integer = j >= text.size() || (text[j] != '.' && text[j] != 'e' && text[j] != 'E');
      if (integer && j - i > 18) out += '0';
      else out.append(text, i, j - i);
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// tokenizer_config.json: chat_template is a string, or a list of {name, template} (the one
// named "default" is what apply_chat_template uses without a chat_template argument).
std::string template_from_config(const std::string& path, std::string* bos_token) {
  std::string text = tame_big_integers(read_file(path));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) || !doc.is_object())
    throw Error(Location{path, 0}, "not a JSON object");
  if (bos_token) {
    simdjson::dom::element bos;
    if (!doc["bos_token"].get(bos)) {
      std::string_view s;
      simdjson::dom::element content;
      if (!bos.get_string().get(s)) *bos_token = std::string(s);
      else if (bos.is_object() && !bos["content"].get(content) && !content.get_string().get(s))
        *bos_token = std::string(s);
    }
  }
  simdjson::dom::element ct;
  if (doc["chat_template"].get(ct) || ct.is_null()) return "";
  std::string_view s;
  if (!ct.get_string().get(s)) return std::string(s);
  simdjson::dom::array arr;
  if (!ct.get_array().get(arr)) {
    for (auto item : arr) {
      std::string_view name, tmpl;
      if (!item["name"].get_string().get(name) && name == "default" &&
          !item["template"].get_string().get(tmpl))
        return std::string(tmpl);
    }
    throw Error(Location{path, 0}, "chat_template is a list without a \"default\" entry");
  }
  throw Error(Location{path, 0}, "chat_template is neither a string nor a list");
}

}  // namespace

std::string read_chat_template(const std::string& path, std::string* bos_token) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir(path);
    std::string t;
    if (fs::exists(dir / "tokenizer_config.json"))
      t = template_from_config((dir / "tokenizer_config.json").string(), bos_token);
    if (t.empty() && fs::exists(dir / "chat_template.jinja"))
      t = read_file((dir / "chat_template.jinja").string());
    if (t.empty())
      throw Error(Location{path, 0},
                  "no chat template: neither tokenizer_config.json `chat_template` nor "
                  "chat_template.jinja (pass a template file with --chat-template)");
    return t;
  }
  if (fs::path(path).extension() == ".json") {
    std::string t = template_from_config(path, bos_token);
    if (t.empty()) throw Error(Location{path, 0}, "no `chat_template` in this file");
    return t;
  }
  return read_file(path);
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_path(const std::string& path,
                                                      const ChatOptions& options) {
  std::string bos;
  std::string t = read_chat_template(path, &bos);
  ChatOptions o = options;
  if (!o.bos_token && !bos.empty()) o.bos_token = bos;
  try {
    return from_template(t, o);
  } catch (const Error& e) {
    if (!e.where().file.empty()) throw;
    throw Error(Location{path, 0}, e.what(), e.exit_code());
  }
}

}  // namespace delib
