// Group advantages and the k3 KL estimator (see delib/rl.h for the formulas and their sources);
// the policy objectives of --loss are in objectives.cpp, the reward sources in rewards.cpp.
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

torch::Tensor group_advantages(const torch::Tensor& rewards, const torch::Tensor& rewarded, double eps,
                               bool divide_by_std) {
  // rewards, rewarded (P, G). Every member rewarded: the plain formula, bit for bit (a run
  // without judge failures is unchanged).
  if (divide_by_std && rewarded.all().item<bool>()) return group_advantages(rewards, eps);
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
  // Dr. GRPO (Liu et al. 2025, arXiv:2503.20783, sec. 3.1): A = r - mean_J(r), no division by
  // the std (it weights groups by how (un)certain they are: a bias towards too-easy and
  // too-hard questions).
  torch::Tensor a = (divide_by_std ? dev / (std + eps) : dev) * (n >= 2).to(torch::kFloat64);
  return a.to(rewards.scalar_type());
}

torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& ref_logp) {
  // With x = ref - logp = log(pi_ref / pi): E_pi[exp(x) - x - 1] = E[pi_ref/pi] - E[x] - 1
  // = 1 + KL(pi || pi_ref) - 1, and exp(x) - x - 1 >= 0 for every x.
  torch::Tensor x = ref_logp - logp;
  return torch::exp(x) - x - 1;
}

}  // namespace delib::rl
