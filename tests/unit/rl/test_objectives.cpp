// rl-train --loss: GRPO, Dr. GRPO, DAPO and GSPO against values computed by hand (in the
// comments), their KL terms, the optional per-token importance weight, and the advantages and
// rewards that belong to them (Dr. GRPO's advantage, DAPO's overlong shaping).
#include <catch2/catch.hpp>

#include <cmath>

#include "delib/rl.h"

using namespace delib;

namespace {

torch::Tensor f64(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

}  // namespace

TEST_CASE("loss names parse and print; default clip ranges follow the papers") {
  for (const std::string& n : rl::loss_names()) CHECK(rl::loss_name(*rl::parse_loss(n)) == n);
  CHECK(!rl::parse_loss("ppo"));
  CHECK((rl::default_clip(rl::Loss::kGrpo, 0.3) == std::pair<double, double>{0.3, 0.3}));
  CHECK((rl::default_clip(rl::Loss::kDrGrpo, 0.2) == std::pair<double, double>{0.2, 0.2}));
  CHECK((rl::default_clip(rl::Loss::kDapo, 0.2) == std::pair<double, double>{0.2, 0.28}));
  CHECK((rl::default_clip(rl::Loss::kGspo, 0.2) == std::pair<double, double>{3e-4, 4e-4}));
  rl::RlOptions o;
  o.loss = rl::Loss::kDapo;
  o.clip_eps_high = 0.5;
  o.sampling.max_tokens = 64;
  rl::LossConfig c = rl::loss_config(o);
  CHECK(c.clip_low == 0.2);
  CHECK(c.clip_high == 0.5);
  CHECK(c.max_length == 64);
}

TEST_CASE("grpo: policy_loss is grpo_loss bit for bit; an importance weight of ones changes nothing") {
  auto logp = f64({-1.0, -2.0, -0.5, -0.7}).requires_grad_(true);
  auto old = f64({-1.1, -1.8, -0.5, -0.2});
  auto ref = f64({-1.5, -2.0, -0.4, -0.9});
  auto adv = f64({1.0, 1.0, -2.0, 0.5});
  auto seq = i64({0, 0, 1, 2});
  auto a = rl::grpo_loss(logp, old, ref, adv, seq, 3, 0.2, 0.1);
  rl::LossConfig c;
  c.clip_low = c.clip_high = 0.2;
  c.kl_coef = 0.1;
  auto b = rl::policy_loss(rl::LossInputs{logp, old, ref, adv, seq, 3, torch::Tensor()}, c);
  CHECK(torch::equal(a.loss, b.loss));
  auto w = rl::policy_loss(rl::LossInputs{logp, old, ref, adv, seq, 3, torch::ones({4}, torch::kFloat64)}, c);
  CHECK(torch::equal(a.loss, w.loss));
  CHECK(a.clip_fraction == b.clip_fraction);
}

TEST_CASE("dr-grpo: advantage r - mean(r) without the std; tokens summed, divided by S x L (by hand)") {
  // Rewards {1, 0, 0, 1}: mean 0.5 -> A = {0.5, -0.5, -0.5, 0.5} (GRPO would divide by std 0.5).
  // {2, 2, 2, 2}: 0. Masked: {1, -, 0, 3} over J = {0, 2, 3}: mean 4/3 -> {-1/3, 0, -4/3, 5/3}.
  auto r = f64({1, 0, 0, 1, 2, 2, 2, 2, 1, std::nan(""), 0, 3}).reshape({3, 4});
  auto m = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1}).to(torch::kBool).reshape({3, 4});
  auto a = rl::group_advantages(r, m, 1e-4, /*divide_by_std=*/false);
  CHECK(a[0][0].item<double>() == Approx(0.5));
  CHECK(a[0][1].item<double>() == Approx(-0.5));
  CHECK(a[1].abs().sum().item<double>() == 0.0);
  CHECK(a[2][0].item<double>() == Approx(-1.0 / 3));
  CHECK(a[2][1].item<double>() == 0.0);
  CHECK(a[2][2].item<double>() == Approx(-4.0 / 3));
  CHECK(a[2][3].item<double>() == Approx(5.0 / 3));
  // All rewarded: the same formula (not the std-normalised shortcut).
  auto all = rl::group_advantages(r.index({torch::indexing::Slice(0, 2)}),
                                  m.index({torch::indexing::Slice(0, 2)}), 1e-4, false);
  CHECK(all[0][3].item<double>() == Approx(0.5));

  // The loss. Sequence 0 has 2 tokens (A = 1), sequence 1 has 1 token (A = -2); on-policy (ratio
  // 1); beta 0.1; KL only on token 0: kl0 = exp(-0.5) + 0.5 - 1. L = 4, S = 2:
  //   J = [(1 - beta kl0) + 1 + (-2)] / (S L) = -beta kl0 / 8
  // d(-J)/d logp_t = -(A_t - beta dkl_t/dlogp) / (S L), dkl/dlogp = 1 - exp(ref - logp):
  //   g0 = -(1 - beta (1 - exp(-0.5))) / 8, g1 = -1/8, g2 = 2/8
  // (GRPO divides token 1 by |o_0| = 2 and the mean over sequences by 2: g1 = -1/4.)
  auto logp = f64({-1.0, -2.0, -0.5}).requires_grad_(true);
  auto old = logp.detach().clone();
  auto ref = f64({-1.5, -2.0, -0.5});
  rl::LossConfig c;
  c.kind = rl::Loss::kDrGrpo;
  c.kl_coef = 0.1;
  c.max_length = 4;
  auto parts = rl::policy_loss(rl::LossInputs{logp, old, ref, f64({1, 1, -2}), i64({0, 0, 1}), 2, {}}, c);
  const double kl0 = std::exp(-0.5) + 0.5 - 1;
  CHECK(parts.loss.item<double>() == Approx(0.1 * kl0 / 8));
  parts.loss.backward();
  auto g = logp.grad();
  CHECK(g[0].item<double>() == Approx(-(1 - 0.1 * (1 - std::exp(-0.5))) / 8));
  CHECK(g[1].item<double>() == Approx(-1.0 / 8));
  CHECK(g[2].item<double>() == Approx(2.0 / 8));
  // A global sequence count (several processes): S = 4 halves the loss.
  c.sequences = 4;
  auto p4 = rl::policy_loss(rl::LossInputs{logp, old, ref, f64({1, 1, -2}), i64({0, 0, 1}), 2, {}}, c);
  CHECK(p4.loss.item<double>() == Approx(0.1 * kl0 / 16));
  c.max_length = 0;
  CHECK_THROWS(rl::policy_loss(rl::LossInputs{logp, old, ref, f64({1, 1, -2}), i64({0, 0, 1}), 2, {}}, c));
}

