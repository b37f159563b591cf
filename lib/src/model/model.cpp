// The decoder: Llama / Qwen2 / Qwen3 / Mistral / Phi-3 in LibTorch, following Hugging Face's
// modeling_llama.py (and its Qwen/Mistral/Phi-3 variants) operation by operation so that f32
// logits and gradients agree with transformers to rounding. Where the families differ, the
// modules read the family's row (model/family.h).
//
// Modules are registered under the checkpoint names, so module().named_parameters() yields
// exactly the safetensors keys (model.layers.3.self_attn.q_proj.weight, ...).
// LibTorch ships its own fmt (v12) headers, which shadow the system fmt 9 in torch targets;
// use them header-only so nothing links against the system library's different ABI.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include <ftw.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ExpandUtils.h>
#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/model.h"
#include "delib/peft.h"
#include "delib/safetensors.h"
#include "model/family.h"
#include "model/modules.h"
#include "model/rope.h"

namespace delib {

int64_t KVCache::capacity() const { return k.empty() ? 0 : k[0].size(2); }

namespace model {

// ---------------------------------------------------------------------------------------------
// Building blocks.

// CausalLM::load_unallocated builds the modules with this set: their parameters get their
// shapes and no memory (a storage of 0 bytes), to be filled by the caller.
namespace {
thread_local bool t_unallocated = false;

torch::Tensor new_parameter(at::IntArrayRef sizes, const torch::TensorOptions& o) {
  if (!t_unallocated) return torch::empty(sizes, o);
  torch::Tensor t = torch::empty({0}, o);
  t.unsafeGetTensorImpl()->set_sizes_contiguous(sizes);
  return t;
}
}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& o, bool plus_one)
    : eps(eps), plus_one(plus_one) {
  weight = register_parameter("weight", new_parameter({dim}, o));
}

namespace {

// RMSNorm (the w * n branch below) as one autograd node that saves its input x and the row
// statistics r only, recomputing the normalised n in backward, as llm.c's layernorm keeps its
// input, mean and rstd. Op by op, autograd keeps x (pow's and the product's operand) and n in
// the output dtype (weight * n's operand) too: one (N, C) tensor more per norm, two norms per
// layer (N C x 4 bytes each in f32: 6 MB per layer at N = 1k tokens, C = 768).
//
// Shapes: x (..., C), r (..., 1), w (C,). Math (llm.c style), xf = x in f32:
//   forward   r  = 1 / sqrt(mean_c xf^2 + eps)      (..., 1)   saved
//             n  = (xf r).to(dtype)                 (..., C)   dropped
//             y  = w n
//   backward  n recomputed
//             dw = sum over rows of dy n                       (at::sum_to, as the broadcast mul)
//             dn = (dy w).to(f32)
//             dr = sum_c dn xf                     (..., 1)
//             dxf = dn r + (2 xf) (-1/2 dr r^3) / C            (the product's and pow's terms)
// Each term is computed by the backward formula autograd uses for that op (mul, rsqrt: -0.5 g
// r^3, mean: expand / C, pow: g (2 xf^1)), so the result equals the op-by-op graph's up to the
// order in which x's other gradients (the residual stream's) are added to it.
class RMSNormFn : public torch::autograd::Function<RMSNormFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, double eps) {
    torch::Tensor xf = x.to(torch::kFloat32);
    torch::Tensor r = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    ctx->save_for_backward({x, r, w});
    return w * (xf * r).to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &r = saved[1], &w = saved[2];
    const torch::Tensor& dy = grad_outputs[0];
    torch::Tensor xf = x.to(torch::kFloat32);
    torch::Tensor n = (xf * r).to(x.scalar_type());
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(1)) dw = at::sum_to(dy * n, w.sizes()).to(w.scalar_type());
    if (ctx->needs_input_grad(0)) {
      n.reset();
      torch::Tensor dn = (dy * w).to(x.scalar_type()).to(torch::kFloat32);
      torch::Tensor dr = at::sum_to(dn * xf, r.sizes());
      torch::Tensor dv = -0.5 * dr * r.pow(3);                        // rsqrt's backward
      torch::Tensor dsq = dv.expand(xf.sizes()) / xf.size(-1);        // mean's
      torch::Tensor dxf = dn * r;                                     // the product's
      dxf = dxf + dsq * (2.0 * xf.pow(1.0));                          // pow's
      dx = dxf.to(x.scalar_type());
    }
    return {dx, dw, torch::Tensor()};
  }
};

}  // namespace

// RMSNorm (Zhang & Sennrich 2019, eq. 4) exactly as HF LlamaRMSNorm: the statistics in
// float32, y = w * (x / sqrt(mean(x^2) + eps)).to(dtype). x (..., C) -> (..., C). Training
// (grad mode) runs it as RMSNormFn above, which saves x and the statistics only.
// Gemma (plus_one), as Gemma2RMSNorm: y = (x / sqrt(mean(x^2) + eps) * (1 + w)).to(dtype), all
// in float32.
torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (!plus_one && torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()))
    return RMSNormFn::apply(x, weight, eps);
  auto xf = x.to(torch::kFloat32);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(var + eps);
  if (plus_one) return (xf * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * xf.to(x.scalar_type());
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& o) {
  weight = register_parameter("weight", new_parameter({out, in}, o));
  if (with_bias) bias = register_parameter("bias", new_parameter({out}, o));
}

// y = x W^T + b, plus the LoRA term (Hu et al. 2021, eq. 3): (alpha / r) * (x A^T) B^T.
torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = linear_rows(x, weight, bias);
  if (lora_A.defined()) y = y + at::linear(at::linear(x, lora_A), lora_B) * lora_scale;
  return y;
}

void LinearImpl::add_lora(int64_t rank, double alpha) {
  const int64_t in = weight.size(1), out = weight.size(0);
  auto o = weight.options();
  // PEFT's init: A ~ kaiming_uniform(a = sqrt(5)) i.e. U(-1/sqrt(in), 1/sqrt(in)), B = 0, so
  // the adapted model starts equal to the base model.
  auto A = torch::empty({rank, in}, o.dtype(torch::kFloat32).device(torch::kCPU));
  const double bound = 1.0 / std::sqrt(double(in));
  A.uniform_(-bound, bound);
  lora_A = register_parameter("lora_A", A.to(o.device(), o.dtype().toScalarType()));
  lora_B = register_parameter("lora_B", torch::zeros({out, rank}, o));
  lora_scale = alpha / double(rank);
}

