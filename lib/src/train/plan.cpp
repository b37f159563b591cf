// The memory plan of a training run (sft-train --plan; delib/train.h): bytes per rank for the
// weights, gradients, AdamW state, saved activations and the loss's buffers, from config.json
// alone. Every figure below is derived from the code that allocates it (file and function
// named), so that a change there shows up here.
//
// Notation (llm.c style): N = B x T tokens per micro-batch per rank (every row full: the worst
// case of packing), C hidden, L layers, V vocabulary, H / Hkv query / key-value heads of D
// features, I the MLP width, R the rotary features per head (D x partial_rotary_factor),
// W = world size. Bytes per element: w of the weights (f32 = 4, bf16 = 2), a of the matmuls
// (w, or 2 under bf16 autocast on CUDA), 4 for the f32 statistics of RMSNorm and the loss.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/train.h"
#include "model/family.h"

namespace delib::train {

Sharding parse_sharding(const std::string& name, const std::string& flag) {
  if (name == "none") return Sharding::kNone;
  if (name == "grad-opt") return Sharding::kGradOpt;
  if (name == "full") return Sharding::kFull;
  throw Error(fmt::format("{} '{}': unknown sharding strategy (expected none, grad-opt or full)", flag, name),
              kExitUsage);
}

const char* sharding_name(Sharding s) {
  switch (s) {
    case Sharding::kNone: return "none";
    case Sharding::kGradOpt: return "grad-opt";
    case Sharding::kFull: return "full";
  }
  return "none";
}

int64_t parse_size(const std::string& text, const std::string& flag) {
  auto bad = [&]() {
    return Error(fmt::format("{} '{}': expected a size such as 80GB (10^9 bytes), 80GiB (2^30) or a "
                             "number of bytes", flag, text), kExitUsage);
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(text.substr(0, i), &used);
    if (used != i) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  std::string unit;
  for (size_t j = i; j < text.size(); ++j)
    if (text[j] != ' ') unit += char(std::tolower(static_cast<unsigned char>(text[j])));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else if (unit == "kib") scale = std::ldexp(1.0, 10);
  else if (unit == "mib") scale = std::ldexp(1.0, 20);
  else if (unit == "gib") scale = std::ldexp(1.0, 30);
  else if (unit == "tib") scale = std::ldexp(1.0, 40);
  else throw bad();
  const double bytes = value * scale;
  if (!(bytes >= 1) || bytes > 9e18) throw bad();
  return int64_t(std::llround(bytes));
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The LoRA adapter parameters of one decoder layer: r (in + out) for each adapted linear
// layer (model.cpp LinearImpl::add_lora: lora_A (r, in), lora_B (out, r)); `leaves` gets the
// adapted layers' names. The family's row says which layer a target selects (q_proj -> qkv_proj when fused).
int64_t lora_per_layer(const ModelConfig& c, const LoraOptions& lo, std::set<std::string>& leaves) {
  const auto& fam = model::family_of(c.model_type);
  const int64_t C = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  const int64_t q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  for (const auto& t : lo.targets) leaves.insert(model::lora_leaf(fam, t));
  int64_t params = 0;
  for (const auto& leaf : leaves) {
    int64_t in = 0, out = 0;
    if (leaf == "q_proj") in = C, out = q;
    else if (leaf == "k_proj" || leaf == "v_proj") in = C, out = kv;
    else if (leaf == "o_proj") in = q, out = C;
    else if (leaf == "gate_proj" || leaf == "up_proj") in = C, out = I;
    else if (leaf == "down_proj") in = I, out = C;
    else if (leaf == "qkv_proj") in = C, out = q + 2 * kv;
    else if (leaf == "gate_up_proj") in = C, out = 2 * I;
    else throw Error(fmt::format("--lora-targets: unknown layer '{}'", leaf), kExitUsage);
    params += int64_t(lo.rank) * (in + out);
  }
  return params;
}

// Bytes one decoder layer keeps for backward (model.cpp DecoderLayerImpl::forward, training
// path: no KV cache, grad enabled, SDPA). Autograd saves an operand only when the other one
// needs a gradient (x * cos saves cos, not x; a linear layer with a frozen weight saves the
// weight, not its input), so what is kept depends on what is trainable. Full fine-tuning, in
// the order the tensors are made:
//
//   input_layernorm(x), RMSNormImpl::forward:
//     xf = x.to(f32)                  saved by pow and by xf * rsqrt     N C x 4  (x itself when
//                                                                                the weights are f32)
//     xn.to(dtype)                    saved by weight * xn               N C x w
//     rsqrt(var + eps)                saved by xf * rsqrt                N x 4
//   q/k/v_proj(y1): at::linear saves its input y1 (under autocast: the bf16 cast)  N C x a
//   q_norm, k_norm (Qwen3), as RMSNorm on each head's D features:   N (H + Hkv) (D (4 + a) + 4)
//   rotate(q), rotate(k): q * cos and rotate_half(q) * sin save only cos and sin (shared)
//   at::scaled_dot_product_attention (the flash kernel, CPU and CUDA) saves q, k, v, its output
//   and the row logsumexps:           N (2 H + 2 Hkv) D x a  +  B H T x 4
//     and, with a boolean mask (every packed or padded batch), the mask converted to an
//     additive bias in the query's dtype, one per call:             B T T x a
//   o_proj: its input is SDPA's output: the flash kernel lays it out (B, T, H, D), so
//     transpose(1, 2).reshape is a view                              nothing more
//   h = x + attn: nothing (add)
//   post_attention_layernorm(h): as input_layernorm                N C x (4 + w)
//   gate_proj, up_proj: their input y2                              N C x a
//   SwiGLU: silu saves gate; silu(gate) * up saves both; down_proj saves the product
//                                                                   4 N I x a
//     (fused gate_up_proj: the (N, 2I) output, kept through views by silu and mul: same total)
//   out = h + mlp: nothing.
//
// LoRA (frozen base): a norm keeps only xf (its weight is frozen: xn is not saved); a linear
// layer's input is kept only when the layer has an adapter (its x A^T is kept too, N r x a per
// adapter); down_proj's input likewise, so SwiGLU keeps 3 N I a without a down_proj adapter.
// (Layer 0's norm keeps nothing: nothing before it needs a gradient. Not subtracted.)
//
// Checked to the byte against what a forward of delib's model keeps (tests/unit/train/test_plan.cpp,
// an allocator that counts live bytes) and, for SDPA, against PyTorch 2.11's saved-tensor hooks.
int64_t layer_activation_bytes(const PlanInput& in, int w, int a, const std::set<std::string>& adapted) {
  const ModelConfig& c = in.config;
  const int64_t B = in.batch_size, T = in.max_length, N = B * T;
  const int64_t C = c.hidden_size, H = c.num_attention_heads, Hkv = c.num_key_value_heads,
                D = c.head_dim, I = c.intermediate_size;
  auto keeps = [&](std::initializer_list<const char*> leaves) {  // a linear input is saved
    if (!in.lora) return true;
    for (const char* l : leaves)
      if (adapted.count(l)) return true;
    return false;
  };
  const int64_t r = in.lora ? in.lora_options.rank : 0;
  int64_t bytes = 0;
  bytes += 2 * N * C * (in.lora ? 4 : 4 + w) + 2 * N * 4;              // the two RMSNorms
  if (keeps({"q_proj", "k_proj", "v_proj", "qkv_proj"})) bytes += N * C * a;  // y1
  if (c.qk_norm) bytes += N * (H + Hkv) * (D * (in.lora ? 4 : 4 + a) + 4);  // q_norm, k_norm
  bytes += N * (2 * H + 2 * Hkv) * D * a + B * H * T * 4;               // SDPA: q, k, v, out, lse
  bytes += B * T * T * a;                                              // SDPA: the mask as a bias
  if (keeps({"gate_proj", "up_proj", "gate_up_proj"})) bytes += N * C * a;  // y2
  bytes += 3 * N * I * a;                                              // silu(gate), its input, up
  if (keeps({"down_proj"})) bytes += N * I * a;                        // down_proj's input
  bytes += int64_t(adapted.size()) * N * r * a;                        // LoRA: x A^T
  return bytes;
}

}  // namespace

int64_t MemoryPlan::peak(bool checkpointing) const {
  const int64_t acts = checkpointing ? activations_checkpointed : activations;
  return persistent() + autocast_copies +
         std::max({acts + loss_chunk + head_grad, grads_step + grads_backward, grads_step + step_transient});
}

MemoryPlan plan_memory(const PlanInput& in) {
  const ModelConfig& c = in.config;
  if (in.world_size < 1 || in.batch_size < 1 || in.max_length < 1 || in.loss_chunk < 1)
    throw Error("plan: world size, batch size, max length and loss chunk must be >= 1", kExitUsage);
  MemoryPlan p;
  const int64_t W = in.world_size;
  const int64_t B = in.batch_size, T = in.max_length, N = B * T;
  const int64_t C = c.hidden_size, V = c.vocab_size, L = c.num_hidden_layers;
  const bool autocast = in.cuda && in.autocast && in.dtype != "bf16";
  // sft.cpp load_learner: "auto" loads f32 master weights; bf16 is pure bf16 (moments too).
  const int w = in.dtype == "bf16" ? 2 : 4;
  const int a = autocast ? 2 : w;
  p.weight_bytes = w;
  p.compute_bytes = a;

  // The sharding units (the FSDP units): the embeddings, each decoder layer, the final
  // norm with the LM head (only the norm when the head is tied to the embeddings: the head
  // then gathers the embedding unit again). Layer parameters from ModelConfig::num_parameters.
  const int64_t embed = V * C;
  const int64_t head = C + (c.tie_word_embeddings ? 0 : V * C);
  const int64_t base = c.num_parameters();
  if (L < 1 || (base - embed - head) % L != 0)
    throw Error("plan: the config's parameter count does not split into its layers");
  const int64_t layer_base = (base - embed - head) / L;
  std::set<std::string> adapted;
  const int64_t layer_lora = in.lora ? lora_per_layer(c, in.lora_options, adapted) : 0;
  const int64_t layer = layer_base + layer_lora;
  p.parameters = base + L * layer_lora;
  p.trainable = in.lora ? L * layer_lora : p.parameters;
  p.largest_unit = std::max({embed, layer, head});
  // Each rank holds ceil(n / W) of a unit of n (the flattened unit padded to a multiple of W).
  const int64_t shard = ceil_div(embed, W) + L * ceil_div(layer, W) + ceil_div(head, W);
  const int64_t trainable_shard = in.lora ? L * ceil_div(layer_lora, W) : shard;
  // The largest trainable unit (its full gradient exists until it is reduce-scattered).
  const int64_t largest_trainable = in.lora ? layer_lora : p.largest_unit;

  // Weights. none / grad-opt: the whole model (w bytes; LoRA adapters in the same dtype).
  // full: the shard, plus two gathered units in the matmul dtype (the one in use and the next,
  // prefetched).
  p.params = in.sharding == Sharding::kFull ? shard * w + 2 * p.largest_unit * a : p.parameters * w;
  // grad-opt: AdamW steps the rank's own copy of its part (train/sharding.cpp's pieces), which
  // the all-gather after the step copies back into the replicated model: a second copy of the
  // part. (full: the pieces are the only copy.)
  if (in.sharding == Sharding::kGradOpt) p.params += trainable_shard * w;
  // Gradients (the parameters' dtype) of the trainable parameters.
  //   none: all of them, kept from step to step (sft.cpp zero_grad(set_to_none = false)).
  //   grad-opt, full (train/sharding.cpp): the rank's part, built unit by unit during backward
  //     (each unit's full gradient lands in a flat (W x part) buffer that is reduce-scattered
  //     as soon as the unit's backward is done) and released after the step. At the loss
  //     backward, where the activations peak, hardly any of it exists yet; by the end of
  //     backward the activations are gone: it counts against them, not on top of them.
  if (in.sharding == Sharding::kNone) {
    p.grads = p.trainable * w;
  } else {
    p.grads_step = trainable_shard * w;
    p.grads_backward = W * ceil_div(largest_trainable, W) * w;
  }
  // AdamW (torch::optim::AdamW, optim.cpp make_adamw): exp_avg and exp_avg_sq, zeros_like the
  // parameter, so in its dtype; sharded: of the rank's part only.
  p.optimizer = 2 * (in.sharding == Sharding::kNone ? p.trainable : trainable_shard) * w;
  // bf16 autocast casts each f32 weight once per forward (the autocast cache) and at::linear
  // saves the cast for backward: 2 bytes per layer and head parameter until backward. With full
  // sharding the gathered units are already in bf16.
  if (autocast && in.sharding != Sharding::kFull) p.autocast_copies = (L * layer_base + V * C) * 2;

  // Activations.
  p.activations_per_layer = layer_activation_bytes(in, w, a, adapted);
  const int64_t R = int64_t(double(c.head_dim) * c.partial_rotary_factor);
  // Shared by all layers (model.cpp Model::hidden): RoPE's cos/sin (B, 1, T, R) in the
  // weights' dtype, saved by every layer's rotate. (The (B, 1, T, T) bool mask is not saved:
  // each SDPA keeps its own float copy, counted per layer.)
  const int64_t shared = 2 * B * T * R * w;
  // After the layers (sft.cpp train_step): the final norm as above (N C (4 + w), LoRA N C 4); the target
  // rows of its output, index_select'ed (N C w), and the loss's saved logsumexps (N x 4) and
  // targets (N x 8) (kernels/chunked_loss.cpp ChunkedNll::forward).
  const int64_t tail = N * C * (in.lora ? 4 : 4 + w) + N * 4 + N * C * w + N * (4 + 8);
  p.activations = L * p.activations_per_layer + shared + tail;
  // With checkpointing (model.cpp CheckpointFn) a layer keeps only its input (N C w); in
  // backward one layer at a time is recomputed with everything it saves.
  p.activations_checkpointed = L * N * C * w + p.activations_per_layer + shared + tail;

  // The loss (kernels/chunked_loss.cpp ChunkedNll). Forward: the chunk's logits z in f32 and
  // logsumexp's exp(z - max) temporary, 2 x chunk x V x 4. Backward: the recomputed logits,
  // turned in place into dz (chunk x V x 4, plus its cast and the matmul output in a when
  // a != 4), and dW: an f32 (V, C) accumulator plus each chunk's (V, C) product in a.
  const int64_t rows = std::min(in.loss_chunk, N);
  p.loss_chunk = rows * V * std::max<int64_t>(2 * 4, 4 + (a == 4 ? 0 : 2 * a));
  const bool head_trainable = !in.lora;
  p.head_grad = head_trainable ? V * C * (4 + a) : 0;

  // The step after backward, once the activations are gone (optim.cpp): clip_grad_norm takes
  // each gradient to f64 and squares it (2 x 8 bytes per element of the largest tensor);
  // AdamW's denominator (exp_avg_sq.sqrt() / bias_correction, then + eps) two temporaries of it.
  // Sharded, the step runs on the rank's part of each unit.
  int64_t largest_tensor = in.lora ? std::max<int64_t>(1, layer_lora) : std::max({V * C, c.intermediate_size * C});
  if (in.sharding != Sharding::kNone) largest_tensor = ceil_div(largest_tensor, W);
  p.step_transient = std::max<int64_t>(largest_tensor * 2 * 8, largest_tensor * 2 * w);
  return p;
}

std::string format_plan(const PlanInput& in, const MemoryPlan& p, int64_t budget) {
  const ModelConfig& c = in.config;
  auto gb = [](int64_t b) { return fmt::format("{:.2f} GB", double(b) / 1e9); };
  auto row = [&](const std::string& what, int64_t b) { return fmt::format("  {:<46} {:>16} {:>12}\n", what, b, gb(b)); };
  const bool autocast = in.cuda && in.autocast && in.dtype != "bf16";
  const std::string wname = p.weight_bytes == 4 ? "f32" : "bf16";
  const std::string aname = p.compute_bytes == 4 ? "f32" : "bf16";
  const std::string shard =
      in.sharding == Sharding::kNone ? "replicated" : fmt::format("1/{}", in.world_size);
  std::string s;
  s += fmt::format("model: {} ({} layers, hidden {}, {} heads / {} kv heads, intermediate {}, vocab {}{})\n",
                   c.architecture, c.num_hidden_layers, c.hidden_size, c.num_attention_heads,
                   c.num_key_value_heads, c.intermediate_size, c.vocab_size,
                   c.tie_word_embeddings ? ", tied embeddings" : "");
  s += fmt::format("parameters: {} ({:.2f}B), trainable {}{}\n", p.parameters, double(p.parameters) / 1e9,
                   p.trainable, in.lora ? fmt::format(" (LoRA rank {})", in.lora_options.rank) : " (full fine-tuning)");
  s += fmt::format("run: world size {}, sharding {}, device {}, weights {}{}, compute {}; batch {} x {} tokens "
                   "per rank; loss chunk {} rows x vocab {}; activation checkpointing {}\n",
                   in.world_size, sharding_name(in.sharding), in.cuda ? "cuda" : "cpu", wname,
                   p.weight_bytes == 4 ? " (master)" : "", aname + (autocast ? " (autocast)" : ""),
                   in.batch_size, in.max_length, in.loss_chunk, c.vocab_size,
                   in.checkpoint_activations ? "on" : "off");
  s += fmt::format("  {:<46} {:>16} {:>12}\n", "per rank", "bytes", "");
  s += row(fmt::format("parameters ({}, {}{})", wname, in.sharding == Sharding::kFull ? shard : "replicated",
                       in.sharding == Sharding::kFull      ? " + 2 gathered units"
                       : in.sharding == Sharding::kGradOpt ? fmt::format(" + AdamW's copy of {}", shard)
                                                           : ""), p.params);
  if (in.sharding == Sharding::kNone) {
    s += row(fmt::format("gradients ({}, replicated)", wname), p.grads);
  } else {
    s += row(fmt::format("gradients ({}, {}, backward to step)", wname, shard), p.grads_step);
    s += row("one unit's full gradient (backward)", p.grads_backward);
  }
  s += row(fmt::format("optimizer state (AdamW m, v: {}, {})", wname, in.sharding == Sharding::kNone ? "replicated" : shard),
           p.optimizer);
  if (p.autocast_copies) s += row("bf16 weight copies (autocast, until backward)", p.autocast_copies);
  s += row(fmt::format("activations, {} layers x {}", c.num_hidden_layers, gb(p.activations_per_layer)), p.activations);
  s += row("activations with --checkpoint-activations", p.activations_checkpointed);
  s += row(fmt::format("loss chunk ({} rows x vocab)", std::min(in.loss_chunk, in.batch_size * in.max_length)),
           p.loss_chunk);
  if (p.head_grad) s += row("LM head gradient (loss backward)", p.head_grad);
  s += row("clipping / optimizer step temporaries", p.step_transient);
  const int64_t peak = p.peak(in.checkpoint_activations);
  s += row(fmt::format("peak ({} activation checkpointing)", in.checkpoint_activations ? "with" : "without"), peak);
  if (budget <= 0)
    s += fmt::format("fits: not checked, peak {} per rank (give --memory-per-device SIZE)\n", gb(peak));
  else
    s += fmt::format("fits: {}, peak {} per rank {} --memory-per-device {}\n", peak <= budget ? "yes" : "no",
                     gb(peak), peak <= budget ? "<=" : ">", gb(budget));
  return s;
}

}  // namespace delib::train

namespace delib::train {

PlanInput sft_plan_input(const SftOptions& o, int world_size) {
  PlanInput in;
  in.config = ModelConfig::load(o.model_dir);
  in.world_size = world_size > 0 ? world_size : DistEnv::from_environment().world_size;
  in.sharding = o.sharding;
  // The device by name only: a plan for CUDA is made on any machine.
  const std::string& d = o.device;
  const bool index = d.size() > 5 && d.rfind("cuda:", 0) == 0 &&
                     std::all_of(d.begin() + 5, d.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
  if (d != "cpu" && d != "cuda" && !index)
    throw Error(fmt::format("--device '{}': expected cpu, cuda or cuda:N", d), kExitUsage);
  in.cuda = d != "cpu";
  in.dtype = o.dtype;
  in.autocast = o.bf16_autocast;
  in.batch_size = o.batch_size;
  in.max_length = o.max_length;
  in.loss_chunk = o.loss_chunk;
  in.checkpoint_activations = o.checkpoint_activations;
  in.lora = o.lora;
  in.lora_options = o.lora_options;
  return in;
}

}  // namespace delib::train
