// ChatTemplate factories, reading templates from model files, and the Python/Jinja string
// helpers the built-in formats share.
//
// Every template text goes to the Jinja engine (jinja_template.cpp), which renders it as
// transformers does; a template it cannot render is an Error naming the template line, never
// a guess. The built-in formats of from_variant (qwen3.cpp, llama3.cpp, gptoss.cpp,
// chatml.cpp) serve model files that carry no template.
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "chat/chat_internal.h"
#include "chat/jinja.h"
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
  split_tagged(content, "<think>", "</think>", reasoning, answer);
}

void split_tagged(std::string_view content, std::string_view open, std::string_view close, std::string& reasoning,
                  std::string& answer) {
  // content.split(close)[-1] is the text after the LAST close tag; [0] the text before the
  // FIRST one; .split(open)[-1] the text after the last open tag in that.
  size_t first_close = content.find(close);
  size_t last_close = content.rfind(close);
  answer = std::string(py_lstrip(content.substr(last_close + close.size()), "\n"));
  std::string_view before = py_rstrip(content.substr(0, first_close), "\n");
  size_t o = before.rfind(open);
  if (o != std::string_view::npos) before = before.substr(o + open.size());
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
  return parse_tagged(completion, stop_strings, "<think>", "</think>");
}

ParsedCompletion parse_tagged(std::string_view completion, const std::vector<std::string>& stop_strings,
                              std::string_view open, std::string_view close) {
  // One trailing stop string, also when whitespace follows it (a turn's separator, e.g. the
  // "\n" after <|im_end|> inside a {% generation %} block).
  for (const auto& stop : stop_strings) {
    std::string_view trimmed = py_rstrip(completion, " \t\r\n");
    if (!stop.empty() && ends_with(trimmed, stop)) {
      completion = trimmed.substr(0, trimmed.size() - stop.size());
      break;
    }
  }
  ParsedCompletion out;
  if (contains(completion, close)) {
    split_tagged(completion, open, close, out.reasoning, out.answer);
    out.ok = true;
  } else if (contains(completion, open)) {
    // Opened but never closed: the model was cut off (or never stopped) while reasoning.
    size_t o = completion.find(open);
    out.reasoning = std::string(py_lstrip(completion.substr(o + open.size()), "\n"));
    out.ok = false;
  } else {
    out.answer = std::string(completion);
    out.ok = true;
  }
  return out;
}

ParsedCompletion parse_harmony(std::string_view s) {
  ParsedCompletion out;
  bool first_analysis = true;
  size_t pos = 0;
  while (pos < s.size()) {
    if (starts_with(s.substr(pos), "<|start|>assistant")) pos += 18;
    if (!starts_with(s.substr(pos), "<|channel|>")) break;
    size_t header_end = s.find("<|message|>", pos);
    if (header_end == std::string_view::npos) break;
    // The header may carry a recipient or constraint: "commentary to=functions.f <|constrain|>json".
    std::string_view header = s.substr(pos + 11, header_end - pos - 11);
    std::string_view channel = header.substr(0, header.find_first_of(" <"));
    size_t body_begin = header_end + 11;
    size_t body_end = s.size();
    size_t next = s.size();
    for (std::string_view term : {"<|end|>", "<|return|>", "<|call|>"}) {
      size_t t = s.find(term, body_begin);
      if (t < body_end) {
        body_end = t;
        next = t + term.size();
      }
    }
    std::string_view body = s.substr(body_begin, body_end - body_begin);
    if (channel == "analysis") {
      if (!first_analysis) out.reasoning += "\n";
      out.reasoning += body;
      first_analysis = false;
    } else if (channel == "final") {
      out.answer = std::string(body);
      out.ok = true;
      return out;
    }
    pos = next;
  }
  return out;  // no final-channel message
}

}  // namespace chat_detail

using namespace chat_detail;

const char* chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::kQwen3: return "qwen3";
    case ChatFamily::kLlama3: return "llama3";
    case ChatFamily::kGptOss: return "gpt-oss";
    case ChatFamily::kChatML: return "chatml";
    case ChatFamily::kOther: return "other";
  }
  return "?";
}

