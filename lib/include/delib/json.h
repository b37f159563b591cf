// A small JSON value for building the fields tools write, and helpers to read simdjson.
//
// Reading uses simdjson (fast, validated). Writing uses Json: an owning value with ordered
// object keys, so output field order is what the code wrote. dump() emits compact JSON with
// shortest round-trip numbers and escaped control characters; non-ASCII UTF-8 is kept as-is.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <simdjson.h>

namespace delib {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // ordered, keys unique by set()

  Json() = default;                       // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int i) : v_(int64_t(i)) {}
  Json(long i) : v_(int64_t(i)) {}
  Json(long long i) : v_(int64_t(i)) {}
  Json(unsigned i) : v_(int64_t(i)) {}
  Json(unsigned long i) : v_(int64_t(i)) {}
  Json(unsigned long long i) : v_(int64_t(i)) {}
  Json(double d) : v_(d) {}
  Json(float d) : v_(double(d)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }
  // A value whose dump() is `raw` verbatim (raw must be valid JSON): used to pass through
  // untouched values with their original formatting.
  static Json raw(std::string raw_json);

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_int() const { return v_.index() == 2; }
  bool is_double() const { return v_.index() == 3; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return v_.index() == 4; }
  bool is_array() const { return v_.index() == 5; }
  bool is_object() const { return v_.index() == 6; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_double() const { return is_int() ? double(as_int()) : std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Object access. set() replaces an existing key in place or appends. REQUIRES: is_object().
  Json& set(std::string key, Json value);
  const Json* find(std::string_view key) const;  // nullptr if absent or not an object
  // Array append. REQUIRES: is_array().
  Json& push(Json value);

  std::string dump() const;
  void dump_to(std::string& out) const;

  // Converts a simdjson DOM element (deep copy).
  static Json from(simdjson::dom::element e);
  // Parses text; throws delib::Error on invalid JSON.
  static Json parse(std::string_view text);

 private:
  struct Raw { std::string text; };
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object, Raw> v_;
};

// Appends `s` to `out` as a JSON string literal (quotes included).
void json_escape(std::string_view s, std::string& out);

// Formats a double the shortest way that round-trips (17 significant digits at most);
// integers in range print without exponent, NaN/Inf print as null.
std::string json_number(double d);

}  // namespace delib
