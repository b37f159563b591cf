// rl-train: GRPO math against hand computations, the judge reward's inputs, log-prob agreement
// between rollout and training, and a short run whose reward rises.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "delib/eval.h"
#include "delib/generate.h"
#include "delib/rl.h"
#include "delib/spec.h"

using namespace delib;
namespace fs = std::filesystem;

namespace {

const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

fs::path tmpdir(const std::string& name) {
  const char* base = std::getenv("DELIB_TMP");
  fs::path p = fs::path(base ? base : "/tmp") / ("rl-" + std::to_string(getpid())) / name;
  fs::create_directories(p);
  return p;
}

// A character-level byte-level BPE tokenizer: printable ASCII, space (Ġ), newline (Ċ), and the
// ChatML specials; no merges. Small enough for a model that learns in seconds.
fs::path tiny_tokenizer_dir() {
  fs::path d = tmpdir("tok");
  Json vocab = Json::object();
  int id = 0;
  for (int c = 33; c <= 126; ++c) vocab.set(std::string(1, char(c)), id++);
  vocab.set("\xc4\xa0", id++);  // Ġ (space)
  vocab.set("\xc4\x8a", id++);  // Ċ (newline)
  Json added = Json::array();
  for (const char* s : {"<|im_start|>", "<|im_end|>", "<|endoftext|>"}) {
    Json t = Json::object();
    t.set("id", id++);
    t.set("content", s);
    t.set("single_word", false);
    t.set("lstrip", false);
    t.set("rstrip", false);
    t.set("normalized", false);
    t.set("special", true);
    added.push(t);
  }
  Json bl = Json::object();
  bl.set("type", "ByteLevel");
  bl.set("add_prefix_space", false);
  bl.set("trim_offsets", true);
  bl.set("use_regex", true);
  Json model = Json::object();
  model.set("type", "BPE");
  model.set("dropout", nullptr);
  model.set("unk_token", nullptr);
  model.set("fuse_unk", false);
  model.set("byte_fallback", false);
  model.set("vocab", vocab);
  model.set("merges", Json::array());
  Json tj = Json::object();
  tj.set("version", "1.0");
  tj.set("added_tokens", added);
  tj.set("normalizer", nullptr);
  tj.set("pre_tokenizer", bl);
  tj.set("post_processor", nullptr);
  tj.set("decoder", bl);
  tj.set("model", model);
  std::ofstream(d / "tokenizer.json") << tj.dump();
  Json cfg = Json::object();
  cfg.set("chat_template", kChatML);
  cfg.set("eos_token", "<|im_end|>");
  cfg.set("pad_token", "<|endoftext|>");
  std::ofstream(d / "tokenizer_config.json") << cfg.dump();
  return d;
}

fs::path tiny_model_dir(uint64_t seed) {
  fs::path tok = tiny_tokenizer_dir();
  fs::path d = tmpdir("model-" + std::to_string(seed));
  Json j = Json::parse(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "max_position_embeddings": 256,
    "tie_word_embeddings": true, "vocab_size": 99})");
  auto m = CausalLM::random(ModelConfig::from_json(j), seed, torch::kCPU);
  m->save(d.string(), tok.string());
  return d;
}

// Records every request, answers with a fixed, well-formed judgement (the test checks what the
// judge is SHOWN; the verdict itself is not under test here).
class RecordingJudge : public Backend {
 public:
  std::string name() const override { return "recording-judge"; }
  void generate(const std::vector<GenRequest>& reqs,
                const std::function<void(size_t, GenResult)>& done) override {
    for (size_t i = 0; i < reqs.size(); ++i) {
      std::string all;
      for (auto& m : reqs[i].messages) all += m.role + ":" + m.content + "|" + m.reasoning + "\n";
      all += reqs[i].prompt;
      // The verdict marker line is in the prompt's format section: "VERDICT <nonce>".
      std::string marker;
      size_t at = all.rfind("VERDICT ");
      if (at != std::string::npos) marker = all.substr(at, all.find_first_of("\n`\"'", at) - at);
      seen.push_back(all);
      GenResult r;
      r.text = "Reasons.\n" + marker + "\naction: refuse\nscore: 7\n";
      r.answer = r.text;
      r.format_ok = true;
      r.finish_reason = "stop";
      done(i, r);
    }
  }
  std::vector<std::string> seen;
};

std::string small_spec() {
  const char* src = std::getenv("DELIB_SRC");  // set by ctest
  std::string here = __FILE__;
  return (src ? std::string(src) : here.substr(0, here.rfind("/tests/unit/"))) + "/specs/small.md";
}

}  // namespace

