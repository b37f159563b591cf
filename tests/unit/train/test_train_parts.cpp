// The reusable training pieces: schedule, per-epoch order, packing, optimizer groups,
// gradient clipping, trainer-state I/O, launcher environment.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <torch/torch.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/train.h"

using namespace delib::train;

namespace {

TokenizedExample example(std::vector<int32_t> ids, std::vector<int32_t> labels) {
  TokenizedExample e;
  e.ids = std::move(ids);
  e.labels = std::move(labels);
  return e;
}

constexpr int32_t X = int32_t(kIgnoreIndex);

}  // namespace

TEST_CASE("learning-rate schedule: warm-up, then cosine / linear / constant", "[train]") {
  LrSchedule s;
  s.lr = 1.0;
  s.warmup_steps = 4;
  s.total_steps = 14;
  s.min_lr_ratio = 0.1;
  CHECK(s.at(0) == Approx(0.25));
  CHECK(s.at(3) == Approx(1.0));
  CHECK(s.at(4) == Approx(1.0));             // p = 0
  CHECK(s.at(9) == Approx(0.1 + 0.9 * 0.5));  // p = 0.5: half way
  CHECK(s.at(14) == Approx(0.1));             // p = 1
  CHECK(s.at(100) == Approx(0.1));            // clamped
  s.kind = ScheduleKind::kLinear;
  CHECK(s.at(9) == Approx(0.55));
  CHECK(s.at(11) == Approx(1.0 - 0.9 * 0.7));
  s.kind = ScheduleKind::kConstant;
  CHECK(s.at(13) == Approx(1.0));
  // Monotone decay after warm-up for cosine.
  s.kind = ScheduleKind::kCosine;
  for (int64_t i = 4; i < 14; ++i) CHECK(s.at(i + 1) <= s.at(i));
  LrSchedule back = LrSchedule::from_json(s.to_json());
  CHECK(back.at(7) == s.at(7));
  CHECK_THROWS_AS(parse_schedule("step"), delib::Error);
}

TEST_CASE("epoch order: a permutation, seeded, different per epoch, stable", "[train]") {
  auto a = epoch_order(100, 7, 0);
  auto b = epoch_order(100, 7, 0);
  auto c = epoch_order(100, 7, 1);
  auto d = epoch_order(100, 8, 0);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  CHECK(std::set<size_t>(a.begin(), a.end()).size() == 100);
  auto plain = epoch_order(5, 7, 3, /*shuffle=*/false);
  CHECK(plain == std::vector<size_t>{0, 1, 2, 3, 4});
  // Portability rests on std::mt19937_64, whose sequence the C++ standard fixes ([rand.predef]:
  // the 10000th output of a default-constructed engine is 9981545732273789042), and on a
  // bounded draw of our own instead of the implementation-defined distributions.
  std::mt19937_64 standard;
  standard.discard(9999);
  CHECK(standard() == 9981545732273789042ull);
  std::vector<size_t> e00 = epoch_order(64, 0, 0), e01 = epoch_order(64, 0, 1), e10 = epoch_order(64, 1, 0);
  CHECK(e00 == epoch_order(64, 0, 0));  // a resumed run sees the same order
  CHECK(e00 != e01);                      // each epoch reshuffles
  CHECK(e00 != e10);                      // nearby seeds give unrelated orders
  CHECK(std::set<size_t>(e00.begin(), e00.end()).size() == 64);
}

TEST_CASE("packing: rows, shift, positions, doc ids, targets", "[train]") {
  auto e1 = example({1, 2, 3}, {X, 2, 3});
  auto e2 = example({4, 5}, {X, 5});
  auto e3 = example({6, 7, 8, 9}, {X, X, 8, 9});
  PackOptions po;
  po.max_length = 6;
  po.pad_id = 0;
  Batch b = pack_examples({&e1, &e2, &e3}, po);
  // e1 (3) + e2 (2) fit one row of 6; e3 (4) goes to a second row.
  REQUIRE(b.rows() == 2);
  REQUIRE(b.input_ids.size(1) == 5);  // longest row
  auto row = [](const torch::Tensor& t, int64_t r) {
    auto x = t[r].contiguous();
    return std::vector<int64_t>(x.data_ptr<int64_t>(), x.data_ptr<int64_t>() + x.numel());
  };
  CHECK(row(b.input_ids, 0) == std::vector<int64_t>{1, 2, 3, 4, 5});
  // labels shifted: position i predicts the next token's label; a document's last position
  // predicts nothing, so nothing is learned across the boundary.
  CHECK(row(b.labels, 0) == std::vector<int64_t>{2, 3, -100, 5, -100});
  CHECK(row(b.positions, 0) == std::vector<int64_t>{0, 1, 2, 0, 1});
  CHECK(row(b.doc_ids, 0) == std::vector<int64_t>{0, 0, 0, 1, 1});
  CHECK(row(b.input_ids, 1) == std::vector<int64_t>{6, 7, 8, 9, 0});
  CHECK(row(b.labels, 1) == std::vector<int64_t>{-100, 8, 9, -100, -100});
  CHECK(row(b.doc_ids, 1) == std::vector<int64_t>{0, 0, 0, 0, -1});
  CHECK(b.num_tokens == 9);
  CHECK(b.num_targets == 5);
  CHECK(b.num_targets == e1.num_targets() + e2.num_targets() + e3.num_targets());
  CHECK_FALSE(b.attention_mask.defined());

  po.pack = false;
  Batch p = pack_examples({&e1, &e2, &e3}, po);
  REQUIRE(p.rows() == 3);
  CHECK(p.input_ids.size(1) == 4);
  CHECK(row(p.labels, 1) == std::vector<int64_t>{5, -100, -100, -100});
  CHECK(p.attention_mask[1].sum().item<int64_t>() == 2);
  CHECK_FALSE(p.doc_ids.defined());
  CHECK(p.num_targets == 5);

  auto big = example({1, 2, 3, 4, 5, 6, 7}, {X, 2, 3, 4, 5, 6, 7});
  CHECK_FALSE(fits(big, 6));
  CHECK_THROWS_AS(pack_examples({&big}, PackOptions{6, true, 0}), delib::Error);
}

