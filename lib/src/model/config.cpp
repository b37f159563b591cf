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
#include <cmath>
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
  c.rope_theta = r.number("rope_theta", f.default_rope_theta);
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
  if (f.local_rope) {
    // Gemma 3's v5 layout: rope_parameters {"full_attention": {...}, "sliding_attention":
    // {...}}; read as the classic rope_parameters / rope_local_base_freq.
    Json flat = config;
    const Json* params = r.get("rope_parameters");
    if (params && params->is_object() &&
        (params->find("full_attention") || params->find("sliding_attention"))) {
      const Json* full = params->find("full_attention");
      flat.set("rope_parameters", full ? *full : Json());
      if (const Json* local = params->find("sliding_attention"); local && local->is_object()) {
        const Json* t = local->find("rope_type");
        if (t && !t->is_null() && !(t->is_string() && t->as_string() == "default"))
          r.fail(fmt::format("\"rope_parameters\" \"sliding_attention\" \"rope_type\" {} is not "
                             "supported for {} (only default)", t->dump(), f.architecture));
        if (const Json* th = local->find("rope_theta"); th && th->is_number()) flat.set("rope_local_base_freq", *th);
      }
    }
    Reader fr(flat, source);
    read_rope(fr, f, c);
    c.rope_local_theta = fr.number("rope_local_base_freq", 10000.0);
  } else {
    read_rope(r, f, c);
  }

  std::string act = r.string(f.activation_field.c_str(), f.activation_default);
  if (act != "silu" && act != "gelu_pytorch_tanh")
    r.fail(fmt::format("unsupported {} \"{}\" (delib supports silu, gelu_pytorch_tanh)",
                       f.activation_field, act));
  c.hidden_act = act;
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
    case SlidingWindow::kPerLayer: {
      c.sliding_window = r.integer("sliding_window", 4096);  // HF's default; null reads as it too
      if (c.sliding_window <= 0) r.fail(fmt::format("\"sliding_window\" {} must be positive", c.sliding_window));
      if (const Json* lt = r.get("layer_types")) {
        if (!lt->is_array() || int64_t(lt->as_array().size()) != c.num_hidden_layers)
          r.fail(fmt::format("\"layer_types\" must be a list of {} strings (num_hidden_layers)",
                             c.num_hidden_layers));
        for (const auto& t : lt->as_array()) {
          if (!t.is_string() || (t.as_string() != "full_attention" && t.as_string() != "sliding_attention"))
            r.fail(fmt::format("\"layer_types\" entry {} is not supported for {} (full_attention, "
                               "sliding_attention)", t.dump(), f.architecture));
          c.layer_types.push_back(t.as_string());
        }
      } else {
        const int64_t p = r.integer("sliding_window_pattern", f.sliding_window_pattern);
        if (p <= 0) r.fail(fmt::format("\"sliding_window_pattern\" {} must be positive", p));
        for (int64_t i = 0; i < c.num_hidden_layers; ++i)
          c.layer_types.push_back((i + 1) % p != 0 ? "sliding_attention" : "full_attention");
      }
      if (r.boolean("use_bidirectional_attention", false))
        r.fail(fmt::format("use_bidirectional_attention true is not supported for {}", f.architecture));
      break;
    }
  }
  if (f.query_pre_attn_scalar) {
    c.query_pre_attn_scalar = r.number("query_pre_attn_scalar", 256);
    if (c.query_pre_attn_scalar <= 0)
      r.fail(fmt::format("\"query_pre_attn_scalar\" {} must be positive", c.query_pre_attn_scalar));
  }
  // Absent: the config class's default (Gemma 2: 50 and 30; Gemma 3: none); null: none.
  auto softcap = [&](const char* key, double def) {
    const Json* v = config.find(key);
    if (!v) return def;
    return v->is_null() ? 0.0 : r.number(key, 0.0);
  };
  const bool gemma2_defaults = f.attn_softcap;  // the row that reads both has HF's defaults
  if (f.attn_softcap) c.attn_logit_softcapping = softcap("attn_logit_softcapping", 50.0);
  if (f.final_softcap) c.final_logit_softcapping = softcap("final_logit_softcapping", gemma2_defaults ? 30.0 : 0.0);
  if (c.attn_logit_softcapping < 0 || c.final_logit_softcapping < 0)
    r.fail("\"attn_logit_softcapping\" and \"final_logit_softcapping\" must be positive or null");
  if (f.moe) {
    c.num_experts = r.get("num_experts") ? r.integer("num_experts") : r.integer("num_local_experts", 128);
    c.num_experts_per_tok = r.integer("num_experts_per_tok", 8);
    c.moe_intermediate_size = r.integer("moe_intermediate_size", 768);
    c.decoder_sparse_step = r.integer("decoder_sparse_step", 1);
    c.norm_topk_prob = r.boolean("norm_topk_prob", false);
    c.output_router_logits = r.boolean("output_router_logits", false);
    c.router_aux_loss_coef = r.number("router_aux_loss_coef", 0.001);
    if (c.num_experts < 0 || c.moe_intermediate_size <= 0 || c.decoder_sparse_step <= 0 ||
        (c.num_experts > 0 && (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_experts)))
      r.fail(fmt::format("MoE sizes (num_experts {}, num_experts_per_tok {}, moe_intermediate_size {}, "
                         "decoder_sparse_step {}) must be positive with num_experts_per_tok <= num_experts",
                         c.num_experts, c.num_experts_per_tok, c.moe_intermediate_size, c.decoder_sparse_step));
    if (const Json* m = r.get("mlp_only_layers")) {
      if (!m->is_array()) r.fail("\"mlp_only_layers\" must be a list of layer indices");
      for (const auto& x : m->as_array()) {
        if (!x.is_int()) r.fail("\"mlp_only_layers\" must be a list of layer indices");
        c.mlp_only_layers.push_back(x.as_int());
      }
    }
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

namespace {
// A float field of HF's strict config classes (Gemma's soft-caps: `float | None`): 3.0 must
// be written "3.0", which a double that happens to be integral does not dump as.
Json float_field(double d) {
  if (d == std::floor(d) && std::abs(d) < 1e15) return Json::raw(fmt::format("{:.1f}", d));
  return Json(d);
}
}  // namespace

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
  j.set(f.activation_field, hidden_act);
  if (f.sliding_window == SlidingWindow::kFromConfig)
    j.set("sliding_window", sliding_window > 0 ? Json(sliding_window) : Json());
  if (f.sliding_window == SlidingWindow::kPerLayer) {
    j.set("sliding_window", sliding_window);
    Json lt = Json::array();
    for (const auto& t : layer_types) lt.push(t);
    j.set("layer_types", lt);
  }
  if (f.query_pre_attn_scalar)  // an int in HF's config classes
    j.set("query_pre_attn_scalar", query_pre_attn_scalar == std::floor(query_pre_attn_scalar)
                                       ? Json(int64_t(query_pre_attn_scalar)) : Json(query_pre_attn_scalar));
  if (f.attn_softcap) j.set("attn_logit_softcapping", attn_logit_softcapping > 0 ? float_field(attn_logit_softcapping) : Json());
  if (f.final_softcap) j.set("final_logit_softcapping", final_logit_softcapping > 0 ? float_field(final_logit_softcapping) : Json());
  if (f.local_rope) j.set("rope_local_base_freq", rope_local_theta);
  if (f.moe) {
    j.set("num_experts", num_experts);
    j.set("num_experts_per_tok", num_experts_per_tok);
    j.set("moe_intermediate_size", moe_intermediate_size);
    j.set("decoder_sparse_step", decoder_sparse_step);
    j.set("norm_topk_prob", norm_topk_prob);
    Json m = Json::array();
    for (int64_t i : mlp_only_layers) m.push(i);
    j.set("mlp_only_layers", m);
    j.set("output_router_logits", output_router_logits);
    j.set("router_aux_loss_coef", float_field(router_aux_loss_coef));
  }
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
  int64_t layer = C * q + 2 * C * kv + q * C + 2 * C;
  if (attention_bias) layer += q + 2 * kv;
  if (o_proj_bias) layer += C;
  if (qk_norm) layer += 2 * D;
  if (model::family_of(model_type).sandwich_norms) layer += 2 * C;
  int64_t n = V * C + C + (tie_word_embeddings ? 0 : V * C);
  for (int64_t i = 0; i < num_hidden_layers; ++i)
    n += layer + (is_moe_layer(i) ? num_experts * (3 * C * moe_intermediate_size + C)
                                  : 3 * C * intermediate_size);
  return n;
}

bool ModelConfig::is_moe_layer(int64_t i) const {
  return num_experts > 0 && (i + 1) % decoder_sparse_step == 0 &&
         std::find(mlp_only_layers.begin(), mlp_only_layers.end(), i) == mlp_only_layers.end();
}

bool ModelConfig::is_sliding_layer(int64_t i) const {
  if (sliding_window <= 0) return false;
  if (layer_types.empty()) return true;
  return i >= 0 && i < int64_t(layer_types.size()) && layer_types[size_t(i)] == "sliding_attention";
}

}  // namespace delib
