// The shared flags bind straight to the library's option structs: --temperature etc. into
// SamplingParams, --backend etc. into BackendOptions (under a prefix for a second model), with
// the struct's values as the defaults shown.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "delib/backend.h"
#include "delib/cli.h"

namespace {

// Parses `args` (without the program name) with app.
void parse(CLI::App& app, std::vector<std::string> args) {
  std::vector<const char*> argv{"t"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(int(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("add_sampling_options fills SamplingParams itself", "[cli]") {
  CLI::App app{"t", "t"};
  delib::SamplingParams p;
  delib::cli::add_sampling_options(app, p);
  parse(app, {"--temperature", "0.7", "--top-p", "0.9", "--top-k", "20", "--min-p", "0.05",
              "--max-tokens", "99", "--stop", "###", "--stop", "END"});
  CHECK(p.temperature == 0.7);
  CHECK(p.top_p == 0.9);
  CHECK(p.top_k == 20);
  CHECK(p.min_p == 0.05);
  CHECK(p.max_tokens == 99);
  CHECK(p.stop == std::vector<std::string>{"###", "END"});
  CHECK_FALSE(p.logprobs);  // no flag of its own
}

TEST_CASE("add_sampling_options shows the struct's values as defaults and keeps them", "[cli]") {
  CLI::App app{"t", "t"};
  delib::SamplingParams p;
  p.max_tokens = 64;  // a caller's own default
  delib::cli::add_sampling_options(app, p);
  CHECK(app.get_option("--max-tokens")->get_default_str() == "64");
  CHECK(app.get_option("--temperature")->get_default_str() == "1");
  parse(app, {});
  CHECK(p.max_tokens == 64);
  CHECK(p.temperature == 1.0);
}

TEST_CASE("add_backend_options fills BackendOptions, under a prefix for a second model", "[cli]") {
  CLI::App app{"t", "t"};
  delib::BackendOptions model, judge{.backend = "openai"};
  delib::cli::add_backend_options(app, model);
  delib::cli::add_backend_options(app, judge, "judge");
  CHECK(model.prefix.empty());
  CHECK(judge.prefix == "judge");
  CHECK(judge.flag("model") == "--judge-model");
  CHECK(app.get_option("--judge-backend")->get_default_str() == "openai");
  parse(app, {"--model", "./m", "--device", "cuda:1", "--batch-size", "8", "--judge-model", "j",
              "--judge-base-url", "http://h/v1", "--judge-completions", "--judge-chat-template", "tpl",
              "--judge-concurrency", "3"});
  CHECK(model.backend == "local");
  CHECK(model.model == "./m");
  CHECK(model.device == "cuda:1");
  CHECK(model.batch_size == 8);
  CHECK(judge.backend == "openai");
  CHECK(judge.model == "j");
  CHECK(judge.base_url == "http://h/v1");
  CHECK(judge.completions);
  CHECK(judge.chat_template == "tpl");
  CHECK(judge.concurrency == 3);
  CHECK_FALSE(model.completions);
}