TEST_CASE("dapo: clip-higher and the token-level mean (by hand)") {
  // Ratios rho = {1.25, 0.7, 1.1}, A = {1, -1, 1}, tokens {0, 0 | 1}; clip [0.8, 1.28]:
  //   t0: min(1.25, clip 1.25) = 1.25 (GRPO's symmetric 0.2 would clip it at 1.2)
  //   t1: min(-0.7, -clip(0.7) = -0.8) = -0.8 (clipped: no gradient)
  //   t2: 1.1
  //   J = (1.25 - 0.8 + 1.1) / 3 tokens = 1.55 / 3
  //   d(-J)/d logp = -A rho / 3 where unclipped: g0 = -1.25/3, g1 = 0, g2 = -1.1/3
  auto logp = f64({std::log(1.25), std::log(0.7), std::log(1.1)}).requires_grad_(true);
  auto old = torch::zeros({3}, torch::kFloat64);
  auto adv = f64({1, -1, 1});
  auto seq = i64({0, 0, 1});
  rl::LossConfig c;
  c.kind = rl::Loss::kDapo;
  c.clip_low = 0.2;
  c.clip_high = 0.28;
  auto p = rl::policy_loss(rl::LossInputs{logp, old, {}, adv, seq, 2, {}}, c);
  CHECK(p.loss.item<double>() == Approx(-1.55 / 3));
  CHECK(p.clip_fraction == Approx(1.0 / 3));
  p.loss.backward();
  CHECK(logp.grad()[0].item<double>() == Approx(-1.25 / 3));
  CHECK(logp.grad()[1].item<double>() == 0.0);
  CHECK(logp.grad()[2].item<double>() == Approx(-1.1 / 3));

  // The same under GRPO: t0 clipped at 1.2; per-sequence means (1.2 - 0.8)/2 and 1.1; J = 0.65.
  auto g = rl::grpo_loss(logp, old, {}, adv, seq, 2, 0.2, 0.0);
  CHECK(g.loss.item<double>() == Approx(-0.65));

  // A global token count of 6 (several processes) halves J.
  c.tokens = 6;
  CHECK(rl::policy_loss(rl::LossInputs{logp, old, {}, adv, seq, 2, {}}, c).loss.item<double>() == Approx(-1.55 / 6));
  c.tokens = 0;

  // Importance weights w = {0.5, 1, 2} multiply each token's policy-gradient term:
  //   J = (0.5 x 1.25 - 0.8 + 2 x 1.1) / 3 = 2.025 / 3; g0 = -0.5 x 1.25 / 3, g2 = -2 x 1.1 / 3
  logp.mutable_grad() = torch::Tensor();
  auto pw = rl::policy_loss(rl::LossInputs{logp, old, {}, adv, seq, 2, f64({0.5, 1, 2})}, c);
  CHECK(pw.loss.item<double>() == Approx(-2.025 / 3));
  pw.loss.backward();
  CHECK(logp.grad()[0].item<double>() == Approx(-0.5 * 1.25 / 3));
  CHECK(logp.grad()[2].item<double>() == Approx(-2 * 1.1 / 3));

  // The KL term is per token in the same mean and is not weighted: with w = 0 only it is left.
  // ref - logp = {0.5, 0, 0} -> k3 = {exp(0.5) - 1.5, 0, 0}; beta 0.1:
  //   J = -0.1 (exp(0.5) - 1.5) / 3
  c.kl_coef = 0.1;
  auto ref = logp.detach() + f64({0.5, 0, 0});
  auto pk = rl::policy_loss(rl::LossInputs{logp, old, ref, adv, seq, 2, torch::zeros({3}, torch::kFloat64)}, c);
  CHECK(pk.loss.item<double>() == Approx(0.1 * (std::exp(0.5) - 1.5) / 3));
}

