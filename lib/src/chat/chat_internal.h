// Private helpers shared by lib/src/chat/*.cpp.
//
// Every chat template text is rendered by the Jinja engine (jinja.h, jinja_template.cpp). The
// built-in formats of ChatTemplate::from_variant are C++ transcriptions of their models'
// templates (qwen3.cpp, llama3.cpp, gptoss.cpp, chatml.cpp). Where they call a Python string
// method or a Jinja filter, the helper of the same name here does what CPython/Jinja do, byte
// for byte: py_strip_chars (str.strip(chars)), py_trim (the `trim` filter, i.e. str.strip()
// with Unicode whitespace), python_json_string (transformers' `tojson`).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delib/chat.h"

namespace delib::chat_detail {

// str.lstrip/rstrip/strip(chars) for ASCII `chars`.
std::string_view py_lstrip(std::string_view s, std::string_view chars);
std::string_view py_rstrip(std::string_view s, std::string_view chars);
std::string_view py_strip(std::string_view s, std::string_view chars);
// str.strip() without arguments (CPython's Unicode whitespace: Zs, and bidi WS/B/S), which is
// what Jinja's `trim` filter does. REQUIRES: s is UTF-8 (invalid bytes are never stripped).
std::string_view py_trim(std::string_view s);

bool starts_with(std::string_view s, std::string_view p);
bool ends_with(std::string_view s, std::string_view p);
bool contains(std::string_view s, std::string_view p);

// Local date formatted with strftime (what transformers' strftime_now renders).
std::string local_date(const char* format);

// Builds the rendered text and its spans together. Usage:
//   b.open(i, role); b << header; b.target(); b << body << eot; b.end_target(); b << "\n";
//   b.close();
class Builder {
 public:
  Builder& operator<<(std::string_view s) {
    text_.append(s);
    return *this;
  }
  // Starts the span of message `index` at the current end of the text.
  void open(size_t index, std::string role);
  void target() { spans_.back().target_begin = text_.size(); }
  void end_target() { spans_.back().target_end = text_.size(); }
  void close() { spans_.back().end = text_.size(); }
  // An empty span (message rendered as nothing).
  void empty(size_t index, std::string role) {
    open(index, std::move(role));
    close();
  }
  size_t size() const { return text_.size(); }
  Rendered finish() && { return Rendered{std::move(text_), std::move(spans_)}; }

 private:
  std::string text_;
  std::vector<TurnSpan> spans_;
};

// The split shared by the <think>-tag families (see ChatTemplate::parse_completion): removes
// one trailing stop string, then splits like Qwen3's template splits an assistant content.
ParsedCompletion parse_think_tags(std::string_view completion,
                                  const std::vector<std::string>& stop_strings);
// The same with other tags (e.g. "<seed:think>", "</seed:think>").
ParsedCompletion parse_tagged(std::string_view completion, const std::vector<std::string>& stop_strings,
                              std::string_view open, std::string_view close);
// Harmony (gpt-oss) messages after the generation prompt "<|start|>assistant":
//   <|channel|>CHANNEL<|message|>BODY(<|end|>|<|return|>|<|call|>)[<|start|>assistant...]
// analysis bodies joined with "\n" are the reasoning, the final body the answer (ok=false
// without one).
ParsedCompletion parse_harmony(std::string_view completion);

// Qwen3's split of an assistant content holding "</think>" (template lines
// `content.split('</think>')[-1].lstrip('\n')` and
// `content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')`).
// REQUIRES: contains(content, "</think>").
void split_think(std::string_view content, std::string& reasoning, std::string& answer);
// The same split with other tags.
void split_tagged(std::string_view content, std::string_view open, std::string_view close, std::string& reasoning,
                  std::string& answer);

// delib's reasoning convention for templates without a native one (Llama 3, ChatML):
// "<think>\n" + reasoning.strip('\n') + "\n</think>\n\n", as Qwen3 writes it.
std::string think_block(std::string_view reasoning);

// A chat template text and what tokenizer_config.json says about its special tokens.
struct ChatSource {
  std::string text;
  std::string name;  // for messages: the file, with " (chat_template)" for a tokenizer_config.json
  std::optional<std::string> bos, eos, unk, pad;
};
ChatSource read_chat_source(const std::string& path);

// A template rendered by the engine (jinja_template.cpp). `name` labels errors ("FILE:LINE").
// `extra` are variables set before options' (tokenizer_config.json's unk_token, pad_token).
// Throws Error(Location{name, line}) when the template does not parse.
std::unique_ptr<ChatTemplate> make_jinja(const std::string& text, const std::string& name, const ChatOptions& o,
                                         const std::vector<std::pair<std::string, std::string>>& extra = {});

// Built-in format factories (ChatTemplate::from_variant).
std::unique_ptr<ChatTemplate> make_qwen3(const std::string& text, const ChatOptions& o);
std::unique_ptr<ChatTemplate> make_llama3(int variant, const ChatOptions& o);  // 30, 31, 32
std::unique_ptr<ChatTemplate> make_gptoss(const ChatOptions& o);
// default_system: empty when the template has none.
std::unique_ptr<ChatTemplate> make_chatml(bool has_default_system, std::string default_system,
                                          const ChatOptions& o);
// Qwen2/Qwen2.5 instruct (ChatML family, variant "qwen2.5"): see chatml.cpp.
std::unique_ptr<ChatTemplate> make_qwen25(std::string default_system, const ChatOptions& o);

}  // namespace delib::chat_detail