torch::Tensor LinearImpl::merged_weight() const {
  if (!lora_A.defined()) return weight;
  torch::NoGradGuard ng;
  auto delta = torch::matmul(lora_B.to(torch::kFloat32), lora_A.to(torch::kFloat32)) * lora_scale;
  return (weight.to(torch::kFloat32) + delta).to(weight.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t layer)
    : H(c.num_attention_heads), Hkv(c.num_key_value_heads), D(c.head_dim),
      R(int64_t(double(c.head_dim) * c.partial_rotary_factor)), sliding(c.is_sliding_layer(layer)),
      scale(1.0 / std::sqrt(c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar : double(c.head_dim))),
      softcap(c.attn_logit_softcapping) {
  const bool plus_one = family_of(c.model_type).norm_plus_one;
  const int64_t C = c.hidden_size;
  const bool qkv_bias = c.attention_bias;
  if (family_of(c.model_type).fused_qkv) {
    qkv_proj = register_module("qkv_proj", std::make_shared<LinearImpl>(C, (H + 2 * Hkv) * D, qkv_bias, o));
  } else {
    q_proj = register_module("q_proj", std::make_shared<LinearImpl>(C, H * D, qkv_bias, o));
    k_proj = register_module("k_proj", std::make_shared<LinearImpl>(C, Hkv * D, qkv_bias, o));
    v_proj = register_module("v_proj", std::make_shared<LinearImpl>(C, Hkv * D, qkv_bias, o));
  }
  o_proj = register_module("o_proj", std::make_shared<LinearImpl>(H * D, C, c.o_proj_bias, o));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<RMSNormImpl>(D, c.rms_norm_eps, o, plus_one));
    k_norm = register_module("k_norm", std::make_shared<RMSNormImpl>(D, c.rms_norm_eps, o, plus_one));
  }
}

// rotate_half of HF: (x1, x2) -> (-x2, x1) on the two halves of the last dim.
static torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

// RoPE (Su et al. 2021, eq. 34) in HF's half-split form on the first R features of each head:
// x*cos + rotate_half(x)*sin, the other D - R features unchanged (HF apply_rotary_pos_emb).
// x (B, H, T, D), cos/sin (B, 1, T, R).
static torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                            int64_t R) {
  if (R == x.size(-1)) return x * cos + rotate_half(x) * sin;
  auto xr = x.narrow(-1, 0, R);
  return torch::cat({xr * cos + rotate_half(xr) * sin, x.narrow(-1, R, x.size(-1) - R)}, -1);
}

// x (B, T, C) -> (B, T, C). See Step for the masks and the cache.
torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const Step& s, int64_t layer) {
  const int64_t B = x.size(0), T = x.size(1);
  torch::Tensor q, k, v;
  if (qkv_proj) {  // rows [q (H*D); k (Hkv*D); v (Hkv*D)], as HF Phi3Attention slices them
    auto qkv = qkv_proj->forward(x);
    q = qkv.narrow(-1, 0, H * D).view({B, T, H, D});
    k = qkv.narrow(-1, H * D, Hkv * D).view({B, T, Hkv, D});
    v = qkv.narrow(-1, (H + Hkv) * D, Hkv * D).view({B, T, Hkv, D});
  } else {
    q = q_proj->forward(x).view({B, T, H, D});
    k = k_proj->forward(x).view({B, T, Hkv, D});
    v = v_proj->forward(x).view({B, T, Hkv, D});
  }
  if (q_norm) {  // Qwen3: RMSNorm over each head's D features, before RoPE
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  q = q.transpose(1, 2);  // (B, H, T, D)
  k = k.transpose(1, 2);  // (B, Hkv, T, D)
  v = v.transpose(1, 2);
  const torch::Tensor& cos = sliding ? s.cos_local : s.cos;
  const torch::Tensor& sin = sliding ? s.sin_local : s.sin;
  const torch::Tensor& smask = sliding ? s.mask_local : s.mask;
  const bool causal = sliding ? s.causal_local : s.causal;
  q = rotate(q, cos, sin, R);
  k = rotate(k, cos, sin, R);
  if (s.cache) {
    // Write this step's keys/values at each row's slots [len_b, len_b + T), then attend to the
    // first kv_len slots; s.mask hides the slots past each row's own end.
    auto& kc = s.cache->k[layer];
    auto& vc = s.cache->v[layer];
    auto idx = s.write_index.view({B, 1, T, 1}).expand({B, Hkv, T, D});
    kc.scatter_(2, idx, k.to(kc.scalar_type()));
    vc.scatter_(2, idx, v.to(vc.scalar_type()));
    k = kc.narrow(2, 0, s.kv_len);
    v = vc.narrow(2, 0, s.kv_len);
  }
  // Decode steps on the CPU (a few queries per row, no autograd): the direct kernel; SDPA else.
  torch::Tensor y;
  if (s.cache && T <= 4 && x.is_cpu() && !torch::GradMode::is_enabled())
    y = cached_attention_cpu(q, k, v, smask, scale, softcap);
  if (!y.defined() && softcap > 0) {
    // Soft-capped scores (Gemma 2), which SDPA cannot do: HF's eager_attention_forward,
    // scores = q k^T * scale -> cap * tanh(scores / cap) -> masked -> softmax in float32.
    auto kk = k, vv = v;
    if (Hkv != H) {
      kk = k.repeat_interleave(H / Hkv, 1);
      vv = v.repeat_interleave(H / Hkv, 1);
    }
    auto sc = torch::matmul(q, kk.transpose(2, 3)) * scale;
    sc = torch::tanh(sc / softcap) * softcap;
    torch::Tensor m = smask;
    if (!m.defined()) {  // causal: query t sees keys [0, t + S - T]
      const int64_t S = kk.size(2);
      auto o = torch::TensorOptions().device(q.device()).dtype(torch::kInt64);
      m = (torch::arange(S, o).view({1, S}) <= torch::arange(T, o).view({T, 1}) + (S - T)).view({1, 1, T, S});
    }
    sc = sc.masked_fill(m.logical_not(), -std::numeric_limits<double>::infinity());
    auto p = torch::softmax(sc, -1, torch::kFloat32).to(q.scalar_type());
    y = torch::matmul(p, vv);
  }
  if (!y.defined()) {
    std::optional<torch::Tensor> mask;
    if (smask.defined()) mask = smask;
    bool gqa = Hkv != H;
    if (gqa && mask && q.is_cuda() && T > 4) {
      // On CUDA, SDPA's flash kernel takes no mask and its memory-efficient kernel no GQA, so a
      // mask (packed documents, padded rows, prefill) with Hkv < H fell back to the math kernel,
      // which keeps (B, H, T, S) probabilities per layer for the backward: 25 GB and 6% MFU for
      // a 0.5B model at 8 x 2048 on an H200. Repeat k, v to H heads (HF's repeat_kv, as its
      // SDPA path does whenever a mask is given) so the memory-efficient kernel runs; the math
      // is the same. Decode steps (T <= 4) do not repeat: that would copy the whole cache
      // (one query per row: the head-folding below instead).
      k = k.repeat_interleave(H / Hkv, 1);
      v = v.repeat_interleave(H / Hkv, 1);
      gqa = false;
    }
    if (gqa && q.is_cuda() && T == 1 && !causal && (!mask || mask->size(2) == 1)) {
      // A decode step (one query per row) on CUDA: the G = H / Hkv query heads that share a kv
      // head become G queries of that head, (B, H, 1, D) -> (B, Hkv, G, D), with the row's mask
      // for each of them. Same scores and softmax, no GQA, so SDPA's memory-efficient kernel
      // reads the cache as it is instead of the math kernel repeating it H / Hkv times.
      const int64_t G = H / Hkv, S = k.size(2);
      if (mask) mask = mask->expand({mask->size(0), 1, G, S});
      y = at::scaled_dot_product_attention(q.reshape({B, Hkv, G, D}), k, v, mask, /*dropout_p=*/0.0,
                                           /*is_causal=*/false, /*scale=*/scale, /*enable_gqa=*/false)
              .reshape({B, H, 1, D});
    } else {
      y = at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0,
                                           /*is_causal=*/causal, /*scale=*/scale, /*enable_gqa=*/gqa);
    }
  }
  y = y.transpose(1, 2).reshape({B, T, H * D});
  return o_proj->forward(y);
}

