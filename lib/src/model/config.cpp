// ModelConfig: Hugging Face config.json -> the fields the decoder needs.
//
// Accepts both the classic layout (rope_theta, rope_scaling at top level, "torch_dtype") and
// the transformers v5 layout (rope_parameters {rope_theta, rope_type, ...}, "dtype"). What
// differs between families (which fields are read, which refused) is the family's row in
// family.cpp; this file reads the row, never a model_type.
// LibTorch ships its own fmt (v12) headers, which shadow the system fmt 9 in torch targets;
// use them header-only so nothing links against the system library's different ABI.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/model.h"
#include "model/family.h"
#include "model/rope.h"

namespace delib {
namespace {

using model::AttentionBias;
using model::Family;
using model::SlidingWindow;

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

// The family row: "architectures"[0] when given (it must be known), else "model_type".
const Family& read_family(const Reader& r) {
  const std::string model_type = r.string("model_type", "");
  const Json* archs = r.get("architectures");
  if (archs && archs->is_array() && !archs->as_array().empty() && archs->as_array()[0].is_string()) {
    const std::string& arch = archs->as_array()[0].as_string();
    for (const auto& f : model::families())
      if (f.architecture == arch) return f;
    r.fail(fmt::format("unsupported architecture \"{}\" (delib supports {})", arch,
                       model::supported_architectures()));
  }
  for (const auto& f : model::families())
    if (f.model_type == model_type) return f;
  r.fail(fmt::format("unsupported model_type \"{}\" and no known \"architectures\" (delib "
                     "supports {})", model_type, model::supported_architectures()));
}

// RoPE: classic rope_theta / rope_scaling / partial_rotary_factor at the top level, or the v5
// rope_parameters object holding them; the scaling type must be one the family takes.
void read_rope(const Reader& r, const Family& f, ModelConfig& c) {
  const Json* params = r.get("rope_parameters");
  if (params && !params->is_object()) r.fail("\"rope_parameters\" must be an object or null");
  c.rope_theta = r.number("rope_theta", 10000.0);
  if (params)
    if (const Json* t = params->find("rope_theta"); t && t->is_number()) c.rope_theta = t->as_double();

  // partial_rotary_factor: the rope object's, else the top level's (HF: setdefault).
  const Json* scaling = r.get("rope_scaling");
  const char* key = "rope_scaling";
  if (!scaling && params) {
    scaling = params;
    key = "rope_parameters";
  }
  if (scaling && !scaling->is_object()) r.fail(fmt::format("\"{}\" must be an object or null", key));
  c.partial_rotary_factor = r.number("partial_rotary_factor", 1.0);
  if (scaling)
    if (const Json* p = scaling->find("partial_rotary_factor"); p && !p->is_null()) {
      if (!p->is_number()) r.fail(fmt::format("\"{}\" \"partial_rotary_factor\" must be a number", key));
      c.partial_rotary_factor = p->as_double();
    }
  if (c.partial_rotary_factor != 1.0 && !f.partial_rotary)
    r.fail(fmt::format("\"partial_rotary_factor\" {} is not supported for {} (only 1)",
                       c.partial_rotary_factor, f.architecture));
  const int64_t R = int64_t(double(c.head_dim) * c.partial_rotary_factor);
  if (c.partial_rotary_factor <= 0 || c.partial_rotary_factor > 1 || R <= 0 || R % 2 != 0)
    r.fail(fmt::format("\"partial_rotary_factor\" {} gives rotary dim {} of head_dim {}: it must "
                       "be in (0, 1] and give an even dim", c.partial_rotary_factor, R, c.head_dim));

  c.rope_scaling = Json();
  if (!scaling) return;
  const Json* type = scaling->find("rope_type");
  if (!type || type->is_null()) type = scaling->find("type");
  std::string t = (type && type->is_string()) ? type->as_string() : "default";
  for (const auto& [from, to] : f.rope_aliases)
    if (t == from) t = to;
  if (t == "default") return;
  if (std::find(f.rope_types.begin(), f.rope_types.end(), t) == f.rope_types.end()) {
    std::string known = "default";
    for (const auto& k : f.rope_types) known += ", " + k;
    r.fail(fmt::format("unsupported rope scaling type \"{}\" in \"{}\" (delib supports {} for {})",
                       t, key, known, f.architecture));
  }
  c.rope_scaling = *scaling;
  c.rope_scaling.set("rope_type", t);
  // The pretraining context of llama3 / yarn / longrope, as HF's standardize_rope_params
  // resolves it: a top-level "original_max_position_embeddings" (or the family's default of
  // that field) wins, then the rope object's, then max_position_embeddings.
  if (t == "llama3" || t == "yarn" || t == "longrope") {
    const Json* top = r.get("original_max_position_embeddings");
    if (top || f.original_max_position_embeddings > 0)
      c.rope_scaling.set("original_max_position_embeddings",
                         r.integer("original_max_position_embeddings", f.original_max_position_embeddings));
    else if (!c.rope_scaling.find("original_max_position_embeddings") ||
             c.rope_scaling.find("original_max_position_embeddings")->is_null())
      c.rope_scaling.set("original_max_position_embeddings", c.max_position_embeddings);
  }
  if (std::string p = model::rope_scaling_problem(c.rope_scaling, R); !p.empty())
    r.fail(fmt::format("\"{}\" {}", key, p));
}

}  // namespace

ModelConfig ModelConfig::from_json(const Json& config, const std::string& source) {
  if (!config.is_object()) throw Error(Location{source, 0}, "config is not a JSON object");
  Reader r(config, source);
  ModelConfig c;
  c.raw = config;
  const Family& f = read_family(r);
  c.architecture = f.architecture;
  c.model_type = f.model_type;

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
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", f.tie_word_embeddings);
  if (const Json* pad = r.get("pad_token_id"); pad && pad->is_int() && pad->as_int() >= 0 &&
                                                pad->as_int() < c.vocab_size)
    c.pad_token_id = pad->as_int();
  read_rope(r, f, c);

  std::string act = r.string("hidden_act", "silu");
  if (act != "silu") r.fail(fmt::format("unsupported hidden_act \"{}\" (delib supports silu)", act));
  if (r.boolean("mlp_bias", false)) r.fail("mlp_bias true is not supported");
  switch (f.attention_bias) {
    case AttentionBias::kNone: break;
    case AttentionBias::kQkv: c.attention_bias = true; break;
    case AttentionBias::kFromConfig:
      c.attention_bias = c.o_proj_bias = r.boolean("attention_bias", false);
      break;
  }
  c.qk_norm = f.qk_norm;
  switch (f.sliding_window) {
    case SlidingWindow::kNone: break;
    case SlidingWindow::kFromConfig: c.sliding_window = r.integer("sliding_window", 0); break;
    case SlidingWindow::kRefused:
      if (r.boolean("use_sliding_window", false))
        r.fail(fmt::format("use_sliding_window true is not supported for {}", f.architecture));
      break;
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
  const Family& f = model::family_of(model_type);
  if (f.attention_bias == AttentionBias::kFromConfig) j.set("attention_bias", attention_bias);
  j.set("hidden_act", "silu");
  if (f.sliding_window == SlidingWindow::kFromConfig)
    j.set("sliding_window", sliding_window > 0 ? Json(sliding_window) : Json());
  if (f.partial_rotary) j.set("partial_rotary_factor", partial_rotary_factor);
  // Phi-3's top-level original_max_position_embeddings overrides the rope object's in HF.
  const Json* orig = rope_scaling.is_object() ? rope_scaling.find("original_max_position_embeddings") : nullptr;
  if (orig && f.original_max_position_embeddings > 0) j.set("original_max_position_embeddings", *orig);
  j.set("torch_dtype", torch_dtype);
  return j;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t C = hidden_size, V = vocab_size, D = head_dim;
  const int64_t q = num_attention_heads * D, kv = num_key_value_heads * D;
  int64_t layer = C * q + 2 * C * kv + q * C + 3 * C * intermediate_size + 2 * C;
  if (attention_bias) layer += q + 2 * kv;
  if (o_proj_bias) layer += C;
  if (qk_norm) layer += 2 * D;
  return V * C + num_hidden_layers * layer + C + (tie_word_embeddings ? 0 : V * C);
}

}  // namespace delib
