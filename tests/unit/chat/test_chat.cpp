// Unit tests for delib/chat.h: template recognition, turn spans, parse_completion, and the
// behaviours each family's template defines. Byte-exact agreement with transformers is
// checked by tests/reference/test_chat_templates.py; these tests check the contracts.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "delib/chat.h"
#include "delib/error.h"
#include "shared_data.h"

using delib::ChatFamily;
using delib::ChatTemplate;
using delib::Message;

namespace {

// Fails the test case when the shared checkout lacks the tokenizer.
std::string shared_tokenizer(const std::string& name) {
  return delib_test::shared_path("data/tokenizers/" + name);
}

const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

const char* kChatMLDefaultSystem =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' }}{% endif %}";

std::vector<Message> conversation() {
  return {
      {"system", "You are careful.", "", ""},
      {"user", "What is 2+2?", "", ""},
      {"assistant", "4", "Add two and two.", ""},
      {"user", "And 3+3? Ünïcödé 👋🏽", "", ""},
      {"assistant", "6", "Three plus three\nis six.", ""},
  };
}

std::vector<std::unique_ptr<ChatTemplate>> all_templates() {
  std::vector<std::unique_ptr<ChatTemplate>> out;
  out.push_back(ChatTemplate::from_path(shared_tokenizer("qwen3")));
  out.push_back(ChatTemplate::from_path(shared_tokenizer("llama3_1")));
  for (const char* v : {"llama3.1", "llama3.2", "gpt-oss", "chatml", "qwen2.5"})
    out.push_back(ChatTemplate::from_variant(v));
  out.push_back(ChatTemplate::from_template(kChatMLDefaultSystem));
  return out;
}

std::string slice(const std::string& s, size_t b, size_t e) { return s.substr(b, e - b); }

// The contract of TurnSpan: spans tile the text, one span per message, the generation prompt
// last, and every assistant target is exactly what follows the generation prompt.
void check_spans(const ChatTemplate& t, const std::vector<Message>& msgs, bool gen, bool keep) {
  INFO("template " << t.variant() << " gen=" << gen << " keep=" << keep);
  auto r = t.render(msgs, gen, keep);
  size_t pos = 0;
  std::vector<int> seen(msgs.size() + 1, 0);
  for (const auto& s : r.spans) {
    REQUIRE(s.begin == pos);
    REQUIRE(s.end >= s.begin);
    pos = s.end;
    if (s.message_index == delib::kTemplateText) continue;
    REQUIRE(s.message_index <= msgs.size());
    ++seen[s.message_index];
    if (s.message_index == msgs.size()) {
      CHECK(slice(r.text, s.begin, s.end) == t.generation_prompt());
      continue;
    }
    const Message& m = msgs[s.message_index];
    CHECK(s.role == m.role);
    if (m.role == "assistant") {
      REQUIRE(s.begin <= s.target_begin);
      REQUIRE(s.target_begin < s.target_end);
      REQUIRE(s.target_end <= s.end);
      // What precedes the target is the generation prompt (the model produces the target).
      std::string before = r.text.substr(0, s.target_begin);
      std::string prompt = t.generation_prompt();
      CHECK(before.substr(before.size() - std::min(before.size(), prompt.size())) == prompt);
      std::string target = slice(r.text, s.target_begin, s.target_end);
      CHECK(target.find(m.content) != std::string::npos);
      bool ends_with_stop = false;
      for (const char* eot : {"<|im_end|>", "<|eot_id|>", "<|end|>", "<|return|>"})
        ends_with_stop |= target.size() >= strlen(eot) &&
                          target.compare(target.size() - strlen(eot), std::string::npos, eot) == 0;
      CHECK(ends_with_stop);
    } else {
      CHECK(s.target_begin == s.target_end);
      if (m.role == "user") CHECK(slice(r.text, s.begin, s.end).find(m.content) != std::string::npos);
    }
  }
  CHECK(pos == r.text.size());
  for (size_t i = 0; i < msgs.size(); ++i) CHECK(seen[i] == 1);
  CHECK(seen[msgs.size()] == (gen ? 1 : 0));
}

}  // namespace

