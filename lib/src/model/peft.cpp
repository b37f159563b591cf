// LoRA adapters in PEFT's format (delib/peft.h): names, config fields and the checks that
// refuse what delib's LoRA cannot represent.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include "delib/peft.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/json.h"
#include "delib/safetensors.h"
#include "model/family.h"
#include "model/modules.h"

namespace delib::peft {
namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";
// PEFT's prefix: PeftModel.base_model (LoraModel) .model (the transformers model).
constexpr const char* kPrefix = "base_model.model.";

// The adapted linears of `model`: (module name, layer), in module order.
std::vector<std::pair<std::string, model::LinearImpl*>> adapted(CausalLM& m) {
  std::vector<std::pair<std::string, model::LinearImpl*>> out;
  for (const auto& item : m.module().named_modules()) {
    auto* lin = dynamic_cast<model::LinearImpl*>(item.value().get());
    if (lin && lin->lora_A.defined()) out.emplace_back(item.key(), lin);
  }
  return out;
}

std::string leaf_of(const std::string& module) { return module.substr(module.rfind('.') + 1); }

// alpha as PEFT writes it: an int when it is one (LoraConfig.lora_alpha: int).
Json number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return Json(int64_t(v));
  return Json(v);
}

}  // namespace

bool has_lora(CausalLM& model) { return !adapted(model).empty(); }

void save_adapter(CausalLM& model, const std::string& dir, const std::string& base_model) {
  namespace fs = std::filesystem;
  torch::NoGradGuard ng;
  const auto layers = adapted(model);
  if (layers.empty()) throw Error(Location{dir, 0}, "the model has no LoRA adapters to save");
  const int64_t rank = layers.front().second->lora_A.size(0);
  const double scale = layers.front().second->lora_scale;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::set<std::string> targets;
  for (const auto& [name, lin] : layers) {
    if (lin->lora_A.size(0) != rank || lin->lora_scale != scale)
      throw Error(Location{dir, 0}, fmt::format("{}: its adapter's rank or scale differs from the others' "
                                                "(PEFT's adapter_config.json has one r and lora_alpha)", name));
    tensors.emplace_back(kPrefix + name + ".lora_A.weight", lin->lora_A);
    tensors.emplace_back(kPrefix + name + ".lora_B.weight", lin->lora_B);
    targets.insert(leaf_of(name));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(Location{dir, 0}, "cannot create directory: " + ec.message(), kExitIo);
  safetensors::save_file((fs::path(dir) / kWeightsFile).string(), tensors, {}, torch::kFloat32);

  // The fields PEFT 0.21's LoraConfig writes that describe this adapter; the others take
  // PEFT's defaults when read.
  Json tm = Json::array();
  for (const auto& t : targets) tm.push(t);
  Json c = Json::object();
  c.set("alpha_pattern", Json::object());
  c.set("base_model_name_or_path", base_model.empty() ? Json() : Json(base_model));
  c.set("bias", "none");
  c.set("exclude_modules", Json());
  c.set("fan_in_fan_out", false);
  c.set("inference_mode", true);
  c.set("init_lora_weights", true);
  c.set("layer_replication", Json());
  c.set("layers_pattern", Json());
  c.set("layers_to_transform", Json());
  c.set("lora_alpha", number(scale * double(rank)));
  c.set("lora_bias", false);
  c.set("lora_dropout", 0.0);
  c.set("modules_to_save", Json());
  c.set("peft_type", "LORA");
  c.set("r", rank);
  c.set("rank_pattern", Json::object());
  c.set("revision", Json());
  c.set("target_modules", tm);
  c.set("task_type", "CAUSAL_LM");
  c.set("use_dora", false);
  c.set("use_rslora", false);
  write_file_atomic((fs::path(dir) / kConfigFile).string(), c.dump() + "\n", kConfigFile);
}

LoraOptions read_lora_options(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / kConfigFile).string();
  if (!fs::exists(path))
    throw Error(Location{path, 0}, "missing: --lora-init takes a PEFT adapter directory "
                                   "(adapter_config.json, adapter_model.safetensors)", kExitIo);
  Json c;
  try {
    c = Json::parse(read_text_file(path, kConfigFile));
  } catch (const Error& e) {
    if (!e.where().file.empty()) throw;
    throw Error(Location{path, 0}, e.what(), kExitUsage);
  }
  auto fail = [&](const std::string& field, const std::string& m) {
    return Error(Location{path, 0}, fmt::format("{}: {}", field, m), kExitUsage);
  };
  if (!c.is_object()) throw Error(Location{path, 0}, "not a JSON object", kExitUsage);
  auto field = [&](const char* k) { return c.find(k); };
  auto set = [&](const char* k) {  // present and neither null, false, nor an empty list/object
    const Json* v = field(k);
    if (!v || v->is_null()) return false;
    if (v->is_bool()) return v->as_bool();
    if (v->is_array()) return !v->as_array().empty();
    if (v->is_object()) return !v->as_object().empty();
    return true;
  };

  const Json* type = field("peft_type");
  if (!type || !type->is_string() || type->as_string() != "LORA")
    throw fail("peft_type", fmt::format("is {}; delib reads LoRA adapters (\"LORA\")", type ? type->dump() : "missing"));
  if (const Json* t = field("task_type"); t && !t->is_null() && !(t->is_string() && t->as_string() == "CAUSAL_LM"))
    throw fail("task_type", fmt::format("is {}; delib's models are CAUSAL_LM", t->dump()));
  struct Refused { const char* field; const char* why; };
  static const Refused kRefused[] = {
      {"use_dora", "DoRA (weight-decomposed LoRA) is not delib's LoRA"},
      {"use_rslora", "rank-stabilised LoRA scales by lora_alpha / sqrt(r); delib's scale is lora_alpha / r"},
      {"rank_pattern", "per-layer ranks are not supported (one r for every layer)"},
      {"alpha_pattern", "per-layer alphas are not supported (one lora_alpha for every layer)"},
      {"lora_bias", "LoRA biases are not supported"},
      {"fan_in_fan_out", "transposed (Conv1D) weights are not delib's layout"},
      {"layers_to_transform", "adapters on a subset of layers are not supported"},
      {"modules_to_save", "fully trained extra modules are not supported"},
      {"exclude_modules", "excluded modules are not supported"},
      {"layer_replication", "layer replication is not supported"},
      {"target_parameters", "adapters on parameters (not linear layers) are not supported"},
      {"trainable_token_indices", "trainable token rows are not supported"},
  };
  for (const auto& r : kRefused)
    if (set(r.field)) throw fail(r.field, fmt::format("is {}; {}", field(r.field)->dump(), r.why));
  if (const Json* b = field("bias"); b && !b->is_null() && !(b->is_string() && b->as_string() == "none"))
    throw fail("bias", fmt::format("is {}; delib's adapters have no bias (\"none\")", b->dump()));

  LoraOptions o;
  const Json* r = field("r");
  if (!r || !r->is_int() || r->as_int() <= 0) throw fail("r", "missing or not a positive integer");
  o.rank = int(r->as_int());
  const Json* a = field("lora_alpha");
  if (!a || !a->is_number() || a->as_double() <= 0) throw fail("lora_alpha", "missing or not a positive number");
  o.alpha = a->as_double();
  const Json* tm = field("target_modules");
  const auto& names = model::lora_target_names();
  if (tm && tm->is_string() && tm->as_string() == "all-linear") {
    o.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  } else if (tm && tm->is_string()) {
    throw fail("target_modules", fmt::format("is the regular expression {}; delib reads a list of layer names ({})",
                                             tm->dump(), fmt::join(names, ", ")));
  } else if (tm && tm->is_array() && !tm->as_array().empty()) {
    o.targets.clear();
    for (const Json& t : tm->as_array()) {
      if (!t.is_string()) throw fail("target_modules", fmt::format("{} is not a layer name", t.dump()));
      if (std::find(names.begin(), names.end(), t.as_string()) == names.end())
        throw fail("target_modules", fmt::format("\"{}\" is not a layer delib can adapt ({})", t.as_string(),
                                                 fmt::join(names, ", ")));
      o.targets.push_back(t.as_string());
    }
  } else {
    throw fail("target_modules", "missing or empty (a list of layer names)");
  }
  if (const Json* d = field("lora_dropout"); d && d->is_number() && d->as_double() > 0)
    warn(fmt::format("{}: lora_dropout {} is not applied: delib trains LoRA without dropout", path, d->as_double()));
  o.from_adapter = dir;
  return o;
}

