// Sharded safetensors out (CausalLM::save with max_shard_size, safetensors::save_sharded) and
// LoRA adapters in PEFT's format (delib/peft.h), on random tiny models. transformers and peft
// reading them: tests/reference/test_sharded_save.py, test_peft_adapter.py.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "delib/error.h"
#include "delib/json.h"
#include "delib/model.h"
#include "delib/peft.h"
#include "delib/safetensors.h"

namespace fs = std::filesystem;
using delib::CausalLM;
using delib::Json;
using delib::ModelConfig;

namespace {

ModelConfig tiny_llama() {
  return ModelConfig::from_json(Json::parse(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 97,
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "max_position_embeddings": 256})"));
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("delib-test-sharded-" + std::to_string(::getpid())) / name;
  fs::create_directories(p.parent_path());
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

torch::Tensor ids() { return torch::arange(12, torch::kInt64).remainder(97).view({2, 6}) * 7 % 97; }

}  // namespace

TEST_CASE("save_sharded: shards of at most max_shard_size, an index transformers reads, load back") {
  torch::NoGradGuard ng;
  auto m = CausalLM::random(tiny_llama(), 3, torch::kCPU);
  // The largest tensors are embed_tokens / lm_head (97 x 32 f32 = 12416 bytes): with 10000 they
  // get shards of their own, the layers' matrices (8192 bytes and less) share.
  const int64_t max = 10000;
  auto dir = scratch("sharded");
  m->save(dir.string(), "", torch::kFloat32, max);
  CHECK_FALSE(fs::exists(dir / "model.safetensors"));
  Json index = Json::parse(slurp(dir / "model.safetensors.index.json"));
  const auto& wm = index.find("weight_map")->as_object();
  int64_t total = 0, params = 0;
  std::set<std::string> files;
  for (const auto& [name, file] : wm) files.insert(file.as_string());
  const std::string last = *files.rbegin();
  CHECK(files.size() > 3);
  char want[64];
  std::snprintf(want, sizeof want, "model-%05zu-of-%05zu.safetensors", files.size(), files.size());
  CHECK(last == want);
  for (const auto& f : files) {
    auto sf = delib::safetensors::File::open((dir / f).string());
    int64_t bytes = 0;
    for (const auto& t : sf->header().tensors) {
      bytes += int64_t(t.end - t.begin);
      params += t.numel();
    }
    total += bytes;
    // Over max only when the shard is one tensor larger than max.
    CHECK((bytes <= max || sf->header().tensors.size() == 1));
  }
  CHECK(index.find("metadata")->find("total_size")->as_int() == total);
  CHECK(index.find("metadata")->find("total_parameters")->as_int() == params);
  CHECK(wm.size() == m->named_parameters().size());
  auto back = CausalLM::load(dir.string(), torch::kCPU, "f32");
  CHECK(torch::equal(m->forward(ids()), back->forward(ids())));

  // Sizes count the written dtype: in bf16 the same model needs fewer shards; one shard is
  // model.safetensors without an index.
  m->save(dir.string(), "", torch::kBFloat16, max);
  CHECK(Json::parse(slurp(dir / "model.safetensors.index.json")).find("metadata")->find("total_size")->as_int() == total / 2);
  m->save(dir.string(), "", torch::kFloat32);  // default 5 GB
  CHECK(fs::exists(dir / "model.safetensors"));
  CHECK_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  CHECK_THROWS_AS(delib::safetensors::save_sharded(dir.string(), "model", {}, 0), delib::Error);
}

TEST_CASE("PEFT adapter: save_adapter then add_lora(from_adapter) restores the adapted model") {
  torch::NoGradGuard ng;
  auto m = CausalLM::random(tiny_llama(), 4, torch::kCPU);
  CHECK_FALSE(delib::peft::has_lora(*m));
  auto trainable = delib::add_lora(*m, {4, 6.0, {"q_proj", "down_proj"}});
  for (auto& t : trainable) t.normal_(0, 0.1);
  CHECK(delib::peft::has_lora(*m));
  auto dir = scratch("adapter").string();
  delib::peft::save_adapter(*m, dir, "base-model");
  Json c = Json::parse(slurp(fs::path(dir) / "adapter_config.json"));
  CHECK(c.find("r")->as_int() == 4);
  CHECK(c.find("lora_alpha")->as_int() == 6);
  CHECK(c.find("base_model_name_or_path")->as_string() == "base-model");
  auto f = delib::safetensors::File::open((fs::path(dir) / "adapter_model.safetensors").string());
  CHECK(f->header().tensors.size() == 2 * 2 * 2);
  CHECK(f->find("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"));

  auto opts = delib::peft::read_lora_options(dir);
  CHECK(opts.rank == 4);
  CHECK(opts.alpha == 6.0);
  CHECK(opts.targets == std::vector<std::string>{"down_proj", "q_proj"});
  auto m2 = CausalLM::random(tiny_llama(), 4, torch::kCPU);
  delib::add_lora(*m2, opts);
  CHECK(torch::equal(m->forward(ids()), m2->forward(ids())));
  // Without from_adapter the same options start from B = 0: the base model.
  auto m3 = CausalLM::random(tiny_llama(), 4, torch::kCPU);
  opts.from_adapter.clear();
  delib::add_lora(*m3, opts);
  CHECK_FALSE(torch::equal(m->forward(ids()), m3->forward(ids())));
}
