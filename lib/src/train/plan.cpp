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
#include <vector>

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

// The LoRA adapter parameters of decoder layer `layer`: r (in + out) for each adapted linear
// layer (model.cpp LinearImpl::add_lora: lora_A (r, in), lora_B (out, r)); `leaves` gets the
// adapted layers' names. The family's row says which layer a target selects (q_proj -> qkv_proj
// when fused). In a MoE layer gate_proj/up_proj/down_proj name the layers of every expert
// (mlp.experts.E.gate_proj, of width moe_intermediate_size; add_lora adapts every linear layer
// with that name), and the router (mlp.gate) is no target.
int64_t lora_per_layer(const ModelConfig& c, const LoraOptions& lo, std::set<std::string>& leaves, int64_t layer) {
  const auto& fam = model::family_of(c.model_type);
  const bool moe = c.is_moe_layer(layer);
  const int64_t C = c.hidden_size, I = moe ? c.moe_intermediate_size : c.intermediate_size, D = c.head_dim;
  const int64_t experts = moe ? c.num_experts : 1;
  const int64_t q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  for (const auto& t : lo.targets) leaves.insert(model::lora_leaf(fam, t));
  int64_t params = 0;
  for (const auto& leaf : leaves) {
    int64_t in = 0, out = 0, copies = 1;
    if (leaf == "q_proj") in = C, out = q;
    else if (leaf == "k_proj" || leaf == "v_proj") in = C, out = kv;
    else if (leaf == "o_proj") in = q, out = C;
    else if (leaf == "gate_proj" || leaf == "up_proj") in = C, out = I, copies = experts;
    else if (leaf == "down_proj") in = I, out = C, copies = experts;
    else if (leaf == "qkv_proj") in = C, out = q + 2 * kv;
    else if (leaf == "gate_up_proj") in = C, out = 2 * I, copies = experts;
    else throw Error(fmt::format("--lora-targets: unknown layer '{}'", leaf), kExitUsage);
    params += copies * int64_t(lo.rank) * (in + out);
  }
  return params;
}

