// Chat templates: messages -> the exact text transformers' apply_chat_template renders
// (area: chat; no LibTorch). The tools and other areas use chats only through this header.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delib/json.h"
#include "delib/records.h"
#include "delib/tokenizer.h"

namespace delib {

// The markup a chat uses, as far as delib's conventions depend on it (stop strings, the
// reasoning format): kQwen3 is ChatML whose template renders reasoning in <think> blocks
// (Qwen3, LFM2.5...), kChatML plain <|im_start|>/<|im_end|> turns, kLlama3 <|eot_id|> turns,
// kGptOss the harmony format, kOther anything else (every template renders; see
// docs/chat-templates.md).
enum class ChatFamily { kQwen3, kLlama3, kGptOss, kChatML, kOther };

// "qwen3", "llama3", "gpt-oss", "chatml", "other".
const char* chat_family_name(ChatFamily family);

// The values a template reads besides `messages` and `add_generation_prompt` (the keyword
// arguments of apply_chat_template). Every field defaults to what transformers renders when
// the argument is not passed. A template gets each set field as the variable of the same name
// (templates that do not read it ignore it); the built-in formats read them as noted.
struct ChatOptions {
  // The `date_string` kwarg (Llama 3.1-3.3: "Today Date: <date_string>" in the system header
  // after "Cutting Knowledge Date: December 2023"). Default: the template's, "26 Jul 2024"
  // (Llama 3.1/3.3); strftime_now("%d %b %Y") for Llama 3.2. Pass e.g. "05 Mar 2025" to match
  // apply_chat_template(..., date_string="05 Mar 2025").
  std::optional<std::string> date_string;
  // The date strftime_now sees: "YYYY-MM-DD", optionally with " HH:MM[:SS]" (local time), so
  // that a rendering is reproducible (gpt-oss's "Current date:", Mistral's default system
  // prompt, Llama 3.2). Default: now. The built-in gpt-oss format prints it verbatim.
  std::optional<std::string> current_date;
  // The `reasoning_effort` kwarg (gpt-oss: "low" | "medium" | "high"; default "medium").
  std::optional<std::string> reasoning_effort;
  // The `model_identity` kwarg (gpt-oss; default "You are ChatGPT, a large language model
  // trained by OpenAI.").
  std::optional<std::string> model_identity;
  // The `enable_thinking` kwarg (Qwen3: false appends an empty "<think>\n\n</think>\n\n" to
  // the generation prompt, non-thinking mode; GLM, Gemma, Nemotron read it too). Default: the
  // template's (thinking for Qwen3).
  std::optional<bool> enable_thinking;
  // The `bos_token` the template prints (Llama 3). Default: the tokenizer's bos token
  // (for_tokenizer / from_path), else "<|begin_of_text|>" for the built-in formats and
  // undefined (prints nothing) for a template.
  std::optional<std::string> bos_token;
  // The `eos_token` a template prints (Mistral, DeepSeek, Phi...), also a stop string.
  // Default: the tokenizer's (for_tokenizer / from_path), else undefined.
  std::optional<std::string> eos_token;
  // More template variables, a JSON object: any keyword argument of apply_chat_template
  // (e.g. {"thinking_budget": 512}); the fields above win over the same names, a request's
  // kwargs (ChatRequest) over these. Null (default): none. Ignored by the built-in formats.
  Json kwargs;
};

// Index used in TurnSpan::message_index for text the template inserts on its own (the
// gpt-oss harmony system message, the Llama 3.1 date header when there is no system message).
inline constexpr size_t kTemplateText = static_cast<size_t>(-1);

// A byte range of the rendered text, and which message it came from.
//
// The spans of a Rendered tile its text: in order, without gaps or overlaps, from 0 to
// text.size(). Every message has exactly one span (empty, begin == end, when the template
// renders nothing for it, e.g. a `developer` turn in Qwen3's template); text the template adds
// on its own has message_index kTemplateText; the generation prompt has messages.size().
// Offsets are bytes, not tokens. The reference test checks that targets start and end on
// token boundaries of the tokenizer's encoding of the text, with one exception that follows
// from the templates: an answer that begins with whitespace, rendered verbatim after the
// header's "\n" (ChatML, earlier Qwen3 turns), merges with it into one token; map spans to
// tokens by overlap (a token belongs to the target when it ends after target_begin).
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

// One chat as apply_chat_template receives it, for render_request: the messages as JSON with
// every field (tool_calls, multimodal content parts, names...), and the other arguments.
struct ChatRequest {
  Json messages;   // an array of message objects (OpenAI chat format)
  Json tools;      // null: none (transformers passes tools=None); else an array of JSON schemas
  Json documents;  // null: none; else an array of objects
  Json kwargs;     // null or an object: template variables for this chat (over ChatOptions')
  bool add_generation_prompt = false;
  bool keep_reasoning = false;  // as ChatTemplate::render
};

class ChatTemplate {
 public:
  // A Jinja chat template (a tokenizer_config.json chat_template), rendered by delib's template
  // engine exactly as transformers renders it (lib/src/chat/jinja.h). Throws Error naming the
  // line on a syntax error; an empty text is an Error ("no chat template").
  static std::unique_ptr<ChatTemplate> from_template(const std::string& template_text);
  // From a tokenizer (its chat_template).
  static std::unique_ptr<ChatTemplate> for_tokenizer(const Tokenizer& tok);
  // The same with template keyword arguments (see ChatOptions).
  static std::unique_ptr<ChatTemplate> from_template(const std::string& template_text,
                                                     const ChatOptions& options);
  static std::unique_ptr<ChatTemplate> for_tokenizer(const Tokenizer& tok,
                                                     const ChatOptions& options);
  // From a file: a model directory (its tokenizer_config.json `chat_template`, else its
  // chat_template.jinja), a tokenizer_config.json, or a template file (.jinja or any other
  // name: the whole file is the template). The bos_token of tokenizer_config.json is used
  // (and eos_token, unk_token, pad_token) of tokenizer_config.json are used unless set in
  // options. Throws Error(kExitIo) when the file cannot be read and Error when it has no chat
  // template or the template does not parse (Location: the file and template line).
  static std::unique_ptr<ChatTemplate> from_path(const std::string& path,
                                                 const ChatOptions& options = {});
  // A built-in format by name, for a model whose files carry no chat template (e.g. a
  // tokenizer.json without tokenizer_config.json): "qwen3", "qwen2.5" (Qwen2.5's default system
  // prompt), "llama3", "llama3.1" (also 3.3), "llama3.2", "gpt-oss", "chatml". These are C++
  // transcriptions of those models' templates (qwen3.cpp, llama3.cpp, gptoss.cpp, chatml.cpp),
  // checked against transformers like the engine. Throws Error(kExitUsage) for other names.
  static std::unique_ptr<ChatTemplate> from_variant(const std::string& variant,
                                                    const ChatOptions& options = {});
  virtual ~ChatTemplate() = default;

