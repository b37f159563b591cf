// LoRA adapters in PEFT's format (area: model, in delib_torch): the directory that
// peft.PeftModel.from_pretrained(base, DIR) and vLLM's runtime LoRA (--lora-modules) read, and
// that delib's LoRA training can start from.
//
//   DIR/adapter_config.json        {"peft_type": "LORA", "r": 8, "lora_alpha": 16,
//                                   "target_modules": ["q_proj", "v_proj"], "bias": "none",
//                                   "task_type": "CAUSAL_LM", "fan_in_fan_out": false,
//                                   "inference_mode": true, "lora_dropout": 0.0, ...}
//   DIR/adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in) and
//                                  base_model.model.<module>.lora_B.weight (out, r) for each
//                                  adapted linear, e.g. <module> = model.layers.3.self_attn.q_proj
//
// PEFT's LoRA (peft/tuners/lora/layer.py, Linear.forward): y = W x + (lora_alpha / r) B A x,
// delib's (delib/model.h LoraOptions) is the same with alpha = lora_alpha, so an adapter moves
// between the two unchanged. On fused families (Phi-3) the adapters sit on qkv_proj /
// gate_up_proj, which are also transformers' module names there.
#pragma once
#include <string>

#include "delib/model.h"

namespace delib::peft {

// True when some linear layer of `model` has a LoRA adapter (add_lora was called).
bool has_lora(CausalLM& model);

// Writes the adapters of `model` to DIR (created; existing files of the same names are
// replaced): adapter_model.safetensors in f32 and adapter_config.json with r, lora_alpha,
// target_modules (the adapted layers' names, sorted) and `base_model` as
// base_model_name_or_path ("" writes null). REQUIRES: has_lora(model); every adapter has the
// same rank and scale (add_lora gives them). Throws Error (kExitIo) when DIR cannot be written.
void save_adapter(CausalLM& model, const std::string& dir, const std::string& base_model = "");

// Reads DIR/adapter_config.json into the options that recreate the adapter's shape: rank = r,
// alpha = lora_alpha, targets = target_modules (a list of delib's target names, or the string
// "all-linear"), from_adapter = DIR. A config delib cannot honour is an Error (kExitUsage)
// naming adapter_config.json and the field: a peft_type other than LORA, use_dora, use_rslora,
// rank_pattern / alpha_pattern, bias other than "none", lora_bias, fan_in_fan_out,
// layers_to_transform, modules_to_save, exclude_modules, layer_replication, target_parameters,
// trainable_token_indices, a task_type other than CAUSAL_LM, a target_modules regular
// expression or a module name delib does not have. A lora_dropout above 0 is a warning
// (delib trains without dropout). A missing or unreadable file is Error(kExitIo).
LoraOptions read_lora_options(const std::string& dir);

// Copies DIR/adapter_model.safetensors into `model`'s adapters (add_lora called with
// read_lora_options(DIR)). Every adapter must find its lora_A / lora_B of the right shape and
// every tensor of the file must belong to an adapter; otherwise Error naming the file and the
// tensor.
void load_adapter_weights(CausalLM& model, const std::string& dir);

}  // namespace delib::peft
