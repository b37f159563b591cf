// UTF-8 encoding and lenient decoding shared by the tokenizer and the chat-template engine.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace delib {

// Appends code point `cp` (<= U+10FFFF) to `out` as UTF-8.
inline void utf8_append(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Decodes one code point at s[i] (REQUIRES: i < s.size()) into `cp` and returns its byte
// length. Lenient: an invalid or truncated sequence yields its first byte as the code point
// and length 1, so any byte string can be walked.
inline size_t utf8_decode_lenient(std::string_view s, size_t i, uint32_t& cp) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    cp = c;
    return 1;
  }
  cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d >> 6) != 2) {
      cp = c;
      return 1;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  return n;
}

}  // namespace delib