TEST_CASE("AdamW groups: weight decay on matrices only; lr setting", "[train]") {
  auto w = torch::randn({3, 4}).requires_grad_(true);
  auto bias = torch::randn({3}).requires_grad_(true);
  auto frozen = torch::randn({3, 4});
  AdamWConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  auto opt = make_adamw({{"w", w}, {"b", bias}, {"f", frozen}}, c);
  REQUIRE(opt->param_groups().size() == 2);
  CHECK(opt->param_groups()[0].params().size() == 1);
  CHECK(opt->param_groups()[1].params().size() == 1);
  auto& o0 = static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[0].options());
  auto& o1 = static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[1].options());
  CHECK(o0.weight_decay() == 0.5);
  CHECK(o1.weight_decay() == 0.0);
  set_lr(*opt, 0.01);
  CHECK(o0.lr() == 0.01);
  CHECK(o1.lr() == 0.01);
}

TEST_CASE("gradient clipping returns the pre-clip norm and scales to max_norm", "[train]") {
  auto a = torch::zeros({2}, torch::requires_grad());
  auto b = torch::zeros({1}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  CHECK(clip_grad_norm({a, b}, 0.0) == Approx(5.0));  // no clipping
  CHECK(a.grad()[0].item<float>() == 3.0f);
  CHECK(clip_grad_norm({a, b}, 1.0) == Approx(5.0));
  CHECK(clip_grad_norm({a, b}, 0.0) == Approx(1.0).epsilon(1e-5));
  CHECK(clip_grad_norm({a, b}, 10.0) == Approx(1.0).epsilon(1e-5));  // below max: untouched
}

TEST_CASE("trainer state: JSON round trip and format version check", "[train]") {
  TrainState s;
  s.step = 12;
  s.epoch = 2;
  s.epoch_step = 1;
  s.tokens_seen = 12345;
  s.seed = 18446744073709551615ull;  // survives JSON exactly (written as a string)
  s.schedule.kind = ScheduleKind::kLinear;
  s.schedule.total_steps = 40;
  s.options = delib::Json::object();
  s.options.set("max_length", 64);
  delib::Json j = delib::Json::parse(s.to_json().dump());
  TrainState r = TrainState::from_json(j, "x.json");
  CHECK(r.step == 12);
  CHECK(r.epoch == 2);
  CHECK(r.epoch_step == 1);
  CHECK(r.tokens_seen == 12345);
  CHECK(r.seed == s.seed);
  CHECK(r.schedule.kind == ScheduleKind::kLinear);
  CHECK(r.options.dump() == s.options.dump());
  j.set("format_version", kTrainStateVersion + 1);
  CHECK_THROWS_WITH(TrainState::from_json(j, "x.json"), Catch::Contains("newer"));
  CHECK_THROWS_AS(TrainState::from_json(delib::Json::parse("{\"step\":1}"), "x.json"), delib::Error);
}

TEST_CASE("checkpoint resolve: checkpoint dir, output dir with latest, empty output dir", "[train]") {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("delib-train-test-" + std::to_string(::getpid()));
  delib::remove_tree(root.string());
  fs::create_directories(root / "checkpoint-00000003");
  CHECK_FALSE(Checkpointer::resolve(root.string()).has_value());  // nothing complete yet
  { std::ofstream(root / "checkpoint-00000003" / "trainer_state.json") << TrainState{}.to_json().dump(); }
  { std::ofstream(root / "latest") << "checkpoint-00000003\n"; }
  CHECK(Checkpointer::resolve(root.string()).value() == (root / "checkpoint-00000003").string());
  CHECK(Checkpointer::resolve((root / "checkpoint-00000003").string()).value() ==
        (root / "checkpoint-00000003").string());
  CHECK_THROWS_AS(Checkpointer::resolve((root / "missing").string()), delib::Error);
  delib::remove_tree(root.string());
}

TEST_CASE("launcher environment: torchrun, Slurm, none", "[train]") {
  auto clear = [] {
    for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                          "TORCHELASTIC_USE_AGENT_STORE", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"})
      ::unsetenv(v);
  };
  clear();
  DistEnv none = DistEnv::from_environment();
  CHECK(none.world_size == 1);
  CHECK_FALSE(none.distributed());
  ::setenv("SLURM_PROCID", "3", 1);
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("SLURM_LOCALID", "1", 1);
  ::setenv("MASTER_ADDR", "node7", 1);
  DistEnv slurm = DistEnv::from_environment();
  CHECK(slurm.launcher == "slurm");
  CHECK(slurm.rank == 3);
  CHECK(slurm.world_size == 4);
  CHECK(slurm.local_rank == 1);
  CHECK(slurm.master_addr == "node7");
  // torchrun's variables win over Slurm's (torchrun inside an allocation).
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  DistEnv tr = DistEnv::from_environment();
  CHECK(tr.launcher == "torchrun");
  CHECK(tr.rank == 1);
  CHECK(tr.world_size == 2);
  CHECK(tr.master_port == 29511);
  CHECK(tr.agent_store);
  ::setenv("RANK", "2", 1);
  CHECK_THROWS_AS(DistEnv::from_environment(), delib::Error);  // rank >= world size
  ::setenv("RANK", "x", 1);
  CHECK_THROWS_AS(DistEnv::from_environment(), delib::Error);
  clear();
}