  virtual ChatFamily family() const = 0;
  // A built-in format: its name ("llama3.1", "qwen2.5"...). A template: the family's name.
  virtual std::string variant() const = 0;
  // The text add_generation_prompt appends (what a completion is generated after).
  virtual std::string generation_prompt() const = 0;
  // Renders like apply_chat_template(messages, tokenize=False, add_generation_prompt=...),
  // with Message::reasoning passed as the field the template reads (Qwen3 `reasoning_content`,
  // gpt-oss `thinking`; empty = absent) and the ChatOptions as keyword arguments. Byte for
  // byte, as tests/reference/test_chat_templates.py checks. What the templates do with
  // reasoning by default:
  //   Qwen3: kept in <think> for assistant turns after the last user query (the last one
  //     always gets a block, empty when it has no reasoning), dropped for earlier turns;
  //   gpt-oss: kept (analysis channel) only for a last assistant turn rendered without a
  //     generation prompt, i.e. a training example; dropped otherwise;
  //   Llama 3, ChatML (incl. Qwen2.5): never rendered.
  // keep_reasoning: render every assistant turn's reasoning, also where the template drops it
  // (Llama 3/ChatML: delib's "<think>\nREASONING\n</think>\n\n" before the answer).
  // Throws Error where the template raises (gpt-oss: a tool turn, which needs an assistant tool
  // call that Message cannot carry; <|channel|> tags inside content). Thread-safe (const).
  //
  // A template (not a built-in format) gets each Message as transformers gets a record's
  // message {role, content, name?, reasoning?}: reasoning also as `reasoning_content` and
  // `thinking` (transformers' aliases), tools=None, documents=None. Its spans come from the
  // engine: the text written while a `{% for %}` loop visits message i (or printing message i's
  // text outside such a loop) is message i's span; template text before the first message that
  // prints outside the loop, and between them, joins the neighbouring message; a message whose
  // text lands inside another message's turn has an empty span. An assistant target starts
  // after the assistant header (the generation prompt's part that opens every assistant turn,
  // learned by rendering probe chats) and ends before the whitespace that separates turns; a
  // template with `{% generation %}` blocks defines the targets itself, as transformers'
  // return_assistant_tokens_mask reads them. keep_reasoning on a turn the template renders
  // without its reasoning inserts it as the template writes reasoning elsewhere (Qwen3's
  // earlier turns, harmony analysis) or, for templates without a reasoning format, as
  // "<think>\nREASONING\n</think>\n\n" before the answer (delib's convention).
  // Template errors (raise_exception, undefined attribute access, type errors) throw Error
  // "chat template NAME:LINE: KIND: message" without a Location.
  virtual Rendered render(const std::vector<Message>& messages, bool add_generation_prompt,
                          bool keep_reasoning = false) const = 0;
  // Renders one chat given as JSON, with every message field and the tools/documents/kwargs
  // arguments (chat-render's records). The built-in formats accept role, content (text),
  // reasoning/reasoning_content/thinking and name only, and throw Error for tool_calls, tools,
  // documents or non-text content rather than drop them. Thread-safe (const).
  virtual Rendered render_request(const ChatRequest& request) const;
  // Splits a generated completion (text after the generation prompt) into reasoning/answer.
  // A trailing stop string (stop_strings()) is ignored. A template splits by the reasoning
  // tags it uses (<seed:think>...</seed:think> for Seed-OSS, harmony channels, else <think>,
  // also delib's convention for templates without one). The built-in formats:
  //   Qwen3, Llama 3, ChatML: "<think>REASONING</think>ANSWER" split as Qwen3's template
  //     splits an assistant content (newlines next to the tags dropped); no tags at all: empty
  //     reasoning, the whole text is the answer, ok. An unclosed <think>: ok=false.
  //     Llama 3 and ChatML have no native reasoning format: delib's convention is the same
  //     <think> tags, which render(keep_reasoning=true) writes for them.
  //   gpt-oss: harmony messages "<|channel|>analysis<|message|>R<|end|><|start|>assistant
  //     <|channel|>final<|message|>A"; analysis messages are joined with "\n" into reasoning;
  //     ok=false when there is no final-channel message (e.g. a tool call or a cut-off).
  virtual ParsedCompletion parse_completion(const std::string& completion) const = 0;
  // Strings that end an assistant turn (e.g. "<|im_end|>"). A template: the end-of-turn text it
  // writes after an assistant message, the family's companions (<|endoftext|>, <|eom_id|>...),
  // and the eos_token when known. Empty when the template writes none and no eos is known.
  virtual std::vector<std::string> stop_strings() const = 0;
};

// ---- Encoding a chat: the one rule for every caller -----------------------------------------
//
// transformers' apply_chat_template(tokenize=True) renders the conversation to text and encodes
// that text with special tokens parsed everywhere, so a message whose text spells a control
// token ("<|im_end|>", "<|eot_id|>") gets the real token: data can end a turn or open a system
// turn. delib encodes the template's markup as transformers does and message text as text. The
// tokenize tool (default chat text), the local backend's prompts (delib/generate.h
// encode_chat) and sft-train's examples (render_example) all encode chats with encode_chat below.

struct ChatEncodeOptions {
  bool add_generation_prompt = false;  // as ChatTemplate::render
  bool keep_reasoning = false;         // as ChatTemplate::render
  // true: special-token text is parsed everywhere, message text included: the ids are exactly
  // apply_chat_template(tokenize=True)'s, injection and all (tokenize --parse-special).
  bool parse_special = false;
  // Encode the target bytes [target_begin, target_end) of the span of this message on their own
  // (no token crosses their edges), so that ChatEncoding::target_begin/target_end are exact: a
  // training target. nullopt: the text is encoded whole.
  std::optional<size_t> split_target;
};

struct ChatEncoding {
  Rendered rendered;           // the text that was encoded and its spans
  std::vector<int32_t> ids;
  // Byte ranges of rendered.text, sorted and disjoint, holding special-token text that came from
  // message fields and was encoded as ordinary text. Empty in the usual case.
  std::vector<std::pair<size_t, size_t>> literal;
  // With split_target (and a non-empty target in that message's span): ids[target_begin,
  // target_end) are the target's tokens. 0, 0 otherwise.
  size_t target_begin = 0, target_end = 0;
};

// Renders `messages` with `tpl` and encodes the text with `tok` so that the template's markup
// becomes control tokens and message text never does:
//   1. text = tpl.render(messages, add_generation_prompt, keep_reasoning).text;
//   2. the special-token text of every message field (role, content, reasoning, name) is found
//      with Tokenizer::special_text. None (the usual case): ids = tok.encode(text, true), byte
//      for byte apply_chat_template(tokenize=True);
//   3. otherwise the chat is rendered again with each such occurrence replaced by a placeholder
//      (letters and digits found nowhere in the text or the messages), and the placeholders are
//      located in that rendering. Putting the occurrences back must give `text` exactly; then
//      their byte ranges are `literal`, and ids = tok.encode_guarded(text, literal). A
//      placeholder the template does not render is text it dropped (Qwen3's reasoning of
//      earlier turns, a role it has no branch for): nothing to guard.
//   4. When the occurrences put back do not give `text` (the template trimmed into, escaped,
//      split or moved such text), throws Error naming the message and the token text: which
//      occurrence is markup cannot be known, so nothing is encoded rather than a guess.
// Locating by placeholders, not by searching for the message text, matters: a message whose
// content is "<|im_start|>" would be found at its own turn header by a search, guarding the
// header and leaving the content a control token.
// Rendering errors (ChatTemplate::render) propagate. Errors carry no location: a caller with a
// record adds it. Thread-safe when tpl and tok are (they are).
ChatEncoding encode_chat(const ChatTemplate& tpl, const Tokenizer& tok, const std::vector<Message>& messages,
                         const ChatEncodeOptions& options);

// Reads the chat template text of `path` as from_path does (and its bos_token into *bos_token
// when non-null and present). Throws Error(kExitIo) when unreadable, Error when absent.
std::string read_chat_template(const std::string& path, std::string* bos_token = nullptr);

// JSON-encodes `s` as transformers' `tojson` filter does (json.dumps(s, ensure_ascii=False)):
// quotes, \" \\ \n \r \t \b \f, other control characters as \u00XX, all else verbatim.
std::string python_json_string(const std::string& s);

// ---- The chat-render tool ------------------------------------------------------------------

struct ChatRenderOptions {
  // Input records in order ("-" or none: stdin), how they are read, and where they go.
  std::vector<std::string> inputs;
  ReadOptions read;
  std::string output = "-";
  WriteOptions write;
  bool progress = false;  // a progress line on stderr

