// The policy objectives of rl-train --loss (delib/rl.h): GRPO, Dr. GRPO, DAPO and GSPO, each
// with its paper's equation next to the code. Notation: sequence i of the batch (S of them) has
// tokens t = 1..|o_i|, advantage A_i, and per token
//   rho_it = pi(o_it | q, o_i<t) / pi_old(o_it | q, o_i<t) = exp(logp - old_logp)
//   KL_it  = k3 (advantages.cpp), w_it = the optional importance weight (1 when undefined).
// The policy-gradient term of a token is w_it * min(rho A, clip(rho, 1 - e_low, 1 + e_high) A);
// the KL term -beta KL_it is never weighted by w. The loss returned is -J.
#include <fmt/format.h>

#include "delib/error.h"
#include "delib/rl.h"

namespace delib::rl {

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names = {"grpo", "dr-grpo", "dapo", "gspo"};
  return names;
}

const char* loss_name(Loss loss) {
  switch (loss) {
    case Loss::kGrpo: return "grpo";
    case Loss::kDrGrpo: return "dr-grpo";
    case Loss::kDapo: return "dapo";
    case Loss::kGspo: return "gspo";
  }
  return "?";
}

std::optional<Loss> parse_loss(std::string_view name) {
  for (Loss l : {Loss::kGrpo, Loss::kDrGrpo, Loss::kDapo, Loss::kGspo})
    if (name == loss_name(l)) return l;
  return std::nullopt;
}

std::pair<double, double> default_clip(Loss loss, double clip_eps) {
  switch (loss) {
    case Loss::kDapo: return {0.2, 0.28};    // DAPO sec. 3.1: eps_low 0.2, eps_high 0.28
    case Loss::kGspo: return {3e-4, 4e-4};   // GSPO sec. 5.1: "clipping ranges in Equation (5)"
    default: return {clip_eps, clip_eps};    // GRPO / Dr. GRPO: PPO's symmetric clip
  }
}

