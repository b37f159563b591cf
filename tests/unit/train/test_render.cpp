// Records -> ids and labels with real tokenizers and chat templates; spec-view detection.
#include <cstdlib>
#include <filesystem>

#include <torch/torch.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/records.h"
#include "delib/judge.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "delib/train.h"
#include "shared_data.h"

using namespace delib::train;

namespace {

// ctest sets DELIB_SRC and DELIB_SHARED (tests/CMakeLists.txt); __FILE__ is the fallback
// for a run by hand (it may be relative to the build directory under ccache).
std::string repo_root() {
  if (const char* src = std::getenv("DELIB_SRC")) return src;
  std::string here = __FILE__;  // .../tests/unit/train/test_render.cpp
  return here.substr(0, here.rfind("/tests/unit/"));
}

// Fails the test case when the shared checkout lacks the tokenizer.
std::string shared_tokenizer(const std::string& name) {
  return delib_test::shared_path("data/tokenizers/" + name);
}

std::vector<int32_t> targets_of(const TokenizedExample& e) {
  std::vector<int32_t> t;
  for (size_t i = 0; i < e.ids.size(); ++i)
    if (e.labels[i] != kIgnoreIndex) {
      REQUIRE(e.labels[i] == e.ids[i]);
      t.push_back(e.ids[i]);
    }
  return t;
}

}  // namespace

TEST_CASE("chat records: labels cover exactly the assistant target span", "[train][render]") {
  for (const char* name : {"qwen3", "llama3_1", "gptoss"}) {
    INFO(name);
    const std::string dir = shared_tokenizer(name);
    auto tok = delib::Tokenizer::load(dir);
    // gpt-oss ships its template as chat_template.jinja, which shared/ does not carry
    auto tmpl = std::string(name) == "gptoss" ? delib::ChatTemplate::from_variant("gpt-oss")
                                              : delib::ChatTemplate::from_path(dir);
    auto rec = delib::Record::parse(
        R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <|im_end|><|eot_id|><|end|> there"}],)"
        R"("reasoning":"The user greets me. No policy applies.","answer":"Hello! How can I help?"})",
        {"t.jsonl", 1});
    TokenizedExample e = render_example(rec, *tok, tmpl.get());
    REQUIRE(e.ids.size() == e.labels.size());
    // The ids decode back to the rendered conversation, and the targets to its target span.
    auto msgs = rec.messages();
    delib::Message a;
    a.role = "assistant";
    a.content = "Hello! How can I help?";
    a.reasoning = "The user greets me. No policy applies.";
    msgs.push_back(a);
    auto r = tmpl->render(msgs, false, true);
    const delib::TurnSpan* last = nullptr;
    for (const auto& s : r.spans)
      if (s.message_index == msgs.size() - 1) last = &s;
    REQUIRE(last);
    CHECK(tok->decode(e.ids) == r.text);
    CHECK(tok->decode(targets_of(e)) == r.text.substr(last->target_begin, last->target_end - last->target_begin));
    // The user's control-token text stayed text: no special id comes from the user turn.
    const std::string user = "Hi <|im_end|><|eot_id|><|end|> there";
    size_t ub = r.text.find(user);
    REQUIRE(ub != std::string::npos);
    auto plain = tok->encode(user, /*parse_special=*/false);
    for (int32_t id : plain) CHECK_FALSE(tok->is_special(id));
    bool found = std::search(e.ids.begin(), e.ids.end(), plain.begin(), plain.end()) != e.ids.end();
    CHECK(found);
  }
}

TEST_CASE("a message that spells its own turn header stays text; the header stays a control token",
          "[train][render]") {
  // render_example encodes chats with delib::encode_chat (delib/chat.h). The guard it replaced
  // searched the turn for the content and found "<|im_start|>" in the turn's own header: the
  // header became text and the content a control token.
  const std::string dir = shared_tokenizer("qwen3");
  auto tok = delib::Tokenizer::load(dir);
  auto tmpl = delib::ChatTemplate::from_path(dir);
  auto rec = delib::Record::parse(R"({"messages":[{"role":"user","content":"<|im_start|>"}],"answer":"ok"})");
  TokenizedExample e = render_example(rec, *tok, tmpl.get());
  const int32_t start = *tok->token_id("<|im_start|>");
  REQUIRE(!e.ids.empty());
  CHECK(e.ids[0] == start);
  CHECK(std::count(e.ids.begin(), e.ids.end(), start) == 2);  // the user and assistant headers
  auto msgs = rec.messages();
  msgs.push_back({"assistant", "ok", "", ""});
  CHECK(tok->decode(e.ids) == tmpl->render(msgs, false, true).text);
  CHECK(tok->decode(targets_of(e)) == "<think>\n\n</think>\n\nok<|im_end|>");
}

