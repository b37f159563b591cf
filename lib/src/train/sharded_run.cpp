// What sft-train (train/sft.cpp) and rl-train (rl/run.cpp) share of a sharded run
// (train/sharding.h): the sharded optimizer over a model, checkpoints with per-rank parts and
// the Hugging Face model written unit by unit from rank 0, resuming with resharding.
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "delib/error.h"
#include "train/sharding.h"

namespace delib::train {

std::unique_ptr<ShardedAdamW> make_sharded(CausalLM& model,
                                           const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                           const AdamWConfig& config, DataParallel& dp, Sharding sharding) {
  if (sharding == Sharding::kNone) return nullptr;
  // full with LoRA: the frozen base is sharded too (gathered like the rest, no optimizer).
  std::vector<std::pair<std::string, torch::Tensor>> frozen;
  if (sharding == Sharding::kFull)
    for (const auto& item : model.module().named_parameters(/*recurse=*/true))
      if (!item.value().requires_grad()) frozen.emplace_back(item.key(), item.value());
  return std::make_unique<ShardedAdamW>(trainable, config, dp, sharding == Sharding::kFull, frozen);
}

std::string shard_part_path(const std::string& dir, int rank, int world) {
  return (std::filesystem::path(dir) / fmt::format("shard-rank-{}-of-{}.safetensors", rank, world)).string();
}

std::vector<torch::Tensor> save_reads(CausalLM& model) {
  std::vector<torch::Tensor> reads;
  for (auto& [name, p] : model.named_parameters())
    if (name.find(".lora_") == std::string::npos) reads.push_back(p);
  return reads;
}

std::string save_sharded_checkpoint(ShardedAdamW& sharded, DataParallel& dp, Checkpointer* checkpointer,
                                    CausalLM& model, const std::vector<std::pair<std::string, torch::Tensor>>& saved,
                                    const TrainState& state, const std::string& out_dir, bool whole) {
  // Rank 0 writes the Hugging Face model (full: the units gathered one at a time as
  // CausalLM::save reads the parameters, every rank taking part in the gathers; at most two
  // units are held), the trainer state and the RNG into the staging directory; then every rank
  // writes its part of the master weights and AdamW moments there at the same time; rank 0
  // publishes the directory once every part is written (a kill before that leaves the previous
  // checkpoint the latest).
  auto write_part = [&](const std::string& dir) {
    try {
      sharded.save_part(shard_part_path(dir, dp.rank(), dp.world_size()));
      return 0.0;
    } catch (const std::exception& e) {
      warn(fmt::format("rank {}: {}", dp.rank(), e.what()));
      return 1.0;
    }
  };
  auto all_written = [&](const std::string& dir) {
    dp.barrier();  // the staging directory exists
    if (dp.all_reduce_sum(write_part(dir)) > 0)
      throw Error(Location{dir, 0}, "a rank could not write its part of the checkpoint (see above)", kExitIo);
  };
  std::string written;
  if (whole) sharded.materialize_all();
  if (checkpointer) {
    written = checkpointer->save(model, saved, nullptr, state, all_written);
  } else {
    if (!whole) sharded.touch_in_order(save_reads(model));
    all_written(Checkpointer::staging_dir(out_dir, state.step));
  }
  sharded.release_all();
  dp.barrier();
  return written;
}

void load_sharded_checkpoint(ShardedAdamW& sharded, DataParallel& dp, const std::string& ckpt) {
  int old_world = 0;
  for (const auto& e : std::filesystem::directory_iterator(ckpt)) {
    const std::string n = e.path().filename().string();
    int w = 0;
    char tail[32] = {0};
    if (std::sscanf(n.c_str(), "shard-rank-0-of-%d.%31s", &w, tail) == 2 && std::string(tail) == "safetensors" && w > 0)
      old_world = old_world ? std::min(old_world, w) : w;
  }
  if (old_world == 0)
    throw Error(Location{shard_part_path(ckpt, 0, 1), 0},
                "missing (no shard-rank-0-of-W.safetensors): not a checkpoint of a sharded run of this version", kExitIo);
  // Every rank checks every part, so that all of them stop on a missing one (a rank that went
  // on would wait for the others in its first collective).
  std::vector<std::string> paths;
  for (int q = 0; q < old_world; ++q) {
    paths.push_back(shard_part_path(ckpt, q, old_world));
    if (!std::filesystem::exists(paths.back()))
      throw Error(Location{paths.back(), 0}, "missing: a sharded checkpoint has one part per rank", kExitIo);
  }
  sharded.load_parts(paths);
  Checkpointer::load_rng(ckpt);
  if (dp.rank() == 0 && old_world != dp.world_size())
    warn(fmt::format("{}: resharded from {} to {} processes", ckpt, old_world, dp.world_size()));
}

}  // namespace delib::train