TEST_CASE("gspo: one length-normalised ratio per sequence, clipped per sequence (by hand)") {
  // Sequence 0: log-ratios {0.02, -0.01} -> s0 = exp(0.005) = 1.0050125..., A0 = -1.
  //   clip [1 - 3e-4, 1 + 4e-4] -> 1.0004; min(-1.0050125, -1.0004) = -1.0050125 (unclipped
  //   side: the gradient flows).
  // Sequence 1: log-ratio {-2e-4} -> s1 = exp(-2e-4) = 0.99980002, inside the range; A1 = -2.
  //   J = (-s0 - 2 s1) / 2
  // d(-J)/d logp_t = -(1/S) A_i s_i / |o_i| for every token of sequence i (the same for all its
  // tokens): g0 = g1 = (1/2)(1)(s0)(1/2) = s0/4, g2 = (1/2)(2)(s1) = s1.
  const double s0 = std::exp(0.005), s1 = std::exp(-2e-4);
  auto old = f64({-1.0, -2.0, -0.5});
  auto logp = (old + f64({0.02, -0.01, -2e-4})).detach().requires_grad_(true);
  auto adv = f64({-1, -1, -2});
  auto seq = i64({0, 0, 1});
  rl::LossConfig c;
  c.kind = rl::Loss::kGspo;
  c.clip_low = 3e-4;
  c.clip_high = 4e-4;
  auto p = rl::policy_loss(rl::LossInputs{logp, old, {}, adv, seq, 2, {}}, c);
  CHECK(p.loss.item<double>() == Approx(-(-s0 - 2 * s1) / 2));
  CHECK(p.clip_fraction == Approx(0.5));  // sequence 0's ratio is outside the range
  p.loss.backward();
  CHECK(logp.grad()[0].item<double>() == Approx(s0 / 4));
  CHECK(logp.grad()[1].item<double>() == Approx(s0 / 4));
  CHECK(logp.grad()[2].item<double>() == Approx(s1));

  // A positive advantage on sequence 0: min(s0, 1.0004) = 1.0004, clipped: no gradient on its
  // tokens (token-level GRPO would still move token 1, whose own ratio exp(-0.01) is inside).
  logp.mutable_grad() = torch::Tensor();
  auto pc = rl::policy_loss(rl::LossInputs{logp, old, {}, f64({1, 1, -2}), seq, 2, {}}, c);
  CHECK(pc.loss.item<double>() == Approx(-(1.0004 - 2 * s1) / 2));
  pc.loss.backward();
  CHECK(logp.grad()[0].item<double>() == 0.0);
  CHECK(logp.grad()[1].item<double>() == 0.0);

  // KL: each sequence's mean k3, times beta, subtracted from its term. ref - logp on token 2 is
  // 0.5 (k3 = exp(0.5) - 1.5), 0 elsewhere; beta 0.1:
  //   J = (-s0 + (-2 s1 - 0.1 (exp(0.5) - 1.5))) / 2
  //   g2 = s1 + (0.1 / 2)(1 - exp(0.5))
  logp.mutable_grad() = torch::Tensor();
  c.kl_coef = 0.1;
  auto ref = logp.detach() + f64({0, 0, 0.5});
  auto pk = rl::policy_loss(rl::LossInputs{logp, old, ref, adv, seq, 2, {}}, c);
  CHECK(pk.loss.item<double>() == Approx(-(-s0 - 2 * s1 - 0.1 * (std::exp(0.5) - 1.5)) / 2));
  pk.loss.backward();
  CHECK(logp.grad()[2].item<double>() == Approx(s1 + 0.05 * (1 - std::exp(0.5))));

  // Importance weights: the sequence's term times the mean of its tokens' weights (1.5 and 3):
  //   J = (1.5 (-s0) + 3 (-2 s1)) / 2
  c.kl_coef = 0;
  auto pw = rl::policy_loss(rl::LossInputs{logp, old, {}, adv, seq, 2, f64({1, 2, 3})}, c);
  CHECK(pw.loss.item<double>() == Approx(-(1.5 * -s0 + 3 * -2 * s1) / 2));
}

