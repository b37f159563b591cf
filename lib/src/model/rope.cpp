// RoPE frequencies and cos/sin (rope.h), following transformers' modeling_rope_utils.py:
// _compute_default_rope_parameters and the ROPE_INIT_FUNCTIONS entries, plus the
// dynamic_rope_update decorator for the length-dependent types.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include "model/rope.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "delib/error.h"

namespace delib::model {

namespace {

const Json* find_value(const Json& j, const char* key) {
  const Json* v = j.find(key);
  return (v && !v->is_null()) ? v : nullptr;
}

// A number of rope_scaling; `def` when absent; throws (a ModelConfig made by hand: files are
// checked by rope_scaling_problem when read).
double number(const Json& rs, const char* key, std::optional<double> def) {
  const Json* v = find_value(rs, key);
  if (v && v->is_number()) return v->as_double();
  if (!v && def) return *def;
  throw Error(fmt::format("rope_scaling \"{}\" is missing or not a number", key));
}

std::vector<float> numbers(const Json& rs, const char* key) {
  const Json* v = find_value(rs, key);
  if (!v || !v->is_array()) throw Error(fmt::format("rope_scaling \"{}\" must be a list of numbers", key));
  std::vector<float> out;
  for (const auto& x : v->as_array()) {
    if (!x.is_number()) throw Error(fmt::format("rope_scaling \"{}\" must be a list of numbers", key));
    out.push_back(float(x.as_double()));
  }
  return out;
}

// theta^(i / R) for i = 0, 2, ..., R-2: float32 (R/2,), as `base ** (arange(0, R, 2) / R)`.
torch::Tensor base_powers(double theta, int64_t R) {
  auto e = torch::arange(0, R, 2, torch::kInt64).to(torch::kFloat32) / double(R);
  return torch::pow(theta, e);
}

// YaRN (Peng et al. 2023, sec. 3.3 "NTK-by-parts" and eq. 21 for the attention factor), as
// HF's _compute_yarn_parameters: dimensions rotating more than beta_fast times over the
// original context keep their frequency, fewer than beta_slow times are interpolated by
// `factor`, a linear ramp in between. Returns inv_freq (R/2,) and the attention factor.
std::pair<torch::Tensor, double> yarn(const ModelConfig& c, const Json& rs, int64_t R) {
  const double base = c.rope_theta;
  const double orig = number(rs, "original_max_position_embeddings", double(c.max_position_embeddings));
  const double factor = number(rs, "factor", double(c.max_position_embeddings) / orig);
  auto mscale_of = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
  double attention_factor;
  if (const Json* a = find_value(rs, "attention_factor")) {
    attention_factor = a->as_double();
  } else {
    const double ms = number(rs, "mscale", 0.0), ms_all = number(rs, "mscale_all_dim", 0.0);
    attention_factor = (ms != 0 && ms_all != 0) ? mscale_of(factor, ms) / mscale_of(factor, ms_all)
                                                : mscale_of(factor, 1.0);
  }
  // `rope.get("beta_fast") or 32`: a 0 reads as the default too.
  double beta_fast = number(rs, "beta_fast", 0.0), beta_slow = number(rs, "beta_slow", 0.0);
  if (beta_fast == 0) beta_fast = 32;
  if (beta_slow == 0) beta_slow = 1;
  bool truncate = true;
  if (const Json* t = find_value(rs, "truncate"); t && t->is_bool()) truncate = t->as_bool();
  // The dimension index at which a frequency completes `rot` rotations over `orig` positions.
  auto correction_dim = [&](double rot) {
    return (double(R) * std::log(orig / (rot * 2 * M_PI))) / (2 * std::log(base));
  };
  double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(R - 1));
  if (low == high) high += 0.001;  // prevent a singular ramp
  auto ramp = ((torch::arange(R / 2, torch::kFloat32) - low) / (high - low)).clamp(0, 1);
  auto pos_freqs = base_powers(base, R);
  auto inv_extrapolation = 1.0 / pos_freqs;
  auto inv_interpolation = 1.0 / (factor * pos_freqs);
  auto extrapolation_factor = 1 - ramp;
  auto inv = inv_interpolation * (1 - extrapolation_factor) + inv_extrapolation * extrapolation_factor;
  return {inv, attention_factor};
}

}  // namespace

const std::vector<std::string>& rope_scaling_types() {
  static const std::vector<std::string> kTypes = {"linear", "llama3", "yarn", "dynamic", "longrope"};
  return kTypes;
}

std::string rope_scaling_problem(const Json& rs, int64_t R) {
  const std::string type = rs.find("rope_type")->as_string();
  auto need_number = [&](const char* key) -> std::string {
    const Json* v = find_value(rs, key);
    if (!v) return fmt::format("is missing \"{}\" (needed by rope_type \"{}\")", key, type);
    if (!v->is_number()) return fmt::format("\"{}\" must be a number", key);
    return "";
  };
  auto optional_number = [&](const char* key) -> std::string {
    const Json* v = find_value(rs, key);
    return (v && !v->is_number()) ? fmt::format("\"{}\" must be a number", key) : "";
  };
  std::string p;
  if (type == "linear" || type == "llama3" || type == "dynamic") p = need_number("factor");
  if (type == "llama3")
    for (const char* k : {"low_freq_factor", "high_freq_factor"})
      if (p.empty()) p = optional_number(k);
  if (type == "yarn")
    for (const char* k : {"factor", "attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"})
      if (p.empty()) p = optional_number(k);
  if (type == "longrope") {
    for (const char* k : {"factor", "attention_factor"})
      if (p.empty()) p = optional_number(k);
    for (const char* k : {"short_factor", "long_factor"}) {
      if (!p.empty()) break;
      const Json* v = find_value(rs, k);
      bool ok = v && v->is_array() && int64_t(v->as_array().size()) == R / 2;
      if (ok)
        for (const auto& x : v->as_array()) ok = ok && x.is_number();
      if (!ok)
        p = fmt::format("\"{}\" must be a list of {} numbers (rotary dim {} / 2)", k, R / 2, R);
    }
  }
  if (p.empty() && (type == "llama3" || type == "yarn" || type == "longrope")) {
    p = need_number("original_max_position_embeddings");
    if (p.empty() && find_value(rs, "original_max_position_embeddings")->as_double() <= 0)
      p = "\"original_max_position_embeddings\" must be positive";
  }
  return p;
}