// Bytes one decoder layer keeps for backward (model.cpp DecoderLayerImpl::forward, training
// path: no KV cache, grad enabled, SDPA). Autograd saves an operand only when the other one
// needs a gradient (x * cos saves cos, not x; a linear layer with a frozen weight saves the
// weight, not its input), so what is kept depends on what is trainable. Full fine-tuning, in
// the order the tensors are made:
//
//   input_layernorm(x), RMSNormImpl::forward, one node (model.cpp RMSNormFn) that saves
//     x                               its input, in its dtype           N C x w
//     rsqrt(var + eps)                the row statistics                 N x 4
//     (op by op it kept x.to(f32) and the normalised xn.to(dtype): N C (4 + w))
//   q/k/v_proj(y1): at::linear saves its input y1 (under autocast: the bf16 cast)  N C x a
//   q_norm, k_norm (Qwen3), as RMSNorm on each head's D features:   N (H + Hkv) (D a + 4)
//   rotate(q), rotate(k): q * cos and rotate_half(q) * sin save only cos and sin (shared)
//   at::scaled_dot_product_attention (the flash kernel, CPU and CUDA) saves q, k, v, its output
//   and the row logsumexps:           N (2 H + 2 Hkv) D x a  +  B H T x 4
//     (CUDA: N (2 H + 2 H) D x a, k and v repeated to H heads for the masked kernel)
//     and, with a boolean mask (every packed or padded batch), the mask converted to an
//     additive bias in the query's dtype, one per call:             B T T x a
//   o_proj: its input is SDPA's output: the flash kernel lays it out (B, T, H, D), so
//     transpose(1, 2).reshape is a view                              nothing more
//   h = x + attn: nothing (add)
//   post_attention_layernorm(h): as input_layernorm                N C x (4 + w)
//   gate_proj, up_proj: their input y2                              N C x a
//   SwiGLU, act(gate) * up -> down_proj as one node (model.cpp GatedDown), which saves gate and
//     up only and recomputes act(gate) and the product in backward:  2 N I x a
//     (fused gate_up_proj: the (N, 2I) output, kept through the two views: same total)
//     (op by op it was 4 N I x a: silu's input, both operands of the product, down_proj's input)
//   out = h + mlp: nothing.
//
// LoRA (frozen base): a norm keeps the same (x and the statistics); a linear
// layer's input is kept only when the layer has an adapter (its x A^T is kept too, N r x a per
// adapter). The MLP keeps 2 N I a as above, but with a down_proj adapter it runs op by op
// (the adapter's x A^T reads the product): silu's input, act(gate) and up 3 N I a, plus
// down_proj's input N I a.
// (Layer 0's norm keeps nothing: nothing before it needs a gradient. Not subtracted.)
//
// Gemma 2/3 (norm_plus_one, sandwich_norms), RMSNormImpl::forward's (1 + w) branch: the
// normalised xn is multiplied by (1 + weight) in float32, so a norm keeps
//     xf (N C x 4) + rsqrt (N x 4) + xn (N C x 4) + the fresh (1 + w) (C x 4)
// (LoRA: xf, rsqrt and (1 + w)), and a layer has four of them: input_layernorm,
// post_attention_layernorm (on the attention's output), pre_feedforward_layernorm and
// post_feedforward_layernorm (on the MLP's output). Gemma 3's q_norm/k_norm likewise per head.
//
// Soft-capped attention (Gemma 2's attn_logit_softcapping; AttentionImpl::forward's eager
// branch, which SDPA cannot do) materialises the scores. It keeps, per layer:
//   q and k repeated to H heads (the operands of q k^T, reshaped for bmm)  2 N H D x a
//   tanh(scores / cap): tanh saves its output                               B H T T x a
//   softmax(.., float32) saves its output                                   B H T T x 4
//     and its cast back to a when a != 4 (p of p v)                         B H T T x a
//   v repeated to H heads (p v's other operand)                             N H D x a
//   o_proj's input: p v transposed to (B, T, H D) is a copy (LoRA: only when o_proj is
//     adapted)                                                              N H D x a
//   masked_fill's mask, the layer's own logical_not() of the boolean mask    B T T x 1
// No logsumexp and no additive bias (no SDPA). At T = 4096 the two (B, H, T, T) tensors are
// the layer's largest by far: Gemma-2-9B keeps 2.1 GB per layer at batch 1 under bf16 autocast.
//
// Qwen3-MoE (MoEImpl::forward), a sparse layer's MLP. Per token: the router's input (the
// linear's, N C x a, as gate_proj's in a dense layer), softmax(router logits) in float32 (E x 4),
// topk's indices (k x 8), with norm_topk_prob the division's operands (k x 4 + 4). Per expert e
// that got n_e tokens (and sum_e n_e = N k exactly: every token goes to k experts, whatever the
// routing): nonzero()'s (n_e, 2) int64 rows, kept by index_select and index_add (16 n_e), the
// expert MLP's tensors on its n_e rows as a dense MLP of width moe_intermediate_size keeps them,
// its output h and routing weight, both kept by h * weight (n_e C x a + n_e x a), and h * weight
// cast to the residual stream's dtype, kept by index_add (its backward's expand_as(source) saves
// the source: n_e C x w). So where a dense layer keeps ~4 N I x a for the MLP, a MoE layer keeps
// ~N k (3 C + 2 I_moe) x a: all
// experts' weights are parameters, but activations scale with the top-k experts a token visits.
// With output_router_logits the router logits (N E x a) stay in the list for the
// load-balancing loss, whose softmax keeps another N E x a.
//
// Checked to the byte against what a forward of delib's model keeps (tests/unit/train/test_plan.cpp,
// an allocator that counts live bytes; Llama, Qwen3, Gemma 2, Gemma 3, Qwen3-MoE) and, for SDPA,
// against PyTorch 2.11's saved-tensor hooks; under bf16 autocast on CUDA, within 5-8% of the
// allocator's peak (tests/reference/test_plan_measured_gpu.py).
int64_t layer_activation_bytes(const PlanInput& in, int w, int a, const std::set<std::string>& adapted,
                               int64_t layer) {
  const ModelConfig& c = in.config;
  const model::Family& fam = model::family_of(c.model_type);
  const int64_t B = in.batch_size, T = in.max_length, N = B * T;
  const int64_t C = c.hidden_size, H = c.num_attention_heads, Hkv = c.num_key_value_heads,
                D = c.head_dim, I = c.intermediate_size;
  auto keeps = [&](std::initializer_list<const char*> leaves) {  // a linear input is saved
    if (!in.lora) return true;
    for (const char* l : leaves)
      if (adapted.count(l)) return true;
    return false;
  };
  const bool lora = in.lora;
  const int64_t r = lora ? in.lora_options.rank : 0;
  // The copies of one input that the linear layers reading it keep: the input itself (one)
  // when the matmuls run in the weights' dtype; under bf16 autocast each linear layer casts it
  // anew (autocast caches the casts of weights, not of activations), so each one that saves its
  // input keeps its own bf16 copy (LoRA: the adapted ones, through x A^T). Measured on an H200:
  // counting one copy left the plan 5-8% under the allocator's peak (q/k/v and gate/up).
  auto input_copies = [&](std::initializer_list<const char*> leaves) -> int64_t {
    int64_t n = 0;
    for (const char* l : leaves) n += !lora || adapted.count(l) ? 1 : 0;
    return n == 0 ? 0 : a == w ? 1 : n;
  };
  const bool fused_qkv = fam.fused_qkv, fused_gate_up = fam.fused_gate_up;
  // One RMSNorm over `rows` vectors of `width` features whose output is in `out` bytes.
  // `in`: the bytes of the norm's input elements (RMSNormFn saves the input itself).
  auto norm = [&](int64_t rows, int64_t width, int64_t in) {
    if (fam.norm_plus_one) return rows * width * (lora ? 4 : 8) + rows * 4 + width * 4;
    return rows * width * in + rows * 4;
  };
  // The gated MLP's (rows, width) tensors: gate and up (GatedDown); op by op with a down_proj
  // adapter: silu's input, act(gate), up and down_proj's input.
  auto mlp = [&](int64_t rows, int64_t width) {
    return rows * width * a * (lora && adapted.count("down_proj") ? 4 : 2);
  };
  int64_t bytes = 0;
  bytes += (fam.sandwich_norms ? 4 : 2) * norm(N, C, w);               // the layer's RMSNorms
  bytes += N * C * a * (fused_qkv ? input_copies({"qkv_proj"}) : input_copies({"q_proj", "k_proj", "v_proj"}));  // y1
  if (c.qk_norm) bytes += norm(N * H, D, a) + norm(N * Hkv, D, a);     // q_norm, k_norm
  int64_t adapter_rows = 0;  // rows through each adapted layer's x A^T
  for (const auto& leaf : adapted)
    adapter_rows += leaf == "gate_proj" || leaf == "up_proj" || leaf == "down_proj" || leaf == "gate_up_proj"
                        ? (c.is_moe_layer(layer) ? N * c.num_experts_per_tok : N)
                        : N;
  if (c.attn_logit_softcapping > 0) {  // the eager soft-capped attention
    bytes += 3 * N * H * D * a + B * H * T * T * (a + 4 + (a == 4 ? 0 : a)) + B * T * T;
    if (keeps({"o_proj"})) bytes += N * H * D * a;                     // o_proj's input
  } else {
    // On CUDA a masked call repeats k, v to H heads for the memory-efficient kernel (model.cpp
    // AttentionImpl::forward): SDPA then saves k, v at H heads.
    const int64_t kv_heads = in.cuda ? H : Hkv;
    bytes += N * (2 * H + 2 * kv_heads) * D * a + B * H * T * 4;       // SDPA: q, k, v, out, lse
    bytes += B * T * T * a;                                            // SDPA: the mask as a bias
  }
  if (c.is_moe_layer(layer)) {
    const int64_t E = c.num_experts, k = c.num_experts_per_tok, Im = c.moe_intermediate_size;
    const int64_t Nk = N * k;
    if (!lora) bytes += N * C * a;                                     // the router's input
    bytes += N * E * 4 + Nk * 8;                                       // softmax, topk's indices
    if (c.norm_topk_prob) bytes += Nk * 4 + N * 4;                     // top / top.sum()
    bytes += Nk * 16;                                                  // nonzero()'s rows
    bytes += Nk * C * a * input_copies({"gate_proj", "up_proj"});      // each expert's input
    bytes += mlp(Nk, Im);                                              // its gate, up (...)
    bytes += Nk * C * a + Nk * a + Nk * C * w;                         // h * weight; index_add's
                                                                       // source, cast to the stream's dtype
    if (c.output_router_logits) bytes += 2 * N * E * a;                // logits + the aux softmax
  } else {
    bytes += N * C * a * (fused_gate_up ? input_copies({"gate_up_proj"}) : input_copies({"gate_proj", "up_proj"}));  // y2
    bytes += mlp(N, I);                                                // gate, up (...)
  }
  bytes += adapter_rows * r * a;                                       // LoRA: x A^T
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
  // then gathers the embedding unit again). Parameters from ModelConfig::num_parameters: every
  // layer has the same attention and norms, and its MLP is dense (3 C I) or a sparse MoE block
  // (the router's E C and E experts of 3 C I_moe: all of them parameters, whichever k a token
  // visits).
  const int64_t embed = V * C;
  const int64_t head = C + (c.tie_word_embeddings ? 0 : V * C);
  const int64_t base = c.num_parameters();
  auto mlp_params = [&](int64_t i) {
    return c.is_moe_layer(i) ? c.num_experts * (3 * C * c.moe_intermediate_size + C) : 3 * C * c.intermediate_size;
  };
  int64_t mlps = 0;
  for (int64_t i = 0; i < L; ++i) mlps += mlp_params(i);
  if (L < 1 || (base - embed - head - mlps) % L != 0)
    throw Error("plan: the config's parameter count does not split into its layers");
  const int64_t common = (base - embed - head - mlps) / L;
  std::set<std::string> adapted;
  std::vector<int64_t> layer_base(static_cast<size_t>(L)), layer_lora(static_cast<size_t>(L), 0);
  int64_t lora_total = 0, largest_layer = 0, largest_lora = 0, layers_shard = 0, lora_shard = 0;
  for (int64_t i = 0; i < L; ++i) {
    layer_base[size_t(i)] = common + mlp_params(i);
    if (in.lora) layer_lora[size_t(i)] = lora_per_layer(c, in.lora_options, adapted, i);
    const int64_t layer = layer_base[size_t(i)] + layer_lora[size_t(i)];
    lora_total += layer_lora[size_t(i)];
    largest_layer = std::max(largest_layer, layer);
    largest_lora = std::max(largest_lora, layer_lora[size_t(i)]);
    // Each rank holds ceil(n / W) of a unit of n (the flattened unit padded to a multiple of W).
    layers_shard += ceil_div(layer, W);
    lora_shard += ceil_div(layer_lora[size_t(i)], W);
  }
  int64_t layers_base = 0;
  for (int64_t b : layer_base) layers_base += b;
  p.parameters = base + lora_total;
  p.trainable = in.lora ? lora_total : p.parameters;
  p.largest_unit = std::max({embed, largest_layer, head});
  const int64_t shard = ceil_div(embed, W) + layers_shard + ceil_div(head, W);
  const int64_t trainable_shard = in.lora ? lora_shard : shard;
  // The largest trainable unit (its full gradient exists until it is reduce-scattered).
  const int64_t largest_trainable = in.lora ? largest_lora : p.largest_unit;

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
  //     as soon as the unit's backward is done, in the background while the next unit's
  //     backward fills its own buffer: two of them at most) and released after the step. At the loss
  //     backward, where the activations peak, hardly any of it exists yet; by the end of
  //     backward the activations are gone: it counts against them, not on top of them.
  if (in.sharding == Sharding::kNone) {
    p.grads = p.trainable * w;
  } else {
    p.grads_step = trainable_shard * w;
    p.grads_backward = 2 * W * ceil_div(largest_trainable, W) * w;  // one in flight, one filling
  }
  // AdamW (torch::optim::AdamW, optim.cpp make_adamw): exp_avg and exp_avg_sq, zeros_like the
  // parameter, so in its dtype; sharded: of the rank's part only.
  p.optimizer = 2 * (in.sharding == Sharding::kNone ? p.trainable : trainable_shard) * w;
  // bf16 autocast casts each f32 weight once per forward (the autocast cache) and at::linear
  // saves the cast for backward: 2 bytes per layer and head parameter until backward. With full
  // sharding the gathered units are already in bf16.
  if (autocast && in.sharding != Sharding::kFull) p.autocast_copies = (layers_base + V * C) * 2;

  // Activations. Layers differ (a MoE model's dense layers, Gemma's sliding and full layers
  // alike): activations_per_layer is the largest, the one checkpointing recomputes.
  const model::Family& fam = model::family_of(c.model_type);
  int64_t layer_acts = 0;
  for (int64_t i = 0; i < L; ++i) {
    const int64_t b = layer_activation_bytes(in, w, a, adapted, i);
    layer_acts += b;
    p.activations_per_layer = std::max(p.activations_per_layer, b);
  }
  const int64_t R = int64_t(double(c.head_dim) * c.partial_rotary_factor);
  // Shared by all layers (model.cpp Model::hidden): RoPE's cos/sin (B, 1, T, R) in the
  // weights' dtype, saved by every layer's rotate, and Gemma 3's second pair for its sliding
  // layers (rope_local_base_freq). (The (B, 1, T, T) bool mask is not saved: each SDPA keeps
  // its own float copy, and soft-capped attention its own logical_not, counted per layer.)
  // Gemma: the embeddings' sqrt(C) scale, a 0-dim tensor in the weights' dtype kept by the
  // multiplication when the embeddings are trained.
  bool any_sliding = false;
  for (int64_t i = 0; i < L; ++i) any_sliding = any_sliding || c.is_sliding_layer(i);
  const int64_t shared = 2 * B * T * R * w * (c.rope_local_theta > 0 && any_sliding ? 2 : 1) +
                         (fam.scale_embeddings && !in.lora ? w : 0);
  // After the layers (sft.cpp train_step): the final norm as above (N C w + N 4; Gemma's
  // (1 + w) norm N C 8 + N 4 + C 4, LoRA N C 4 + N 4 + C 4); the target rows of its output,
  // index_select'ed (N C w), and the loss's saved logsumexps (N x 4) and targets (N x 8)
  // (kernels/chunked_loss.cpp ChunkedNll::forward).
  const int64_t final_norm = fam.norm_plus_one ? N * C * (in.lora ? 4 : 8) + N * 4 + C * 4
                                               : N * C * w + N * 4;
  const int64_t tail = final_norm + N * C * w + N * (4 + 8);
  p.activations = layer_acts + shared + tail;
  // With checkpointing (model.cpp CheckpointFn) a layer keeps only its input (N C w); in
  // backward one layer at a time is recomputed with everything it saves.
  p.activations_checkpointed = L * N * C * w + p.activations_per_layer + shared + tail;

  // The loss (kernels/chunked_loss.cpp ChunkedNll). Forward: the chunk's logits z in f32,
  // chunk x V x 4 (logsumexp's exp(z - max) is taken in place on z). Backward: the recomputed
  // logits, turned in place into dz (chunk x V x 4, plus its cast and the matmul output in a
  // when a != 4), the larger of the two, and dW: an f32 (V, C) accumulator, into which the CPU's
  // f32 GEMM adds each
  // chunk's product in place (addmm); otherwise (bf16 matmuls; the CUDA kernels) each chunk's
  // (V, C) product in a is made and then added.
  const int64_t rows = std::min(in.loss_chunk, N);
  // (CUDA: the fused kernels of kernels/kernels_cuda.cpp, counted as before: 2 x chunk x V x 4
  // or dz with its cast, whichever is larger.)
  p.loss_chunk = rows * V * (in.cuda ? std::max<int64_t>(2 * 4, 4 + 2 * a) : 4 + (a == 4 ? 0 : 2 * a));
  // Gemma's final logit soft-cap (final_logit_softcapping): the backward's softmax term needs a
  // second f32 buffer of kCapRows (64) rows x V; the forward caps the chunk's logits in place.
  if (c.final_logit_softcapping > 0) p.loss_chunk += std::min<int64_t>(64, rows) * V * 4;
  const bool head_trainable = !in.lora;
  const bool in_place = !in.cuda && a == 4;
  p.head_grad = head_trainable ? V * C * (4 + (in_place ? 0 : a)) : 0;

  // The step after backward, once the activations are gone (optim.cpp): clip_grad_norm takes
  // each gradient to f64 and squares it (2 x 8 bytes per element of the largest tensor);
  // AdamW's denominator (exp_avg_sq.sqrt() / bias_correction, then + eps) two temporaries of it.
  // Sharded, the step runs on the rank's part of each unit.
  int64_t largest_tensor = in.lora ? std::max<int64_t>(1, largest_lora)
                                   : std::max({V * C, c.intermediate_size * C, c.moe_intermediate_size * C,
                                               c.num_experts * C});
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
  int64_t moe_layers = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) moe_layers += c.is_moe_layer(i) ? 1 : 0;
  if (moe_layers > 0) {
    // A token runs k of the E experts of each MoE layer: the other experts' weights are
    // parameters (held, and trained) that its forward does not use.
    const int64_t idle = moe_layers * (c.num_experts - c.num_experts_per_tok) * 3 * c.hidden_size * c.moe_intermediate_size;
    const int64_t active = c.num_parameters() - idle;
    s += fmt::format("experts: {} MoE layers of {} experts (width {}), top {} per token: {} of the model's "
                     "parameters active per token ({:.2f}B); activations count the {} experts a token visits\n",
                     moe_layers, c.num_experts, c.moe_intermediate_size, c.num_experts_per_tok, active,
                     double(active) / 1e9, c.num_experts_per_tok);
  }
  if (c.attn_logit_softcapping > 0)
    s += fmt::format("attention: soft-capped scores (cap {}) run eagerly, not in SDPA: each layer keeps its "
                     "(batch, heads, T, T) scores ({} per layer)\n",
                     c.attn_logit_softcapping,
                     gb(in.batch_size * c.num_attention_heads * in.max_length * in.max_length *
                        (p.compute_bytes + 4 + (p.compute_bytes == 4 ? 0 : p.compute_bytes))));
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
    s += row("two units' full gradients (backward)", p.grads_backward);
  }
  s += row(fmt::format("optimizer state (AdamW m, v: {}, {})", wname, in.sharding == Sharding::kNone ? "replicated" : shard),
           p.optimizer);
  if (p.autocast_copies) s += row("bf16 weight copies (autocast, until backward)", p.autocast_copies);
  bool uniform = true;  // every layer keeps the same (a dense model; Gemma's sliding and full layers)
  for (int64_t i = 1; i < c.num_hidden_layers; ++i) uniform = uniform && c.is_moe_layer(i) == c.is_moe_layer(0);
  s += row(fmt::format("activations, {} layers x {}{}", c.num_hidden_layers, uniform ? "" : "up to ",
                       gb(p.activations_per_layer)), p.activations);
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