std::string python_json_string(const std::string& s) {
  std::string out;
  jinja::json_string(s, /*ensure_ascii=*/false, out);
  return out;
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_template(const std::string& template_text) {
  return from_template(template_text, ChatOptions{});
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_template(const std::string& t,
                                                          const ChatOptions& options) {
  if (t.empty())
    throw Error("no chat template: the tokenizer has no `chat_template` (pass a template file)");
  return make_jinja(t, "chat_template", options);
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
  if (!o.eos_token) {
    if (auto eos = tok.eos_id()) o.eos_token = tok.id_to_token(*eos);
  }
  if (tok.chat_template().empty())
    throw Error("no chat template: the tokenizer has no `chat_template` (pass a template file)");
  return make_jinja(tok.chat_template(), "the tokenizer's chat_template", o);
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

// A special token of tokenizer_config.json: a string, or an AddedToken object {"content": ...}.
std::optional<std::string> special_token(simdjson::dom::element doc, const char* key) {
  simdjson::dom::element e, content;
  std::string_view s;
  if (doc[key].get(e)) return std::nullopt;
  if (!e.get_string().get(s)) return std::string(s);
  if (e.is_object() && !e["content"].get(content) && !content.get_string().get(s)) return std::string(s);
  return std::nullopt;
}

// tokenizer_config.json: chat_template is a string, or a list of {name, template} (the one
// named "default" is what apply_chat_template uses without a chat_template argument).
std::string template_from_config(const std::string& path, ChatSource* src) {
  std::string text = tame_big_integers(read_file(path));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) || !doc.is_object())
    throw Error(Location{path, 0}, "not a JSON object");
  if (src) {
    src->bos = special_token(doc, "bos_token");
    src->eos = special_token(doc, "eos_token");
    src->unk = special_token(doc, "unk_token");
    src->pad = special_token(doc, "pad_token");
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

namespace chat_detail {

ChatSource read_chat_source(const std::string& path) {
  namespace fs = std::filesystem;
  ChatSource src;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir(path);
    if (fs::exists(dir / "tokenizer_config.json")) {
      src.name = (dir / "tokenizer_config.json").string();
      src.text = template_from_config(src.name, &src);
      src.name += " (chat_template)";
    }
    if (src.text.empty() && fs::exists(dir / "chat_template.jinja")) {
      src.name = (dir / "chat_template.jinja").string();
      src.text = read_file(src.name);
    }
    if (src.text.empty())
      throw Error(Location{path, 0},
                  "no chat template: neither tokenizer_config.json `chat_template` nor "
                  "chat_template.jinja (pass a template file with --chat-template)");
    return src;
  }
  if (fs::path(path).extension() == ".json") {
    src.text = template_from_config(path, &src);
    if (src.text.empty()) throw Error(Location{path, 0}, "no `chat_template` in this file");
    src.name = path + " (chat_template)";
    return src;
  }
  src.text = read_file(path);
  src.name = path;
  return src;
}

}  // namespace chat_detail

std::string read_chat_template(const std::string& path, std::string* bos_token) {
  ChatSource src = read_chat_source(path);
  if (bos_token && src.bos) *bos_token = *src.bos;
  return src.text;
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_path(const std::string& path,
                                                      const ChatOptions& options) {
  ChatSource src = read_chat_source(path);
  ChatOptions o = options;
  if (!o.bos_token && src.bos) o.bos_token = src.bos;
  if (!o.eos_token && src.eos) o.eos_token = src.eos;
  std::vector<std::pair<std::string, std::string>> extra;
  if (src.unk) extra.emplace_back("unk_token", *src.unk);
  if (src.pad) extra.emplace_back("pad_token", *src.pad);
  if (src.text.empty()) throw Error(Location{path, 0}, "no chat template: the file is empty");
  return make_jinja(src.text, src.name, o, extra);
}

Rendered ChatTemplate::render_request(const ChatRequest& r) const {
  // The built-in formats read role, content, reasoning and name only: anything else the
  // template would have rendered is refused rather than dropped.
  auto refuse = [&](const std::string& what) {
    throw Error(what + " cannot be rendered by the built-in '" + variant() +
                "' format (it renders role, content, reasoning and name); pass the model's chat template "
                "(--chat-template FILE or --tokenizer DIR)");
  };
  if (!r.tools.is_null()) refuse("`tools`");
  if (!r.documents.is_null()) refuse("`documents`");
  if (!r.messages.is_array()) throw Error("`messages` is not an array");
  std::vector<Message> msgs;
  size_t i = 0;
  for (const Json& m : r.messages.as_array()) {
    if (!m.is_object()) throw Error("message " + std::to_string(i) + ": expected an object");
    Message msg;
    for (const auto& [k, v] : m.as_object()) {
      std::string where = "message " + std::to_string(i) + ": `" + k + "`";
      if (v.is_null()) continue;
      if (k == "tool_calls" && v.is_array() && v.as_array().empty()) continue;
      if (k != "role" && k != "content" && k != "reasoning" && k != "reasoning_content" && k != "thinking" &&
          k != "name")
        refuse(where);
      if (!v.is_string()) refuse(where + " (not a string)");
      if (k == "role") msg.role = v.as_string();
      else if (k == "content") msg.content = v.as_string();
      else if (k == "name") msg.name = v.as_string();
      else if (msg.reasoning.empty()) msg.reasoning = v.as_string();
    }
    msgs.push_back(std::move(msg));
    ++i;
  }
  return render(msgs, r.add_generation_prompt, r.keep_reasoning);
}

}  // namespace delib
