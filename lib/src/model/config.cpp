// ModelConfig: Hugging Face config.json -> the fields the decoder needs.
//
// Accepts both the classic layout (rope_theta, rope_scaling at top level, "torch_dtype") and
// the transformers v5 layout (rope_parameters {rope_theta, rope_type, ...}, "dtype").
// LibTorch ships its own fmt (v12) headers, which shadow the system fmt 9 in torch targets;
// use them header-only so nothing links against the system library's different ABI.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include <filesystem>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/model.h"

namespace delib {
namespace {

struct Arch {
  const char* architecture;
  const char* model_type;
};
constexpr Arch kArchs[] = {
    {"LlamaForCausalLM", "llama"},
    {"Qwen2ForCausalLM", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"},
    {"MistralForCausalLM", "mistral"},
};

std::string supported_list() {
  std::string s;
  for (const auto& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.architecture);
  return s;
}

class Reader {
 public:
  Reader(const Json& j, const std::string& source) : j_(j), source_(source) {}

  [[noreturn]] void fail(const std::string& msg) const { throw Error(Location{source_, 0}, msg); }

  const Json* get(const char* key) const {
    const Json* v = j_.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  int64_t integer(const char* key, std::optional<int64_t> def = std::nullopt) const {
    const Json* v = get(key);
    if (!v) {
      if (def) return *def;
      fail(fmt::format("config is missing \"{}\"", key));
    }
    if (v->is_int()) return v->as_int();
    if (v->is_double() && v->as_double() == double(int64_t(v->as_double()))) return int64_t(v->as_double());
    fail(fmt::format("config \"{}\" must be an integer", key));
  }
  double number(const char* key, double def) const {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_number()) fail(fmt::format("config \"{}\" must be a number", key));
    return v->as_double();
  }
  bool boolean(const char* key, bool def) const {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_bool()) fail(fmt::format("config \"{}\" must be true or false", key));
    return v->as_bool();
  }
  std::string string(const char* key, const std::string& def) const {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_string()) fail(fmt::format("config \"{}\" must be a string", key));
    return v->as_string();
  }

 private:
  const Json& j_;
  const std::string& source_;
};

}  // namespace

