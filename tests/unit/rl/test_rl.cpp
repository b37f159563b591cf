// rl-train: GRPO math against hand computations, the judge reward's inputs, log-prob agreement
// between rollout and training, and a short run whose reward rises.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

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
  for (const char* k : {"id", "prompt", "sample", "step", "reasoning", "answer", "rewards", "reward", "advantage", "kl"})
    CHECK(all.back().has(k));
}