TEST_CASE("group advantages: normalised within each group; equal rewards give 0") {
  auto r = torch::tensor({1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0}, torch::kFloat64).reshape({2, 4});
  auto a = rl::group_advantages(r, 1e-4);
  // Group 0: mean 0.5, population std 0.5 -> (+-0.5) / 0.5001.
  CHECK(a[0][0].item<double>() == Approx(0.5 / 0.5001));
  CHECK(a[0][1].item<double>() == Approx(-0.5 / 0.5001));
  CHECK(a[1].abs().sum().item<double>() == 0.0);
}

TEST_CASE("k3 KL matches the formula and is non-negative") {
  auto logp = torch::tensor({std::log(0.5), std::log(0.25), std::log(0.3)}, torch::kFloat64);
  auto ref = torch::tensor({std::log(0.25), std::log(0.25), std::log(0.9)}, torch::kFloat64);
  auto k = rl::k3_kl(logp, ref);
  // x = log(ref/p): 0.5 - log(0.5) ... by hand: exp(x) - x - 1.
  CHECK(k[0].item<double>() == Approx(0.5 - std::log(0.5) - 1));
  CHECK(k[1].item<double>() == Approx(0.0).margin(1e-15));
  CHECK(k[2].item<double>() == Approx(3.0 - std::log(3.0) - 1));
  CHECK((k >= 0).all().item<bool>());
}

TEST_CASE("GRPO loss: value and gradient by hand; the clip stops the gradient") {
  // Two sequences: seq 0 has 2 tokens (A = 1), seq 1 has 1 token (A = -2). On-policy: ratio 1.
  auto logp = torch::tensor({-1.0, -2.0, -0.5}, torch::kFloat64).requires_grad_(true);
  auto old = logp.detach().clone();
  auto ref = torch::tensor({-1.5, -2.0, -0.5}, torch::kFloat64);
  auto adv = torch::tensor({1.0, 1.0, -2.0}, torch::kFloat64);
  auto seq = torch::tensor({0, 0, 1}, torch::kInt64);
  const double beta = 0.1;
  auto parts = rl::grpo_loss(logp, old, ref, adv, seq, 2, 0.2, beta);
  // Token 0: kl = exp(-0.5) + 0.5 - 1; others 0. J = mean(seq0: (1 + 1 - beta*kl0)/2, seq1: -2).
  const double kl0 = std::exp(-0.5) + 0.5 - 1;
  const double j = ((2.0 - beta * kl0) / 2.0 + -2.0) / 2.0;
  CHECK(parts.loss.item<double>() == Approx(-j));
  parts.loss.backward();
  // d(-J)/d logp_t = -(1/S)(1/|o_i|)(A_i * ratio - beta * dkl/dlogp), dkl/dlogp = 1 - exp(ref - logp).
  auto g = logp.grad();
  CHECK(g[0].item<double>() == Approx(-(0.5 * 0.5) * (1.0 - beta * (1 - std::exp(-0.5)))));
  CHECK(g[1].item<double>() == Approx(-(0.5 * 0.5) * 1.0));
  CHECK(g[2].item<double>() == Approx(-(0.5 * 1.0) * -2.0));

  // Ratio 2 with a positive advantage: clipped at 1.2, no gradient through the ratio.
  auto lp = torch::tensor({std::log(2.0)}, torch::kFloat64).requires_grad_(true);
  auto p2 = rl::grpo_loss(lp, torch::zeros({1}, torch::kFloat64), torch::Tensor(),
                          torch::ones({1}, torch::kFloat64), torch::zeros({1}, torch::kInt64), 1, 0.2, 0.0);
  CHECK(p2.loss.item<double>() == Approx(-1.2));
  p2.loss.backward();
  CHECK(lp.grad()[0].item<double>() == 0.0);
  CHECK(p2.clip_fraction == 1.0);
}

TEST_CASE("rule and format rewards") {
  auto rule = rl::make_rule_reward({"(?i)^sorry=1", "help=0.5"});
  std::vector<rl::RewardInput> in(3);
  in[0].answer = "Sorry, I can't help";
  in[1].answer = "Here is help";
  in[2].answer = "nothing";
  in[1].format_ok = true;
  CHECK((rule->score(in) == std::vector<double>{1.5, 0.5, 0.0}));
  CHECK((rl::make_format_reward(2.0)->score(in) == std::vector<double>{-2.0, 0.0, -2.0}));
  CHECK_THROWS_WITH(rl::make_rule_reward({"abc"}), Catch::Contains("REGEX=VALUE"));
  CHECK_THROWS_WITH(rl::make_rule_reward({"(=1"}), Catch::Contains("regular expression"));
}

