// Private helpers shared by the chat template families (lib/src/chat/*.cpp).
//
// Each family is a C++ transcription of its model's Jinja chat_template. Where the template
// calls a Python string method or a Jinja filter, the helper of the same name here does what
// CPython/Jinja do, byte for byte: py_strip_chars (str.strip(chars)), py_trim (the `trim`
// filter, i.e. str.strip() with Unicode whitespace), python_json_string (transformers' `tojson`).
#pragma once
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

// Qwen3's split of an assistant content holding "</think>" (template lines
// `content.split('</think>')[-1].lstrip('\n')` and
// `content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')`).
// REQUIRES: contains(content, "</think>").
void split_think(std::string_view content, std::string& reasoning, std::string& answer);

// delib's reasoning convention for templates without a native one (Llama 3, ChatML):
// "<think>\n" + reasoning.strip('\n') + "\n</think>\n\n", as Qwen3 writes it.
std::string think_block(std::string_view reasoning);

// Family factories (called by ChatTemplate::from_template after recognition).
std::unique_ptr<ChatTemplate> make_qwen3(const std::string& text, const ChatOptions& o);
std::unique_ptr<ChatTemplate> make_llama3(int variant, const ChatOptions& o);  // 30, 31, 32
std::unique_ptr<ChatTemplate> make_gptoss(const ChatOptions& o);
// default_system: empty when the template has none.
std::unique_ptr<ChatTemplate> make_chatml(bool has_default_system, std::string default_system,
                                          const ChatOptions& o);
// Qwen2/Qwen2.5 instruct (ChatML family, variant "qwen2.5"): see chatml.cpp.
std::unique_ptr<ChatTemplate> make_qwen25(std::string default_system, const ChatOptions& o);

}  // namespace delib::chat_detail
