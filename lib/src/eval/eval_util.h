// Helpers shared by the eval area's sources (not public API): text matching and the parts of
// an eval record that the graders and the runner read.
#pragma once
#include <cctype>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delib/json.h"
#include "delib/records.h"

namespace delib::eval::detail {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
inline bool contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }
inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
// `s` without leading and trailing white space.
inline std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
// `needle` (lower-case) occurs in `hay` (lower-case) with no word character (alphanumeric or
// '_') on either side.
bool has_word(std::string_view hay, std::string_view needle);
// The position of the earliest occurrence in `text` of any of `phrases` that starts on a word
// boundary (no letter or digit before it) and, when the phrase ends with a letter or digit,
// also ends on one; npos when none occurs. "here are" is not found in "there are", "no," is
// found in "no, thanks". Phrases and text are expected in lower case.
template <class Phrases>
size_t first_phrase(std::string_view text, const Phrases& phrases) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  size_t best = std::string_view::npos;
  for (std::string_view k : phrases) {
    if (k.empty()) continue;
    for (size_t pos = text.find(k); pos != std::string_view::npos && pos < best;
         pos = text.find(k, pos + 1)) {
      size_t end = pos + k.size();
      bool left = pos == 0 || !alnum(text[pos - 1]);
      bool right = end >= text.size() || !alnum(text[end]) || !alnum(k.back());
      if (left && right) {
        best = pos;
        break;
      }
    }
  }
  return best;
}
template <class Phrases>
bool has_phrase(std::string_view text, const Phrases& phrases) {
  return first_phrase(text, phrases) != std::string_view::npos;
}
// An answer as the model-free graders read it: ASCII lower case, typographic apostrophes
// (U+2018, U+2019) as "'", surrounding white space stripped.
std::string normalise_answer(std::string_view text);
// The first `n` sentences of `t` (split after . ! ? followed by white space, and at
// newlines), joined by single spaces.
std::string first_sentences(std::string_view t, int n);
// All sentences of `t`, split as first_sentences does, each stripped; empty ones dropped.
std::vector<std::string> split_sentences(std::string_view t);
// The number of white-space separated words.
size_t word_count(std::string_view s);
// True when `s` is empty or white space only (" \t\r\n").
inline bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// The value at keys[0].keys[1]... in `j`, or nullptr when a key is missing.
const Json* find_path(const Json& j, std::initializer_list<std::string_view> keys);
const Json* find_path(const Json& j, const std::vector<std::string>& keys);
// The number (or bool as 0/1) at that path; nullopt when missing or of another type.
std::optional<double> number_at(const Json& j, std::initializer_list<std::string_view> keys);
std::optional<double> number_at(const Json& j, const std::vector<std::string>& keys);

// The record's field `key` when it is a string, else "".
std::string string_field(const Record& r, std::string_view key);
// The text the request is about: the last user turn (the last turn when there is none).
std::string last_user_text(const Record& r);
// The forbidden prompt a harm judge compares against: `forbidden_prompt` (the original of a
// jailbreak variant), else the last user turn.
std::string judged_prompt(const Record& r);
// The answer as a grader of harm should read it: a Base64 answer to a base64_output jailbreak
// is decoded first (as StrongREJECT does), when it decodes to mostly printable text.
std::string judged_answer(const Record& r);

// The run JSON's "pairs" section (pairs.cpp; its contract is summarize()'s in delib/eval.h),
// nullopt when no record has `pair`.
std::optional<Json> pair_metrics(const std::vector<Record>& graded);
// wilson_interval(successes, n) as JSON: {value, lo, hi, n, count (= successes)}.
Json wilson_json(size_t successes, size_t n);
// A record that failed (eval_error): it has no trustworthy grades.
bool failed_record(const Record& r);
// A capability record (it has expected_answer): graded only by the capability grader.
bool capability_record(const Record& r);

// SHA-256 of `bytes` (FIPS 180-4) as 64 lowercase hex digits (sha256.cpp).
std::string sha256_hex(std::string_view bytes);

}  // namespace delib::eval::detail
