// Generic ChatML, the template of many small models:
//   [<|im_start|>system\nDEFAULT<|im_end|>\n]   (only templates with a default system prompt,
//                                                when messages[0] is not a system turn)
//   <|im_start|>ROLE\nCONTENT<|im_end|>\n        (every message, contents verbatim)
//   <|im_start|>assistant\n                      (generation prompt)
// ChatML has no reasoning format: `reasoning` is dropped as transformers drops it; with
// keep_reasoning delib writes "<think>\nREASONING\n</think>\n\n" before the answer.
//
// Variant "qwen2.5" (Qwen2 and Qwen2.5 instruct templates, without tools): ChatML with the
// template's default system prompt whenever messages[0] is not a system turn ("You are Qwen,
// created by Alibaba Cloud. You are a helpful assistant." for Qwen2.5), tool results wrapped
// as <tool_response> blocks in one user turn (as Qwen3 does), and other roles (developer)
// rendered as nothing.
#include "chat/chat_internal.h"

namespace delib::chat_detail {
namespace {

class ChatMLTemplate : public ChatTemplate {
 public:
  ChatMLTemplate(bool has_default_system, std::string default_system, bool qwen, const ChatOptions& o)
      : has_default_system_(has_default_system), default_system_(std::move(default_system)), qwen_(qwen) {}

  ChatFamily family() const override { return ChatFamily::kChatML; }
  std::string variant() const override {
    return qwen_ ? "qwen2.5" : has_default_system_ ? "chatml+default-system" : "chatml";
  }
  std::string generation_prompt() const override { return "<|im_start|>assistant\n"; }

  Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                  bool keep_reasoning) const override {
    Builder b;
    const size_t n = messages.size();
    if (qwen_ && (n == 0 || messages[0].role != "system")) {
      b.open(kTemplateText, "system");
      b << "<|im_start|>system\n" << default_system_ << "<|im_end|>\n";
      b.close();
    }
    for (size_t i = 0; i < n; ++i) {
      const Message& m = messages[i];
      if (i == 0 && has_default_system_ && !qwen_ && m.role != "system") {
        b.open(kTemplateText, "system");
        b << "<|im_start|>system\n" << default_system_ << "<|im_end|>\n";
        b.close();
      }
      if (qwen_ && m.role == "tool") {
        b.open(i, m.role);
        if (i == 0 || messages[i - 1].role != "tool") b << "<|im_start|>user";
        b << "\n<tool_response>\n" << m.content << "\n</tool_response>";
        if (i + 1 == n || messages[i + 1].role != "tool") b << "<|im_end|>\n";
        b.close();
        continue;
      }
      if (qwen_ && m.role != "user" && m.role != "system" && m.role != "assistant") {
        b.empty(i, m.role);
        continue;
      }
      b.open(i, m.role);
      b << "<|im_start|>" << m.role << "\n";
      if (m.role == "assistant") b.target();
      if (m.role == "assistant" && keep_reasoning && !m.reasoning.empty())
        b << think_block(m.reasoning);
      b << m.content << "<|im_end|>";
      if (m.role == "assistant") b.end_target();
      b << "\n";
      b.close();
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
  bool has_default_system_;
  std::string default_system_;
  bool qwen_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_chatml(bool has_default_system, std::string default_system,
                                          const ChatOptions& o) {
  return std::make_unique<ChatMLTemplate>(has_default_system, std::move(default_system), false, o);
}

std::unique_ptr<ChatTemplate> make_qwen25(std::string default_system, const ChatOptions& o) {
  return std::make_unique<ChatMLTemplate>(true, std::move(default_system), true, o);
}

}  // namespace delib::chat_detail
