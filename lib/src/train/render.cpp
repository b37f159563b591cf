// Records -> token ids and loss labels for SFT (delib/train.h).
#include <memory>
#include <new>
#include <utility>

#include <xxhash.h>

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/spec.h"
#include "delib/tokenizer.h"
#include "delib/train.h"

namespace delib::train {
namespace {

void append(TokenizedExample& e, const std::vector<int32_t>& ids, bool target) {
  e.ids.insert(e.ids.end(), ids.begin(), ids.end());
  for (int32_t id : ids) e.labels.push_back(target ? id : int32_t(kIgnoreIndex));
}

// Raw pair: the context is not trained on, the target is (plus eos). Both are encoded with
// parse_special = false: record text never becomes control tokens.
TokenizedExample render_raw(const std::string& context, const std::string& target,
                            const Tokenizer& tok, const RenderOptions& o) {
  TokenizedExample e;
  append(e, tok.encode(context, false), false);
  append(e, tok.encode(target, false), true);
  if (o.append_eos)
    if (auto eos = tok.eos_id()) append(e, {*eos}, true);
  return e;
}

}  // namespace

TokenizedExample render_example(const Record& record, const Tokenizer& tok,
                                const ChatTemplate* tmpl, const RenderOptions& options) {
  const Location& where = record.where();
  // Raw shapes first: they are how models without a chat template are trained.
  if (auto target = record.get_string("target")) {
    auto text = record.get_string("text");
    if (!text) throw Error(where, "field 'target' needs a 'text' field (the context)");
    return render_raw(*text, *target, tok, options);
  }
  if (auto completion = record.get_string("completion")) {
    auto prompt = record.get_string("prompt");
    if (!prompt) throw Error(where, "field 'completion' needs a 'prompt' string");
    return render_raw(*prompt, *completion, tok, options);
  }

  std::vector<Message> msgs = record.messages();
  if (auto answer = record.get_string("answer")) {
    Message m;
    m.role = "assistant";
    m.content = *answer;
    m.reasoning = record.get_string("reasoning").value_or("");
    msgs.push_back(std::move(m));
  } else if (msgs.empty() || msgs.back().role != "assistant") {
    throw Error(where, "no training target: expected 'answer' (with optional 'reasoning'), a final "
                       "assistant message, 'text'+'target' or 'prompt'+'completion'");
  }
  if (!tmpl)
    throw Error(where, "chat record but the model has no chat template; HINT: give --chat-template "
                       "or use 'text'+'target' records");
  // The one chat-encoding rule (delib/chat.h encode_chat): markup as control tokens, message
  // text as text; the target encoded on its own so that its tokens are exactly the labels.
  ChatEncodeOptions eo;
  eo.keep_reasoning = true;
  eo.split_target = msgs.size() - 1;
  ChatEncoding enc;
  try {
    enc = encode_chat(*tmpl, tok, msgs, eo);
  } catch (const Error& e) {
    if (!e.where().file.empty()) throw;
    throw Error(where, e.what(), e.exit_code());
  }
  if (enc.target_end <= enc.target_begin)
    throw Error(where, "the chat template rendered no target span for the final assistant turn");
  TokenizedExample ex;
  ex.ids = std::move(enc.ids);
  ex.labels.assign(ex.ids.size(), int32_t(kIgnoreIndex));
  for (size_t i = enc.target_begin; i < enc.target_end; ++i) ex.labels[i] = ex.ids[i];
  return ex;
}

SpecLeakDetector::SpecLeakDetector(const Spec* spec) {
  if (!spec) return;
  for (const SpecCategory& c : spec->categories) {
    views_.push_back(spec->render_view(c.id));
    for (const SpecRule& rule : c.rules)
      if (rule.text.size() >= 40) rules_.push_back(rule.text);
  }
}

namespace {

// The first line of every view Spec::render_view writes ("# Safety spec: NAME ..."); a test
// (tests/unit/train/test_render.cpp) pins it to render_view's output.
constexpr std::string_view kViewHeading = "# Safety spec: ";

// True when `text` contains a spec view whose hash64 (XXH3-64, as Spec::view_hash and
// cot-gen's provenance.spec_view_hash) is `hex`: a view starts at a line that begins with
// kViewHeading and ends at a line end (with or without that newline) or at the end of the
// text (with or without a final newline added). cot-gen's own system message is instructions + "# Safety specification" + view, and
// a copied view may be followed by more text, so the whole message rarely hashes to the view.
// One streaming XXH3 pass per heading: digests of a growing prefix equal one-shot hashes.
bool contains_view_with_hash(std::string_view text, std::string_view hex) {
  if (hex64(hash64(text)) == hex) return true;
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(XXH3_createState(), XXH3_freeState);
  if (!state) throw std::bad_alloc();
  XXH3_state_t* st = state.get();
  bool found = false;
  for (size_t at = text.find(kViewHeading); at != std::string_view::npos && !found;
       at = text.find(kViewHeading, at + 1)) {
    if (at > 0 && text[at - 1] != '\n') continue;
    XXH3_64bits_reset(st);
    size_t done = at;
    while (!found) {
      const size_t nl = text.find('\n', done);
      const size_t end = nl == std::string_view::npos ? text.size() : nl;
      XXH3_64bits_update(st, text.data() + done, end - done);
      found = hex64(XXH3_64bits_digest(st)) == hex;  // up to the line end, without '\n'
      if (found) break;
      // With it; at the end of the text, with the final newline a view ends in (render_view)
      // but a pipeline that trims messages cuts.
      XXH3_64bits_update(st, "\n", 1);
      found = hex64(XXH3_64bits_digest(st)) == hex;
      if (nl == std::string_view::npos) break;
      done = nl + 1;
    }
  }
  return found;
}

}  // namespace

bool SpecLeakDetector::system_contains_spec_view(const Record& record) const {
  std::optional<std::string> hash;
  if (auto h = record.path("provenance.spec_view_hash"); h && h->is_string()) hash = h->as_string();
  if (!hash && views_.empty()) return false;
  std::vector<Message> msgs;
  try {
    msgs = record.messages();
  } catch (const Error&) {
    return false;  // raw records have no system message
  }
  for (const Message& m : msgs) {
    if (m.role != "system" && m.role != "developer") continue;
    if (hash && contains_view_with_hash(m.content, *hash)) return true;
    for (const auto& v : views_)
      if (m.content.find(v) != std::string::npos) return true;
    for (const auto& r : rules_)
      if (m.content.find(r) != std::string::npos) return true;
  }
  return false;
}

}  // namespace delib::train