MLPImpl::MLPImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t I, bool fused)
    : gelu(c.hidden_act == "gelu_pytorch_tanh") {
  const int64_t C = c.hidden_size;
  if (fused) {
    gate_up_proj = register_module("gate_up_proj", std::make_shared<LinearImpl>(C, 2 * I, false, o));
  } else {
    gate_proj = register_module("gate_proj", std::make_shared<LinearImpl>(C, I, false, o));
    up_proj = register_module("up_proj", std::make_shared<LinearImpl>(C, I, false, o));
  }
  down_proj = register_module("down_proj", std::make_shared<LinearImpl>(I, C, false, o));
}

namespace {

// The gated MLP's second half, y = down(act(g) * u), as one autograd node that saves only its
// inputs g and u (and the down weight), recomputing act(g) and the product in backward.
// Autograd op by op keeps four (N, I) tensors per layer until backward: g (silu's input),
// act(g) and u (the product's operands) and p = act(g) * u (down_proj's input). Here two: for
// the dense layers the MLP's saved activations halve (4 N I -> 2 N I elements), which is a
// fifth of a Llama layer's (N I dominates: I ~ 2.7-3.5 C) and, under --sharding full, what
// decides whether the activations or the sharded state set the peak.
//
// Shapes: g, u (..., I) (views of gate_up_proj's output in fused families), W (C, I), y (..., C),
// with N = the product of the leading dims. Math (llm.c style), act = silu or gelu_tanh:
//   forward   a = act(g)              (N, I)    dropped
//             p = a * u               (N, I)    dropped
//             y = p W^T               (N, C)    at::linear, as LinearImpl
//   backward  a, p recomputed from g, u (two elementwise passes: the price of the memory)
//             dW = dy^T p             (C, I)    as MmBackward's mat2 gradient (grad^T mm)
//             dp = dy W               (N, I)
//             du = dp * a,  da = dp * u,  dg = act'(g) da   (at::silu_backward / gelu_backward)
// Every product is the one autograd computes for the unfused ops, in the same order and
// dtypes, so values and gradients equal the op-by-op graph's bit for bit. Under autocast the
// caller passes W's autocast cast (the cached copy at::linear would make): the matmuls then see
// the same operands; p's cast to W's dtype is redone in backward and dp taken back to p's.
class GatedDown : public torch::autograd::Function<GatedDown> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& g,
                               const torch::Tensor& u, const torch::Tensor& w, bool gelu) {
    ctx->save_for_backward({g, u, w});
    ctx->saved_data["gelu"] = gelu;
    return at::linear(act(g, gelu) * u, w);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &g = saved[0], &u = saved[1], &w = saved[2];
    const bool gelu = ctx->saved_data["gelu"].toBool();
    const bool need_g = ctx->needs_input_grad(0), need_u = ctx->needs_input_grad(1),
               need_w = ctx->needs_input_grad(2);
    const int64_t C = w.size(0), I = w.size(1);
    torch::Tensor dy = grad_outputs[0].reshape({-1, C});                 // (N, C)
    torch::Tensor a = act(g, gelu);                                      // (..., I)
    torch::Tensor dw;
    if (need_w) dw = dy.t().mm((a * u).to(w.scalar_type()).reshape({-1, I}));  // (C, I)
    torch::Tensor dg, du;
    if (need_g || need_u) {
      torch::Tensor dp = dy.mm(w).view(a.sizes()).to(a.scalar_type());  // (..., I)
      if (need_u) du = dp * a;
      a.reset();
      if (need_g) dg = gelu ? at::gelu_backward(dp * u, g, "tanh") : at::silu_backward(dp * u, g);
    }
    return {dg, du, dw, torch::Tensor()};
  }

  static torch::Tensor act(const torch::Tensor& g, bool gelu) {
    return gelu ? torch::gelu(g, "tanh") : torch::silu(g);
  }
};

}  // namespace

// SwiGLU (Shazeer 2020, eq. 6): down(silu(gate(x)) * up(x)); fused: [gate; up] = gate_up(x).
// GeGLU (ibid., eq. 5) with the tanh approximation of GELU for gelu_pytorch_tanh (Gemma).
// Training (grad mode) runs the second half as GatedDown (above: g and u saved, not act(g) and
// the product), unless down_proj has a LoRA adapter, whose x A^T needs the product anyway.
torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  torch::Tensor g, u;
  if (gate_up_proj) {
    auto gu = gate_up_proj->forward(x).chunk(2, -1);
    g = gu[0], u = gu[1];
  } else {
    g = gate_proj->forward(x), u = up_proj->forward(x);
  }
  const torch::Tensor& w = down_proj->weight;
  if (torch::GradMode::is_enabled() && !down_proj->lora_A.defined() && !down_proj->bias.defined() &&
      (g.requires_grad() || u.requires_grad() || w.requires_grad())) {
    const auto dev = g.device().type();
    // What at::linear's autocast does to its weight (the cached cast), done before the node.
    const bool cast = at::autocast::is_autocast_available(dev) && at::autocast::is_autocast_enabled(dev);
    return GatedDown::apply(g, u, cast ? at::autocast::cached_cast(at::autocast::get_autocast_dtype(dev), w, dev) : w,
                            gelu);
  }
  return down_proj->forward(GatedDown::act(g, gelu) * u);
}