void load_adapter_weights(CausalLM& model, const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / kWeightsFile).string();
  if (!fs::exists(path)) {
    const bool bin = fs::exists(fs::path(dir) / "adapter_model.bin");
    throw Error(Location{path, 0}, bin ? "missing (delib reads safetensors, not the pickled adapter_model.bin; "
                                         "HINT: load it with peft and save_pretrained(safe_serialization=True))"
                                       : "missing", kExitIo);
  }
  auto file = safetensors::File::open(path);
  torch::NoGradGuard ng;
  std::set<std::string> used;
  for (const auto& [name, lin] : adapted(model)) {
    for (auto* p : {&lin->lora_A, &lin->lora_B}) {
      const std::string key = kPrefix + name + (p == &lin->lora_A ? ".lora_A.weight" : ".lora_B.weight");
      const auto* info = file->find(key);
      if (!info)
        throw Error(Location{path, 0}, fmt::format("has no tensor \"{}\" (adapter_config.json targets {})", key,
                                                   leaf_of(name)));
      if (info->shape != p->sizes().vec())
        throw Error(Location{path, 0}, fmt::format("tensor \"{}\" has shape [{}]; r and the model's config imply [{}]",
                                                   key, fmt::join(info->shape, ", "), fmt::join(p->sizes(), ", ")));
      p->copy_(file->tensor(key));
      used.insert(key);
    }
  }
  for (const auto& t : file->header().tensors)
    if (!used.count(t.name))
      throw Error(Location{path, 0}, fmt::format("unexpected tensor \"{}\": not the lora_A / lora_B of a layer "
                                                 "adapter_config.json targets in this {} model", t.name,
                                                 model.config().architecture));
}

}  // namespace delib::peft
