// Unit tests for ChatTemplate over the Jinja engine (lib/src/chat/jinja_template.cpp): agreement
// with the built-in formats, the JSON request path, spans from provenance, keep_reasoning, and
// template errors. Byte equality with transformers on real templates is
// tests/reference/test_chat_template_engine.py's job.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "delib/chat.h"
#include "delib/error.h"
#include "shared_data.h"

using delib::ChatFamily;
using delib::ChatRequest;
using delib::ChatTemplate;
using delib::Json;
using delib::Message;
using delib::Rendered;

namespace {

std::string shared_tokenizer(const std::string& name) { return delib_test::shared_path("data/tokenizers/" + name); }

std::string slice(const std::string& s, size_t b, size_t e) { return s.substr(b, e - b); }

std::vector<std::vector<Message>> conversations() {
  return {
      {{"user", "Hi", "", ""}},
      {{"system", "You are careful.", "", ""},
       {"user", "What is 2+2?", "", ""},
       {"assistant", "4", "Add two and two.", ""},
       {"user", "And 3+3? Ünïcödé 👋🏽", "", ""},
       {"assistant", "6", "Three plus three\nis six.", ""}},
      {{"user", "q", "", ""}, {"assistant", "calling", "r1", ""}, {"tool", "result", "", ""}, {"tool", "more", "", ""},
       {"assistant", "done", "r2", ""}},
      {{"developer", "Be terse.", "", ""}, {"user", "  padded  \n", "", ""}, {"assistant", "<think>\nx\n</think>\n\ny", "", ""}},
  };
}

void same_rendering(const ChatTemplate& a, const ChatTemplate& b) {
  CHECK(a.generation_prompt() == b.generation_prompt());
  CHECK(a.stop_strings() == b.stop_strings());
  for (const auto& msgs : conversations())
    for (bool gen : {false, true})
      for (bool keep : {false, true}) {
        INFO("gen=" << gen << " keep=" << keep << " messages=" << msgs.size());
        Rendered x = a.render(msgs, gen, keep), y = b.render(msgs, gen, keep);
        REQUIRE(x.text == y.text);
        REQUIRE(x.spans.size() == y.spans.size());
        for (size_t k = 0; k < x.spans.size(); ++k) {
          CHECK(x.spans[k].message_index == y.spans[k].message_index);
          CHECK(x.spans[k].begin == y.spans[k].begin);
          CHECK(x.spans[k].end == y.spans[k].end);
          CHECK(x.spans[k].target_begin == y.spans[k].target_begin);
          CHECK(x.spans[k].target_end == y.spans[k].target_end);
        }
      }
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("delib_test_" + name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("the engine renders Qwen3, Llama 3 and ChatML templates as the built-in formats do", "[chat][engine]") {
  // Two implementations of the same templates: the engine reading the model's file, and the
  // C++ transcriptions behind --format. Text, spans and targets agree, keep_reasoning included.
  same_rendering(*ChatTemplate::from_path(shared_tokenizer("qwen3")), *ChatTemplate::from_variant("qwen3"));
  same_rendering(*ChatTemplate::from_path(shared_tokenizer("llama3_1")), *ChatTemplate::from_variant("llama3"));
  same_rendering(*ChatTemplate::from_template(
                     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                     "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                     "{% endif %}"),
                 *ChatTemplate::from_variant("chatml"));
  delib::ChatOptions no_think;
  no_think.enable_thinking = false;
  same_rendering(*ChatTemplate::from_path(shared_tokenizer("qwen3"), no_think),
                 *ChatTemplate::from_variant("qwen3", no_think));
}

TEST_CASE("render_request passes every message field, tools, documents and keyword arguments", "[chat][engine]") {
  auto t = ChatTemplate::from_template(
      "{% if tools %}[tools:{% for t in tools %}{{ t.function.name }}{% endfor %}]{% endif %}"
      "{% if documents is none %}[no docs]{% endif %}"
      "{% for m in messages %}<{{ m.role }}>{{ m.content if m.content is string else m.content|map(attribute='type')|join(',') }}"
      "{% for c in m.tool_calls %}{call {{ c.function.name }}({{ c.function.arguments|tojson }})}{% endfor %}"
      "{% if m.tool_call_id is defined %}#{{ m.tool_call_id }}{% endif %}{% endfor %}"
      "{% if budget is defined %}(budget {{ budget }}){% endif %}");
  ChatRequest r;
  r.messages = Json::parse(
      R"([{"role":"user","content":[{"type":"text","text":"x"},{"type":"image"}]},
          {"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]},
          {"role":"tool","tool_call_id":"c1","content":"ok","name":null}])");
  r.tools = Json::parse(R"([{"type":"function","function":{"name":"f"}}])");
  r.kwargs = Json::parse(R"({"budget": 512})");
  Rendered out = t->render_request(r);
  CHECK(out.text == "[tools:f][no docs]<user>text,image<assistant>{call f({\"a\": 1})}<tool>ok#c1(budget 512)");
  // The built-in formats carry role/content/reasoning/name only: the rest is refused, not dropped.
  auto builtin = ChatTemplate::from_variant("qwen3");
  CHECK_THROWS_AS(builtin->render_request(r), delib::Error);
  ChatRequest plain;
  plain.messages = Json::parse(R"([{"role":"user","content":"hi","tool_calls":[]},{"role":"assistant","content":"yo","reasoning_content":"r"}])");
  CHECK(builtin->render_request(plain).text ==
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nyo<|im_end|>\n");
}

TEST_CASE("keyword arguments reach the template; named options and request kwargs take precedence",
          "[chat][engine]") {
  delib::ChatOptions o;
  o.bos_token = "<named>";
  o.kwargs = Json::parse(R"({"bos_token": "<kwarg>", "flavour": "plain"})");
  auto t = ChatTemplate::from_template("{{ bos_token }}|{{ flavour }}|{{ messages[0].content }}", o);
  CHECK(t->render({{"user", "u", "", ""}}, false).text == "<named>|plain|u");
  ChatRequest r;
  r.messages = Json::parse(R"([{"role":"user","content":"u"}])");
  r.kwargs = Json::parse(R"({"flavour": "record"})");
  CHECK(t->render_request(r).text == "<named>|record|u");
}

TEST_CASE("reasoning reaches the template under transformers' three names", "[chat][engine]") {
  auto t = ChatTemplate::from_template(
      "{% for m in messages %}{{ m.role }}:{{ m.reasoning_content }}|{{ m.thinking }}|{{ m.reasoning }}|"
      "{{ m.keys()|list }};{% endfor %}");
  CHECK(t->render({{"assistant", "a", "r", ""}, {"user", "u", "", ""}}, false).text ==
        "assistant:r|r|r|['thinking', 'role', 'content', 'reasoning', 'reasoning_content'];user:|||['role', 'content'];");
}

TEST_CASE("spans come from the loop iteration or the text a message wrote", "[chat][engine]") {
  delib::ChatOptions o;
  o.bos_token = "<bos>";
  // Gemma style: the system message printed before the loop (joined by the header text
  // around it), the loop over the rest, a generation prompt.
  auto t = ChatTemplate::from_template(
      "{{ bos_token }}{% if messages[0].role == 'system' %}<sys>{{ messages[0].content }}</sys>"
      "{% set rest = messages[1:] %}{% else %}{% set rest = messages %}{% endif %}"
      "{% for m in rest %}<{{ m.role }}>{{ m.content }}<end>\n{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}",
      o);
  std::vector<Message> msgs = {{"system", "S", "", ""}, {"user", "U", "", ""}, {"assistant", "A", "", ""}};
  Rendered r = t->render(msgs, false);
  REQUIRE(r.text == "<bos><sys>S</sys><user>U<end>\n<assistant>A<end>\n");
  REQUIRE(r.spans.size() == 3);
  CHECK(slice(r.text, r.spans[0].begin, r.spans[0].end) == "<bos><sys>S</sys>");
  CHECK(slice(r.text, r.spans[1].begin, r.spans[1].end) == "<user>U<end>\n");
  CHECK(slice(r.text, r.spans[2].begin, r.spans[2].end) == "<assistant>A<end>\n");
  // The header is what the generation prompt and an assistant turn share; the target ends
  // before the whitespace between turns.
  CHECK(t->generation_prompt() == "<assistant>");
  CHECK(slice(r.text, r.spans[2].target_begin, r.spans[2].target_end) == "A<end>");
  CHECK(t->stop_strings() == std::vector<std::string>{"<end>"});
  Rendered g = t->render({{"user", "U", "", ""}}, true);
  REQUIRE(g.spans.size() == 3);  // template text (<bos>), the user turn, the generation prompt
  CHECK(g.spans[0].message_index == delib::kTemplateText);
  CHECK(g.spans[2].message_index == 1);
  CHECK(g.spans[2].target_end == g.spans[2].target_begin);  // the prompt is not a target
  // A template that writes no message text: everything is the generation prompt (or template
  // text), every message an empty span.
  auto silent = ChatTemplate::from_template("<start>{% if add_generation_prompt %}<a>{% endif %}");
  Rendered sg = silent->render({{"user", "U", "", ""}, {"assistant", "A", "", ""}}, true);
  REQUIRE(sg.spans.size() == 3);
  CHECK(sg.spans[0].end == 0);
  CHECK(sg.spans[1].end == 0);
  CHECK(sg.spans[2].message_index == 2);
  CHECK(slice(sg.text, sg.spans[2].begin, sg.spans[2].end) == "<start><a>");
  Rendered sn = silent->render({{"user", "U", "", ""}}, false);
  REQUIRE(sn.spans.size() == 2);
  CHECK(sn.spans[1].message_index == delib::kTemplateText);
  CHECK(sn.spans[1].end == sn.text.size());
  // Text of one message written inside another's turn leaves it an empty span.
  auto merged = ChatTemplate::from_template(
      "{% for m in messages %}{% if m.role == 'user' %}<u>{{ m.content }}"
      "{% for x in messages[loop.index0 + 1:] %}{% if x.role == 'tool' %}+{{ x.content }}{% endif %}{% endfor %}</u>"
      "{% endif %}{% endfor %}");
  Rendered mr = merged->render({{"user", "q", "", ""}, {"tool", "t", "", ""}}, false);
  REQUIRE(mr.text == "<u>q+t</u>");
  REQUIRE(mr.spans.size() == 2);
  CHECK(mr.spans[0].message_index == 0);
  CHECK(mr.spans[0].end == mr.text.size());
  CHECK(mr.spans[1].message_index == 1);
  CHECK(mr.spans[1].begin == mr.spans[1].end);
}

TEST_CASE("a {% generation %} block defines the assistant target", "[chat][engine]") {
  auto t = ChatTemplate::from_template(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
      "{{ m.content }}<|im_end|>\n{% endgeneration %}{% else %}{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}");
  Rendered r = t->render({{"user", "q", "", ""}, {"assistant", "a", "", ""}}, false);
  const auto& s = r.spans.back();
  CHECK(slice(r.text, s.target_begin, s.target_end) == "a<|im_end|>\n");
}

TEST_CASE("keep_reasoning writes reasoning as the template writes it, or by delib's convention", "[chat][engine]") {
  std::vector<Message> msgs = {{"user", "q1", "", ""}, {"assistant", "a1", "r1", ""}, {"user", "q2", "", ""},
                               {"assistant", "a2", "r2", ""}};
  // GLM style: reasoning only after the last user turn, an empty block before.
  auto glm = ChatTemplate::from_template(
      "{% set ns = namespace(last=-1) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}"
      "{% endif %}{% endfor %}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}{% else %}"
      "<|assistant|>{% if loop.index0 > ns.last and m.reasoning_content %}\n<think>{{ m.reasoning_content }}</think>"
      "{% else %}\n<think></think>{% endif %}\n{{ m.content }}{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}<|assistant|>{% endif %}");
  // (trim_blocks drops the newlines after the tags.)
  CHECK(glm->render(msgs, false).text ==
        "<|user|>q1<|assistant|><think></think>a1<|user|>q2<|assistant|><think>r2</think>a2");
  CHECK(glm->render(msgs, false, true).text ==
        "<|user|>q1<|assistant|><think>r1</think>a1<|user|>q2<|assistant|><think>r2</think>a2");
  auto p = glm->parse_completion("\n<think>why</think>\nbecause");
  CHECK((p.ok && p.reasoning == "why" && p.answer == "because"));
  // A template without a reasoning format: delib's <think> block before the answer.
  auto plain = ChatTemplate::from_template(
      "{% for m in messages %}[{{ m.role }}]{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}");
  Rendered r = plain->render(msgs, false, true);
  CHECK(r.text == "[user]q1</s>[assistant]<think>\nr1\n</think>\n\na1</s>[user]q2</s>[assistant]<think>\nr2\n</think>\n\na2</s>");
  const auto& last = r.spans.back();
  auto parsed = plain->parse_completion(slice(r.text, last.target_begin, last.target_end));
  CHECK((parsed.ok && parsed.reasoning == "r2" && parsed.answer == "a2"));
  // Seed-OSS's tags.
  auto seed = ChatTemplate::from_template(
      "{% for m in messages %}<seed:bos>{{ m.role }}{% if m.reasoning_content %}\n<seed:think>{{ m.reasoning_content }}"
      "</seed:think>{% endif %}\n{{ m.content }}<seed:eos>{% endfor %}");
  auto sp = seed->parse_completion("<seed:think>hmm</seed:think>\nyes<seed:eos>");
  CHECK((sp.ok && sp.reasoning == "hmm" && sp.answer == "yes"));
}

TEST_CASE("Gemma 4 and Command-R7B templates: reasoning in their own tags, both ways", "[chat][engine]") {
  // Before, both fell back to delib's <think> convention: their models' real output
  // ("<|channel>thought\n...<channel|>", "<|START_THINKING|>...<|END_THINKING|>") parsed as one
  // answer with the reasoning inside it.
  std::vector<Message> msgs = {{"user", "q", "", ""}, {"assistant", "a", "r", ""}};
  auto gemma = ChatTemplate::from_path(delib_test::shared_path("data/chat-templates/gemma4.jinja"));
  auto g = gemma->parse_completion("<|channel>thought\nwhy<channel|>because<turn|>");
  CHECK((g.ok && g.reasoning == "why" && g.answer == "because"));
  Rendered gr = gemma->render(msgs, false, true);
  CHECK(slice(gr.text, gr.spans.back().target_begin, gr.spans.back().target_end) ==
        "<|channel>thought\nr<channel|>a<turn|>");
  delib::ChatOptions eos;
  eos.eos_token = "<|END_OF_TURN_TOKEN|>";
  auto cohere = ChatTemplate::from_path(
      delib_test::shared_path("data/chat-templates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja"), eos);
  // A server that stops at the eos token leaves the response wrapper's close in the text.
  auto c = cohere->parse_completion("<|START_THINKING|>why<|END_THINKING|><|START_RESPONSE|>because<|END_RESPONSE|>");
  CHECK((c.ok && c.reasoning == "why" && c.answer == "because"));
  Rendered cr = cohere->render(msgs, false, true);
  std::string target;
  for (const auto& span : cr.spans)
    if (span.message_index == 1) target = slice(cr.text, span.target_begin, span.target_end);
  auto back = cohere->parse_completion(target);
  INFO(target << " -> " << back.reasoning << " | " << back.answer);
  CHECK((back.ok && back.reasoning == "r" && back.answer == "a"));
  CHECK(cr.text.find("<|START_THINKING|>r<|END_THINKING|><|START_RESPONSE|>a") != std::string::npos);
}

TEST_CASE("template errors name the template and line, and carry no record location", "[chat][engine]") {
  std::string path = write_temp("raise.jinja",
                                "{% for m in messages %}\n{% if m.role == 'tool' %}\n"
                                "{{ raise_exception('no tool turns') }}\n{% endif %}{{ m.content }}{% endfor %}");
  auto t = ChatTemplate::from_path(path);
  CHECK(t->render({{"user", "ok", "", ""}}, false).text == "ok");
  try {
    t->render({{"user", "ok", "", ""}, {"tool", "x", "", ""}}, false);
    FAIL("no error");
  } catch (const delib::Error& e) {
    CHECK(e.where().file.empty());
    CHECK(std::string(e.what()) == "chat template " + path + ":3: TemplateError: no tool turns");
  }
  std::string bad = write_temp("bad.jinja", "line 1\n{{ messages[0].content\n");
  try {
    ChatTemplate::from_path(bad);
    FAIL("no error");
  } catch (const delib::Error& e) {
    CHECK(e.where().file == bad);
    CHECK(e.where().line == 2);
  }
  // transformers passes tools=None: a template iterating `tools` whenever it is defined fails,
  // in transformers and here (the llama.cpp Phi-4-mini rewrite does that).
  auto phi = ChatTemplate::from_template("{% if tools is defined %}{% for t in tools %}{% endfor %}{% endif %}x");
  CHECK_THROWS_WITH(phi->render({{"user", "u", "", ""}}, false),
                    Catch::Contains("TypeError: 'NoneType' object is not iterable"));
}
