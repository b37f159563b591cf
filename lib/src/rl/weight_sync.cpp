// Weight sync: the trainer's policy pushed to the rollout server (see server.h).
#include <filesystem>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/json.h"
#include "delib/peft.h"
#include "rl/server.h"

namespace delib::rl::detail {
namespace fs = std::filesystem;

namespace {

std::string version_name(int64_t version) { return fmt::format("policy-v{}", version); }

// (delib::remove_tree, not std::filesystem::remove_all: libtorch exports a broken copy of the
// latter that the dynamic linker may pick.)
void remove_dir(const std::string& dir) { remove_tree(dir); }

}  // namespace

WeightSync::WeightSync(const RlOptions& o, RolloutServer& server) : o_(o), server_(server) {
  method_ = o.sync_method.empty() ? (o.lora ? "lora" : "disk") : o.sync_method;
  if (method_ != "lora" && method_ != "disk")
    throw Error(fmt::format("--sync-method {}: expected lora or disk", method_), kExitUsage);
  if (method_ == "lora" && !o.lora)
    throw Error("--sync-method lora needs --lora (the server loads the trained adapters)", kExitUsage);
  if (o.sync_every < 1) throw Error("--sync-every must be >= 1", kExitUsage);
  dir_ = !o.sync_dir.empty() ? o.sync_dir : o.out_dir.empty() ? "" : (fs::path(o.out_dir) / "sync").string();
  if (dir_.empty())
    throw Error("--rollout-backend openai needs --out DIR or --sync-dir DIR (where the server reads the synced "
                "weights)", kExitUsage);
  dir_ = fs::absolute(dir_).lexically_normal().string();
}

bool WeightSync::due(int64_t step) const { return step % o_.sync_every == 0; }

void WeightSync::push(CausalLM& model, int64_t version) {
  const std::string name = version_name(version);
  const std::string dir = (fs::path(dir_) / name).string();
  const std::string tmp = (fs::path(dir_) / ("." + name + ".tmp")).string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(Location{dir_, 0}, "cannot create directory: " + ec.message(), kExitIo);
  const BackendOptions& bo = server_.options();
  if (method_ == "lora") {
    remove_dir(tmp);
    peft::save_adapter(model, tmp, o_.model_dir);
    remove_dir(dir);
    fs::rename(tmp, dir, ec);
    if (ec) throw Error(Location{dir, 0}, "cannot rename " + tmp + ": " + ec.message(), kExitIo);
    const std::string v1 = server_.v1_url();
    Json unload = Json::object();
    unload.set("lora_name", name);
    // A name left loaded by an earlier run (kill -9, then --resume) would make the load fail.
    post_json(bo, v1 + "/unload_lora_adapter", unload.dump(), {}, /*tolerate_4xx=*/true);
    Json load = Json::object();
    load.set("lora_name", name);
    load.set("lora_path", dir);
    post_json(bo, v1 + "/load_lora_adapter", load.dump());
    const std::string old = server_.model();
    server_.serve(name, version);
    if (!previous_.empty() && previous_ != dir) {
      Json u = Json::object();
      u.set("lora_name", old);
      post_json(bo, v1 + "/unload_lora_adapter", u.dump());
      remove_dir(previous_);
    }
  } else {
    remove_dir(dir);
    model.save(dir, o_.model_dir, torch::kFloat32, o_.max_shard_size);  // atomic: DIR.tmp, then renamed
    Json body = Json::object();
    body.set("model_path", dir);
    HttpAnswer a = post_json(bo, server_.root_url() + "/update_weights_from_disk", body.dump());
    Json j;
    try {
      j = Json::parse(a.body);
    } catch (const Error&) {
      j = Json();  // a non-JSON 2xx answer: accepted (the status says it worked)
    }
    if (j.is_object()) {
      const Json* ok = j.find("success");
      if (ok && ok->is_bool() && !ok->as_bool()) {
        const Json* m = j.find("message");
        throw Error(fmt::format("{}/update_weights_from_disk {}: the server did not load the weights: {}",
                                redact_url(server_.root_url()), dir, m && m->is_string() ? m->as_string() : a.body),
                    kExitBackend);
      }
    }
    server_.serve(server_.options().model, version);
    if (!previous_.empty() && previous_ != dir) remove_dir(previous_);
  }
  previous_ = dir;
}

void WeightSync::follow(int64_t version) {
  const std::string name = version_name(version);
  server_.serve(method_ == "lora" ? name : server_.options().model, version);
  previous_ = (fs::path(dir_) / name).string();
}

}  // namespace delib::rl::detail
