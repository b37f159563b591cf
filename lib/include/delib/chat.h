// Chat templates: messages -> the exact text transformers' apply_chat_template renders
// (area: chat; no LibTorch). CONTRACT: others call only this; the owner may add, not rename.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "delib/records.h"
#include "delib/tokenizer.h"

namespace delib {

enum class ChatFamily { kQwen3, kLlama3, kGptOss, kChatML };

// A byte range of the rendered text, and which message it came from.
struct TurnSpan {
  size_t message_index;  // index into the messages (== messages.size() for the generation prompt)
  std::string role;
  size_t begin, end;     // bytes [begin, end) of the rendered text
  // For an assistant turn: bytes of what the model must learn to produce (reasoning + answer +
  // end-of-turn token text), excluding the role header. Empty range otherwise.
  size_t target_begin = 0, target_end = 0;
};

struct Rendered {
  std::string text;
  std::vector<TurnSpan> spans;
};

// A completion split back into reasoning and answer.
struct ParsedCompletion {
  std::string reasoning;
  std::string answer;
  bool ok = false;  // false when the completion cannot be split (e.g. unclosed <think>)
};

class ChatTemplate {
 public:
  // Recognises the family of `template_text` (a tokenizer_config.json chat_template).
  // An unrecognised template is an Error naming the problem; never a silent fallback.
  static std::unique_ptr<ChatTemplate> from_template(const std::string& template_text);
  // From a tokenizer (its chat_template).
  static std::unique_ptr<ChatTemplate> for_tokenizer(const Tokenizer& tok);
  virtual ~ChatTemplate() = default;

  virtual ChatFamily family() const = 0;
  // Renders like apply_chat_template(messages, tokenize=False, add_generation_prompt=...).
  // keep_reasoning: render assistant `reasoning` even where the template would drop it (used
  // for training the final assistant turn).
  virtual Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                          bool keep_reasoning = false) const = 0;
  // Splits a generated completion (text after the generation prompt) into reasoning/answer.
  virtual ParsedCompletion parse_completion(const std::string& completion) const = 0;
  // Strings that end an assistant turn (e.g. "<|im_end|>").
  virtual std::vector<std::string> stop_strings() const = 0;
};

}  // namespace delib
