// encode_chat (delib/chat.h): a rendered chat to token ids, the template's markup as control
// tokens and message text never.
#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/error.h"

namespace delib {
namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

// The message fields a template may render. Every one is data, so every one is guarded.
constexpr std::array<std::pair<const char*, std::string Message::*>, 4> kFields = {{
    {"role", &Message::role},
    {"content", &Message::content},
    {"reasoning", &Message::reasoning},
    {"name", &Message::name},
}};

// One run of special-token text in a message field.
struct Occurrence {
  size_t message;
  const char* field;
  std::string text;
};

[[noreturn]] void fail_changed(const Rendered& r, const std::string& changed, const std::vector<Message>& messages,
                               const std::vector<Occurrence>& occ) {
  // Name the message whose span holds the first byte where the two texts part (the spans tile
  // the text), else the first message with special-token text.
  size_t p = 0;
  while (p < r.text.size() && p < changed.size() && r.text[p] == changed[p]) ++p;
  const Occurrence* o = &occ.front();
  for (const TurnSpan& s : r.spans) {
    if (s.begin <= p && p < std::max(s.end, s.begin + 1)) {
      for (const Occurrence& x : occ)
        if (x.message == s.message_index) {
          o = &x;
          break;
        }
      break;
    }
  }
  throw Error(fmt::format("message {} ({}): its {} spells special-token text '{}' that the chat template changes "
                          "or moves, so it cannot be kept as literal text; refusing to encode it as control tokens "
                          "(remove that text, or parse special tokens everywhere as transformers does: tokenize "
                          "--parse-special)",
                          o->message, messages[o->message].role, o->field, o->text));
}

// The byte ranges of `r.text` that hold special-token text of message fields (see encode_chat,
// steps 2-4).
Ranges literal_ranges(const ChatTemplate& tpl, const Tokenizer& tok, const std::vector<Message>& messages,
                      const ChatEncodeOptions& o, const Rendered& r) {
  std::vector<std::pair<size_t, Ranges>> found[kFields.size()];  // per field: (message, ranges)
  bool any = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    for (size_t f = 0; f < kFields.size(); ++f) {
      Ranges at = tok.special_text(messages[i].*kFields[f].second);
      if (at.empty()) continue;
      found[f].emplace_back(i, std::move(at));
      any = true;
    }
  }
  if (!any) return {};

  // Placeholders BASE<k>Z: letters and digits, which no template trims, escapes or splits.
  std::string base = "zQdlbGuard";
  auto used = [&](const std::string& b) {
    if (r.text.find(b) != std::string::npos) return true;
    for (const Message& m : messages)
      for (const auto& [name, field] : kFields)
        if ((m.*field).find(b) != std::string::npos) return true;
    return false;
  };
  while (used(base)) base += 'q';

  std::vector<Occurrence> occ;
  std::vector<Message> masked = messages;
  for (size_t f = 0; f < kFields.size(); ++f) {
    for (const auto& [i, ranges] : found[f]) {
      const std::string& src = messages[i].*kFields[f].second;
      std::string out;
      size_t pos = 0;
      for (const auto& [a, b] : ranges) {
        out.append(src, pos, a - pos);
        out += base + std::to_string(occ.size()) + "Z";
        occ.push_back({i, kFields[f].first, src.substr(a, b - a)});
        pos = b;
      }
      out.append(src, pos, std::string::npos);
      masked[i].*kFields[f].second = std::move(out);
    }
  }

  // Render with the placeholders and put the occurrences back where the template put them.
  const std::string q = tpl.render(masked, o.add_generation_prompt, o.keep_reasoning).text;
  std::string back;
  back.reserve(r.text.size());
  Ranges literal;
  for (size_t pos = 0;;) {
    size_t at = q.find(base, pos);
    if (at == std::string::npos) {
      back.append(q, pos, std::string::npos);
      break;
    }
    back.append(q, pos, at - pos);
    size_t d = at + base.size(), e = d;
    while (e < q.size() && std::isdigit(static_cast<unsigned char>(q[e]))) ++e;
    if (e == d || e - d > 9 || e >= q.size() || q[e] != 'Z' || std::stoul(q.substr(d, e - d)) >= occ.size()) {
      back = q;  // not a placeholder the messages carried: the template made it; fail below
      break;
    }
    const std::string& t = occ[std::stoul(q.substr(d, e - d))].text;
    literal.emplace_back(back.size(), back.size() + t.size());
    back += t;
    pos = e + 1;
  }
  if (back != r.text) fail_changed(r, back, messages, occ);
  return literal;  // in text order, disjoint
}

// ids of text[begin, end): special tokens parsed except inside `literal` (absolute offsets).
std::vector<int32_t> encode_piece(const Tokenizer& tok, std::string_view text, size_t begin, size_t end,
                                  const Ranges& literal, bool parse_special) {
  std::string_view piece = text.substr(begin, end - begin);
  Ranges local;
  if (!parse_special)
    for (const auto& [a, b] : literal)
      if (a < end && b > begin) local.emplace_back(std::max(a, begin) - begin, std::min(b, end) - begin);
  return local.empty() ? tok.encode(piece, /*parse_special=*/true) : tok.encode_guarded(piece, local);
}

}  // namespace

ChatEncoding encode_chat(const ChatTemplate& tpl, const Tokenizer& tok, const std::vector<Message>& messages,
                         const ChatEncodeOptions& o) {
  ChatEncoding enc;
  enc.rendered = tpl.render(messages, o.add_generation_prompt, o.keep_reasoning);
  const std::string& text = enc.rendered.text;
  if (!o.parse_special) enc.literal = literal_ranges(tpl, tok, messages, o, enc.rendered);

  const TurnSpan* target = nullptr;
  if (o.split_target)
    for (const TurnSpan& s : enc.rendered.spans)
      if (s.message_index == *o.split_target && s.target_end > s.target_begin) target = &s;
  if (!target) {
    enc.ids = encode_piece(tok, text, 0, text.size(), enc.literal, o.parse_special);
    return enc;
  }
  enc.ids = encode_piece(tok, text, 0, target->target_begin, enc.literal, o.parse_special);
  enc.target_begin = enc.ids.size();
  auto mid = encode_piece(tok, text, target->target_begin, target->target_end, enc.literal, o.parse_special);
  enc.ids.insert(enc.ids.end(), mid.begin(), mid.end());
  enc.target_end = enc.ids.size();
  auto tail = encode_piece(tok, text, target->target_end, text.size(), enc.literal, o.parse_special);
  enc.ids.insert(enc.ids.end(), tail.begin(), tail.end());
  return enc;
}

}  // namespace delib