Rope::Rope(const ModelConfig& c, torch::Device device) {
  R_ = int64_t(double(c.head_dim) * c.partial_rotary_factor);  // HF: int(head_dim * factor)
  // inv_freq_i = theta^(-2i/R), i = 0..R/2-1 (Su et al. 2021, sec. 3.2.2).
  torch::Tensor inv = 1.0 / base_powers(c.rope_theta, R_);
  if (c.rope_scaling.is_object()) {
    const Json& rs = c.rope_scaling;
    const std::string type = rs.find("rope_type")->as_string();
    if (type == "linear") {
      inv = inv / number(rs, "factor", std::nullopt);
    } else if (type == "llama3") {
      // Llama 3.1 frequency-dependent scaling (HF _compute_llama3_parameters): wavelengths
      // longer than original_ctx/low_freq_factor are divided by `factor`, shorter than
      // original_ctx/high_freq_factor kept, and the band between interpolated smoothly.
      const double factor = number(rs, "factor", std::nullopt);
      const double low = number(rs, "low_freq_factor", 1.0), high = number(rs, "high_freq_factor", 4.0);
      const double old_ctx = number(rs, "original_max_position_embeddings", 8192.0);
      const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
      auto wavelen = 2 * M_PI / inv;
      auto inv_llama = torch::where(wavelen > low_wavelen, inv / factor, inv);
      auto smooth = (old_ctx / wavelen - low) / (high - low);
      auto smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama;
      auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      inv = torch::where(medium, smoothed, inv_llama);
    } else if (type == "longrope") {
      // LongRoPE (Ding et al. 2024), HF _compute_longrope_parameters: per-dimension rescale
      // factors, short_factor up to the original context and long_factor past it; the
      // attention factor sqrt(1 + ln(factor) / ln(original_ctx)) multiplies cos and sin.
      const double orig = number(rs, "original_max_position_embeddings", std::nullopt);
      const double factor = number(rs, "factor", double(c.max_position_embeddings) / orig);
      attention_scaling_ = number(rs, "attention_factor",
                                  factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(orig)));
      auto powers = base_powers(c.rope_theta, R_);
      auto shorts = numbers(rs, "short_factor"), longs = numbers(rs, "long_factor");
      inv = 1.0 / (torch::tensor(shorts, torch::kFloat32) * powers);
      long_inv_freq_ = (1.0 / (torch::tensor(longs, torch::kFloat32) * powers)).to(device);
      switch_len_ = int64_t(orig);
      kind_ = Kind::kLongRope;
    } else if (type == "yarn") {
      std::tie(inv, attention_scaling_) = yarn(c, rs, R_);
    } else if (type == "dynamic") {
      kind_ = Kind::kDynamic;
      switch_len_ = c.max_position_embeddings;
      theta_ = c.rope_theta;
      factor_ = number(rs, "factor", std::nullopt);
    } else {
      throw Error(fmt::format("unsupported rope_type \"{}\"", type));
    }
  }
  inv_freq_ = inv.to(torch::kFloat32).to(device);
}

std::pair<torch::Tensor, torch::Tensor> Rope::cos_sin(const torch::Tensor& positions,
                                                      const torch::Tensor& valid,
                                                      torch::ScalarType dtype) const {
  const int64_t B = positions.size(0);
  torch::Tensor inv = inv_freq_.view({1, 1, -1});  // (1, 1, R/2)
  if (kind_ != Kind::kStatic) {
    // L per row: the largest valid position + 1 (HF: torch.max(position_ids) + 1 per call).
    auto p = valid.defined() ? positions.masked_fill(valid.logical_not(), -1) : positions;
    auto L = std::get<0>(p.max(1)) + 1;  // (B,) int64
    auto longer = (L > switch_len_).view({B, 1, 1});
    if (kind_ == Kind::kLongRope) {
      inv = torch::where(longer, long_inv_freq_.view({1, 1, -1}), inv);
    } else {
      // Dynamic NTK (HF _compute_dynamic_ntk_parameters) at seq_len = max(L, max_pos):
      // base' = theta * (factor * L / max_pos - (factor - 1))^(R / (R - 2)), in float32.
      auto s = L.clamp_min(switch_len_).to(torch::kFloat32);
      auto base =
          theta_ * ((factor_ * s / double(switch_len_)) - (factor_ - 1)).pow(double(R_) / double(R_ - 2));
      auto e = torch::arange(0, R_, 2, L.options()).to(torch::kFloat32) / double(R_);
      auto dyn = 1.0 / torch::pow(base.view({B, 1}), e.view({1, -1}));  // (B, R/2)
      inv = torch::where(longer, dyn.view({B, 1, -1}), inv);
    }
  }
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv;  // (B, T, R/2)
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();
  if (attention_scaling_ != 1.0) {
    cos = cos * attention_scaling_;
    sin = sin * attention_scaling_;
  }
  return {cos.to(dtype).unsqueeze(1), sin.to(dtype).unsqueeze(1)};
}

}  // namespace delib::model