MoEImpl::MoEImpl(const ModelConfig& c, const torch::TensorOptions& o)
    : top_k(c.num_experts_per_tok), norm_topk_prob(c.norm_topk_prob) {
  gate = register_module("gate", std::make_shared<LinearImpl>(c.hidden_size, c.num_experts, false, o));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < c.num_experts; ++e) {
    auto m = std::make_shared<MLPImpl>(c, o, c.moe_intermediate_size, /*fused=*/false);
    experts->push_back(m);
    expert_ptrs.push_back(m);
  }
}

// HF Qwen3MoeTopKRouter + Qwen3MoeExperts: p = softmax(x G^T) in float32, the top_k of p
// (renormalised to sum 1 when norm_topk_prob), cast to the model dtype; out = sum over the
// chosen experts of p_e * expert_e(x).
torch::Tensor MoEImpl::forward(const torch::Tensor& x, std::vector<torch::Tensor>* router_logits) {
  const int64_t C = x.size(-1);
  auto flat = x.reshape({-1, C});
  auto logits = gate->forward(flat);  // (N, E)
  if (router_logits) router_logits->push_back(logits);
  auto probs = torch::softmax(logits, -1, torch::kFloat32);
  auto [top, idx] = probs.topk(top_k, -1);  // (N, k)
  if (norm_topk_prob) top = top / top.sum(-1, /*keepdim=*/true);
  top = top.to(logits.scalar_type());
  auto out = torch::zeros_like(flat);
  // Which experts got a token: one host sync, as HF's expert_hit.
  auto hit = torch::zeros({int64_t(expert_ptrs.size())}, idx.options()).index_add_(
      0, idx.reshape({-1}), torch::ones({idx.numel()}, idx.options())).gt(0).to(torch::kCPU);
  const bool* hp = hit.data_ptr<bool>();
  for (size_t e = 0; e < expert_ptrs.size(); ++e) {
    if (!hp[e]) continue;
    auto where = idx.eq(int64_t(e)).nonzero();  // (n, 2): token, slot
    auto token = where.select(1, 0), slot = where.select(1, 1);
    auto h = expert_ptrs[e]->forward(flat.index_select(0, token));
    h = h * top.index({token, slot}).unsqueeze(-1);
    out = out.index_add(0, token, h.to(out.scalar_type()));
  }
  return out.view(x.sizes());
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o, int64_t layer) {
  const Family& f = family_of(c.model_type);
  auto norm = [&] { return std::make_shared<RMSNormImpl>(c.hidden_size, c.rms_norm_eps, o, f.norm_plus_one); };
  self_attn = register_module("self_attn", std::make_shared<AttentionImpl>(c, o, layer));
  if (c.is_moe_layer(layer))
    moe = register_module("mlp", std::make_shared<MoEImpl>(c, o));
  else
    mlp = register_module("mlp", std::make_shared<MLPImpl>(c, o, c.intermediate_size, f.fused_gate_up));
  input_layernorm = register_module("input_layernorm", norm());
  post_attention_layernorm = register_module("post_attention_layernorm", norm());
  if (f.sandwich_norms) {
    pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", norm());
    post_feedforward_layernorm = register_module("post_feedforward_layernorm", norm());
  }
}

// Pre-norm residual block: h = x + attn(norm(x)); out = h + mlp(norm(h)). Sandwich norms
// (Gemma): h = x + post_attn(attn(norm(x))); out = h + post_ff(mlp(pre_ff(h))).
torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const Step& s, int64_t layer) {
  auto ffn = [&](const torch::Tensor& t) { return moe ? moe->forward(t, s.router_logits) : mlp->forward(t); };
  if (pre_feedforward_layernorm) {
    auto h = x + post_attention_layernorm->forward(self_attn->forward(input_layernorm->forward(x), s, layer));
    return h + post_feedforward_layernorm->forward(ffn(pre_feedforward_layernorm->forward(h)));
  }
  auto h = x + self_attn->forward(input_layernorm->forward(x), s, layer);
  return h + ffn(post_attention_layernorm->forward(h));
}

EmbeddingImpl::EmbeddingImpl(int64_t V, int64_t C, const torch::TensorOptions& o) {
  weight = register_parameter("weight", new_parameter({V, C}, o));
}

DecoderImpl::DecoderImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  embed_tokens = register_module("embed_tokens", std::make_shared<EmbeddingImpl>(c.vocab_size, c.hidden_size, o));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto l = std::make_shared<DecoderLayerImpl>(c, o, i);
    layers->push_back(l);
    layer_ptrs.push_back(l);
  }
  norm = register_module("norm", std::make_shared<RMSNormImpl>(c.hidden_size, c.rms_norm_eps, o,
                                                               family_of(c.model_type).norm_plus_one));
}

CausalLMImpl::CausalLMImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  model = register_module("model", std::make_shared<DecoderImpl>(c, o));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", std::make_shared<LinearImpl>(c.hidden_size, c.vocab_size, false, o));
}

// ---------------------------------------------------------------------------------------------
// AutocastState / AutocastGuard (delib/model.h).
}  // namespace model

AutocastState AutocastState::current(c10::DeviceType dev) {
  AutocastState s;
  s.dev = dev;
  s.cpu_enabled = at::autocast::is_autocast_enabled(c10::DeviceType::CPU);
  s.cpu_dtype = at::autocast::get_autocast_dtype(c10::DeviceType::CPU);
  if (dev != c10::DeviceType::CPU) {
    s.dev_enabled = at::autocast::is_autocast_enabled(dev);
    s.dev_dtype = at::autocast::get_autocast_dtype(dev);
  }
  s.cache_enabled = at::autocast::is_autocast_cache_enabled();
  return s;
}

AutocastState AutocastState::bf16(c10::DeviceType dev) {
  AutocastState s = current(dev);
  if (dev == c10::DeviceType::CPU) {
    s.cpu_enabled = true;
    s.cpu_dtype = at::kBFloat16;
  } else {
    s.dev_enabled = true;
    s.dev_dtype = at::kBFloat16;
  }
  return s;
}

namespace {
void apply_autocast(const AutocastState& s) {
  at::autocast::set_autocast_enabled(c10::DeviceType::CPU, s.cpu_enabled);
  at::autocast::set_autocast_dtype(c10::DeviceType::CPU, s.cpu_dtype);
  if (s.dev != c10::DeviceType::CPU) {
    at::autocast::set_autocast_enabled(s.dev, s.dev_enabled);
    at::autocast::set_autocast_dtype(s.dev, s.dev_dtype);
  }
  at::autocast::set_autocast_cache_enabled(s.cache_enabled);
}
}  // namespace

