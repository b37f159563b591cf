// The safety tax's capability check: grade-school arithmetic word problems generated with known
// answers, and exact-match grading of a model's final answer against a problem's reference
// (delib/eval.h: extract_final_answer, answer_matches, make_arithmetic_problems).
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/eval.h"
#include "eval_util.h"

namespace delib::eval {
namespace {

using detail::ascii_lower;
using detail::strip;

bool digit(char c) { return c >= '0' && c <= '9'; }
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Digits from `i` on; returns the position after them.
size_t digits_end(std::string_view t, size_t i) {
  while (i < t.size() && digit(t[i])) ++i;
  return i;
}

// The number starting at digit position `i` (or at a '.' before a digit): digits with
// thousands groups ",ddd" (each exactly three digits, only after a first run of 1-3 digits),
// then a decimal part. Sets `end` past it and returns the value without sign.
double scan_unsigned(std::string_view t, size_t i, size_t& end) {
  std::string s;
  size_t j = digits_end(t, i);
  s.append(t.substr(i, j - i));
  if (j - i >= 1 && j - i <= 3)
    while (j + 3 < t.size() && t[j] == ',' && digit(t[j + 1]) && digit(t[j + 2]) && digit(t[j + 3]) &&
           (j + 4 >= t.size() || !digit(t[j + 4]))) {
      s.append(t.substr(j + 1, 3));
      j += 4;
    }
  if (j + 1 < t.size() && t[j] == '.' && digit(t[j + 1])) {
    size_t k = digits_end(t, j + 1);
    s += '.';
    s.append(t.substr(j + 1, k - j - 1));
    j = k;
  }
  end = j;
  if (s.empty() || s[0] == '.') s.insert(s.begin(), '0');
  return std::stod(s);
}

}  // namespace

std::vector<NumberInText> numbers_in(std::string_view t) {
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  std::vector<NumberInText> out;
  for (size_t i = 0; i < t.size();) {
    const bool starts = digit(t[i]) || (t[i] == '.' && i + 1 < t.size() && digit(t[i + 1]) &&
                                        (i == 0 || !alnum(t[i - 1])));
    if (!starts) {
      ++i;
      continue;
    }
    if (i > 0 && letter(t[i - 1])) {  // inside a word ("S2", "H2O", a hex hash): not a number
      i = digits_end(t, i + (t[i] == '.'));
      continue;
    }
    size_t end = i;
    double v = scan_unsigned(t, i, end);
    // A minus sign right before the number, or before a dollar sign before it, that does not
    // follow a letter or digit: "-5", "(-5)", "-$5", "$-5", U+2212 before 5. "3-4" is 3 and 4.
    size_t b = i;
    bool negative = false;
    auto sign_ok = [&](size_t at) { return at == 0 || !alnum(t[at - 1]); };
    auto minus_before = [&](size_t at) -> size_t {  // the minus sign's length ending at `at`, or 0
      if (at >= 1 && t[at - 1] == '-' && sign_ok(at - 1)) return 1;
      if (at >= 3 && t.substr(at - 3, 3) == "\xE2\x88\x92" && sign_ok(at - 3)) return 3;
      return 0;
    };
    if (size_t m = minus_before(b)) {  // "-5", "$-5"
      negative = true;
      b -= m;
      if (b > 0 && t[b - 1] == '$') --b;
    } else if (b > 0 && t[b - 1] == '$') {  // "$5", "-$5"
      --b;
      if (size_t m2 = minus_before(b)) {
        negative = true;
        b -= m2;
      }
    }
    out.push_back({negative ? -v : v, b, end});
    i = end;
  }
  return out;
}

std::optional<double> parse_number(std::string_view text) {
  std::string_view s = strip(text);
  // Surrounding currency and percent signs and a final period are allowed; nothing else.
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (!s.empty() && s.back() == '%') s.remove_suffix(1);
  auto nums = numbers_in(s);
  if (nums.size() != 1) return std::nullopt;
  std::string_view before = s.substr(0, nums[0].begin), after = s.substr(nums[0].end);
  if (!strip(after).empty()) return std::nullopt;
  before = strip(before);
  if (!before.empty() && before != "$") return std::nullopt;
  return nums[0].value;
}

namespace {

// The text after the last answer marker ("answer:", "answer is", "####"), to the end of its
// line; nullopt when there is none.
std::optional<std::string> after_marker(std::string_view answer) {
  std::string low = ascii_lower(answer);
  size_t best = std::string::npos, len = 0;
  for (std::string_view m : {"answer:", "answer is", "####"}) {
    size_t p = low.rfind(m);
    if (p != std::string::npos && (best == std::string::npos || p > best)) {
      best = p;
      len = m.size();
    }
  }
  if (best == std::string::npos) return std::nullopt;
  size_t start = best + len, nl = answer.find('\n', start);
  return std::string(answer.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
}

// The content of the last \boxed{...} (braces nested), or nullopt.
std::optional<std::string> last_boxed(std::string_view answer) {
  size_t p = answer.rfind("\\boxed{");
  if (p == std::string_view::npos) return std::nullopt;
  size_t i = p + 7, depth = 1;
  for (size_t j = i; j < answer.size(); ++j) {
    if (answer[j] == '{') ++depth;
    else if (answer[j] == '}' && --depth == 0) return std::string(answer.substr(i, j - i));
  }
  return std::nullopt;
}

// Text as exact match compares it: stripped of white space, markdown emphasis, quotes and a
// final period, lower case.
std::string normalise_text(std::string_view t) {
  std::string_view s = strip(t);
  auto junk = [](char c) { return c == '*' || c == '"' || c == '\'' || c == '`' || c == '_'; };
  for (bool changed = true; changed;) {
    changed = false;
    s = strip(s);
    while (!s.empty() && junk(s.front())) s.remove_prefix(1), changed = true;
    while (!s.empty() && (junk(s.back()) || s.back() == '.')) s.remove_suffix(1), changed = true;
  }
  return ascii_lower(s);
}

}  // namespace

FinalAnswer extract_final_answer(std::string_view answer) {
  FinalAnswer f;
  auto from = [&](std::string text, const char* rule) {
    auto nums = numbers_in(text);
    if (nums.empty()) return false;
    f.number = nums.front().value;
    f.text = normalise_text(text);
    f.rule = rule;
    return true;
  };
  std::optional<std::string> marked = after_marker(answer), boxed = last_boxed(answer);
  if (marked && from(*marked, "answer-line")) return f;
  if (boxed && from(*boxed, "boxed")) return f;
  auto nums = numbers_in(answer);
  if (!nums.empty()) {
    const auto& last = nums.back();
    f.number = last.value;
    f.text = normalise_text(answer.substr(last.begin, last.end - last.begin));
    f.rule = "last-number";
    return f;
  }
  // No number anywhere: the marker's text, the box's, or the last non-empty line.
  if (marked && !normalise_text(*marked).empty()) {
    f.text = normalise_text(*marked);
    f.rule = "answer-line";
  } else if (boxed && !normalise_text(*boxed).empty()) {
    f.text = normalise_text(*boxed);
    f.rule = "boxed";
  } else {
    auto lines = detail::split_sentences(answer);
    f.text = lines.empty() ? "" : normalise_text(lines.back());
    f.rule = f.text.empty() ? "none" : "last-line";
  }
  return f;
}

bool answer_matches(const FinalAnswer& got, std::string_view expected) {
  if (auto want = parse_number(expected)) {
    if (!got.number) return false;
    return std::fabs(*got.number - *want) <= 1e-9 * std::max(1.0, std::fabs(*want));
  }
  std::string want = normalise_text(expected);
  return !want.empty() && got.text == want;
}

std::string reference_answer(std::string_view answer) {
  std::string_view s = answer;
  if (size_t p = s.rfind("####"); p != std::string_view::npos) s = s.substr(p + 4);
  s = strip(s);
  if (auto v = parse_number(s)) return json_number(*v);
  return std::string(s);
}

// ---------------------------------------------------------------------------------------
// The generator.

namespace {

struct Draw {
  std::mt19937_64 rng;
  // Uniform in [lo, hi] by rng() % span: the modulo bias is below span / 2^64, and the stream
  // is the same on every standard library (unlike std::uniform_int_distribution).
  int64_t in(int64_t lo, int64_t hi) { return lo + int64_t(rng() % uint64_t(hi - lo + 1)); }
  template <class T, size_t N>
  const T& pick(const T (&xs)[N]) { return xs[rng() % N]; }
};

struct Person {
  const char* name;
  const char* pronoun;
};
constexpr Person kPeople[] = {{"Maria", "She"}, {"Sam", "He"},  {"Aiko", "She"}, {"Omar", "He"},
                              {"Lena", "She"},  {"Ravi", "He"}, {"Chen", "He"},  {"Zoe", "She"}};
constexpr const char* kItems[] = {"apples", "marbles", "stickers", "pencils", "cookies", "cards"};

// 1234567 -> "1,234,567".
std::string with_commas(int64_t v) {
  std::string d = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return (v < 0 ? "-" : "") + out;
}

// Cents as dollars: 750 -> "7.50" (question) ; the answer's canonical form drops zeros.
std::string dollars(int64_t cents) { return fmt::format("{}.{:02d}", cents / 100, cents % 100); }

struct Problem {
  std::string type, question;
  double answer;
};

Problem one_problem(Draw& d) {
  const Person& p = d.pick(kPeople);
  Person q = d.pick(kPeople);
  while (std::string_view(q.name) == p.name) q = d.pick(kPeople);
  const char* item = d.pick(kItems);
  switch (d.in(0, 7)) {
    case 0: {
      int64_t a = d.in(2, 50), b = d.in(2, 9), c = d.in(3, 12);
      return {"add_multiply",
              fmt::format("{} has {} {}. {} buys {} packs with {} {} in each. How many {} does {} have now?",
                          p.name, a, item, p.pronoun, b, c, item, item, p.name),
              double(a + b * c)};
    }
    case 1: {
      int64_t a = d.in(20, 99), b = d.in(1, a - 1), c = d.in(1, 30);
      return {"subtract_add",
              fmt::format("{} had {} {}. {} gave {} of them to {} and then found {} more. How many {} "
                          "does {} have now?",
                          p.name, a, item, p.pronoun, b, q.name, c, item, p.name),
              double(a - b + c)};
    }
    case 2: {
      int64_t a = d.in(6, 24), b = d.in(2, 12), c = d.in(1, a * b - 1);
      return {"multiply_subtract",
              fmt::format("A box holds {} {}. {} fills {} boxes and then gives away {} {}. How many {} "
                          "does {} have left?",
                          a, item, p.name, b, c, item, item, p.name),
              double(a * b - c)};
    }
    case 3: {
      int64_t a = d.in(2, 25), b = d.in(2, 9);
      return {"divide",
              fmt::format("{} shares {} {} equally among {} friends. How many {} does each friend get?",
                          p.name, a * b, item, b, item),
              double(a)};
    }
    case 4: {
      int64_t price = d.in(21, 199) * 5, b = d.in(2, 6), bill = 20;
      while (bill * 100 <= price * b) bill = bill == 20 ? 50 : bill * 2;
      return {"money_change",
              fmt::format("A notebook costs ${}. {} buys {} notebooks and pays with a ${} bill. How much "
                          "change does {} get, in dollars?",
                          dollars(price), p.name, b, bill, p.name),
              double(bill * 100 - price * b) / 100.0};
    }
    case 5: {
      int64_t a = d.in(1, 15), b = d.in(a + 1, a + 15);
      return {"temperature",
              fmt::format("At noon the temperature was {} degrees. By midnight it had fallen by {} "
                          "degrees. What was the temperature at midnight, in degrees?",
                          a, b),
              double(a - b)};
    }
    case 6: {
      int64_t a = d.in(1000, 9999), b = d.in(2, 30);
      return {"large_multiply",
              fmt::format("A factory makes {} {} a day. How many {} does it make in {} days?",
                          with_commas(a), item, item, b),
              double(a * b)};
    }
    default: {
      int64_t a = d.in(5, 40), b = d.in(2, 10), rest = d.in(1, 200);
      return {"pages_left",
              fmt::format("A book has {} pages. {} reads {} pages a day for {} days. How many pages "
                          "are left to read?",
                          with_commas(a * b + rest), p.name, a, b),
              double(rest)};
    }
  }
}

}  // namespace

std::vector<Json> make_arithmetic_problems(size_t n, uint64_t seed) {
  Draw d{std::mt19937_64(seed)};
  std::vector<Json> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Problem p = one_problem(d);
    Json j = Json::object();
    j.set("id", fmt::format("arith-{}-{}", seed, i));
    j.set("question", p.question);
    j.set("answer", json_number(p.answer));
    j.set("problem_type", p.type);
    j.set("source", "arith");
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace delib::eval
