// GRPO math (see delib/rl.h for the formulas and their sources); the reward sources are in
// rewards.cpp.
#include "delib/rl.h"

namespace delib::rl {

torch::Tensor group_advantages(const torch::Tensor& rewards, double eps) {
  // rewards (P, G). Population std (unbiased=false): a group of G equal rewards has std 0 and
  // so advantage 0: no signal when every completion did equally well.
  torch::Tensor r = rewards.to(torch::kFloat64);
  torch::Tensor mean = r.mean(/*dim=*/1, /*keepdim=*/true);
  torch::Tensor std = r.std(/*dim=*/1, /*unbiased=*/false, /*keepdim=*/true);
  return ((r - mean) / (std + eps)).to(rewards.scalar_type());
}

torch::Tensor group_advantages(const torch::Tensor& rewards, const torch::Tensor& rewarded, double eps) {
  // rewards, rewarded (P, G). Every member rewarded: the plain formula, bit for bit (a run
  // without judge failures is unchanged).
  if (rewarded.all().item<bool>()) return group_advantages(rewards, eps);
  // J = the rewarded members of a row, n = |J|:
  //   mean_J = sum_J r / n,  std_J = sqrt(sum_J (r - mean_J)^2 / n)   (population, as above)
  //   A = (r - mean_J) / (std_J + eps) on J when n >= 2; 0 elsewhere.
  torch::Tensor m = rewarded.to(torch::kBool);
  torch::Tensor r = torch::where(m, rewards.to(torch::kFloat64), torch::zeros({}, torch::kFloat64));  // NaN-free
  torch::Tensor w = m.to(torch::kFloat64);
  torch::Tensor n = w.sum(/*dim=*/1, /*keepdim=*/true);
  torch::Tensor mean = r.sum(1, true) / n.clamp_min(1);
  torch::Tensor dev = (r - mean) * w;
  torch::Tensor std = (dev.pow(2).sum(1, true) / n.clamp_min(1)).sqrt();
  torch::Tensor a = dev / (std + eps) * (n >= 2).to(torch::kFloat64);
  return a.to(rewards.scalar_type());
}

torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& ref_logp) {
  // With x = ref - logp = log(pi_ref / pi): E_pi[exp(x) - x - 1] = E[pi_ref/pi] - E[x] - 1
  // = 1 + KL(pi || pi_ref) - 1, and exp(x) - x - 1 >= 0 for every x.
  torch::Tensor x = ref_logp - logp;
  return torch::exp(x) - x - 1;
}

GrpoLossParts grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                        const torch::Tensor& ref_logp, const torch::Tensor& adv,
                        const torch::Tensor& seq, int64_t num_sequences, double clip_eps,
                        double kl_coef) {
  // Per token t of sequence i:  s_it = min(rho A_i, clip(rho, 1-e, 1+e) A_i) - beta KL_it
  torch::Tensor ratio = torch::exp(logp - old_logp);
  torch::Tensor unclipped = ratio * adv;
  torch::Tensor clipped = torch::clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv;
  torch::Tensor surrogate = torch::min(unclipped, clipped);
  torch::Tensor per_token = surrogate;
  torch::Tensor kl;
  if (kl_coef != 0.0 && ref_logp.defined()) {
    kl = k3_kl(logp, ref_logp);
    per_token = per_token - kl_coef * kl;
  }
  // 1/|o_i| sum_t, then the mean over sequences: sum per sequence with index_add, divide by
  // each sequence's length.
  auto opts = logp.options();
  torch::Tensor sums = torch::zeros({num_sequences}, opts).index_add(0, seq, per_token);
  torch::Tensor lens = torch::zeros({num_sequences}, opts).index_add(0, seq, torch::ones_like(per_token));
  torch::Tensor present = lens > 0;
  torch::Tensor objective = (sums.masked_select(present) / lens.masked_select(present)).mean();
  GrpoLossParts out;
  out.loss = -objective;
  torch::NoGradGuard ng;
  out.policy = surrogate.mean().item<double>();
  out.kl = kl.defined() ? kl.mean().item<double>() : 0.0;
  out.clip_fraction = (unclipped != clipped).to(torch::kFloat64).mean().item<double>();
  return out;
}

}  // namespace delib::rl