AutocastGuard::AutocastGuard(const AutocastState& s) : prev_(AutocastState::current(s.dev)) {
  apply_autocast(s);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  apply_autocast(prev_);
}

namespace model {

// ---------------------------------------------------------------------------------------------
// Activation checkpointing: a custom autograd Function whose forward runs the layer without
// recording a graph and whose backward recomputes it with grad enabled, then differentiates.
// The layer's trainable parameters are explicit inputs of the Function so that their
// gradients flow through the normal autograd edges (this works when the layer input itself
// does not require grad, e.g. under LoRA with a frozen embedding).
//
// The recomputation must be the forward's function: backward() usually runs after the
// autocast scope of the forward has closed (and on CUDA in the autograd engine's device
// thread), so the forward's autocast state is saved with the layer input and re-entered for
// the recomputation, as torch.utils.checkpoint does (_get_autocast_kwargs: enabled, dtype and
// cache-enabled for the CPU and for the input's device). Without it, a bf16-autocast forward
// is recomputed in f32 and its gradients belong to a different function.

namespace {

// The forward's autocast state, kept with the layer input for the recomputation.
void save_autocast(const AutocastState& s, torch::autograd::AutogradContext* ctx) {
  ctx->saved_data["ac_dev"] = int64_t(s.dev);
  ctx->saved_data["ac_cpu"] = s.cpu_enabled;
  ctx->saved_data["ac_cpu_dtype"] = int64_t(s.cpu_dtype);
  ctx->saved_data["ac_dev_on"] = s.dev_enabled;
  ctx->saved_data["ac_dev_dtype"] = int64_t(s.dev_dtype);
  ctx->saved_data["ac_cache"] = s.cache_enabled;
}

AutocastState load_autocast(torch::autograd::AutogradContext* ctx) {
  AutocastState s;
  s.dev = c10::DeviceType(ctx->saved_data["ac_dev"].toInt());
  s.cpu_enabled = ctx->saved_data["ac_cpu"].toBool();
  s.cpu_dtype = at::ScalarType(ctx->saved_data["ac_cpu_dtype"].toInt());
  s.dev_enabled = ctx->saved_data["ac_dev_on"].toBool();
  s.dev_dtype = at::ScalarType(ctx->saved_data["ac_dev_dtype"].toInt());
  s.cache_enabled = ctx->saved_data["ac_cache"].toBool();
  return s;
}

struct LayerClosure : torch::CustomClassHolder {
  std::shared_ptr<DecoderLayerImpl> layer;
  Step step;
  int64_t index = 0;
};

struct CheckpointFn : public torch::autograd::Function<CheckpointFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               c10::intrusive_ptr<LayerClosure> closure, at::TensorList params) {
    ctx->save_for_backward({x});
    ctx->saved_data["closure"] = c10::IValue::make_capsule(closure);
    ctx->saved_data["nparams"] = int64_t(params.size());
    save_autocast(AutocastState::current(x.device().type()), ctx);
    return closure->layer->forward(x, closure->step, closure->index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto closure = c10::static_intrusive_pointer_cast<LayerClosure>(ctx->saved_data["closure"].toCapsule());
    const int64_t np = ctx->saved_data["nparams"].toInt();
    auto x = ctx->get_saved_variables()[0];
    const bool need_x = ctx->needs_input_grad(0);
    std::vector<torch::Tensor> params;
    for (auto& p : closure->layer->parameters())
      if (p.requires_grad()) params.push_back(p);
    TORCH_CHECK(int64_t(params.size()) == np, "checkpoint: trainable parameters changed between forward and backward");
    torch::AutoGradMode enable(true);
    auto xd = x.detach().requires_grad_(need_x);
    torch::Tensor y;
    {
      AutocastGuard autocast(load_autocast(ctx));  // the forward's autocast state
      y = closure->layer->forward(xd, closure->step, closure->index);
    }
    std::vector<torch::Tensor> inputs;
    if (need_x) inputs.push_back(xd);
    inputs.insert(inputs.end(), params.begin(), params.end());
    torch::autograd::variable_list grads;
    if (!inputs.empty())
      grads = torch::autograd::grad({y}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                    /*create_graph=*/false, /*allow_unused=*/true);
    torch::autograd::variable_list out;
    out.push_back(need_x ? grads[0] : torch::Tensor());
    out.push_back(torch::Tensor());  // closure
    for (size_t i = 0; i < params.size(); ++i) out.push_back(grads[(need_x ? 1 : 0) + i]);
    return out;
  }
};

}  // namespace
}  // namespace model

// ---------------------------------------------------------------------------------------------
// CausalLM.

namespace {

using model::CausalLMImpl;
using model::LinearImpl;
using model::Step;

torch::ScalarType parse_dtype(const std::string& s, torch::Device device, const ModelConfig& c) {
  if (s == "f32" || s == "float32") return torch::kFloat32;
  if (s == "bf16" || s == "bfloat16") return torch::kBFloat16;
  if (s == "f16" || s == "float16") return torch::kFloat16;
  if (s == "auto") {
    if (device.is_cpu()) return torch::kFloat32;
    if (c.torch_dtype == "bfloat16") return torch::kBFloat16;
    if (c.torch_dtype == "float16") return torch::kFloat16;
    return torch::kFloat32;
  }
  throw Error(fmt::format("unknown dtype \"{}\" (auto, f32, bf16, f16)", s), kExitUsage);
}

std::string dtype_config_name(torch::ScalarType t) {
  if (t == torch::kBFloat16) return "bfloat16";
  if (t == torch::kFloat16) return "float16";
  return "float32";
}

class Model final : public CausalLM {
 public:
  Model(ModelConfig c, torch::Device device, torch::ScalarType dtype)
      : cfg_(std::move(c)), device_(device), dtype_(dtype) {
    auto o = torch::TensorOptions().device(device).dtype(dtype);
    lm_ = std::make_shared<CausalLMImpl>(cfg_, o);
  }