ModelConfig ModelConfig::from_json(const Json& config, const std::string& source) {
  if (!config.is_object()) throw Error(Location{source, 0}, "config is not a JSON object");
  Reader r(config, source);
  ModelConfig c;
  c.raw = config;

  // Architecture: "architectures"[0], else derived from "model_type".
  std::string model_type = r.string("model_type", "");
  const Json* archs = r.get("architectures");
  if (archs && archs->is_array() && !archs->as_array().empty() && archs->as_array()[0].is_string()) {
    c.architecture = archs->as_array()[0].as_string();
    const Arch* found = nullptr;
    for (const auto& a : kArchs)
      if (c.architecture == a.architecture) found = &a;
    if (!found)
      r.fail(fmt::format("unsupported architecture \"{}\" (delib supports {})", c.architecture,
                         supported_list()));
    c.model_type = found->model_type;
  } else {
    for (const auto& a : kArchs)
      if (model_type == a.model_type) {
        c.architecture = a.architecture;
        c.model_type = a.model_type;
      }
    if (c.architecture.empty())
      r.fail(fmt::format("unsupported model_type \"{}\" and no known \"architectures\" (delib "
                         "supports {})", model_type, supported_list()));
  }

  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_hidden_layers = r.integer("num_hidden_layers");
  c.num_attention_heads = r.integer("num_attention_heads");
  c.num_key_value_heads = r.integer("num_key_value_heads", c.num_attention_heads);
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0)
    r.fail("config sizes (vocab_size, hidden_size, intermediate_size, num_hidden_layers, "
           "num_attention_heads, num_key_value_heads) must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    r.fail(fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}",
                       c.num_attention_heads, c.num_key_value_heads));
  if (r.get("head_dim")) {
    c.head_dim = r.integer("head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("hidden_size is not a multiple of num_attention_heads and head_dim is not given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) r.fail(fmt::format("head_dim {} must be positive and even", c.head_dim));
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048);
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);

  // RoPE: classic rope_theta/rope_scaling, or v5 rope_parameters.
  const Json* params = r.get("rope_parameters");
  c.rope_theta = r.number("rope_theta", 10000.0);
  if (params && params->is_object()) {
    if (const Json* t = params->find("rope_theta"); t && t->is_number()) c.rope_theta = t->as_double();
  }
  const Json* scaling = r.get("rope_scaling");
  if (!scaling && params && params->is_object()) scaling = params;
  c.rope_scaling = Json();
  if (scaling) {
    if (!scaling->is_object()) r.fail("rope_scaling must be an object or null");
    const Json* type = scaling->find("rope_type");
    if (!type || type->is_null()) type = scaling->find("type");
    std::string t = (type && type->is_string()) ? type->as_string() : "default";
    if (t == "llama3" || t == "linear") {
      c.rope_scaling = *scaling;
      c.rope_scaling.set("rope_type", t);
    } else if (t != "default") {
      r.fail(fmt::format("unsupported rope scaling type \"{}\" (delib supports default, linear, llama3)", t));
    }
  }

  std::string act = r.string("hidden_act", "silu");
  if (act != "silu") r.fail(fmt::format("unsupported hidden_act \"{}\" (delib supports silu)", act));
  if (r.boolean("mlp_bias", false)) r.fail("mlp_bias true is not supported");
  c.attention_bias = c.model_type == "qwen2" ? true : r.boolean("attention_bias", false);
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type == "qwen2" || c.model_type == "qwen3") {
    if (r.boolean("use_sliding_window", false))
      r.fail("use_sliding_window true is not supported for Qwen models");
  } else if (c.model_type == "mistral") {
    c.sliding_window = r.integer("sliding_window", 0);
  }
  c.torch_dtype = r.string("torch_dtype", r.string("dtype", "float32"));
  return c;
}

ModelConfig ModelConfig::load(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  const std::string text = read_text_file(path, "the model config");
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error(Location{path, 0}, e.what());
  }
  return from_json(j, path);
}

Json ModelConfig::to_json() const {
  Json j = Json::object();
  Json archs = Json::array();
  archs.push(architecture);
  j.set("architectures", archs);
  j.set("model_type", model_type);
  j.set("vocab_size", vocab_size);
  j.set("hidden_size", hidden_size);
  j.set("intermediate_size", intermediate_size);
  j.set("num_hidden_layers", num_hidden_layers);
  j.set("num_attention_heads", num_attention_heads);
  j.set("num_key_value_heads", num_key_value_heads);
  j.set("head_dim", head_dim);
  j.set("max_position_embeddings", max_position_embeddings);
  j.set("rms_norm_eps", rms_norm_eps);
  j.set("rope_theta", rope_theta);
  j.set("rope_scaling", rope_scaling);
  j.set("tie_word_embeddings", tie_word_embeddings);
  if (model_type != "qwen2") j.set("attention_bias", attention_bias);
  j.set("hidden_act", "silu");
  if (model_type == "mistral") j.set("sliding_window", sliding_window > 0 ? Json(sliding_window) : Json());
  j.set("torch_dtype", torch_dtype);
  return j;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t C = hidden_size, V = vocab_size, D = head_dim;
  const int64_t q = num_attention_heads * D, kv = num_key_value_heads * D;
  int64_t layer = C * q + 2 * C * kv + q * C + 3 * C * intermediate_size + 2 * C;
  if (attention_bias) layer += q + 2 * kv;
  if (qk_norm) layer += 2 * D;
  return V * C + num_hidden_layers * layer + C + (tie_word_embeddings ? 0 : V * C);
}

}  // namespace delib
