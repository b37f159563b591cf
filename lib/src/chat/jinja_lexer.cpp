// Jinja lexer: template source -> tokens, as jinja2.lexer.Lexer tokenizes with transformers'
// settings (trim_blocks, lstrip_blocks, keep_trailing_newline=False).
//
// Whitespace control, as jinja2 3.1 applies it:
//   - newlines are normalised to "\n" first, and one trailing newline of the source is dropped;
//   - `{%-`, `{{-`, `{#-` strip all whitespace (Python's str.rstrip(): Unicode too) before the tag;
//     `-%}`, `-}}`, `-#}` strip all whitespace after it;
//   - trim_blocks: `%}` and `#}` eat one "\n" right after them (`+%}` does not);
//   - lstrip_blocks: spaces and tabs (any whitespace but newlines) between the start of a line and
//     `{%` or `{#` are dropped (`{%+` keeps them); `{{` is never lstripped.
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "chat/jinja.h"
#include "common/utf8.h"

namespace delib::jinja {
namespace {


// Length of the run of (Unicode) whitespace starting at s[i].
size_t ws_run(std::string_view s, size_t i) {
  size_t j = i;
  while (j < s.size()) {
    uint32_t cp;
    size_t n = utf8_decode_lenient(s, j, cp);
    if (!py_isspace(cp)) break;
    j += n;
  }
  return j - i;
}

bool is_name_start(unsigned char c) { return c == '_' || std::isalpha(c) || c >= 0x80; }
bool is_name_char(unsigned char c) { return c == '_' || std::isalnum(c) || c >= 0x80; }


int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A string literal's body as Python's "unicode-escape" codec decodes it (what jinja2 does).
std::string unescape(std::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n': break;  // line continuation
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': case 'u': case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          int h = i + 1 + k < body.size() ? hexval(body[i + 1 + k]) : -1;
          if (h < 0)
            throw Error(line, "TemplateSyntaxError",
                        std::string("truncated \\") + e + " escape in a string literal");
          cp = cp * 16 + uint32_t(h);
        }
        if (cp > 0x10FFFF) throw Error(line, "TemplateSyntaxError", "illegal Unicode character in a string literal");
        i += digits;
        utf8_append(cp, out);
        break;
      }
      case 'N':
        throw Error(line, "TemplateSyntaxError", "\\N{...} escapes in string literals are not supported");
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = uint32_t(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            cp = cp * 8 + uint32_t(body[++i] - '0');
          utf8_append(cp, out);
        } else {
          out += '\\';  // unknown escapes stay as written
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Newlines normalised; the last one dropped (keep_trailing_newline=False).
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      // The next tag start.
      size_t t = pos_;
      char kind = 0;
      for (;; ++t) {
        t = src_.find('{', t);
        if (t == std::string::npos || t + 1 >= src_.size()) {
          t = std::string::npos;
          break;
        }
        kind = src_[t + 1];
        if (kind == '{' || kind == '%' || kind == '#') break;
      }
      if (t == std::string::npos) {
        push_data(src_.substr(pos_));
        pos_ = src_.size();
        break;
      }
      char sign = t + 2 < src_.size() && (src_[t + 2] == '-' || src_[t + 2] == '+') ? src_[t + 2] : 0;
      std::string_view text = std::string_view(src_).substr(pos_, t - pos_);
      size_t raw_end = 0;
      bool raw = kind == '%' && is_raw_begin(t, raw_end);
      text = strip_before(text, sign, kind != '{', line_starting);
      push_data(std::string(text));
      advance_to(t + 2 + (sign ? 1 : 0));
      if (raw) {
        advance_to(raw_end);
        line_starting = lex_raw();
      } else if (kind == '#') {
        line_starting = lex_comment();
      } else {
        line_starting = lex_tag(kind);
      }
    }
    toks_.push_back({Token::kEof, "", 0, 0, line_});
    return std::move(toks_);
  }

 private:
  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> toks_;

  void advance_to(size_t p) {
    for (size_t i = pos_; i < p; ++i)
      if (src_[i] == '\n') ++line_;
    pos_ = p;
  }

  void push_data(std::string text) {
    if (!text.empty()) toks_.push_back({Token::kData, std::move(text), 0, 0, line_});
  }

  // jinja2's OptionalLStrip: the data before a tag with strip sign `sign`.
  std::string_view strip_before(std::string_view text, char sign, bool lstrip_kind, bool line_starting) {
    if (sign == '-') return py_strip_ws(text, false, true);
    if (sign != '+' && lstrip_kind) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting) && l_pos < text.size() && ws_run(text, l_pos) == text.size() - l_pos)
        return text.substr(0, l_pos);
    }
    return text;
  }

  // `{%(-|+|)\s*raw\s*(-%}\s*|%})` at t; sets `end` past it.
  bool is_raw_begin(size_t t, size_t& end) {
    size_t p = t + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p += ws_run(src_, p);
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    p += ws_run(src_, p);
    if (src_.compare(p, 3, "-%}") == 0) {
      end = p + 3 + ws_run(src_, p + 3);
      return true;
    }
    if (src_.compare(p, 2, "%}") == 0) {
      end = p + 2;
      return true;
    }
    return false;
  }

  // After `{% raw %}`: data up to `{% endraw %}`. Returns whether the match ended a line.
  bool lex_raw() {
    size_t start_line = line_;
    for (size_t t = src_.find("{%", pos_); t != std::string::npos; t = src_.find("{%", t + 1)) {
      size_t p = t + 2;
      char sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
      if (sign) ++p;
      p += ws_run(src_, p);
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      p += ws_run(src_, p);
      size_t end;
      bool nl = false;
      if (src_.compare(p, 3, "+%}") == 0) {
        end = p + 3;
      } else if (src_.compare(p, 3, "-%}") == 0) {
        end = p + 3 + ws_run(src_, p + 3);
      } else if (src_.compare(p, 2, "%}") == 0) {
        end = p + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      nl = src_[end - 1] == '\n';
      std::string_view text = std::string_view(src_).substr(pos_, t - pos_);
      text = strip_before(text, sign, true, false);
      push_data(std::string(text));
      advance_to(end);
      return nl;
    }
    throw Error(int(start_line), "TemplateSyntaxError", "Missing end of raw directive");
  }

  bool lex_comment() {
    for (size_t p = pos_; p < src_.size(); ++p) {
      size_t end = 0;
      if (src_.compare(p, 3, "+#}") == 0) {
        end = p + 3;
      } else if (src_.compare(p, 3, "-#}") == 0) {
        end = p + 3 + ws_run(src_, p + 3);
      } else if (src_.compare(p, 2, "#}") == 0) {
        end = p + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      advance_to(end);
      return src_[end - 1] == '\n';
    }
    throw Error(line_, "TemplateSyntaxError", "Missing end of comment tag");
  }

  // The inside of `{{ ... }}` or `{% ... %}`. Returns whether the closing match ended a line.
  bool lex_tag(char kind) {
    int open_line = line_;
    toks_.push_back({kind == '{' ? Token::kVarBegin : Token::kBlockBegin, "", 0, 0, line_});
    std::vector<char> balance;
    while (pos_ < src_.size()) {
      if (balance.empty()) {
        size_t end = 0;
        if (kind == '%') {
          if (src_.compare(pos_, 3, "+%}") == 0) end = pos_ + 3;
          else if (src_.compare(pos_, 3, "-%}") == 0) end = pos_ + 3 + ws_run(src_, pos_ + 3);
          else if (src_.compare(pos_, 2, "%}") == 0) {
            end = pos_ + 2;
            if (end < src_.size() && src_[end] == '\n') ++end;
          }
        } else {
          if (src_.compare(pos_, 3, "-}}") == 0) end = pos_ + 3 + ws_run(src_, pos_ + 3);
          else if (src_.compare(pos_, 2, "}}") == 0) end = pos_ + 2;
        }
        if (end) {
          toks_.push_back({kind == '{' ? Token::kVarEnd : Token::kBlockEnd, "", 0, 0, line_});
          advance_to(end);
          return src_[end - 1] == '\n';
        }
      }
      unsigned char c = src_[pos_];
      if (size_t w = ws_run(src_, pos_)) {
        advance_to(pos_ + w);
      } else if (std::isdigit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t e = pos_ + 1;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        toks_.push_back({Token::kName, src_.substr(pos_, e - pos_), 0, 0, line_});
        advance_to(e);
      } else if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < src_.size() && src_[e] != char(c)) e += src_[e] == '\\' ? 2 : 1;
        if (e >= src_.size()) throw Error(line_, "TemplateSyntaxError", "unterminated string literal");
        std::string v = unescape(std::string_view(src_).substr(pos_ + 1, e - pos_ - 1), line_);
        toks_.push_back({Token::kString, std::move(v), 0, 0, line_});
        advance_to(e + 1);
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                           "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
        const char* op = nullptr;
        for (const char* o : kOps)
          if (src_.compare(pos_, std::strlen(o), o) == 0) {
            op = o;
            break;
          }
        if (!op)
          throw Error(line_, "TemplateSyntaxError", std::string("unexpected char '") + char(c) + "'");
        std::string o(op);
        if (o == "(" || o == "[" || o == "{") {
          balance.push_back(o == "(" ? ')' : o == "[" ? ']' : '}');
        } else if (o == ")" || o == "]" || o == "}") {
          if (balance.empty()) throw Error(line_, "TemplateSyntaxError", "unexpected '" + o + "'");
          if (balance.back() != o[0])
            throw Error(line_, "TemplateSyntaxError",
                        "unexpected '" + o + "', expected '" + std::string(1, balance.back()) + "'");
          balance.pop_back();
        }
        toks_.push_back({Token::kOp, o, 0, 0, line_});
        advance_to(pos_ + o.size());
      }
    }
    throw Error(open_line, "TemplateSyntaxError",
                std::string("unexpected end of template, expected '") + (kind == '%' ? "%}" : "}}") + "'");
  }

  // integer_re / float_re of jinja2.lexer (decimal, 0x, 0o, 0b, `_` separators, exponents).
  void lex_number() {
    size_t p = pos_;
    auto digits = [&](size_t q, int base) {
      size_t r = q;
      while (r < src_.size()) {
        char ch = src_[r];
        bool ok = base == 16 ? std::isxdigit((unsigned char)ch) : base == 8 ? (ch >= '0' && ch <= '7')
                  : base == 2 ? (ch == '0' || ch == '1') : std::isdigit((unsigned char)ch);
        if (ok) ++r;
        else if (ch == '_' && r + 1 < src_.size() && r > q) ++r;
        else break;
      }
      return r;
    };
    if (src_[p] == '0' && p + 1 < src_.size() && std::strchr("xXoObB", src_[p + 1])) {
      int base = std::tolower(src_[p + 1]) == 'x' ? 16 : std::tolower(src_[p + 1]) == 'o' ? 8 : 2;
      size_t e = digits(p + 2, base);
      if (e > p + 2) {
        std::string d;
        for (size_t k = p + 2; k < e; ++k)
          if (src_[k] != '_') d += src_[k];
        uint64_t v = 0;
        try {
          v = std::stoull(d, nullptr, base);
        } catch (const std::exception&) {
          throw Error(line_, "TemplateSyntaxError",
                      "integer literal " + src_.substr(p, e - p) + " is out of the 64-bit range delib's templates support");
        }
        toks_.push_back({Token::kInt, src_.substr(p, e - p), int64_t(v), 0, line_});
        advance_to(e);
        return;
      }
    }
    size_t e = digits(p, 10);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit((unsigned char)src_[e + 1])) {
      e = digits(e + 1, 10);
      is_float = true;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit((unsigned char)src_[q])) {
        e = digits(q, 10);
        is_float = true;
      }
    }
    std::string d;
    for (size_t k = p; k < e; ++k)
      if (src_[k] != '_') d += src_[k];
    Token tok{is_float ? Token::kFloat : Token::kInt, src_.substr(p, e - p), 0, 0, line_};
    if (is_float) {
      tok.fval = std::strtod(d.c_str(), nullptr);  // overflow gives inf, as Python's float literal
    } else {
      try {
        tok.ival = int64_t(std::stoll(d));
      } catch (const std::exception&) {
        throw Error(line_, "TemplateSyntaxError",
                    "integer literal " + d + " is out of the 64-bit range delib's templates support");
      }
    }
    toks_.push_back(std::move(tok));
    advance_to(e);
  }
};

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace delib::jinja
