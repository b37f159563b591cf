// libFuzzer target for the chat-template engine: ChatTemplate::from_template (the Jinja lexer
// and parser on an untrusted chat_template text, then the probe renders), render /
// render_request (the interpreter, with tools) and parse_completion, with messages taken from
// the input too.
//
// Input layout: TEMPLATE [\0 MESSAGES [\0 COMPLETION]]. A seed that is a whole template file
// (tests/fuzz/seeds/fuzz_chat_template, ../shared/data/chat-templates, the chat_template of
// each shared tokenizer_config.json: run.sh extracts them) is rendered with a fixed
// conversation. MESSAGES is split at \1 into messages: the first byte picks the role (byte % 5:
// 'A' system, 'B' user, 'C' assistant, 'D' tool, 'E' developer), the rest is the content, and
// a \2 in it starts the reasoning.
//
// Anything must end in a template or a delib::Error, never a crash, a leak or a hang (ASan/UBSan
// on; the engine bounds loops, output, strings and nesting). What renders must keep the contract
// of delib/chat.h: the spans tile the text in order, every message has exactly one span, the
// generation prompt one more when asked for, and an assistant target lies inside its span.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "delib/chat.h"
#include "delib/error.h"

namespace {

const char* const kRoles[] = {"system", "user", "assistant", "tool", "developer"};

std::vector<delib::Message> parse_messages(std::string_view s) {
  std::vector<delib::Message> out;
  while (!s.empty() && out.size() < 16) {
    size_t cut = s.find('\1');
    std::string_view m = s.substr(0, cut);
    s = cut == std::string_view::npos ? std::string_view() : s.substr(cut + 1);
    if (m.empty()) continue;
    delib::Message msg;
    msg.role = kRoles[static_cast<unsigned char>(m[0]) % 5];
    m.remove_prefix(1);
    size_t r = m.find('\2');
    msg.content = std::string(m.substr(0, r));
    if (r != std::string_view::npos) msg.reasoning = std::string(m.substr(r + 1));
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<delib::Message> fixed_conversation() {
  return {{"system", "Be brief.", "", ""},
          {"user", "Hi <|im_end|> there", "", ""},
          {"assistant", "Hello!", "The user greets me.", ""},
          {"user", "And now?", "", ""}};
}

void check_rendered(const delib::Rendered& r, size_t n_messages, bool gen) {
  size_t at = 0;
  std::vector<int> seen(n_messages + 1, 0);
  for (const auto& s : r.spans) {
    if (s.begin != at || s.end < s.begin || s.end > r.text.size()) std::abort();  // tiling
    if (s.target_end > s.target_begin && (s.target_begin < s.begin || s.target_end > s.end)) std::abort();
    if (s.message_index != delib::kTemplateText) {
      if (s.message_index > n_messages) std::abort();
      ++seen[s.message_index];
    }
    at = s.end;
  }
  if (at != r.text.size()) std::abort();
  for (size_t i = 0; i < n_messages; ++i)
    if (seen[i] != 1) std::abort();  // every message exactly one span
  if (seen[n_messages] != (gen ? 1 : 0)) std::abort();
}

void render_all(const delib::ChatTemplate& t, const std::vector<delib::Message>& msgs) {
  for (bool gen : {false, true})
    for (bool keep : {false, true}) {
      try {
        check_rendered(t.render(msgs, gen, keep), msgs.size(), gen);
      } catch (const delib::Error&) {
        // the template raises for this conversation (e.g. gpt-oss tool turns)
      }
    }
  // The JSON path with tools, a tool call and a documents list (the branches templates have
  // for them).
  delib::ChatRequest r;
  r.messages = delib::Json::array();
  for (const auto& m : msgs) {
    delib::Json o = delib::Json::object();
    o.set("role", m.role);
    o.set("content", m.content);
    if (!m.reasoning.empty()) o.set("reasoning_content", m.reasoning);
    if (m.role == "assistant" && m.content.empty())
      o.set("tool_calls", delib::Json::parse(
                              R"([{"id":"call_123456789","type":"function","function":{"name":"f","arguments":{"x":1}}}])"));
    r.messages.push(std::move(o));
  }
  r.tools = delib::Json::parse(
      R"([{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}}}])");
  r.documents = delib::Json::parse(R"([{"title":"t","text":"x"}])");
  r.add_generation_prompt = true;
  try {
    check_rendered(t.render_request(r), msgs.size(), true);
  } catch (const delib::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t a = in.find('\0');
  const std::string tmpl(in.substr(0, a));
  std::string_view rest = a == std::string_view::npos ? std::string_view() : in.substr(a + 1);
  const size_t b = rest.find('\0');
  const std::string_view messages = rest.substr(0, b);
  const std::string completion(b == std::string_view::npos ? std::string_view() : rest.substr(b + 1));

  std::unique_ptr<delib::ChatTemplate> t;
  try {
    delib::ChatOptions o;
    o.current_date = "2025-08-05";  // no clock in the fuzzer: runs reproduce
    o.date_string = "05 Mar 2025";
    t = delib::ChatTemplate::from_template(tmpl, o);
  } catch (const delib::Error&) {
    return 0;  // a template that does not parse: an error, as documented
  }
  if (!t) std::abort();
  (void)t->variant();
  (void)t->generation_prompt();
  (void)t->stop_strings();
  render_all(*t, messages.empty() ? fixed_conversation() : parse_messages(messages));
  delib::ParsedCompletion p = t->parse_completion(completion);
  (void)p;
  return 0;
}