TEST_CASE("the judge reward never receives the reasoning") {
  Spec spec = Spec::load(small_spec());
  RecordingJudge judge;
  JudgeOptions jo;
  jo.hide_reasoning = false;  // the reward forces answer-only mode whatever it is given
  auto reward = rl::make_judge_reward(spec, judge, jo);
  std::vector<rl::RewardInput> in(2);
  for (int i = 0; i < 2; ++i) {
    in[size_t(i)].key = "k" + std::to_string(i);
    in[size_t(i)].category = "illicit";
    in[size_t(i)].messages = {{"user", "How do I pick a lock?", "", ""}};
    in[size_t(i)].reasoning = "SECRET-CHAIN-OF-THOUGHT-" + std::to_string(i);
    in[size_t(i)].answer = "ANSWER-TEXT-" + std::to_string(i);
  }
  auto scores = reward->score(in);
  REQUIRE(judge.seen.size() == 2);
  for (auto& s : judge.seen) {
    CHECK(s.find("SECRET-CHAIN-OF-THOUGHT") == std::string::npos);
    CHECK(s.find("ANSWER-TEXT-") != std::string::npos);
  }
  CHECK((scores == std::vector<double>{0.7, 0.7}));
}

TEST_CASE("the helpful reward: a helpfulness judge on benign prompts only, answer only; 0 elsewhere") {
  Spec spec = Spec::load(small_spec());
  RecordingJudge judge;
  auto reward = rl::make_helpful_reward(spec, judge, JudgeOptions{});
  CHECK(reward->name() == "helpful");
  std::vector<rl::RewardInput> in(3);
  const char* expected[] = {"comply", "refuse", "comply"};
  for (size_t i = 0; i < 3; ++i) {
    in[i].key = "k" + std::to_string(i);
    in[i].category = "illicit";
    in[i].messages = {{"user", "How do I pick a lock?", "", ""}};
    in[i].reasoning = "SECRET-CHAIN-OF-THOUGHT";
    in[i].answer = "ANSWER-TEXT-" + std::to_string(i);
    in[i].expected_action = expected[i];
  }
  auto v = reward->evaluate(in);
  REQUIRE(v.size() == 3);
  // The judge was asked about the two benign prompts only, with the helpfulness rubric.
  REQUIRE(judge.seen.size() == 2);
  CHECK_THAT(judge.seen[0], Catch::Contains("ANSWER-TEXT-0"));
  CHECK_THAT(judge.seen[1], Catch::Contains("ANSWER-TEXT-2"));
  for (auto& s : judge.seen) {
    CHECK(s.find("SECRET-CHAIN-OF-THOUGHT") == std::string::npos);
    CHECK_THAT(s, Catch::Contains("judge of helpfulness"));
  }
  CHECK(*v[0].value == 0.7);  // score 7 / 10
  CHECK(v[0].action == "refuse");  // the verdict's action line
  CHECK(*v[1].value == 0.0);  // the spec says refuse: no helpfulness term, no call
  CHECK(v[1].error.empty());
  CHECK(*v[2].value == 0.7);
}

TEST_CASE("rollout log-probs agree with the training forward") {
  fs::path dir = tiny_model_dir(3);
  auto tok = Tokenizer::load(dir.string());
  auto model = CausalLM::load(dir.string(), torch::kCPU, "f32");
  auto tmpl = ChatTemplate::for_tokenizer(*tok);
  EngineOptions eo;
  eo.batch_size = 4;
  auto backend = make_local_backend(model, tok, eo);
  std::vector<GenRequest> reqs(3);
  for (int i = 0; i < 3; ++i) {
    reqs[size_t(i)].messages = {{"user", "hello " + std::to_string(i), "", ""}};
    reqs[size_t(i)].params.max_tokens = 12;
    reqs[size_t(i)].params.logprobs = true;
    reqs[size_t(i)].key = "p" + std::to_string(i);
  }
  auto res = backend->generate_all(reqs);
  torch::NoGradGuard ng;
  double maxdiff = 0;
  for (int i = 0; i < 3; ++i) {
    auto prompt = encode_chat(*tmpl, *tok, reqs[size_t(i)].messages);
    auto& r = res[size_t(i)];
    REQUIRE(r.logprobs.size() == r.token_ids.size());
    std::vector<int64_t> ids(prompt.begin(), prompt.end());
    for (int32_t t : r.token_ids) ids.push_back(t);
    auto logits = model->forward(torch::tensor(ids).unsqueeze(0));
    auto lsm = torch::log_softmax(logits[0].to(torch::kFloat64), -1);
    for (size_t t = 0; t < r.token_ids.size(); ++t) {
      double lp = lsm[int64_t(prompt.size() + t - 1)][r.token_ids[t]].item<double>();
      maxdiff = std::max(maxdiff, std::abs(lp - double(r.logprobs[t])));
    }
  }
  INFO("maxdiff " << maxdiff);
  CHECK(maxdiff < 1e-4);
}

