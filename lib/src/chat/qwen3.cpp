// Qwen3's chat template (hybrid thinking), transcribed from its Jinja `chat_template`.
//
//   <|im_start|>system\nSYSTEM<|im_end|>\n            (only when messages[0] is a system turn)
//   <|im_start|>user\nQUERY<|im_end|>\n
//   <|im_start|>assistant\n<think>\nREASONING\n</think>\n\nANSWER<|im_end|>\n
//   <|im_start|>user\n<tool_response>\nRESULT\n</tool_response><|im_end|>\n   (tool turns)
//   <|im_start|>assistant\n                             (generation prompt)
//
// Reasoning is rendered only for assistant turns after the last user query (the last user
// turn that is not a bare <tool_response>); earlier turns drop it. The last assistant turn
// after that query always gets a <think> block, empty when it has no reasoning.
// Tools (the `tools` argument) and assistant tool_calls are not supported: delib::Message has
// no tool calls, and a conversation is rendered as apply_chat_template(messages) without tools.
#include "chat/chat_internal.h"
#include "delib/error.h"

namespace delib::chat_detail {
namespace {

class Qwen3Template : public ChatTemplate {
 public:
  Qwen3Template(const std::string& text, const ChatOptions& o)
      : options_(o),
        // Qwen3-2507 instruct templates drop the enable_thinking switch; honour it only where
        // the template reads it.
        has_enable_thinking_(contains(text, "enable_thinking")) {}

  ChatFamily family() const override { return ChatFamily::kQwen3; }
  std::string variant() const override { return "qwen3"; }

  std::string generation_prompt() const override {
    std::string p = "<|im_start|>assistant\n";
    if (has_enable_thinking_ && options_.enable_thinking && !*options_.enable_thinking)
      p += "<think>\n\n</think>\n\n";
    return p;
  }

  Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                  bool keep_reasoning) const override {
    Builder b;
    const size_t n = messages.size();

    // Template: `{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}`
    // then a reverse scan for the last user turn that is not a tool response.
    size_t last_query = n == 0 ? 0 : n - 1;
    for (size_t k = n; k-- > 0;) {
      const Message& m = messages[k];
      if (m.role == "user" &&
          !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
        last_query = k;
        break;
      }
    }
    // (With no messages `messages|length - 1` is -1; nothing is rendered then anyway.)

    for (size_t i = 0; i < n; ++i) {
      const Message& m = messages[i];
      if (m.role == "system" && i == 0) {
        b.open(i, m.role);
        b << "<|im_start|>system\n" << m.content << "<|im_end|>\n";
        b.close();
      } else if (m.role == "user" || m.role == "system") {
        b.open(i, m.role);
        b << "<|im_start|>" << m.role << "\n" << m.content << "<|im_end|>\n";
        b.close();
      } else if (m.role == "assistant") {
        std::string content = m.content;
        std::string reasoning;
        if (!m.reasoning.empty()) {
          reasoning = m.reasoning;  // passed as `reasoning_content`
        } else if (contains(m.content, "</think>")) {
          split_think(m.content, reasoning, content);
        }
        b.open(i, m.role);
        b << "<|im_start|>assistant\n";
        b.target();
        bool after_query = n > 0 && i > last_query;
        bool last = i + 1 == n;
        if ((after_query && (last || !reasoning.empty())) || (keep_reasoning && !reasoning.empty())) {
          b << "<think>\n" << py_strip(reasoning, "\n") << "\n</think>\n\n" << py_lstrip(content, "\n");
        } else {
          b << content;
        }
        b << "<|im_end|>";
        b.end_target();
        b << "\n";
        b.close();
      } else if (m.role == "tool") {
        b.open(i, m.role);
        if (i == 0 || messages[i - 1].role != "tool") b << "<|im_start|>user";
        b << "\n<tool_response>\n" << m.content << "\n</tool_response>";
        if (i + 1 == n || messages[i + 1].role != "tool") b << "<|im_end|>\n";
        b.close();
      } else {
        b.empty(i, m.role);  // the template has no branch for other roles (e.g. developer)
      }
    }
    if (add_generation_prompt) {
      b.open(n, "assistant");
      b << generation_prompt();
      b.close();
    }
    return std::move(b).finish();
  }

  ParsedCompletion parse_completion(const std::string& completion) const override {
    return parse_think_tags(completion, stop_strings());
  }

  std::vector<std::string> stop_strings() const override { return {"<|im_end|>", "<|endoftext|>"}; }

 private:
  ChatOptions options_;
  bool has_enable_thinking_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_qwen3(const std::string& text, const ChatOptions& o) {
  return std::make_unique<Qwen3Template>(text, o);
}

}  // namespace delib::chat_detail
