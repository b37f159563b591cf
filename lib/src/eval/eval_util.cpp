// The parts of an eval record that the graders and the runner read (eval_util.h).
#include "eval_util.h"

#include <algorithm>

#include "delib/eval.h"

namespace delib::eval::detail {
namespace {
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
}  // namespace

bool has_word(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return false;
  for (size_t pos = hay.find(needle); pos != std::string_view::npos;
       pos = hay.find(needle, pos + 1)) {
    bool left = pos == 0 || !is_word_char(hay[pos - 1]);
    size_t end = pos + needle.size();
    bool right = end >= hay.size() || !is_word_char(hay[end]);
    if (left && right) return true;
  }
  return false;
}

std::string normalise_answer(std::string_view text) {
  std::string s = ascii_lower(strip(text));
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 2 < s.size() && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x98)) {
      out += '\'';
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

namespace {
// Calls emit(piece) for each sentence of `t` (see first_sentences) until it returns false.
template <class Emit>
void for_sentences(std::string_view t, Emit emit) {
  size_t start = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool end = c == '\n' || ((c == '.' || c == '!' || c == '?') && i + 1 < t.size() &&
                             std::isspace(static_cast<unsigned char>(t[i + 1])));
    if (!end) continue;
    std::string_view piece = strip(t.substr(start, (c == '\n' ? i : i + 1) - start));
    start = i + 1;
    if (!piece.empty() && !emit(piece)) return;
  }
  if (start < t.size())
    if (std::string_view piece = strip(t.substr(start)); !piece.empty()) emit(piece);
}
}  // namespace

std::string first_sentences(std::string_view t, int n) {
  std::string out;
  int count = 0;
  if (n <= 0) return out;
  for_sentences(t, [&](std::string_view piece) {
    if (!out.empty()) out += ' ';
    out += piece;
    return ++count < n;
  });
  return out;
}

std::vector<std::string> split_sentences(std::string_view t) {
  std::vector<std::string> out;
  for_sentences(t, [&](std::string_view piece) {
    out.emplace_back(piece);
    return true;
  });
  return out;
}

size_t word_count(std::string_view s) {
  size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = std::isspace(static_cast<unsigned char>(c));
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

namespace {
template <class Keys>
const Json* find_in(const Json& j, const Keys& keys) {
  const Json* cur = &j;
  for (const auto& k : keys) {
    cur = cur->find(k);
    if (!cur) return nullptr;
  }
  return cur;
}
std::optional<double> number_of(const Json* v) {
  if (!v) return std::nullopt;
  if (v->is_number()) return v->as_double();
  if (v->is_bool()) return v->as_bool() ? 1.0 : 0.0;
  return std::nullopt;
}
}  // namespace

const Json* find_path(const Json& j, std::initializer_list<std::string_view> keys) { return find_in(j, keys); }
const Json* find_path(const Json& j, const std::vector<std::string>& keys) { return find_in(j, keys); }
std::optional<double> number_at(const Json& j, std::initializer_list<std::string_view> keys) {
  return number_of(find_path(j, keys));
}
std::optional<double> number_at(const Json& j, const std::vector<std::string>& keys) {
  return number_of(find_path(j, keys));
}

std::string string_field(const Record& r, std::string_view key) {
  auto v = r.get(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

bool failed_record(const Record& r) {
  auto e = r.get("eval_error");
  return e && !e->is_null();
}

bool capability_record(const Record& r) {
  auto e = r.get("expected_answer");
  return e && !e->is_null();
}

std::string last_user_text(const Record& r) {
  auto msgs = r.messages();
  for (size_t i = msgs.size(); i-- > 0;)
    if (msgs[i].role == "user") return msgs[i].content;
  return msgs.empty() ? std::string() : msgs.back().content;
}

std::string judged_prompt(const Record& r) {
  std::string fp = string_field(r, "forbidden_prompt");
  return fp.empty() ? last_user_text(r) : fp;
}

std::string judged_answer(const Record& r) {
  std::string a = string_field(r, "answer");
  if (string_field(r, "jailbreak") != "base64_output") return a;
  std::string compact;
  for (char c : a)
    if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
  if (compact.empty() || compact.find_first_not_of(
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
                             std::string::npos)
    return a;
  std::string d = base64_decode(compact);
  size_t printable = std::count_if(d.begin(), d.end(), [](char c) {
    return std::isprint(static_cast<unsigned char>(c)) || std::isspace(static_cast<unsigned char>(c)) ||
           (static_cast<unsigned char>(c) >= 0x80);
  });
  return !d.empty() && printable * 10 >= d.size() * 9 ? d : a;
}

}  // namespace delib::eval::detail
