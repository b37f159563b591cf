// gpt-oss (OpenAI harmony format), transcribed from the model's Jinja `chat_template`.
//
//   <|start|>system<|message|>IDENTITY\nKnowledge cutoff: 2024-06\nCurrent date: DATE\n\n
//     Reasoning: EFFORT\n\n# Valid channels: analysis, commentary, final. Channel must be
//     included for every message.<|end|>                       (always; template text)
//   <|start|>developer<|message|># Instructions\n\nSYSTEM\n\n<|end|>
//                                  (messages[0] when it is a system or developer turn)
//   <|start|>user<|message|>QUERY<|end|>
//   <|start|>assistant<|channel|>final<|message|>ANSWER<|end|>    (earlier assistant turns)
//   <|start|>assistant<|channel|>analysis<|message|>REASONING<|end|>
//   <|start|>assistant<|channel|>final<|message|>ANSWER<|return|>
//                     (the last turn when it is an assistant turn and no generation prompt)
//   <|start|>assistant                                               (generation prompt)
//
// Reasoning (the template's `thinking`) is rendered only for a final assistant turn rendered
// without a generation prompt ("training"); earlier turns drop it. System or developer turns
// after the first render nothing (the template has no branch for them). Tool turns need the
// assistant tool calls that delib::Message does not carry: they are an Error, as in the
// template ("no previous assistant message with a tool call").
#include "chat/chat_internal.h"
#include "delib/error.h"

namespace delib::chat_detail {
namespace {

class GptOssTemplate : public ChatTemplate {
 public:
  explicit GptOssTemplate(const ChatOptions& o) : options_(o) {}

  ChatFamily family() const override { return ChatFamily::kGptOss; }
  std::string variant() const override { return "gpt-oss"; }
  std::string generation_prompt() const override { return "<|start|>assistant"; }

  Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                  bool keep_reasoning) const override {
    Builder b;
    const size_t n = messages.size();
    b.open(kTemplateText, "system");
    b << "<|start|>system<|message|>"
      << options_.model_identity.value_or("You are ChatGPT, a large language model trained by OpenAI.")
      << "\n"
      << "Knowledge cutoff: 2024-06\n"
      << "Current date: " << (options_.current_date ? *options_.current_date : local_date("%Y-%m-%d"))
      << "\n\n"
      << "Reasoning: " << options_.reasoning_effort.value_or("medium") << "\n\n"
      << "# Valid channels: analysis, commentary, final. Channel must be included for every message."
      << "<|end|>";
    b.close();

    size_t first = 0;
    if (n > 0 && (messages[0].role == "developer" || messages[0].role == "system")) {
      b.open(0, messages[0].role);
      if (!messages[0].content.empty())
        b << "<|start|>developer<|message|># Instructions\n\n" << messages[0].content << "\n\n<|end|>";
      b.close();
      first = 1;
    }
    for (size_t i = first; i < n; ++i) {
      const Message& m = messages[i];
      b.open(i, m.role);
      if (m.role == "assistant") {
        for (const std::string* field : {&m.content, &m.reasoning}) {
          if (contains(*field, "<|channel|>analysis<|message|>") ||
              contains(*field, "<|channel|>final<|message|>"))
            throw Error("message " + std::to_string(i) +
                        ": gpt-oss assistant content/reasoning contains <|channel|> tags; pass the "
                        "analysis text as `reasoning` and the final text as `content`");
        }
        bool last_training = i + 1 == n && !add_generation_prompt;
        b << "<|start|>assistant";
        b.target();
        if ((last_training || keep_reasoning) && !m.reasoning.empty())
          b << "<|channel|>analysis<|message|>" << m.reasoning << "<|end|><|start|>assistant";
        b << "<|channel|>final<|message|>" << m.content << (last_training ? "<|return|>" : "<|end|>");
        b.end_target();
      } else if (m.role == "user") {
        b << "<|start|>user<|message|>" << m.content << "<|end|>";
      } else if (m.role == "tool") {
        throw Error("message " + std::to_string(i) +
                    ": gpt-oss renders a tool turn only after an assistant tool call, which "
                    "delib messages cannot carry");
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
    return parse_harmony(completion);
  }

  std::vector<std::string> stop_strings() const override { return {"<|return|>", "<|call|>"}; }

 private:
  ChatOptions options_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_gptoss(const ChatOptions& o) {
  return std::make_unique<GptOssTemplate>(o);
}

}  // namespace delib::chat_detail