  const ModelConfig& config() const override { return cfg_; }
  torch::nn::Module& module() override { return *lm_; }
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : lm_->named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
    return out;
  }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }
  torch::Tensor lm_head_weight() override {
    return lm_->lm_head ? lm_->lm_head->weight : lm_->model->embed_tokens->weight;
  }
  CausalLMImpl& impl() { return *lm_; }
  std::string source_dir;

  torch::Tensor hidden(const torch::Tensor& input_ids, const ForwardOptions& opts) override;
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardOptions& opts) override {
    return lm_head().logits(hidden(input_ids, opts));
  }
  KVCache new_cache(int64_t batch, int64_t capacity) override {
    KVCache c;
    auto o = torch::TensorOptions().device(device_).dtype(dtype_);
    for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
      c.k.push_back(torch::zeros({batch, cfg_.num_key_value_heads, capacity, cfg_.head_dim}, o));
      c.v.push_back(torch::zeros({batch, cfg_.num_key_value_heads, capacity, cfg_.head_dim}, o));
    }
    c.lengths = torch::zeros({batch}, torch::TensorOptions().device(device_).dtype(torch::kInt64));
    return c;
  }
  void save(const std::string& out_dir, const std::string& tokenizer_dir,
            torch::ScalarType dtype, int64_t max_shard_size) override;
  std::string loaded_from() const override { return source_dir; }

 private:
  ModelConfig cfg_;
  torch::Device device_;
  torch::ScalarType dtype_;
  std::shared_ptr<CausalLMImpl> lm_;
  model::Rope rope_{cfg_, device_};
  // Gemma 3's sliding layers: their own base, no scaling; null when all layers share rope_.
  std::optional<model::Rope> rope_local_ = local_rope(cfg_, device_);

  static std::optional<model::Rope> local_rope(const ModelConfig& c, torch::Device device) {
    if (c.rope_local_theta <= 0) return std::nullopt;
    ModelConfig local = c;
    local.rope_theta = c.rope_local_theta;
    local.rope_scaling = Json();
    return model::Rope(local, device);
  }
};

torch::Tensor Model::hidden(const torch::Tensor& input_ids, const ForwardOptions& opts) {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be (B, T), got ", input_ids.sizes());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  auto ids = input_ids.to(device_, torch::kInt64);
  auto long_opts = torch::TensorOptions().device(device_).dtype(torch::kInt64);
  Step s;
  s.cache = opts.cache;
  s.router_logits = opts.router_logits;
  if (opts.router_logits && opts.checkpoint && torch::GradMode::is_enabled() && !opts.cache)
    throw Error("router logits (the MoE load-balancing loss) cannot be collected with activation "
                "checkpointing");
  torch::Tensor am;
  if (opts.attention_mask.defined()) am = opts.attention_mask.to(device_, torch::kBool).expand({B, T});
  auto ar = torch::arange(T, long_opts);

  // The mask of layers attending within W positions back (0 = unlimited): into `mask`, or
  // `causal` when plain causal attention will do.
  std::function<void(int64_t, torch::Tensor&, bool&)> build_mask;
  torch::Tensor positions;
  if (s.cache) {
    KVCache& c = *s.cache;
    if (c.k.size() != size_t(cfg_.num_hidden_layers) || c.lengths.size(0) != B)
      throw Error(fmt::format("KV cache has {} layers and {} rows; the model has {} layers and "
                              "the input {} rows", c.k.size(), c.lengths.size(0),
                              cfg_.num_hidden_layers, B));
    if (opts.doc_ids.defined()) throw Error("doc_ids cannot be combined with a KV cache");
    auto lengths = c.lengths.to(torch::kInt64);
    s.write_index = lengths.unsqueeze(1) + ar.unsqueeze(0);  // (B, T) cache slots
    // The attended prefix is the longest row: from the caller's host copy when it keeps one,
    // else read from the device (one host sync per step on CUDA). On the CPU the read is free
    // and checks the caller's copy.
    int64_t longest = c.attend_all ? c.capacity() - T : c.max_length;
    if (!c.attend_all && (longest < 0 || device_.is_cpu())) {
      const int64_t m = lengths.max().item<int64_t>();
      if (longest >= 0 && longest != m)
        throw Error(fmt::format("KV cache: max_length {} but the longest row holds {}", longest, m));
      longest = m;
    }
    s.kv_len = longest + T;
    if (s.kv_len > c.capacity())
      throw Error(fmt::format("KV cache overflow: {} positions needed, capacity {}", s.kv_len, c.capacity()));
    positions = opts.positions.defined() ? opts.positions.to(device_, torch::kInt64).expand({B, T})
                                         : s.write_index;
    // Key slot j is visible to query t of row b iff j <= len_b + t (causal over the row's own
    // history: slots past a row's length hold stale data), optionally within the window, and
    // not a padding key of this step.
    build_mask = [&](int64_t W, torch::Tensor& mask, bool& causal) {
      auto j = torch::arange(s.kv_len, long_opts).view({1, 1, s.kv_len});
      auto qpos = s.write_index.unsqueeze(2);  // (B, T, 1)
      auto m = j <= qpos;
      if (W > 0) m = m.logical_and(qpos - j < W);
      if (am.defined()) {
        auto key_ok = torch::ones({B, s.kv_len}, long_opts.dtype(torch::kBool));
        key_ok.scatter_(1, s.write_index, am);
        m = m.logical_and(key_ok.unsqueeze(1));
        m = m.logical_or(j == qpos);  // a query always sees itself: no fully masked rows
      }
      mask = m.unsqueeze(1);  // (B, 1, T, kv_len)
      causal = false;
    };
  } else {
    positions = opts.positions.defined() ? opts.positions.to(device_, torch::kInt64).expand({B, T})
                                         : ar.unsqueeze(0).expand({B, T});
    build_mask = [&](int64_t W, torch::Tensor& mask, bool& causal) {
      const bool windowed = W > 0 && T > W;
      if (!opts.doc_ids.defined() && !am.defined() && !windowed) {
        causal = true;  // let SDPA pick its fused causal kernel
        return;
      }
      causal = false;
      auto q = ar.view({T, 1}), k = ar.view({1, T});
      auto m = (k <= q).view({1, T, T});
      if (windowed) m = m.logical_and((q - k < W).view({1, T, T}));
      if (opts.doc_ids.defined()) {
        auto d = opts.doc_ids.to(device_, torch::kInt64).expand({B, T});
        m = m.logical_and(d.unsqueeze(2) == d.unsqueeze(1));  // block diagonal
      }
      if (am.defined()) m = m.logical_and(am.unsqueeze(1));
      // A query always attends to itself, so padding rows never see an empty key set (which
      // would make softmax NaN); their outputs are ignored by the caller anyway.
      m = m.logical_or(torch::eye(T, long_opts.dtype(torch::kBool)).unsqueeze(0));
      mask = m.expand({B, T, T}).unsqueeze(1);  // (B, 1, T, T)
    };
  }
  // Full-attention layers, then sliding ones (the same mask when every layer is alike).
  bool any_full = false, any_sliding = false;
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i)
    (cfg_.is_sliding_layer(i) ? any_sliding : any_full) = true;
  if (any_full) build_mask(0, s.mask, s.causal);
  if (any_sliding) build_mask(cfg_.sliding_window, s.mask_local, s.causal_local);

  std::tie(s.cos, s.sin) = rope_.cos_sin(positions, am, dtype_);  // (B, 1, T, R)
  if (rope_local_) {
    std::tie(s.cos_local, s.sin_local) = rope_local_->cos_sin(positions, am, dtype_);
  } else {
    s.cos_local = s.cos;
    s.sin_local = s.sin;
  }

  auto x = at::embedding(lm_->model->embed_tokens->weight, ids, cfg_.pad_token_id);  // (B, T, C)
  if (model::family_of(cfg_.model_type).scale_embeddings)  // Gemma: * sqrt(C) in the model dtype
    x = x * torch::scalar_tensor(std::sqrt(double(cfg_.hidden_size)), torch::kFloat32).to(x.options());
  const bool ckpt = opts.checkpoint && torch::GradMode::is_enabled() && !s.cache;
  auto& layers = lm_->model->layer_ptrs;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (ckpt) {
      auto closure = c10::make_intrusive<model::LayerClosure>();
      closure->layer = layers[i];
      closure->step = s;
      closure->step.router_logits = nullptr;  // not collected under checkpointing (checked above)
      closure->index = int64_t(i);
      std::vector<torch::Tensor> params;
      for (auto& p : layers[i]->parameters())
        if (p.requires_grad()) params.push_back(p);
      x = model::CheckpointFn::apply(x, closure, at::TensorList(params));
    } else {
      x = layers[i]->forward(x, s, int64_t(i));
    }
  }
  if (s.cache) {
    if (am.defined()) s.cache->lengths.add_(am.sum(1).to(torch::kInt64));
    else s.cache->lengths.add_(T);
    s.cache->max_length = am.defined() || s.cache->max_length < 0 ? -1 : s.cache->max_length + T;
  }
  return lm_->model->norm->forward(x);
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw Error(Location{to, 0}, fmt::format("cannot rename {} to it: {}", from, std::strerror(errno)), kExitIo);
}

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  static const char* kFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                 "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
                                 "chat_template.jinja", "chat_template.json"};
  for (const char* f : kFiles) {
    auto src = from / f;
    if (std::filesystem::exists(src)) std::filesystem::copy_file(src, to / f);
  }
}