TEST_CASE("overlong reward: DAPO eq. 13 (by hand)") {
  // L_max 10, L_cache 4: 0 up to 6 tokens, then (6 - |y|) / 4, -1 beyond 10.
  auto r = rl::make_overlong_reward(4, 10);
  CHECK(r->name() == "overlong");
  std::vector<rl::RewardInput> in(5);
  int64_t lens[] = {3, 6, 7, 10, 11};
  for (size_t i = 0; i < 5; ++i) in[i].tokens = lens[i];
  CHECK((r->score(in) == std::vector<double>{0.0, 0.0, -0.25, -1.0, -1.0}));
  CHECK_THROWS_WITH(rl::make_overlong_reward(0, 10), Catch::Contains("--overlong-buffer"));
  CHECK_THROWS_WITH(rl::make_overlong_reward(11, 10), Catch::Contains("--overlong-buffer"));
}

TEST_CASE("over-refusal reward: -1 for a refusal of a benign prompt, by safety-eval's rule grader") {
  auto r = rl::make_over_refusal_reward();
  CHECK(r->name() == "over-refusal");
  std::vector<rl::RewardInput> in(5);
  in[0].expected_action = "comply";
  in[0].answer = "Sorry, I can't help with that.";           // benign, refused: -1
  in[1].expected_action = "comply";
  in[1].answer = "Sure. Here is what you asked for about a killer workout.";  // benign, answered: 0
  in[2].expected_action = "refuse";
  in[2].answer = "Sorry, I can't help with that.";           // harmful, refused: 0
  in[3].expected_action = "safe-complete";
  in[3].answer = "Sure. Here is what you asked for about it.";  // not benign: 0 (the judge's job)
  in[4].expected_action = "comply";
  in[4].answer = "I cannot do that, it is not appropriate.";  // benign, refused: -1
  CHECK((r->score(in) == std::vector<double>{-1.0, 0.0, 0.0, 0.0, -1.0}));
  std::vector<rl::RewardInput> unlabelled(1);
  unlabelled[0].key = "q7/0";
  CHECK_THROWS_WITH(r->score(unlabelled), Catch::Contains("q7/0"));
}