  // The template: `format` names a built-in format (from_variant; with `tokenizer` too, its
  // bos_token is used), else `tokenizer` (a model directory or tokenizer_config.json) or
  // `template_file` (from_path). REQUIRES: one of tokenizer, template_file, format.
  std::string tokenizer, template_file, format;
  ChatOptions chat;           // template keyword arguments
  std::string template_kwargs;  // a JSON object of more template variables (ChatOptions::kwargs)

  bool add_generation_prompt = false;
  bool keep_reasoning = false;
  std::string field = "text";  // the record field the rendered text goes to
  bool spans = false;          // also write `spans`
  bool raw = false;            // print the texts to stdout, separated by a blank line, not records
  std::string parse_field;     // instead of rendering: split this completion field (parse_completion)
  bool detect = false;         // print the template's family, generation prompt and stop strings
};

// Runs chat-render as `o` says: each record's `messages` (or `prompt` as one user turn), with
// its `tools`, `documents` and `chat_template_kwargs` fields when present, rendered by
// ChatTemplate::render_request. Returns kExitOk. Throws Error: the template cannot be loaded
// (FILE:LINE for a syntax error), a bad record, or a record the template refuses (the record's
// FILE:LINE, then "chat template NAME:LINE: KIND: message"); the records before it are written,
// nothing of that record.
int run_chat_render(const ChatRenderOptions& o);

}  // namespace delib
