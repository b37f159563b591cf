// The reward sources of rl-train and their registry (delib/rl.h). To add one, follow
// docs/adding-a-reward.md: a class here, a row in reward_kinds(), its option, a test.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include <fmt/format.h>

#include "delib/rl.h"
#include "delib/spec.h"

namespace delib::rl {

std::vector<RewardValue> RewardSource::evaluate(const std::vector<RewardInput>& inputs) {
  std::vector<RewardValue> out;
  for (double v : score(inputs)) out.push_back(RewardValue{v, "", ""});
  return out;
}

namespace {

// Each source's name, written once: its class returns it and its registry row is keyed by it.
constexpr const char* kFormat = "format";
constexpr const char* kRule = "rule";
constexpr const char* kJudge = "judge";
constexpr const char* kLength = "length";

class FormatReward : public RewardSource {
 public:
  explicit FormatReward(double penalty) : penalty_(penalty) {}
  std::string name() const override { return kFormat; }
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
  std::string name() const override { return kRule; }
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
  std::string name() const override { return kJudge; }
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

// The judge as run_rl builds it: owns the spec and the backend it judges with (the members are
// declared before the judge that refers to them).
class OwningJudgeReward : public RewardSource {
 public:
  OwningJudgeReward(Spec spec, std::unique_ptr<Backend> owned, Backend* backend, JudgeOptions options)
      : spec_(std::move(spec)), owned_(std::move(owned)),
        judge_(spec_, backend ? *backend : *owned_, std::move(options), 0.0) {}
  std::string name() const override { return judge_.name(); }
  std::vector<double> score(const std::vector<RewardInput>& in) override { return judge_.score(in); }
  std::vector<RewardValue> evaluate(const std::vector<RewardInput>& in) override { return judge_.evaluate(in); }

 private:
  Spec spec_;
  std::unique_ptr<Backend> owned_;
  JudgeReward judge_;
};

// The judge row's factory: off without a judge model; needs the spec, and every prompt's
// category in it.
std::unique_ptr<RewardSource> make_run_judge(const RewardContext& c) {
  const RlOptions& o = c.options;
  if (!o.judge_backend_override && o.judge_backend.model.empty()) return nullptr;
  if (o.spec_path.empty()) throw Error("the judge reward needs --spec", kExitUsage);
  std::unique_ptr<Backend> owned;
  if (!o.judge_backend_override) owned = make_backend(o.judge_backend);
  Spec spec = Spec::load(o.spec_path);
  for (const RewardPrompt& p : c.prompts)
    if (!spec.category(p.category)) throw Error(p.where, fmt::format("category '{}' is not in the spec", p.category));
  JudgeOptions jo;
  jo.samples = o.judge_samples;
  jo.nonce_digits = o.judge_nonce_length;
  jo.rubric = o.judge_rubric;
  jo.seed = o.seed;
  jo.nonce_seed = o.judge_nonce_seed.value_or(o.seed);
  jo.params.temperature = 0;
  jo.params.max_tokens = 512;
  return std::make_unique<OwningJudgeReward>(std::move(spec), std::move(owned), o.judge_backend_override,
                                             std::move(jo));
}

class LengthReward : public RewardSource {
 public:
  explicit LengthReward(int64_t target) : target_(target) {
    if (target_ < 1) throw Error(fmt::format("--length-target {}: must be >= 1 (0: no length reward)", target_), kExitUsage);
  }
  std::string name() const override { return kLength; }
  std::vector<double> score(const std::vector<RewardInput>& in) override {
    std::vector<double> out;
    for (auto& x : in) out.push_back(-double(std::max<int64_t>(0, x.tokens - target_)) / double(target_));
    return out;
  }

 private:
  int64_t target_;
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
std::unique_ptr<RewardSource> make_length_reward(int64_t target) { return std::make_unique<LengthReward>(target); }

// ---------------------------------------------------------------------------------------------
// The registry.

const std::vector<RewardKind>& reward_kinds() {
  static const std::vector<RewardKind> kinds = {
      {kFormat, "", "-PENALTY (--format-penalty) for a completion that cannot be split into reasoning and "
                    "answer or was cut by --max-tokens.",
       false, "", [](const RewardContext& c) { return make_format_reward(c.options.format_penalty); }},
      {kRule, "--rule-reward", "--rule-reward 'REGEX=VALUE' adds VALUE when the answer matches (PCRE2).", false, "",
       [](const RewardContext& c) {
         return c.options.rules.empty() ? nullptr : make_rule_reward(c.options.rules);
       }},
      {kJudge, "--judge-model (with --spec)",
       "the spec-aware judge of cot-judge in hide-reasoning mode, score/10; it sees the spec view of the "
       "record's category, the conversation and the ANSWER only, never the chain of thought (paper "
       "section 2.4); a local model (--judge-model DIR) or a server (--judge-backend openai "
       "--judge-base-url URL --judge-model NAME).",
       true, "judged", make_run_judge},
      {kLength, "--length-target", "--length-target L adds -max(0, T - L)/L for a completion of T > L tokens "
                                   "(reasoning and answer): -1 at twice the target.",
       false, "", [](const RewardContext& c) {
         return c.options.length_target == 0 ? nullptr : make_length_reward(c.options.length_target);
       }},
  };
  return kinds;
}

const RewardKind* find_reward_kind(std::string_view name) {
  for (const RewardKind& k : reward_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

std::string reward_names() {
  std::string out;
  for (const RewardKind& k : reward_kinds()) out += (out.empty() ? "" : ", ") + k.name;
  return out;
}

std::string reward_help() {
  std::string out = "Rewards (summed with --reward-weight NAME=W, default 1 each):";
  for (const RewardKind& k : reward_kinds()) out += " " + k.name + ": " + k.help;
  return out;
}

}  // namespace delib::rl