TEST_CASE("shared templates are recognised", "[chat]") {
  auto qwen = ChatTemplate::from_path(shared_tokenizer("qwen3"));
  CHECK(qwen->family() == ChatFamily::kQwen3);
  auto llama = ChatTemplate::from_path(shared_tokenizer("llama3_1"));
  CHECK(llama->family() == ChatFamily::kLlama3);
  CHECK(llama->variant() == "llama3");
  CHECK(std::string(delib::chat_family_name(ChatFamily::kGptOss)) == "gpt-oss");
}

TEST_CASE("a model directory without a chat template is an error", "[chat]") {
  CHECK_THROWS_AS(ChatTemplate::from_path(shared_tokenizer("gptoss")), delib::Error);
  CHECK_THROWS_AS(ChatTemplate::from_path("/nonexistent/dir/tokenizer_config.json"), delib::Error);
}

TEST_CASE("every template renders; an empty one or a syntax error is an error", "[chat]") {
  CHECK_THROWS_AS(ChatTemplate::from_template(""), delib::Error);
  // Templates that no built-in format matches render as transformers renders them (the
  // reference test checks byte equality on real templates; these are small enough to read).
  CHECK(ChatTemplate::from_template("{{ messages[0]['content'] }}")->render({{"user", "hi", "", ""}}, false).text == "hi");
  delib::ChatOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  auto mistral = ChatTemplate::from_template(
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}"
      "{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
      o);
  CHECK(mistral->family() == ChatFamily::kOther);
  auto r = mistral->render({{"user", "q", "", ""}, {"assistant", "a", "", ""}}, false);
  CHECK(r.text == "<s>[INST] q [/INST]a</s>");
  CHECK(mistral->stop_strings() == std::vector<std::string>{"</s>"});
  // Edits of a known template render with the edit (they used to be refused).
  std::string text = delib::read_chat_template(shared_tokenizer("qwen3"));
  std::string edited = text;
  size_t p = edited.rfind("{{- '<|im_start|>assistant\\n' }}");
  REQUIRE(p != std::string::npos);
  edited.insert(p + std::string("{{- '<|im_start|>assistant\\n' }}").size(), "{{- '<think>\\n' }}");
  auto thinking = ChatTemplate::from_template(edited);
  CHECK(thinking->generation_prompt() == "<|im_start|>assistant\n<think>\n");
  CHECK(thinking->render({{"user", "q", "", ""}}, true).text == "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n");
  CHECK_THROWS_AS(ChatTemplate::from_variant("mistral"), delib::Error);
  // A syntax error names the template line.
  try {
    ChatTemplate::from_template("{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n{% if %}");
    FAIL("no error");
  } catch (const delib::Error& e) {
    CHECK(e.where().line == 4);
    CHECK(std::string(e.what()).find("Expected an expression") != std::string::npos);
  }
}

