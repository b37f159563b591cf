#include "delib/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "delib/error.h"

namespace delib {

Json Json::raw(std::string raw_json) {
  Json j;
  j.v_ = Raw{std::move(raw_json)};
  return j;
}

Json& Json::set(std::string key, Json value) {
  auto& o = as_object();
  for (auto& kv : o) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return kv.second;
    }
  }
  o.emplace_back(std::move(key), std::move(value));
  return o.back().second;
}

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (auto& kv : as_object())
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Json& Json::push(Json value) {
  auto& a = as_array();
  a.push_back(std::move(value));
  return a.back();
}

void json_escape(std::string_view s, std::string& out) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of plain bytes
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::string json_number(double d) {
  if (!std::isfinite(d)) return "null";
  if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(d));
    return std::string(buf, r.ptr);
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip
  return std::string(buf, r.ptr);
}

void Json::dump_to(std::string& out) const {
  switch (v_.index()) {
    case 0: out += "null"; break;
    case 1: out += std::get<bool>(v_) ? "true" : "false"; break;
    case 2: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, std::get<int64_t>(v_));
      out.append(buf, r.ptr);
      break;
    }
    case 3: out += json_number(std::get<double>(v_)); break;
    case 4: json_escape(std::get<std::string>(v_), out); break;
    case 5: {
      out.push_back('[');
      bool first = true;
      for (auto& e : std::get<Array>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        e.dump_to(out);
      }
      out.push_back(']');
      break;
    }
    case 6: {
      out.push_back('{');
      bool first = true;
      for (auto& [k, e] : std::get<Object>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        json_escape(k, out);
        out.push_back(':');
        e.dump_to(out);
      }
      out.push_back('}');
      break;
    }
    case 7: out += std::get<Raw>(v_).text; break;
  }
}

std::string Json::dump() const {
  std::string s;
  dump_to(s);
  return s;
}

Json Json::from(simdjson::dom::element e) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::NULL_VALUE: return Json();
    case T::BOOL: return Json(bool(e.get_bool().value()));
    case T::INT64: return Json(int64_t(e.get_int64().value()));
    case T::UINT64: {
      uint64_t u = e.get_uint64().value();
      if (u <= uint64_t(INT64_MAX)) return Json(int64_t(u));
      return Json(double(u));
    }
    case T::DOUBLE: return Json(e.get_double().value());
    case T::STRING: return Json(std::string(e.get_string().value()));
    case T::ARRAY: {
      Json a = Json::array();
      simdjson::dom::array arr = e.get_array().value();  // (a named copy: value() of a temporary dangles)
      for (auto x : arr) a.push(from(x));
      return a;
    }
    case T::OBJECT: {
      Json o = Json::object();
      simdjson::dom::object obj = e.get_object().value();
      for (auto kv : obj)
        o.as_object().emplace_back(std::string(kv.key), from(kv.value));
      return o;
    }
  }
  return Json();
}

Json Json::parse(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  auto r = parser.parse(padded);
  if (r.error()) throw Error(std::string("invalid JSON: ") + simdjson::error_message(r.error()));
  return from(r.value());
}

}  // namespace delib
