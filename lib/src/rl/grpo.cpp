// GRPO math and the reward sources (see delib/rl.h for the formulas and their sources).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "delib/rl.h"
#include "delib/spec.h"

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

// ---------------------------------------------------------------------------------------------

std::vector<RewardValue> RewardSource::evaluate(const std::vector<RewardInput>& inputs) {
  std::vector<RewardValue> out;
  for (double v : score(inputs)) out.push_back(RewardValue{v, "", ""});
  return out;
}

namespace {

class FormatReward : public RewardSource {
 public:
  explicit FormatReward(double penalty) : penalty_(penalty) {}
  std::string name() const override { return "format"; }
  std::vector<double> score(const std::vector<RewardInput>& in) override {
    std::vector<double> out;
    for (auto& x : in) out.push_back(x.format_ok ? 0.0 : -penalty_);
    return out;
  }

 private:
  double penalty_;
};

class RuleReward : public RewardSource {
 public:
  explicit RuleReward(const std::vector<std::string>& rules) {
    for (auto& r : rules) {
      size_t eq = r.rfind('=');
      double value = 0;
      if (eq == std::string::npos || eq == 0)
        throw Error(fmt::format("--rule-reward '{}': expected REGEX=VALUE", r), kExitUsage);
      try {
        size_t used = 0;
        value = std::stod(r.substr(eq + 1), &used);
        if (used != r.size() - eq - 1) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        throw Error(fmt::format("--rule-reward '{}': VALUE after the last '=' is not a number", r), kExitUsage);
      }
      std::string re = r.substr(0, eq);
      int err;
      PCRE2_SIZE off;
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(), PCRE2_UTF, &err, &off, nullptr);
      if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw Error(fmt::format("--rule-reward '{}': bad regular expression at offset {}: {}", r, off,
                                reinterpret_cast<char*>(msg)), kExitUsage);
      }
      pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
      rules_.push_back({std::shared_ptr<pcre2_code>(code, pcre2_code_free), value});
    }
  }
  std::string name() const override { return "rule"; }
  std::vector<double> score(const std::vector<RewardInput>& in) override {
    std::vector<double> out;
    for (auto& x : in) {
      double s = 0;
      for (auto& [code, value] : rules_) {
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(code.get(), nullptr);
        int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(x.answer.data()), x.answer.size(), 0, 0, md, nullptr);
        pcre2_match_data_free(md);
        if (rc >= 0) s += value;
      }
      out.push_back(s);
    }
    return out;
  }

 private:
  std::vector<std::pair<std::shared_ptr<pcre2_code>, double>> rules_;
};

class JudgeReward : public RewardSource {
 public:
  JudgeReward(const Spec& spec, Backend& backend, JudgeOptions options, double on_error)
      : judge_(spec, backend, force_hidden(std::move(options))), on_error_(on_error) {}
  std::string name() const override { return "judge"; }
  std::vector<double> score(const std::vector<RewardInput>& in) override {
    std::vector<double> out;
    for (auto& v : evaluate(in)) out.push_back(v.value.value_or(on_error_));
    return out;
  }
  std::vector<RewardValue> evaluate(const std::vector<RewardInput>& in) override {
    std::vector<JudgeItem> items;
    for (auto& x : in) {
      JudgeItem it;
      it.category = x.category;
      it.messages = x.messages;
      it.answer = x.answer;
      it.key = x.key;
      // it.reasoning stays empty: the reward model never receives the chain of thought
      // (paper section 2.4), whatever the prompt builder does with hide_reasoning.
      items.push_back(std::move(it));
    }
    auto results = judge_.judge(items);
    std::vector<RewardValue> out;
    for (auto& r : results) {
      RewardValue v;
      if (r.ok() && r.score) {
        v.value = *r.score / 10.0;
      } else {
        v.error = r.error.empty() ? "the judge gave no score" : r.error;
        v.error_kind = r.backend_error ? "backend" : r.error == "interrupted" ? "interrupted" : "parse";
      }
      out.push_back(std::move(v));
    }
    return out;
  }

 private:
  static JudgeOptions force_hidden(JudgeOptions o) {
    o.hide_reasoning = true;
    return o;
  }
  Judge judge_;
  double on_error_;
};

}  // namespace

std::unique_ptr<RewardSource> make_format_reward(double penalty) { return std::make_unique<FormatReward>(penalty); }
std::unique_ptr<RewardSource> make_rule_reward(const std::vector<std::string>& rules) {
  return std::make_unique<RuleReward>(rules);
}
std::unique_ptr<RewardSource> make_judge_reward(const Spec& spec, Backend& backend, JudgeOptions options,
                                                double on_error) {
  return std::make_unique<JudgeReward>(spec, backend, std::move(options), on_error);
}

}  // namespace delib::rl