void Model::save(const std::string& out_dir, const std::string& tokenizer_dir, torch::ScalarType dtype,
                 int64_t max_shard_size) {
  namespace fs = std::filesystem;
  torch::NoGradGuard ng;
  std::string dir = out_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const fs::path final_dir(dir), tmp(dir + ".tmp"), old(dir + ".old");
  try {
    remove_tree(tmp.string());
    fs::create_directories(tmp);

    // Weights: every checkpoint parameter, LoRA merged (W + (alpha/r) B A), adapters dropped.
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    std::map<std::string, torch::Tensor> merged;
    for (const auto& item : lm_->named_modules()) {
      if (auto* lin = dynamic_cast<LinearImpl*>(item.value().get()); lin && lin->lora_A.defined())
        merged[item.key() + ".weight"] = lin->merged_weight();
    }
    for (auto& [name, p] : named_parameters()) {
      if (name.find(".lora_") != std::string::npos) continue;
      auto it = merged.find(name);
      tensors.emplace_back(name, it != merged.end() ? it->second : p);
    }
    safetensors::save_sharded(tmp.string(), "model", tensors, max_shard_size, dtype);

    // config.json: the original config with delib's values written over it.
    Json conf = cfg_.raw.is_object() ? cfg_.raw : Json::object();
    const bool v5_rope = conf.find("rope_parameters") != nullptr;
    const Json mine = cfg_.to_json();  // named: a temporary would die before the loop body
    for (const auto& [k, v] : mine.as_object()) {
      if (v5_rope && (k == "rope_theta" || k == "rope_scaling")) continue;
      if (k == "head_dim" && !conf.find("head_dim") && cfg_.raw.is_object()) continue;
      conf.set(k, v);
    }
    conf.set("torch_dtype", dtype_config_name(dtype));
    if (conf.find("dtype")) conf.set("dtype", dtype_config_name(dtype));
    write_file_atomic((tmp / "config.json").string(), conf.dump() + "\n", "config.json");
    if (!source_dir.empty() && fs::exists(fs::path(source_dir) / "generation_config.json"))
      fs::copy_file(fs::path(source_dir) / "generation_config.json", tmp / "generation_config.json");
    if (!tokenizer_dir.empty()) copy_tokenizer_files(tokenizer_dir, tmp);

    // Swap in: DIR -> DIR.old, DIR.tmp -> DIR, remove DIR.old. A crash leaves either the old
    // or the new directory complete (plus a stray .tmp/.old).
    remove_tree(old.string());
    if (fs::exists(final_dir)) rename_or_throw(final_dir.string(), old.string());
    rename_or_throw(tmp.string(), final_dir.string());
    remove_tree(old.string());
  } catch (const fs::filesystem_error& e) {
    throw Error(Location{dir, 0}, fmt::format("cannot save the model: {}", e.what()), kExitIo);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::shared_ptr<CausalLM> CausalLM::random(const ModelConfig& config, uint64_t seed,
                                           torch::Device device, torch::ScalarType dtype) {
  auto m = std::make_shared<Model>(config, device, dtype);
  torch::NoGradGuard ng;
  // HF init: normal(0, initializer_range) for linears and embeddings, ones for norms, zeros
  // for biases. Drawn on the CPU in f32 so the values do not depend on the device.
  double std_dev = 0.02;
  if (const Json* ir = config.raw.find("initializer_range"); ir && ir->is_number()) std_dev = ir->as_double();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [name, p] : m->named_parameters()) {
    const bool is_norm = name.size() > 12 && (name.find("norm.weight") != std::string::npos);
    if (is_norm) {
      p.fill_(model::family_of(config.model_type).norm_plus_one ? 0.0 : 1.0);  // scale 1 either way
    } else if (name.ends_with(".bias")) {
      p.zero_();
    } else {
      auto t = torch::empty(p.sizes(), torch::kFloat32);
      t.normal_(0.0, std_dev, gen);
      p.copy_(t);
    }
  }
  return m;
}

namespace {

// load() and load_unallocated(): the model built for config.json, the checkpoint checked against
// it (every parameter present with its shape, nothing unexpected) and, when `read`, copied in.
std::shared_ptr<CausalLM> load_model(const std::string& model_dir, torch::Device device,
                                     const std::string& dtype_name, bool read) {
  ModelConfig cfg = ModelConfig::load(model_dir);
  const torch::ScalarType dtype = parse_dtype(dtype_name, device, cfg);
  auto ckpt = safetensors::Checkpoint::open(model_dir);
  std::shared_ptr<Model> m;
  model::t_unallocated = !read;
  try {
    m = std::make_shared<Model>(cfg, device, dtype);
  } catch (...) {
    model::t_unallocated = false;
    throw;
  }
  model::t_unallocated = false;
  m->source_dir = model_dir;
  torch::NoGradGuard ng;
  std::set<std::string> used;
  for (auto& [name, p] : m->named_parameters()) {
    if (!ckpt.contains(name))
      throw Error(Location{model_dir, 0}, fmt::format("checkpoint has no tensor \"{}\" (needed by {})", name, cfg.architecture));
    const auto& info = ckpt.info(name);
    if (info.shape != p.sizes().vec())
      throw Error(Location{ckpt.file_of(name), 0},
                  fmt::format("tensor \"{}\" has shape [{}], the config implies [{}]", name,
                              fmt::join(info.shape, ", "), fmt::join(p.sizes(), ", ")));
    if (read) p.copy_(ckpt.tensor(name));  // mmap view -> model dtype/device in one pass
    used.insert(name);
  }
  for (const auto& name : ckpt.names()) {
    if (used.count(name)) continue;
    if (name.ends_with("rotary_emb.inv_freq")) continue;              // old checkpoints store it
    if (name == "lm_head.weight" && cfg.tie_word_embeddings) continue;  // redundant copy
    throw Error(Location{ckpt.file_of(name), 0},
                fmt::format("unexpected tensor \"{}\" for {}", name, cfg.architecture));
  }
  return m;
}

}  // namespace

std::shared_ptr<CausalLM> CausalLM::load(const std::string& model_dir, torch::Device device,
                                         const std::string& dtype_name) {
  return load_model(model_dir, device, dtype_name, /*read=*/true);
}

std::shared_ptr<CausalLM> CausalLM::load_unallocated(const std::string& model_dir, torch::Device device,
                                                     const std::string& dtype_name) {
  return load_model(model_dir, device, dtype_name, /*read=*/false);
}

torch::Tensor softcap_logits(const torch::Tensor& logits, double cap) {
  if (cap <= 0) return logits;
  return torch::tanh(logits / cap) * cap;  // HF: logits / cap, tanh, * cap
}

// lm_head has no bias and no adapter (add_lora targets the layers' projections only), so
// linear_rows(h, W) is exactly what LinearImpl::forward computed for an untied head.
torch::Tensor LmHead::logits(const torch::Tensor& hidden) const {
  return softcap_logits(linear_rows(hidden, weight), softcap);
}

// HF load_balancing_loss_func (transformers 5.25, Qwen3-MoE): counts of top-k selections and
// sums of router probabilities over every layer's tokens (masked by attention_mask), each
// divided by the number of token rows, loss = E * sum_e counts_e * probs_e.
torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits, int64_t num_experts,
                                  int64_t top_k, const torch::Tensor& attention_mask) {
  if (router_logits.empty()) return {};
  const auto dev = router_logits[0].device();
  auto fo = torch::TensorOptions().device(dev).dtype(torch::kFloat32);
  torch::Tensor tokens = torch::zeros({num_experts}, fo), probs = torch::zeros({num_experts}, fo);
  torch::Tensor rows = torch::zeros({}, fo);
  torch::Tensor flat_mask;
  if (attention_mask.defined()) flat_mask = attention_mask.reshape({-1}).to(dev, torch::kFloat32);
  for (const auto& g : router_logits) {
    auto w = torch::softmax(g.to(dev), -1);
    auto selected = std::get<1>(w.topk(top_k, -1));  // (N, k)
    auto ones = flat_mask.defined() ? flat_mask.repeat_interleave(top_k)
                                    : torch::ones({selected.numel()}, fo);
    tokens = tokens + torch::zeros({num_experts}, fo).scatter_add(0, selected.reshape({-1}), ones);
    auto wf = w.to(torch::kFloat32);
    if (flat_mask.defined()) {
      probs = probs + (wf * flat_mask.unsqueeze(-1)).sum(0);
      rows = rows + flat_mask.sum();
    } else {
      probs = probs + wf.sum(0);
      rows = rows + double(w.size(0));
    }
  }
  return (tokens / rows * (probs / rows)).sum() * double(num_experts);
}

