// Truncated importance sampling weights for server rollouts (delib/rl.h, tis_weights).
//
// Yao, Liu, Zhang, Chen, Gao, Jiao, Shen (2025), "Your Efficient RL Framework Secretly Brings
// You Off-Policy RL Training" (https://fengyao.notion.site/off-policy-rl): the rollout engine's
// pi_rollout differs from the trainer's pi_old; the policy gradient is corrected per token by
// the truncated ratio min(pi_old / pi_rollout, C). verl implements it as
//   tis_imp_ratio = exp(old_log_prob - rollout_log_probs).clamp(max=tis_imp_ratio_cap)
//   pg_losses = pg_losses * tis_imp_ratio
// (verl/trainer/ppo/core_algos.py, compute_policy_loss; actor.tis_imp_ratio_cap, default 2 in
// their recipe); this is the same weight.
#include <fmt/format.h>

#include "delib/error.h"
#include "delib/rl.h"

namespace delib::rl {

TisWeights tis_weights(const torch::Tensor& trainer_logp, const torch::Tensor& rollout_logp, double cap) {
  if (!(cap > 0)) throw Error(fmt::format("--tis-cap must be positive (got {})", cap), kExitUsage);
  if (trainer_logp.sizes() != rollout_logp.sizes() || trainer_logp.dim() != 1)
    throw Error(fmt::format("internal: tis_weights on {} trainer and {} rollout log-probs",
                            trainer_logp.numel(), rollout_logp.numel()));
  torch::NoGradGuard ng;
  TisWeights w;
  // log-ratio in float64: exp of a float32 difference near 0 would round the weight of an
  // exact agreement away from 1 only by rounding, but the metrics should read 0 there.
  torch::Tensor d = trainer_logp.detach().to(torch::kFloat64) - rollout_logp.detach().to(trainer_logp.device(), torch::kFloat64);
  torch::Tensor ratio = d.exp();
  w.weight = ratio.clamp_max(cap).to(trainer_logp.scalar_type());
  const int64_t n = d.numel();
  if (n == 0) return w;
  torch::Tensor a = d.abs();
  w.diff_mean = a.mean().item<double>();
  w.diff_max = a.max().item<double>();
  w.clipped_fraction = (ratio > cap).to(torch::kFloat64).mean().item<double>();
  return w;
}

}  // namespace delib::rl
