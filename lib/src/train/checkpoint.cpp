// Training checkpoints: a Hugging Face model directory plus the state that makes a resumed run
// continue exactly (delib/train.h).
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/peft.h"
#include "delib/train.h"

namespace fs = std::filesystem;

namespace delib::train {
namespace {

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kTrainableFile = "trainable.pt";
constexpr const char* kRngFile = "rng.pt";
constexpr const char* kLatestFile = "latest";

// torch archives key by module-path; '.' is not allowed in a key.
std::string archive_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', ':');
  return name;
}

std::string checkpoint_name(int64_t step) { return fmt::format("checkpoint-{:08d}", step); }

}  // namespace

Json TrainState::to_json() const {
  Json j = Json::object();
  j.set("format", "delib-train-state");
  j.set("format_version", kTrainStateVersion);
  j.set("step", step);
  j.set("epoch", epoch);
  j.set("epoch_step", epoch_step);
  j.set("tokens_seen", tokens_seen);
  j.set("seed", std::to_string(seed));  // a string: uint64 does not fit a JSON double
  j.set("schedule", schedule.to_json());
  j.set("options", options.is_null() ? Json::object() : options);
  return j;
}

TrainState TrainState::from_json(const Json& j, const std::string& source) {
  auto fail = [&](const std::string& m) { return Error(Location{source, 0}, m); };
  const Json* fmt_ = j.find("format");
  const Json* ver = j.find("format_version");
  if (!fmt_ || !fmt_->is_string() || fmt_->as_string() != "delib-train-state" || !ver || !ver->is_int())
    throw fail("not a delib trainer state (missing format / format_version)");
  if (ver->as_int() > kTrainStateVersion)
    throw fail(fmt::format("format_version {} is newer than this build reads ({}); HINT: use a "
                           "newer sft-train", ver->as_int(), kTrainStateVersion));
  auto integer = [&](const char* k) {
    const Json* v = j.find(k);
    if (!v || !v->is_int()) throw fail(std::string("missing integer '") + k + "'");
    return v->as_int();
  };
  TrainState s;
  s.step = integer("step");
  s.epoch = integer("epoch");
  s.epoch_step = integer("epoch_step");
  s.tokens_seen = integer("tokens_seen");
  const Json* seed = j.find("seed");
  if (!seed || !seed->is_string()) throw fail("missing 'seed'");
  s.seed = std::stoull(seed->as_string());
  const Json* sched = j.find("schedule");
  if (!sched || !sched->is_object()) throw fail("missing 'schedule'");
  s.schedule = LrSchedule::from_json(*sched);
  if (const Json* o = j.find("options")) s.options = *o;
  return s;
}

Checkpointer::Checkpointer(std::string out_dir, int keep_last, std::string tokenizer_dir,
                           int64_t max_shard_size)
    : out_dir_(std::move(out_dir)), tokenizer_dir_(std::move(tokenizer_dir)), keep_last_(keep_last),
      max_shard_size_(max_shard_size) {
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) throw Error(Location{out_dir_, 0}, "cannot create directory: " + ec.message(), kExitIo);
}

std::string Checkpointer::staging_dir(const std::string& out_dir, int64_t step) {
  return (fs::path(out_dir) / ("." + checkpoint_name(step) + ".tmp")).string();
}

std::string Checkpointer::save(CausalLM& model,
                               const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                               torch::optim::Optimizer& optimizer, const TrainState& state) {
  return save(model, trainable, &optimizer, state, {});
}