std::vector<torch::Tensor> add_lora(CausalLM& model, const LoraOptions& options) {
  const auto& names = model::lora_target_names();
  if (options.rank <= 0) throw Error(fmt::format("LoRA rank must be positive, got {}", options.rank), kExitUsage);
  for (const auto& t : options.targets)
    if (std::find(names.begin(), names.end(), t) == names.end())
      throw Error(fmt::format("unknown LoRA target \"{}\" ({})", t, fmt::join(names, ", ")), kExitUsage);
  // The layer names the targets select in this family (q_proj -> qkv_proj when fused).
  const model::Family& fam = model::family_of(model.config().model_type);
  std::map<std::string, std::string> leaves;  // leaf -> the target that asked for it
  for (const auto& t : options.targets) leaves.emplace(model::lora_leaf(fam, t), t);
  torch::NoGradGuard ng;
  for (auto& p : model.module().parameters()) p.requires_grad_(false);
  std::vector<torch::Tensor> trainable;
  std::set<std::string> found, linears;
  for (const auto& item : model.module().named_modules()) {
    auto* lin = dynamic_cast<LinearImpl*>(item.value().get());
    if (!lin) continue;
    const std::string& name = item.key();
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (name.starts_with("model.layers.")) linears.insert(leaf);
    if (!leaves.count(leaf)) continue;
    if (lin->lora_A.defined()) throw Error(fmt::format("{} already has a LoRA adapter", name));
    lin->add_lora(options.rank, options.alpha);
    trainable.push_back(lin->lora_A);
    trainable.push_back(lin->lora_B);
    found.insert(leaf);
  }
  for (const auto& [leaf, target] : leaves)
    if (!found.count(leaf))
      throw Error(options.from_adapter.empty() ? Location{} : Location{options.from_adapter + "/adapter_config.json", 0},
                  fmt::format("{}LoRA target \"{}\": a {} model has no such layer (its layers: {})",
                              options.from_adapter.empty() ? "" : "target_modules: ", target, fam.name,
                              fmt::join(linears, ", ")), kExitUsage);
  if (!options.from_adapter.empty()) peft::load_adapter_weights(model, options.from_adapter);
  return trainable;
}

}  // namespace delib