namespace {

// Sum over each sequence's tokens of x (N,) -> (S,).
torch::Tensor per_sequence_sum(const torch::Tensor& x, const torch::Tensor& seq, int64_t s) {
  return torch::zeros({s}, x.options()).index_add(0, seq, x);
}

// GRPO, Dr. GRPO and DAPO: a token-level surrogate, aggregated three ways.
GrpoLossParts token_level(const LossInputs& in, const LossConfig& c) {
  const torch::Tensor& logp = in.logp;
  torch::Tensor ratio = torch::exp(logp - in.old_logp);
  torch::Tensor unclipped = ratio * in.adv;
  torch::Tensor clipped = torch::clamp(ratio, 1.0 - c.clip_low, 1.0 + c.clip_high) * in.adv;
  torch::Tensor surrogate = torch::min(unclipped, clipped);
  if (in.is_weight.defined()) surrogate = surrogate * in.is_weight;  // TIS: the PG term only
  torch::Tensor per_token = surrogate;
  torch::Tensor kl;
  if (c.kl_coef != 0.0 && in.ref_logp.defined()) {
    kl = k3_kl(logp, in.ref_logp);
    per_token = per_token - c.kl_coef * kl;
  }
  auto opts = logp.options();
  torch::Tensor objective;
  switch (c.kind) {
    case Loss::kGrpo: {
      // GRPO (Shao et al. 2024, arXiv:2402.03300, eq. 3):
      //   J = 1/S sum_i 1/|o_i| sum_t [ min(rho A, clip(rho) A) - beta KL_it ]
      // (1/|o_i| sum_t, then the mean over the sequences present).
      torch::Tensor sums = torch::zeros({in.num_sequences}, opts).index_add(0, in.seq, per_token);
      torch::Tensor lens = torch::zeros({in.num_sequences}, opts).index_add(0, in.seq, torch::ones_like(per_token));
      torch::Tensor present = lens > 0;
      objective = (sums.masked_select(present) / lens.masked_select(present)).mean();
      break;
    }
    case Loss::kDrGrpo: {
      // Dr. GRPO (Liu et al. 2025, arXiv:2503.20783, eq. in sec. 3.1, "Dr. GRPO"): the 1/|o_i|
      // of GRPO biases towards long wrong answers and short right ones; it is replaced by a
      // constant, the generation budget L (their code: masked sum / generate_max_length):
      //   J = 1/S sum_i 1/L sum_t [ min(rho A, clip(rho) A) - beta KL_it ],  A_i = r_i - mean(r)
      // (the advantage without std is advantages.cpp's divide_by_std = false).
      if (c.max_length < 1) throw Error("internal: dr-grpo needs the generation length L >= 1");
      double s = c.sequences > 0 ? c.sequences
                                 : (per_sequence_sum(torch::ones_like(per_token), in.seq, in.num_sequences) > 0)
                                       .sum().item<double>();
      objective = per_token.sum() / (s * double(c.max_length));
      break;
    }
    case Loss::kDapo: {
      // DAPO (Yu et al. 2025, arXiv:2503.14476, the J_DAPO objective of sec. 3 with sec. 3.3,
      // "Token-Level Policy Gradient Loss"):
      //   J = 1/(sum_i |o_i|) sum_i sum_t min(rho A, clip(rho, 1 - e_low, 1 + e_high) A)
      // every token of the batch weighs the same, whatever the length of its sequence. (DAPO
      // drops the KL term, beta = 0; a --kl-coef > 0 adds -beta KL_it to each token, as TRL's
      // loss_type "dapo" does.)
      double t = c.tokens > 0 ? c.tokens : double(per_token.size(0));
      objective = per_token.sum() / t;
      break;
    }
    case Loss::kGspo: break;  // not token-level (gspo() below)
  }
  GrpoLossParts out;
  out.loss = -objective;
  torch::NoGradGuard ng;
  out.policy = surrogate.mean().item<double>();
  out.kl = kl.defined() ? kl.mean().item<double>() : 0.0;
  out.clip_fraction = (unclipped != clipped).to(torch::kFloat64).mean().item<double>();
  return out;
}

// GSPO (Zheng et al. 2025, arXiv:2507.18071, sec. 4.1, eq. 5 and the s_i defined under it):
//   s_i = (pi(o_i|q) / pi_old(o_i|q))^(1/|o_i|) = exp( 1/|o_i| sum_t (logp_it - old_logp_it) )
//   J   = 1/S sum_i [ min(s_i A_i, clip(s_i, 1 - e_low, 1 + e_high) A_i) ]
// The ratio, the clip and the advantage are per sequence (A_i the group-normalised GRPO
// advantage). GSPO has no KL term (beta = 0); with --kl-coef > 0 each sequence's mean k3 KL is
// subtracted, -beta 1/|o_i| sum_t KL_it (TRL: the sequence term broadcast to its tokens under
// GRPO's aggregation). The importance weights w_it (TIS) multiply the sequence's term by their
// mean over its tokens (the same broadcast).
GrpoLossParts gspo(const LossInputs& in, const LossConfig& c) {
  const int64_t s = in.num_sequences;
  torch::Tensor ones = torch::ones_like(in.logp);
  torch::Tensor lens = per_sequence_sum(ones, in.seq, s);
  torch::Tensor present = lens > 0;
  torch::Tensor len = lens.clamp_min(1);
  torch::Tensor seq_ratio = torch::exp(per_sequence_sum(in.logp - in.old_logp, in.seq, s) / len);
  // A_i: every token of a sequence carries its sequence's advantage.
  torch::Tensor adv = torch::zeros({s}, in.adv.options()).scatter(0, in.seq, in.adv.detach());
  torch::Tensor unclipped = seq_ratio * adv;
  torch::Tensor clipped = torch::clamp(seq_ratio, 1.0 - c.clip_low, 1.0 + c.clip_high) * adv;
  torch::Tensor term = torch::min(unclipped, clipped);
  if (in.is_weight.defined()) term = term * (per_sequence_sum(in.is_weight, in.seq, s) / len);
  torch::Tensor per_seq = term;
  torch::Tensor kl;
  if (c.kl_coef != 0.0 && in.ref_logp.defined()) {
    kl = k3_kl(in.logp, in.ref_logp);
    per_seq = per_seq - c.kl_coef * per_sequence_sum(kl, in.seq, s) / len;
  }
  GrpoLossParts out;
  out.loss = -per_seq.masked_select(present).mean();
  torch::NoGradGuard ng;
  out.policy = term.masked_select(present).mean().item<double>();
  out.kl = kl.defined() ? kl.mean().item<double>() : 0.0;
  out.clip_fraction = (unclipped != clipped).masked_select(present).to(torch::kFloat64).mean().item<double>();
  return out;
}

}  // namespace

GrpoLossParts policy_loss(const LossInputs& in, const LossConfig& c) {
  if (in.is_weight.defined() && in.is_weight.requires_grad())
    throw Error("internal: the importance weights must be constants (detach them)");
  return c.kind == Loss::kGspo ? gspo(in, c) : token_level(in, c);
}

// DAPO sec. 3.4 (overlong filtering, see delib/rl.h): a sample is truncated when the generation
// budget ended it, which every backend reports as finish_reason "length" (the local engine; the
// server's choices[0].finish_reason). run_rl leaves the masked samples out of the update batch,
// which removes their tokens from every sum and normaliser of the objectives above.
std::vector<bool> overlong_mask(const std::vector<GenResult>& completions) {
  std::vector<bool> masked;
  masked.reserve(completions.size());
  for (const GenResult& g : completions) masked.push_back(g.finish_reason == "length");
  return masked;
}

GrpoLossParts grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                        const torch::Tensor& adv, const torch::Tensor& seq, int64_t num_sequences, double clip_eps,
                        double kl_coef) {
  LossInputs in{logp, old_logp, ref_logp, adv, seq, num_sequences, torch::Tensor()};
  LossConfig c;
  c.kind = Loss::kGrpo;
  c.clip_low = c.clip_high = clip_eps;
  c.kl_coef = kl_coef;
  return policy_loss(in, c);
}

}  // namespace delib::rl