std::string Checkpointer::save(CausalLM& model,
                               const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                               torch::optim::Optimizer* optimizer, const TrainState& state,
                               const std::function<void(const std::string&)>& before_publish) {
  const std::string name = checkpoint_name(state.step);
  const fs::path final_dir = fs::path(out_dir_) / name;
  const fs::path staging = staging_dir(out_dir_, state.step);
  remove_tree(staging.string());
  remove_tree(staging.string() + ".tmp");
  // 1. The model, as transformers loads it (LoRA merged by save()).
  model.save(staging.string(), tokenizer_dir_, torch::kFloat32, max_shard_size_);
  // 1b. With LoRA, the adapters alone as PEFT writes them (peft.PeftModel.from_pretrained,
  // vLLM --lora-modules, sft-train --lora-init).
  if (peft::has_lora(model)) peft::save_adapter(model, (staging / "adapter").string(), model.loaded_from());
  // 2. What the model directory cannot restore exactly.
  if (!trainable.empty()) {
    torch::serialize::OutputArchive a;
    for (const auto& [n, t] : trainable) a.write(archive_key(n), t.detach().to(torch::kCPU, torch::kFloat32));
    a.save_to((staging / kTrainableFile).string());
  }
  if (optimizer) {
    torch::serialize::OutputArchive a;
    optimizer->save(a);
    a.save_to((staging / kOptimizerFile).string());
  }
  {
    torch::serialize::OutputArchive a;
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    a.write("cpu", gen.get_state());
    a.save_to((staging / kRngFile).string());
  }
  write_file_atomic((staging / kStateFile).string(), state.to_json().dump() + "\n", kStateFile);
  if (before_publish) before_publish(staging.string());
  // 3. Publish: rename the complete directory, then point `latest` at it.
  remove_tree(final_dir.string());
  fs::rename(staging, final_dir);
  write_file_atomic((fs::path(out_dir_) / kLatestFile).string(), name + "\n", kLatestFile);
  // 4. --keep-last: drop the oldest complete checkpoints.
  if (keep_last_ > 0) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(out_dir_)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && n.rfind("checkpoint-", 0) == 0) names.push_back(n);
    }
    std::sort(names.begin(), names.end());  // zero-padded step numbers sort by step
    for (size_t i = 0; i + keep_last_ < names.size(); ++i)
      if (names[i] != name) remove_tree((fs::path(out_dir_) / names[i]).string());
  }
  return final_dir.string();
}

std::optional<std::string> Checkpointer::resolve(const std::string& path) {
  if (fs::exists(fs::path(path) / kStateFile)) return path;
  const fs::path latest = fs::path(path) / kLatestFile;
  if (fs::exists(latest)) {
    std::string n = read_text_file(latest.string(), "");
    while (!n.empty() && (n.back() == '\n' || n.back() == '\r')) n.pop_back();
    const fs::path dir = fs::path(path) / n;
    if (!fs::exists(dir / kStateFile))
      throw Error(Location{latest.string(), 0}, "names '" + n + "', which has no " + kStateFile);
    return dir.string();
  }
  if (fs::is_directory(path)) return std::nullopt;
  throw Error(Location{path, 0}, "no such checkpoint or output directory", kExitIo);
}

TrainState Checkpointer::load_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / kStateFile).string();
  return TrainState::from_json(Json::parse(read_text_file(path, "")), path);
}

void Checkpointer::load_into(const std::string& dir,
                             const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                             torch::optim::Optimizer& optimizer) {
  torch::NoGradGuard no_grad;
  if (!trainable.empty()) {
    const std::string path = (fs::path(dir) / kTrainableFile).string();
    if (!fs::exists(path)) throw Error(Location{path, 0}, "missing (was the run trained with the same --lora options?)");
    torch::serialize::InputArchive a;
    a.load_from(path);
    for (const auto& [n, t] : trainable) {
      torch::Tensor v;
      if (!a.try_read(archive_key(n), v))
        throw Error(Location{path, 0}, "has no tensor '" + n + "'");
      if (v.sizes() != t.sizes()) throw Error(Location{path, 0}, "tensor '" + n + "' has another shape");
      t.copy_(v);
    }
  }
  {
    torch::serialize::InputArchive a;
    // Optimizer moments go to the device of the parameters they belong to.
    std::optional<torch::Device> device;
    for (auto& g : optimizer.param_groups())
      if (!g.params().empty()) { device = g.params()[0].device(); break; }
    a.load_from((fs::path(dir) / kOptimizerFile).string(), device);
    optimizer.load(a);
  }
  load_rng(dir);
}

void Checkpointer::load_rng(const std::string& dir) {
  {
    torch::serialize::InputArchive a;
    a.load_from((fs::path(dir) / kRngFile).string());
    torch::Tensor state;
    a.read("cpu", state);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
}

}  // namespace delib::train