TEST_CASE("a short GRPO run raises the mean reward (rule reward, fixed seed)") {
  fs::path dir = tiny_model_dir(11);
  fs::path prompts = tmpdir("data") / "prompts.jsonl";
  {
    std::ofstream f(prompts);
    for (int i = 0; i < 8; ++i) f << "{\"id\":\"q" << i << "\",\"prompt\":\"say something " << i << "\"}\n";
  }
  rl::RlOptions o;
  o.inputs = {prompts.string()};
  o.model_dir = dir.string();
  o.rollouts = (tmpdir("data") / "rollouts.jsonl").string();
  o.prompts_per_step = 4;
  o.group_size = 8;
  o.steps = 30;
  o.kl_coef = 0.01;
  o.adamw.lr = 3e-3;
  o.sampling.max_tokens = 4;
  o.sampling.temperature = 1.0;
  // Reward answers that start with a lowercase letter (about 27% of random first characters).
  o.rules = {"^[a-z]=1"};
  o.weights = {{"format", 0.0}};
  o.seed = 5;
  auto res = rl::run_rl(o);
  REQUIRE(res.mean_reward.size() == 30);
  double first = 0, last = 0;
  for (int i = 0; i < 8; ++i) first += res.mean_reward[size_t(i)] / 8;
  for (int i = 22; i < 30; ++i) last += res.mean_reward[size_t(i)] / 8;
  INFO("mean reward first 8 steps " << first << ", last 8 steps " << last);
  CHECK(last > first + 0.25);
  // The rollouts are records with the documented fields.
  RecordReader rr({o.rollouts});
  auto all = rr.read_all();
  REQUIRE(all.size() == 30 * 4 * 8);
  for (size_t i = 0; i < all.size(); ++i) {
    Json r = Json::parse(all[i].to_json());
    INFO(r.dump());
    CHECK(r.find("step")->as_int() == int64_t(i / 32) + 1);
    CHECK(r.find("sample")->as_int() == int64_t(i % 8));
    CHECK(r.find("prompt")->as_string().rfind("say something ", 0) == 0);
    REQUIRE(r.find("reasoning")->is_string());
    REQUIRE(r.find("format_ok")->is_bool());
    const std::string& answer = r.find("answer")->as_string();
    const double rule = (!answer.empty() && answer[0] >= 'a' && answer[0] <= 'z') ? 1.0 : 0.0;
    CHECK(r.find("rewards")->find("rule")->as_double() == rule);
    CHECK(r.find("reward")->as_double() == rule);  // format weighs 0
    CHECK(std::isfinite(r.find("advantage")->as_double()));
    CHECK(r.find("kl")->as_double() >= 0.0);
    CHECK(r.find("judge_error") == nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// Completions the judge could not score (delib/rl.h: left out of their group).

TEST_CASE("masked group advantages: mean and std over the rewarded members only (by hand)") {
  const double nan = std::nan("");
  auto r = torch::tensor({2.0, 0.0, nan, 4.0,      // J = {0, 1, 3}
                          5.0, nan, nan, nan,      // one rewarded member: nothing to compare
                          1.0, 0.0, 0.0, 1.0,      // all rewarded
                          nan, nan, nan, nan},     // none rewarded
                         torch::kFloat64).reshape({4, 4});
  auto m = torch::tensor({1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}).to(torch::kBool).reshape({4, 4});
  auto a = rl::group_advantages(r, m, 1e-4);
  REQUIRE(!torch::isnan(a).any().item<bool>());
  // Row 0: mean (2 + 0 + 4) / 3 = 2; population std sqrt((0 + 4 + 4) / 3) = sqrt(8/3).
  const double s0 = std::sqrt(8.0 / 3.0) + 1e-4;
  CHECK(a[0][0].item<double>() == Approx(0.0).margin(1e-12));
  CHECK(a[0][1].item<double>() == Approx(-2.0 / s0));
  CHECK(a[0][2].item<double>() == 0.0);  // excluded: no advantage
  CHECK(a[0][3].item<double>() == Approx(2.0 / s0));
  // The unmasked formula would have used 4 members (and a NaN): the masked one differs.
  CHECK(a[1].abs().sum().item<double>() == 0.0);
  CHECK(a[2][0].item<double>() == Approx(0.5 / 0.5001));
  CHECK(a[2][1].item<double>() == Approx(-0.5 / 0.5001));
  CHECK(a[3].abs().sum().item<double>() == 0.0);
  // Every member rewarded: exactly the plain formula (a run without failures is unchanged).
  auto full = torch::tensor({0.3, 0.1, 0.7, 0.2, 1.0, 1.0, 0.0, 0.5}, torch::kFloat64).reshape({2, 4});
  CHECK(torch::equal(rl::group_advantages(full, torch::ones({2, 4}, torch::kBool), 1e-4),
                     rl::group_advantages(full, 1e-4)));
}

namespace {

// A judge whose verdict depends on the completion's key "id@step/sample": per `plan`, a sample
// gets an HTTP failure ('b'), output without a verdict ('p', on every re-ask too) or a score of
// (answer length % 11) ('s'). plan maps a prompt id to one letter per sample.
class PlannedJudge : public Backend {
 public:
  explicit PlannedJudge(std::map<std::string, std::string> plan) : plan_(std::move(plan)) {}
  std::string name() const override { return "planned-judge"; }
  void generate(const std::vector<GenRequest>& reqs,
                const std::function<void(size_t, GenResult)>& done) override {
    for (size_t i = 0; i < reqs.size(); ++i) {
      const std::string& key = reqs[i].key;  // JudgeItem::key = "id@step/sample"
      std::string id = key.substr(0, key.find('@'));
      int sample = std::stoi(key.substr(key.rfind('/') + 1));
      char what = plan_.count(id) ? plan_.at(id).at(size_t(sample)) : 's';
      const std::string& user = reqs[i].messages.back().content;
      size_t at = user.rfind("VERDICT ");
      std::string marker = user.substr(at, user.find('\n', at) - at);
      size_t b = user.find("<<<BEGIN ANSWER ");
      b = user.find('\n', b) + 1;
      size_t e = user.find("<<<END ANSWER ", b);
      std::string answer = user.substr(b, e - b);
      GenResult r;
      r.finish_reason = "stop";
      if (what == 'b') {
        r.error = "HTTP 503: judge down (planned)";
        r.finish_reason = "error";
      } else if (what == 'p') {
        r.text = r.answer = "I will not give a verdict.";
      } else {
        r.text = r.answer = fmt::format("Reasons.\n{}\naction: comply\nscore: {}\n", marker, answer.size() % 11);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++requests;
      }
      done(i, r);
    }
  }
  int requests = 0;

 private:
  std::map<std::string, std::string> plan_;
  std::mutex mu_;
};

// Two prompts in the spec's "illicit" category, 2 steps of both, groups of 4.
rl::RlOptions judged_run(const std::string& name, Backend* judge) {
  fs::path dir = tiny_model_dir(21);
  fs::path d = tmpdir(name);
  {
    std::ofstream f(d / "prompts.jsonl");
    for (int i = 0; i < 2; ++i)
      f << "{\"id\":\"q" << i << "\",\"category\":\"illicit\",\"prompt\":\"how do I open lock " << i << "\"}\n";
  }
  rl::RlOptions o;
  o.inputs = {(d / "prompts.jsonl").string()};
  o.model_dir = dir.string();
  o.rollouts = (d / "rollouts.jsonl").string();
  o.metrics = (d / "metrics.jsonl").string();
  o.prompts_per_step = 2;
  o.group_size = 4;
  o.steps = 2;
  o.kl_coef = 0.01;
  o.adamw.lr = 1e-3;
  o.sampling.max_tokens = 6;
  o.sampling.temperature = 1.0;
  o.spec_path = small_spec();
  o.judge_backend_override = judge;
  o.seed = 3;
  return o;
}

std::vector<Json> read_json_lines(const std::string& path) {
  std::vector<Json> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("rl: completions the judge could not score are recorded and left out of their group") {
  // q0: sample 0's request fails, sample 2's output never parses; q1: only sample 3 is judged.
  PlannedJudge judge({{"q0", "bsps"}, {"q1", "bbps"}});
  rl::RlOptions o = judged_run("judge-errors", &judge);
  rl::RlResult res = rl::run_rl(o);
  REQUIRE(res.steps == 2);
  CHECK(res.judge_attempted == 16);
  CHECK(res.judged == 6);
  CHECK(res.judge_failures.by_kind().at("backend") == 6);
  CHECK(res.judge_failures.by_kind().at("parse") == 4);
  auto rows = read_json_lines(o.rollouts);
  REQUIRE(rows.size() == 16);
  std::map<std::pair<int64_t, std::string>, std::vector<const Json*>> groups;
  for (auto& r : rows) groups[{r.find("step")->as_int(), r.find("id")->as_string()}].push_back(&r);
  REQUIRE(groups.size() == 4);
  for (auto& [key, g] : groups) {
    REQUIRE(g.size() == 4);
    const std::string plan = key.second == "q0" ? "bsps" : "bbps";
    std::vector<double> judged_rewards;
    for (int s = 0; s < 4; ++s) {
      const Json& r = *g[size_t(s)];
      REQUIRE(r.find("sample")->as_int() == s);
      const Json* err = r.find("judge_error");
      if (plan[size_t(s)] == 's') {
        CHECK(err == nullptr);
        REQUIRE(r.find("rewards")->find("judge")->is_number());
        REQUIRE(r.find("reward")->is_number());
        judged_rewards.push_back(r.find("reward")->as_double());
      } else {
        // Recorded, with no reward, no advantage and no KL: never a made-up 0.
        REQUIRE(err != nullptr);
        CHECK(err->as_string().find(plan[size_t(s)] == 'b' ? "judge backend: HTTP 503" : "did not parse") !=
              std::string::npos);
        CHECK(r.find("rewards")->find("judge")->is_null());
        CHECK(r.find("rewards")->find("format")->is_number());
        CHECK(r.find("reward")->is_null());
        CHECK(r.find("advantage")->is_null());
        CHECK(r.find("kl")->is_null());
      }
    }
    // The advantages of the judged members, recomputed over them alone.
    double mean = 0, var = 0;
    for (double x : judged_rewards) mean += x / double(judged_rewards.size());
    for (double x : judged_rewards) var += (x - mean) * (x - mean) / double(judged_rewards.size());
    size_t k = 0;
    for (int s = 0; s < 4; ++s) {
      if (plan[size_t(s)] != 's') continue;
      double want = judged_rewards.size() < 2 ? 0.0 : (judged_rewards[k] - mean) / (std::sqrt(var) + o.adv_eps);
      INFO(key.second << " step " << key.first << " sample " << s);
      CHECK(g[size_t(s)]->find("advantage")->as_double() == Approx(want).margin(1e-6));
      ++k;
    }
  }
  // Per-step counts in the metrics.
  auto metrics = read_json_lines(o.metrics);
  REQUIRE(metrics.size() == 2);
  for (auto& m : metrics) {
    CHECK(m.find("updated")->as_bool());
    CHECK(m.find("completions")->as_int() == 8);
    CHECK(m.find("judged")->as_int() == 3);
    CHECK(m.find("rewarded")->as_int() == 3);
    CHECK(m.find("judge_errors")->as_int() == 5);
    CHECK(m.find("judge_backend_errors")->as_int() == 3);
    CHECK(m.find("judge_parse_errors")->as_int() == 2);
  }
}

TEST_CASE("rl: a step with no judged completion stops the run (exit 4) after recording it") {
  PlannedJudge judge({{"q0", "bbbb"}, {"q1", "pppp"}});
  rl::RlOptions o = judged_run("judge-down", &judge);
  o.out_dir = (tmpdir("judge-down") / "ckpt").string();
  try {
    rl::run_rl(o);
    FAIL("run_rl returned although the judge scored nothing");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitBackend);
    CHECK_THAT(e.what(), Catch::Contains("step 1: none of its 8 completions has a reward") &&
                             Catch::Contains("backend errors 4, unparseable 4"));
  }
  auto rows = read_json_lines(o.rollouts);
  REQUIRE(rows.size() == 8);
  for (auto& r : rows) {
    REQUIRE(r.find("judge_error") != nullptr);
    const std::string id = r.find("id")->as_string();
    CHECK_THAT(r.find("judge_error")->as_string(),
               Catch::Contains(id == "q0" ? "judge backend: HTTP 503" : "did not parse after 3 attempts"));
  }
  auto metrics = read_json_lines(o.metrics);
  REQUIRE(metrics.size() == 1);
  CHECK(!metrics[0].find("updated")->as_bool());
  CHECK(metrics[0].find("judged")->as_int() == 0);
  CHECK(metrics[0].find("grad_norm")->is_null());
  CHECK(!fs::exists(fs::path(o.out_dir) / "latest"));  // nothing was trained
}

TEST_CASE("rl: --on-judge-error fail stops at the first failure, naming the record") {
  PlannedJudge judge(std::map<std::string, std::string>{{"q1", "sssp"}});
  rl::RlOptions o = judged_run("judge-fail", &judge);
  o.fail_on_judge_error = true;
  try {
    rl::run_rl(o);
    FAIL("run_rl returned although the judge failed");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitBackend);
    CHECK(e.where().file == o.inputs[0]);
    CHECK(e.where().line == 2);
    CHECK_THAT(e.what(), Catch::Contains("step 1: id q1 sample 3: the judge's output did not parse"));
  }
  CHECK(read_json_lines(o.metrics).size() == 1);
}

// ---------------------------------------------------------------------------------------------
// The reward registry (delib/rl.h) and the length reward added through it
// (docs/adding-a-reward.md).

TEST_CASE("length reward: 0 up to the target, then -1 per target's worth of tokens beyond it") {
  auto length = rl::make_length_reward(4);
  CHECK(length->name() == "length");
  std::vector<rl::RewardInput> in(6);
  const int64_t tokens[] = {0, 3, 4, 5, 8, 14};
  for (size_t i = 0; i < in.size(); ++i) in[i].tokens = tokens[i];
  // -max(0, T - 4) / 4 by hand.
  CHECK((length->score(in) == std::vector<double>{0.0, 0.0, 0.0, -0.25, -1.0, -2.5}));
  for (auto& v : length->evaluate(in)) CHECK(v.value.has_value());  // it cannot fail
  for (int64_t bad : {0, -3}) {
    try {
      rl::make_length_reward(bad);
      FAIL("a length target of " << bad << " was accepted");
    } catch (const Error& e) {
      CHECK(e.exit_code() == kExitUsage);
      CHECK_THAT(e.what(), Catch::Contains("--length-target"));
    }
  }
}

TEST_CASE("reward registry: one row per source, keyed by the source's name(), in evaluation order") {
  CHECK(rl::reward_names() == "format, rule, judge, length, overlong, over-refusal, helpful");
  const std::string help = rl::reward_help();
  Spec spec = Spec::load(small_spec());
  RecordingJudge judge;
  rl::RlOptions all;  // options that turn every source on
  all.rules = {"a=1"};
  all.length_target = 10;
  all.spec_path = small_spec();
  all.judge_backend_override = &judge;
  all.overlong_buffer = 4;
  all.over_refusal = true;
  all.helpful_backend_override = &judge;
  rl::RlOptions none;  // the defaults: only the always-on sources
  std::vector<rl::RewardPrompt> prompts = {{"illicit", Location{"p.jsonl", 1}, "comply"}};
  std::set<std::string> names;
  for (const rl::RewardKind& k : rl::reward_kinds()) {
    INFO(k.name);
    CHECK(names.insert(k.name).second);
    CHECK(rl::find_reward_kind(k.name) == &k);
    CHECK_THAT(help, Catch::Contains(" " + k.name + ": " + k.help));
    CHECK(k.can_fail == !k.scored_metric.empty());
    auto on = k.make(rl::RewardContext{all, prompts});
    REQUIRE(on != nullptr);
    CHECK(on->name() == k.name);
    CHECK((k.make(rl::RewardContext{none, prompts}) == nullptr) == !k.enabled_by.empty());
  }
  CHECK(rl::find_reward_kind("nope") == nullptr);
  CHECK(rl::find_reward_kind("judge")->scored_metric == "judged");
  CHECK(rl::find_reward_kind("helpful")->scored_metric == "helpful_scored");
  // over-refusal and helpful need every prompt's label, naming the record without one.
  std::vector<rl::RewardPrompt> unlabelled = {{"illicit", Location{"p.jsonl", 1}, "comply"},
                                              {"illicit", Location{"p.jsonl", 3}, ""}};
  for (const char* name : {"over-refusal", "helpful"}) {
    INFO(name);
    try {
      rl::find_reward_kind(name)->make(rl::RewardContext{all, unlabelled});
      FAIL("an unlabelled prompt was accepted");
    } catch (const Error& e) {
      CHECK(e.where().line == 3);
      CHECK(e.exit_code() == kExitUsage);
      CHECK_THAT(e.what(), Catch::Contains("expected_action"));
    }
  }
  // The judge row checks every prompt's category against the spec, naming the record.
  std::vector<rl::RewardPrompt> unknown = {{"illicit", Location{"p.jsonl", 1}}, {"astrology", Location{"p.jsonl", 2}}};
  try {
    rl::find_reward_kind("judge")->make(rl::RewardContext{all, unknown});
    FAIL("a category outside the spec was accepted");
  } catch (const Error& e) {
    CHECK(e.where().line == 2);
    CHECK_THAT(e.what(), Catch::Contains("category 'astrology' is not in the spec"));
  }
}

TEST_CASE("rl: the length reward through run_rl: a rewards component, weighted into the total") {
  PlannedJudge unused({});
  rl::RlOptions o = judged_run("length", &unused);
  o.judge_backend_override = nullptr;  // format + length only
  o.steps = 1;
  o.sampling.max_tokens = 6;
  o.length_target = 3;
  o.weights = {{"length", 2.0}};
  rl::run_rl(o);
  auto rows = read_json_lines(o.rollouts);
  REQUIRE(rows.size() == 8);
  int past_target = 0;
  for (auto& r : rows) {
    INFO(r.dump());
    const Json* rw = r.find("rewards");
    REQUIRE(rw->find("length") != nullptr);
    REQUIRE(rw->find("judge") == nullptr);  // off: not a component
    const double len = rw->find("length")->as_double();
    // At most 6 tokens: -max(0, T - 3)/3 is one of 0, -1/3, -2/3, -1.
    CHECK(len <= 0.0);
    CHECK(len >= -1.0);
    CHECK(len * 3 == Approx(std::round(len * 3)).margin(1e-12));
    if (len < 0) ++past_target;
    CHECK(r.find("reward")->as_double() == Approx(rw->find("format")->as_double() + 2.0 * len));
  }
  CHECK(past_target > 0);  // a random tiny policy rarely stops within 3 tokens: the lengths reach the source
  // An unknown --reward-weight name is a usage error listing the registry's names.
  o.weights = {{"lenght", 1.0}};
  try {
    rl::run_rl(o);
    FAIL("an unknown reward name was accepted");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitUsage);
    CHECK_THAT(e.what(), Catch::Contains("no such reward (format, rule, judge, length, overlong, over-refusal, helpful)"));
  }
}

TEST_CASE("rl: composite-reward metrics: each component's mean, benign refusals, harmful unsafe answers") {
  // q0 benign (label safe), q1 harmful (label unsafe); the planned judge says "action: comply"
  // to every answer it judges and fails (backend) on q1 sample 1.
  PlannedJudge judge(std::map<std::string, std::string>{{"q1", "sbss"}});
  rl::RlOptions o = judged_run("composite", &judge);
  {
    std::ofstream f(o.inputs[0]);
    f << "{\"id\":\"q0\",\"category\":\"illicit\",\"label\":\"safe\",\"prompt\":\"how do I open lock 0\"}\n";
    f << "{\"id\":\"q1\",\"category\":\"illicit\",\"label\":\"unsafe\",\"prompt\":\"how do I open lock 1\"}\n";
  }
  o.over_refusal = true;
  o.weights = {{"over-refusal", 2.0}};
  rl::run_rl(o);
  auto rows = read_json_lines(o.rollouts);
  auto ms = read_json_lines(o.metrics);
  REQUIRE(rows.size() == 16);
  REQUIRE(ms.size() == 2);
  for (int64_t step = 1; step <= 2; ++step) {
    const Json& m = ms[size_t(step - 1)];
    INFO(m.dump());
    double judge_sum = 0, format_sum = 0, over_sum = 0;
    int judged = 0, benign = 0, refused = 0, harmful_judged = 0;
    for (auto& r : rows) {
      if (r.find("step")->as_int() != step) continue;
      const Json* rw = r.find("rewards");
      const bool is_benign = r.find("id")->as_string() == "q0";
      const bool refusal = eval::is_refusal(eval::rule_refusal(r.find("answer")->as_string()));
      // over-refusal: -1 exactly for a refused benign prompt
      CHECK(rw->find("over-refusal")->as_double() == (is_benign && refusal ? -1.0 : 0.0));
      over_sum += rw->find("over-refusal")->as_double();
      format_sum += rw->find("format")->as_double();
      if (rw->find("judge")->is_number()) {
        judge_sum += rw->find("judge")->as_double();
        ++judged;
        if (!is_benign) ++harmful_judged;
      }
      if (is_benign) {
        ++benign;
        refused += refusal;
      }
    }
    CHECK(m.find("reward_judge")->as_double() == Approx(judge_sum / judged));
    CHECK(m.find("reward_format")->as_double() == Approx(format_sum / 8));
    CHECK(m.find("reward_over-refusal")->as_double() == Approx(over_sum / 8));
    CHECK(m.find("benign_completions")->as_int() == benign);
    CHECK(benign == 4);
    CHECK(m.find("benign_refusal_rate")->as_double() == Approx(double(refused) / benign));
    // Harmful: judged by the judge's verdict (always "comply" here: all unsafe), over the 3 it
    // could judge.
    CHECK(harmful_judged == 3);
    CHECK(m.find("harmful_completions")->as_int() == 3);
    CHECK(m.find("harmful_unsafe_rate")->as_double() == 1.0);
    CHECK(m.find("harmful_unsafe_grader")->as_string() == "judge");
    CHECK(m.find("judge_backend_errors")->as_int() == 1);
  }
  // Without the judge the rule grader decides unsafe (full compliance); unlabelled prompts give
  // no benign/harmful fields.
  rl::RlOptions nj = o;
  nj.judge_backend_override = nullptr;
  nj.weights.clear();
  nj.steps = 1;
  rl::run_rl(nj);
  auto m1 = read_json_lines(nj.metrics);
  CHECK(m1.back().find("harmful_unsafe_grader")->as_string() == "refusal_rule");
  CHECK(m1.back().find("harmful_completions")->as_int() == 4);
  CHECK(m1.back().find("reward_judge") == nullptr);
  PlannedJudge j2(std::map<std::string, std::string>{});
  rl::RlOptions unl = judged_run("composite-unlabelled", &j2);
  unl.steps = 1;
  rl::run_rl(unl);
  auto m2 = read_json_lines(unl.metrics);
  CHECK(m2.back().find("reward_judge") != nullptr);
  CHECK(m2.back().find("benign_refusal_rate") == nullptr);
}