TEST_CASE("rendered whitespace follows jinja2's whitespace control", "[chat]") {
  // A newline after an expression tag is kept (trim_blocks applies to statements only).
  std::string loose = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}\n{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
          "{% endif %}";
  CHECK(ChatTemplate::from_template(loose)->render({{"user", "a", "", ""}}, false).text == "<|im_start|>user\na<|im_end|>\n\n");
  // The same newline after a statement tag is removed by trim_blocks: ChatML exactly.
  std::string trimmed =
      "{% for message in messages %}\n{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
      "'<|im_end|>' + '\n'}}{% endfor %}\n{% if add_generation_prompt %}\n{{ '<|im_start|>assistant\n' }}"
      "{% endif %}\n{# a comment #}";
  auto t = ChatTemplate::from_template(trimmed);
  CHECK(t->family() == ChatFamily::kChatML);
  CHECK(t->render({{"user", "a", "", ""}}, true).text == "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("ChatML templates in any layout render alike, with or without a default system", "[chat]") {
  auto plain = ChatTemplate::from_template(kChatML);
  CHECK(plain->family() == ChatFamily::kChatML);
  CHECK(plain->variant() == "chatml");
  std::string relaid =
      "{%- for message in messages -%}\n  {{- \"<|im_start|>\" + message.role + \"\\n\" + "
      "message.content + \"<|im_end|>\\n\" -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
      "  {{- \"<|im_start|>assistant\\n\" -}}\n{%- endif -%}\n";
  auto msgs = conversation();
  CHECK(ChatTemplate::from_template(relaid)->render(msgs, true).text == plain->render(msgs, true).text);

  auto smol = ChatTemplate::from_template(kChatMLDefaultSystem);
  CHECK(smol->variant() == "chatml");
  auto r = smol->render({{"user", "hi", "", ""}}, true);
  CHECK(r.text.rfind("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                     "Hugging Face<|im_end|>\n", 0) == 0);
  // The default system prompt is written in the first message's loop iteration: its span.
  CHECK(r.spans.front().message_index == 0);
  CHECK(r.spans.front().begin == 0);
  auto with_system = smol->render({{"system", "S", "", ""}, {"user", "hi", "", ""}}, false);
  CHECK(with_system.text.find("SmolLM") == std::string::npos);
}

TEST_CASE("spans tile the text and targets are what the model produces", "[chat][spans]") {
  auto msgs = conversation();
  std::vector<Message> no_system(msgs.begin() + 1, msgs.end());
  std::vector<Message> ends_with_user(msgs.begin(), msgs.end() - 1);
  for (const auto& t : all_templates()) {
    for (bool keep : {false, true}) {
      check_spans(*t, msgs, false, keep);
      check_spans(*t, no_system, false, keep);
      check_spans(*t, ends_with_user, true, keep);
    }
  }
}

TEST_CASE("the training target of the last turn parses back into reasoning and answer",
          "[chat][parse]") {
  auto msgs = conversation();
  for (const auto& t : all_templates()) {
    INFO(t->variant());
    // Qwen3 and gpt-oss keep the last turn's reasoning by themselves; Llama/ChatML need
    // keep_reasoning (delib's <think> convention).
    bool native = t->family() == ChatFamily::kQwen3 || t->family() == ChatFamily::kGptOss;
    auto r = t->render(msgs, false, !native);
    const auto& last = r.spans.back();
    REQUIRE(last.message_index == msgs.size() - 1);
    auto parsed = t->parse_completion(slice(r.text, last.target_begin, last.target_end));
    CHECK(parsed.ok);
    CHECK(parsed.reasoning == msgs.back().reasoning);
    CHECK(parsed.answer == msgs.back().content);
  }
}

TEST_CASE("Qwen3 keeps reasoning only after the last user query", "[chat][qwen3]") {
  auto t = ChatTemplate::from_path(shared_tokenizer("qwen3"));
  auto msgs = conversation();
  auto r = t->render(msgs, false);
  CHECK(r.text.find("Add two and two.") == std::string::npos);  // earlier turn: dropped
  CHECK(r.text.find("<think>\nThree plus three\nis six.\n</think>\n\n6<|im_end|>") != std::string::npos);
  auto kept = t->render(msgs, false, /*keep_reasoning=*/true);
  CHECK(kept.text.find("<think>\nAdd two and two.\n</think>\n\n4<|im_end|>") != std::string::npos);
  // A user turn that is only a tool response does not count as the last query.
  std::vector<Message> tool_loop = {
      {"user", "q", "", ""},
      {"assistant", "calling", "r1", ""},
      {"user", "<tool_response>\nok\n</tool_response>", "", ""},
      {"assistant", "done", "r2", ""},
  };
  auto tr = t->render(tool_loop, false);
  CHECK(tr.text.find("<think>\nr1\n</think>") != std::string::npos);
  CHECK(tr.text.find("<think>\nr2\n</think>") != std::string::npos);
  // Consecutive tool turns share one user turn.
  std::vector<Message> tools = {{"user", "q", "", ""},
                                {"assistant", "", "", ""},
                                {"tool", "a", "", ""},
                                {"tool", "b", "", ""}};
  auto tt = t->render(tools, true);
  CHECK(tt.text.find("<|im_start|>user\n<tool_response>\na\n</tool_response>\n<tool_response>\nb\n"
                     "</tool_response><|im_end|>\n<|im_start|>assistant\n") != std::string::npos);
  delib::ChatOptions no_think;
  no_think.enable_thinking = false;
  auto nt = ChatTemplate::from_template(delib::read_chat_template(shared_tokenizer("qwen3")), no_think);
  CHECK(nt->generation_prompt() == "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_CASE("Llama 3.1 inserts the dated system header; date_string replaces the date",
          "[chat][llama3]") {
  auto t = ChatTemplate::from_variant("llama3.1");
  auto r = t->render({{"user", "  hi\u3000", "", ""}}, true);
  CHECK(r.text.rfind("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting "
                     "Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>", 0) == 0);
  CHECK(r.text.find("\n\nhi<|eot_id|>") != std::string::npos);  // |trim strips U+3000 too
  delib::ChatOptions o;
  o.date_string = "05 Mar 2025";
  auto dated = ChatTemplate::from_variant("llama3.1", o)->render({{"user", "hi", "", ""}}, true);
  CHECK(dated.text.find("Today Date: 05 Mar 2025\n\n") != std::string::npos);
  // Tool results are JSON strings under the ipython header.
  auto tool = t->render({{"user", "q", "", ""}, {"tool", "a\"b\n\x01", "", ""}}, false);
  CHECK(tool.text.find("<|start_header_id|>ipython<|end_header_id|>\n\n\"a\\\"b\\n\\u0001\"<|eot_id|>") !=
        std::string::npos);
  // Reasoning is not part of any Llama 3 template.
  auto msgs = conversation();
  CHECK(t->render(msgs, false).text.find("Three plus three") == std::string::npos);
}

TEST_CASE("gpt-oss renders harmony channels", "[chat][gpt-oss]") {
  delib::ChatOptions o;
  o.current_date = "2025-08-05";
  o.reasoning_effort = "high";
  auto t = ChatTemplate::from_variant("gpt-oss", o);
  auto msgs = conversation();
  auto train = t->render(msgs, false);
  CHECK(train.text.rfind("<|start|>system<|message|>You are ChatGPT, a large language model "
                         "trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\n"
                         "Reasoning: high\n\n",
                         0) == 0);
  CHECK(train.text.find("<|start|>developer<|message|># Instructions\n\nYou are careful.\n\n<|end|>") !=
        std::string::npos);
  CHECK(train.text.find("Add two and two.") == std::string::npos);  // earlier analysis dropped
  CHECK(train.text.find("<|start|>assistant<|channel|>analysis<|message|>Three plus three\nis six."
                        "<|end|><|start|>assistant<|channel|>final<|message|>6<|return|>") !=
        std::string::npos);
  // With a generation prompt the last assistant turn is history: no analysis, <|end|>.
  auto infer = t->render(msgs, true);
  CHECK(infer.text.find("Three plus three") == std::string::npos);
  CHECK(infer.text.find("<|channel|>final<|message|>6<|end|><|start|>assistant") != std::string::npos);
  CHECK_THROWS_AS(t->render({{"user", "q", "", ""}, {"tool", "x", "", ""}}, true), delib::Error);
  CHECK_THROWS_AS(
      t->render({{"user", "q", "", ""}, {"assistant", "<|channel|>final<|message|>x", "", ""}}, false),
      delib::Error);
}

TEST_CASE("parse_completion splits each family's completions", "[chat][parse]") {
  auto qwen = ChatTemplate::from_path(shared_tokenizer("qwen3"));
  auto p = qwen->parse_completion("<think>\nstep 1\nstep 2\n</think>\n\nThe answer.<|im_end|>");
  CHECK(p.ok);
  CHECK(p.reasoning == "step 1\nstep 2");
  CHECK(p.answer == "The answer.");
  p = qwen->parse_completion("<think>\nstill thinking");
  CHECK_FALSE(p.ok);
  CHECK(p.reasoning == "still thinking");
  p = qwen->parse_completion("Just an answer.");
  CHECK(p.ok);
  CHECK(p.reasoning.empty());
  CHECK(p.answer == "Just an answer.");
  p = qwen->parse_completion("reasoning without opening tag\n</think>\n\nA");  // opened in the prompt
  CHECK(p.ok);
  CHECK(p.reasoning == "reasoning without opening tag");
  CHECK(p.answer == "A");

  auto llama = ChatTemplate::from_variant("llama3.1");
  p = llama->parse_completion("<think>\nR\n</think>\n\nA<|eot_id|>");
  CHECK((p.ok && p.reasoning == "R" && p.answer == "A"));

  auto oss = ChatTemplate::from_variant("gpt-oss");
  p = oss->parse_completion(
      "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>");
  CHECK((p.ok && p.reasoning == "Think." && p.answer == "Done."));
  p = oss->parse_completion("<|channel|>final<|message|>Only final");
  CHECK((p.ok && p.reasoning.empty() && p.answer == "Only final"));
  p = oss->parse_completion("<|channel|>analysis<|message|>cut off mid-thou");
  CHECK_FALSE(p.ok);
  CHECK(p.reasoning == "cut off mid-thou");
  p = oss->parse_completion(
      "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant to=functions.get_weather"
      "<|channel|>commentary json<|message|>{\"city\":\"Paris\"}<|call|>");
  CHECK_FALSE(p.ok);
  CHECK(p.reasoning == "Need weather.");
  p = oss->parse_completion("plain text, not harmony");
  CHECK_FALSE(p.ok);
}

TEST_CASE("stop strings end the assistant turn of each family", "[chat]") {
  for (const auto& t : all_templates()) {
    auto stops = t->stop_strings();
    REQUIRE_FALSE(stops.empty());
    // The rendered history of an assistant turn ends with one of the stop strings, except
    // gpt-oss, whose history turns end with <|end|> (the model stops at <|return|>).
    auto r = t->render({{"user", "q", "", ""}, {"assistant", "a", "", ""}}, false);
    const auto& s = r.spans.back();
    std::string target = slice(r.text, s.target_begin, s.target_end);
    bool found = false;
    for (auto& stop : stops) found |= target.size() >= stop.size() &&
                                       target.compare(target.size() - stop.size(), std::string::npos, stop) == 0;
    CHECK(found);
  }
}

TEST_CASE("python_json_string matches json.dumps(ensure_ascii=False)", "[chat]") {
  CHECK(delib::python_json_string("a\"b\\c\n\r\t\b\f\x1f\x7f é 👋") ==
        "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u001f\x7f é 👋\"");
}

TEST_CASE("the training prefix of the last assistant turn is the inference prompt", "[chat][spans]") {
  // What the model sees before its target when training equals what it is prompted with at
  // inference: render(messages)[0, target_begin) == render(messages[:-1], gen=true).
  auto msgs = conversation();
  std::vector<Message> head(msgs.begin(), msgs.end() - 1);
  for (const auto& t : all_templates()) {
    INFO(t->variant());
    auto full = t->render(msgs, false);
    auto prompt = t->render(head, true);
    CHECK(full.text.substr(0, full.spans.back().target_begin) == prompt.text);
  }
}