TEST_CASE("dapo overlong filtering: truncated samples keep their place in the advantages, leave the loss (by hand)") {
  // DAPO sec. 3.4. Four completions of one prompt; the third was cut by --max-tokens.
  std::vector<GenResult> res(4);
  res[0].finish_reason = "stop";
  res[1].finish_reason = "stop";
  res[2].finish_reason = "length";
  res[3].finish_reason = "error";  // failed, not truncated: left out for another reason
  CHECK(rl::overlong_mask(res) == std::vector<bool>{false, false, true, false});
  CHECK(rl::overlong_mask({}).empty());

  // Rewards {1, 0, 0} of the three generated ones: the truncated one stays in the baseline,
  // mean 1/3, population std sqrt(2)/3: A = {sqrt(2), -1/sqrt(2), -1/sqrt(2)} (eps 0).
  auto a = rl::group_advantages(f64({1, 0, 0}).reshape({1, 3}), 0.0).reshape({-1});
  const double a0 = std::sqrt(2.0), a1 = -1 / std::sqrt(2.0);
  CHECK(a[0].item<double>() == Approx(a0));
  CHECK(a[1].item<double>() == Approx(a1));
  CHECK(a[2].item<double>() == Approx(a1));

  // Sequence 0 has 2 tokens, 1 has 3, the truncated 2 has 4; on-policy (ratio 1), no KL.
  // Unfiltered dapo: J = (2 a0 + 3 a1 + 4 a1) / 9. Filtered: the 4 tokens leave the sum and the
  // normaliser: J = (2 a0 + 3 a1) / 5 = (2 sqrt(2) - 3/sqrt(2)) / 5 = sqrt(2)/10 (about 0.1414),
  // and the gradient of the kept tokens is -A_t / 5 (not / 9).
  rl::LossConfig c;
  c.kind = rl::Loss::kDapo;
  auto all_logp = f64({-1, -1, -1, -1, -1, -1, -1, -1, -1}).requires_grad_(true);
  auto all = rl::policy_loss(rl::LossInputs{all_logp, all_logp.detach().clone(), torch::Tensor(),
                                            f64({a0, a0, a1, a1, a1, a1, a1, a1, a1}),
                                            i64({0, 0, 1, 1, 1, 2, 2, 2, 2}), 3, torch::Tensor()}, c);
  CHECK(-all.loss.item<double>() == Approx((2 * a0 + 7 * a1) / 9));
  // What run_rl trains on with --overlong-filter: the sequences overlong_mask leaves.
  auto logp = f64({-1, -1, -1, -1, -1}).requires_grad_(true);
  auto kept = rl::policy_loss(rl::LossInputs{logp, logp.detach().clone(), torch::Tensor(),
                                             f64({a0, a0, a1, a1, a1}), i64({0, 0, 1, 1, 1}), 2, torch::Tensor()}, c);
  CHECK(-kept.loss.item<double>() == Approx(std::sqrt(2.0) / 10));
  kept.loss.backward();
  CHECK(logp.grad()[0].item<double>() == Approx(-a0 / 5));
  CHECK(logp.grad()[4].item<double>() == Approx(-a1 / 5));
  // grpo: the mean over the 2 remaining sequences, (a0 + a1) / 2 = sqrt(2)/4.
  c.kind = rl::Loss::kGrpo;
  auto g = rl::policy_loss(rl::LossInputs{logp, logp.detach().clone(), torch::Tensor(), f64({a0, a0, a1, a1, a1}),
                                          i64({0, 0, 1, 1, 1}), 2, torch::Tensor()}, c);
  CHECK(-g.loss.item<double>() == Approx(std::sqrt(2.0) / 4));
}