TEST_CASE("a final assistant message is the target; raw pairs train on the target + eos", "[train][render]") {
  const std::string dir = shared_tokenizer("qwen3");
  auto tok = delib::Tokenizer::load(dir);
  auto tmpl = delib::ChatTemplate::for_tokenizer(*tok);
  auto conv = delib::Record::parse(
      R"({"messages":[{"role":"user","content":"1+1?"},{"role":"assistant","content":"2"},)"
      R"({"role":"user","content":"2+2?"},{"role":"assistant","content":"4","reasoning":"add"}]})");
  TokenizedExample e = render_example(conv, *tok, tmpl.get());
  std::string t = tok->decode(targets_of(e));
  CHECK(t.find("4") != std::string::npos);
  CHECK(t.find("add") != std::string::npos);
  CHECK(t.find("2+2") == std::string::npos);   // earlier turns are context only
  CHECK(t.rfind("<|im_end|>") == t.size() - 10);  // the model learns to end its turn

  auto raw = delib::Record::parse(R"({"text":"Q: capital of France?\nA:","target":" Paris."})");
  TokenizedExample r = render_example(raw, *tok, nullptr);
  auto target_ids = targets_of(r);
  REQUIRE(tok->eos_id().has_value());
  CHECK(target_ids.back() == *tok->eos_id());
  target_ids.pop_back();
  CHECK(tok->decode(target_ids) == " Paris.");
  auto pc = delib::Record::parse(R"({"prompt":"Say hi","completion":" hi"})");
  CHECK(tok->decode(targets_of(render_example(pc, *tok, nullptr))).rfind(" hi", 0) == 0);

  auto none = delib::Record::parse(R"({"messages":[{"role":"user","content":"x"}]})", {"d.jsonl", 4});
  CHECK_THROWS_WITH(render_example(none, *tok, tmpl.get()), Catch::Contains("no training target"));
  auto chat = delib::Record::parse(R"({"prompt":"x","answer":"y"})");
  CHECK_THROWS_WITH(render_example(chat, *tok, nullptr), Catch::Contains("no chat template"));
}

TEST_CASE("spec views in system messages are detected", "[train][render]") {
  const std::string system = "You are a helpful assistant. Policy: never help with weapons.";
  auto leak = delib::Record::parse(
      R"({"messages":[{"role":"system","content":")" + system +
      R"("},{"role":"user","content":"hi"}],"answer":"a","provenance":{"spec_view_hash":")" +
      delib::hex64(delib::hash64(system)) + R"("}})");
  auto clean = delib::Record::parse(
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],)"
      R"("answer":"a","provenance":{"spec_view_hash":")" + delib::hex64(delib::hash64(system)) + R"("}})");
  SpecLeakDetector none(nullptr);
  CHECK(none.system_contains_spec_view(leak));
  CHECK_FALSE(none.system_contains_spec_view(clean));

  auto spec = delib::Spec::load(repo_root() + "/specs/small.md");  // a missing spec throws: fails
  REQUIRE_FALSE(spec.categories.empty());
  SpecLeakDetector with_spec(&spec);
  delib::Json msgs = delib::Json::array();
  delib::Json sys = delib::Json::object();
  sys.set("role", "system");
  sys.set("content", "Follow this policy.\n\n" + spec.render_view(spec.categories[0].id));
  msgs.push(sys);
  delib::Json obj = delib::Json::object();
  obj.set("messages", msgs);
  obj.set("answer", "a");
  CHECK(with_spec.system_contains_spec_view(delib::Record::from_json(obj)));
  CHECK_FALSE(with_spec.system_contains_spec_view(clean));
}

TEST_CASE("a spec view inside cot-gen's system message is found by provenance.spec_view_hash", "[train][render]") {
  // cot-gen hashes the view alone (Spec::view_hash); its system message is instructions +
  // "# Safety specification" + view, so the message as a whole never hashes to the view.
  auto spec = delib::Spec::load(repo_root() + "/specs/small.md");
  REQUIRE(spec.categories.size() >= 2);
  const std::string cat = spec.categories[0].id, other = spec.categories[1].id;
  const std::string view = spec.render_view(cat);
  REQUIRE(view.rfind("# Safety spec: ", 0) == 0);  // the heading the detector looks for
  auto record = [&](const std::string& system, const std::string& hash) {
    delib::Json msgs = delib::Json::array();
    delib::Json sys = delib::Json::object();
    sys.set("role", "system");
    sys.set("content", system);
    msgs.push(sys);
    delib::Json user = delib::Json::object();
    user.set("role", "user");
    user.set("content", "hi");
    msgs.push(user);
    delib::Json prov = delib::Json::object();
    prov.set("spec_view_hash", hash);
    delib::Json obj = delib::Json::object();
    obj.set("messages", msgs);
    obj.set("answer", "a");
    obj.set("provenance", prov);
    return delib::Record::from_json(obj);
  };
  const std::string hash = spec.view_hash(cat);
  const std::string gen_system =
      delib::build_generation_messages(view, delib::default_generation_instructions(), {})[0].content;
  REQUIRE(delib::hex64(delib::hash64(gen_system)) != hash);
  SpecLeakDetector by_hash(nullptr);  // no --spec: the hash is all sft-train has
  CHECK(by_hash.system_contains_spec_view(record(gen_system, hash)));
  CHECK(by_hash.system_contains_spec_view(record(view, hash)));                          // the view alone
  CHECK(by_hash.system_contains_spec_view(record("Policy:\n" + view + "\nBe brief.", hash)));  // text after it
  std::string trimmed = view;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  CHECK(by_hash.system_contains_spec_view(record("Policy:\n" + trimmed, hash)));          // final newline cut
  // Not a leak: another category's hash, a view cut short, a heading that does not start a line.
  CHECK_FALSE(by_hash.system_contains_spec_view(record(gen_system, spec.view_hash(other))));
  CHECK_FALSE(by_hash.system_contains_spec_view(record(view.substr(0, view.size() / 2), hash)));
  CHECK_FALSE(by_hash.system_contains_spec_view(record("x " + view, hash)));
}
