// Llama 3 chat templates, transcribed from their Jinja `chat_template`s.
//
// Llama 3 (Meta-Llama-3-8B-Instruct's template, variant "llama3"): every message, whatever its
// role, as
//   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT.strip()<|eot_id|>
// with bos_token before the first; the generation prompt is the assistant header.
//
// Llama 3.1 / 3.3 ("llama3.1") and 3.2 ("llama3.2"): a system header is always rendered,
//   <|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n
//   Today Date: DATE\n\nSYSTEM.strip()<|eot_id|>
// where SYSTEM is messages[0] when it is a system turn (else empty) and DATE the `date_string`
// kwarg (default "26 Jul 2024"; 3.2 templates default to today's date via strftime_now).
// Tool results (role tool/ipython) render under the `ipython` header as JSON strings (the
// template applies `tojson` to string contents). Tools and tool_calls are not supported.
//
// No Llama 3 template renders reasoning: `reasoning` is dropped, as transformers drops it.
// With keep_reasoning, delib's convention puts it before the answer as Qwen3 does:
// "<think>\nREASONING\n</think>\n\n" + ANSWER (parse_completion splits it back).
#include "chat/chat_internal.h"
#include "delib/error.h"

namespace delib::chat_detail {
namespace {

class Llama3Template : public ChatTemplate {
 public:
  Llama3Template(int variant, const ChatOptions& o) : variant_(variant), options_(o) {}

  ChatFamily family() const override { return ChatFamily::kLlama3; }
  std::string variant() const override {
    return variant_ == 30 ? "llama3" : variant_ == 31 ? "llama3.1" : "llama3.2";
  }
  std::string generation_prompt() const override {
    return "<|start_header_id|>assistant<|end_header_id|>\n\n";
  }

  Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                  bool keep_reasoning) const override {
    Builder b;
    const std::string bos = options_.bos_token.value_or("<|begin_of_text|>");
    const size_t n = messages.size();
    size_t first = 0;
    if (variant_ != 30) {
      // The system header, with messages[0] folded in when it is a system turn.
      std::string date = options_.date_string
                             ? *options_.date_string
                             : variant_ == 32 ? local_date("%d %b %Y") : "26 Jul 2024";
      bool has_system = n > 0 && messages[0].role == "system";
      b.open(has_system ? 0 : kTemplateText, "system");
      b << bos << "<|start_header_id|>system<|end_header_id|>\n\n"
        << "Cutting Knowledge Date: December 2023\n"
        << "Today Date: " << date << "\n\n";
      if (has_system) b << py_trim(messages[0].content);
      b << "<|eot_id|>";
      b.close();
      first = has_system ? 1 : 0;
    }
    for (size_t i = first; i < n; ++i) {
      const Message& m = messages[i];
      b.open(i, m.role);
      if (i == 0 && variant_ == 30) b << bos;
      if (variant_ != 30 && (m.role == "tool" || m.role == "ipython")) {
        // `message.content is mapping or message.content is iterable` holds for a string.
        b << "<|start_header_id|>ipython<|end_header_id|>\n\n"
          << python_json_string(m.content) << "<|eot_id|>";
      } else {
        b << "<|start_header_id|>" << m.role << "<|end_header_id|>\n\n";
        if (m.role == "assistant") b.target();
        if (m.role == "assistant" && keep_reasoning && !m.reasoning.empty())
          b << think_block(m.reasoning);
        b << py_trim(m.content) << "<|eot_id|>";
        if (m.role == "assistant") b.end_target();
      }
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

  std::vector<std::string> stop_strings() const override {
    return {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
  }

 private:
  int variant_;
  ChatOptions options_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_llama3(int variant, const ChatOptions& o) {
  return std::make_unique<Llama3Template>(variant, o);
}

}  // namespace delib::chat_detail
