// chat-render's run (delib/chat.h run_chat_render): records -> rendered chats with their spans,
// or completions -> reasoning and answer.
#include <set>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/progress.h"
#include "delib/records.h"

namespace delib {
namespace {

std::unique_ptr<ChatTemplate> load_template(const ChatRenderOptions& o) {
  if (o.tokenizer.empty() && o.template_file.empty() && o.format.empty())
    throw Error("one of --tokenizer, --chat-template or --format is required", kExitUsage);
  ChatOptions opt = o.chat;
  if (!o.template_kwargs.empty()) {
    Json kw;
    try {
      kw = Json::parse(o.template_kwargs);
    } catch (const Error& e) {
      throw Error(std::string("--template-kwargs: ") + e.what(), kExitUsage);
    }
    if (!kw.is_object()) throw Error("--template-kwargs: expected a JSON object", kExitUsage);
    opt.kwargs = std::move(kw);
  }
  if (!o.format.empty()) {
    if (!o.tokenizer.empty() && !opt.bos_token) {
      // --tokenizer with --format: the format's template, the model's bos_token.
      std::string bos;
      try {
        read_chat_template(o.tokenizer, &bos);
      } catch (const Error&) {
      }
      if (!bos.empty()) opt.bos_token = bos;
    }
    return ChatTemplate::from_variant(o.format, opt);
  }
  return ChatTemplate::from_path(o.tokenizer.empty() ? o.template_file : o.tokenizer, opt);
}

void print_detect(const ChatTemplate& chat) {
  Json o = Json::object();
  o.set("family", chat_family_name(chat.family()));
  o.set("variant", chat.variant());
  o.set("generation_prompt", chat.generation_prompt());
  Json stops = Json::array();
  for (auto& s : chat.stop_strings()) stops.push(s);
  o.set("stop_strings", std::move(stops));
  fmt::print("{}\n", o.dump());
}

Json spans_json(const std::vector<TurnSpan>& spans) {
  Json a = Json::array();
  for (const auto& s : spans) {
    Json o = Json::object();
    o.set("message", s.message_index == kTemplateText ? Json() : Json(s.message_index));
    o.set("role", s.role);
    o.set("begin", s.begin);
    o.set("end", s.end);
    if (s.target_end > s.target_begin) {
      o.set("target_begin", s.target_begin);
      o.set("target_end", s.target_end);
    }
    a.push(std::move(o));
  }
  return a;
}

// The apply_chat_template arguments a record carries.
ChatRequest request_of(const Record& rec, const ChatRenderOptions& o) {
  ChatRequest r;
  r.add_generation_prompt = o.add_generation_prompt;
  r.keep_reasoning = o.keep_reasoning;
  if (auto m = rec.get("messages"); m && !m->is_null()) {
    if (!m->is_array()) throw Error(rec.where(), "field 'messages': expected an array of message objects");
    if (m->as_array().empty()) throw Error(rec.where(), "field 'messages': empty conversation");
    for (size_t i = 0; i < m->as_array().size(); ++i) {
      const Json& msg = m->as_array()[i];
      const Json* role = msg.is_object() ? msg.find("role") : nullptr;
      if (!role || !role->is_string())
        throw Error(rec.where(), fmt::format("field 'messages[{}].role': missing or not a string", i));
    }
    r.messages = std::move(*m);
  } else if (auto p = rec.get_string("prompt")) {
    Json user = Json::object();
    user.set("role", "user");
    user.set("content", *p);
    r.messages = Json::array();
    r.messages.push(std::move(user));
  } else {
    throw Error(rec.where(), "record has neither 'messages' nor 'prompt'");
  }
  for (const char* k : {"tools", "documents"})
    if (auto v = rec.get(k); v && !v->is_null()) {
      if (!v->is_array()) throw Error(rec.where(), fmt::format("field '{}': expected an array", k));
      (std::string(k) == "tools" ? r.tools : r.documents) = std::move(*v);
    }
  if (auto kw = rec.get("chat_template_kwargs"); kw && !kw->is_null()) {
    if (!kw->is_object()) throw Error(rec.where(), "field 'chat_template_kwargs': expected an object");
    r.kwargs = std::move(*kw);
  }
  return r;
}

bool has_content(const Json& message) {
  const Json* c = message.find("content");
  return c && !c->is_null() && !(c->is_string() && c->as_string().empty());
}

}  // namespace

int run_chat_render(const ChatRenderOptions& o) {
  auto chat = load_template(o);
  if (o.detect) {
    print_detect(*chat);
    return kExitOk;
  }
  RecordReader reader(o.inputs, o.read);
  std::unique_ptr<RecordWriter> writer;
  if (!o.raw) writer = std::make_unique<RecordWriter>(o.output, o.write);
  Progress progress("records", -1, o.progress);
  Record rec;
  bool first = true;
  std::set<std::string> silent_roles;
  while (reader.next(rec)) {
    progress.add();
    if (!o.parse_field.empty()) {
      auto completion = rec.get_string(o.parse_field);
      if (!completion) throw Error(rec.where(), "field '" + o.parse_field + "': missing");
      auto p = chat->parse_completion(*completion);
      rec.set("reasoning", p.reasoning);
      rec.set("answer", p.answer);
      rec.set("parse_ok", p.ok);
      writer->write(rec);
      continue;
    }
    ChatRequest req = request_of(rec, o);
    Rendered out;
    try {
      out = chat->render_request(req);
    } catch (const Error& e) {
      if (!e.where().file.empty()) throw;
      throw Error(rec.where(), e.what(), e.exit_code());
    }
    // A turn the template renders as nothing (e.g. `developer` in Qwen3's template) is what
    // transformers does too, but rarely what the user meant: say so once per role. (A turn
    // whose text the template moves into another turn, e.g. Gemma's system prompt, has an
    // empty span too but its text is rendered: not reported.)
    const auto& msgs = req.messages.as_array();
    for (const auto& sp : out.spans) {
      if (sp.message_index >= msgs.size() || sp.begin != sp.end || !has_content(msgs[sp.message_index])) continue;
      const Json* c = msgs[sp.message_index].find("content");
      if (c->is_string() && out.text.find(c->as_string()) != std::string::npos) continue;
      if (silent_roles.insert(sp.role).second)
        warn(rec.where().str() + ": message " + std::to_string(sp.message_index) + " (role " + sp.role +
             ") is not rendered by this " + chat->variant() +
             " template (as in transformers); further such turns are not reported");
    }
    if (o.raw) {
      fmt::print("{}{}", first ? "" : "\n\n", out.text);
      first = false;
      continue;
    }
    rec.set(o.field, out.text);
    if (o.spans) rec.set("spans", spans_json(out.spans));
    writer->write(rec);
  }
  progress.finish();
  if (o.raw && !first) fmt::print("\n");
  if (writer) writer->close();
  return kExitOk;
}

}  // namespace delib
