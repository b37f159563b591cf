// The training pieces on a tiny random Qwen3 model: packed documents are isolated, masked
// tokens get no gradient, a small batch is overfitted.
#include <torch/torch.h>
// LibTorch's logging defines a glog-style CHECK; Catch's must win in test files.
#include <catch2/catch.hpp>

#include "delib/json.h"
#include "delib/model.h"
#include "delib/train.h"

using namespace delib::train;

namespace {

std::shared_ptr<delib::CausalLM> tiny_model(uint64_t seed) {
  auto cfg = delib::ModelConfig::from_json(delib::Json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 64,
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "tie_word_embeddings": false, "torch_dtype": "float32"})"));
  return delib::CausalLM::random(cfg, seed, torch::kCPU);
}

// A document of `n` random tokens whose second half is the target.
TokenizedExample doc(int64_t n, uint64_t seed) {
  auto ids = torch::randint(1, 64, {n}, torch::TensorOptions().dtype(torch::kInt64));
  TokenizedExample e;
  for (int64_t i = 0; i < n; ++i) {
    e.ids.push_back(int32_t(ids[i].item<int64_t>()));
    e.labels.push_back(i >= n / 2 ? e.ids.back() : int32_t(kIgnoreIndex));
  }
  return e;
}

torch::Tensor batch_loss_sum(delib::CausalLM& m, const Batch& b, torch::Tensor* hidden_out = nullptr) {
  delib::ForwardOptions fo;
  fo.positions = b.positions;
  fo.doc_ids = b.doc_ids;
  fo.attention_mask = b.attention_mask;
  torch::Tensor h = m.hidden(b.input_ids, fo);
  if (hidden_out) {
    h.retain_grad();
    *hidden_out = h;
  }
  return delib::chunked_cross_entropy(h.reshape({-1, h.size(-1)}), m.lm_head_weight(),
                                      b.labels.reshape({-1}), /*chunk_rows=*/7);
}

}  // namespace

TEST_CASE("packed documents do not see each other", "[train][model]") {
  torch::manual_seed(1);
  auto m = tiny_model(1);
  auto a = doc(9, 1), b = doc(7, 2);
  PackOptions po;
  po.max_length = 32;
  Batch both = pack_examples({&a, &b}, po);
  Batch alone = pack_examples({&b}, po);
  torch::NoGradGuard ng;
  delib::ForwardOptions f1, f2;
  f1.positions = both.positions;
  f1.doc_ids = both.doc_ids;
  f2.positions = alone.positions;
  f2.doc_ids = alone.doc_ids;
  auto h1 = m->hidden(both.input_ids, f1).slice(1, 9, 16);
  auto h2 = m->hidden(alone.input_ids, f2);
  CHECK((h1 - h2).abs().max().item<double>() < 1e-5);
}

TEST_CASE("masked tokens contribute no gradient", "[train][model]") {
  torch::manual_seed(2);
  auto m = tiny_model(2);
  auto a = doc(10, 3), b = doc(6, 4);
  PackOptions po;
  po.max_length = 32;
  Batch batch = pack_examples({&a, &b}, po);
  torch::Tensor h;
  batch_loss_sum(*m, batch, &h).backward();
  auto g = h.grad()[0].abs().sum(-1);  // (T,) gradient magnitude reaching each position
  auto lab = batch.labels[0];
  for (int64_t t = 0; t < lab.size(0); ++t) {
    INFO("position " << t << " label " << lab[t].item<int64_t>());
    if (lab[t].item<int64_t>() == kIgnoreIndex) CHECK(g[t].item<double>() == 0.0);
    else CHECK(g[t].item<double>() > 0.0);
  }
  // Changing a masked (prompt) label's would-be target changes nothing: the same labels
  // tensor with other ids under the mask is impossible by construction, so check instead that
  // the loss equals the naive full-logits loss over the unmasked positions only.
  auto logits = m->forward(batch.input_ids, [&] {
    delib::ForwardOptions fo;
    fo.positions = batch.positions;
    fo.doc_ids = batch.doc_ids;
    return fo;
  }());
  auto flat = batch.labels.reshape({-1});
  auto keep = flat.ne(kIgnoreIndex).nonzero().squeeze(1);
  auto naive = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).index_select(0, keep), flat.index_select(0, keep),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  torch::NoGradGuard ng;
  CHECK(batch_loss_sum(*m, batch).item<double>() == Approx(naive.item<double>()).epsilon(1e-5));
}

TEST_CASE("a tiny model overfits a small batch", "[train][model]") {
  torch::manual_seed(3);
  auto m = tiny_model(3);
  std::vector<TokenizedExample> docs;
  for (int i = 0; i < 4; ++i) docs.push_back(doc(12, 10 + i));
  std::vector<const TokenizedExample*> ptrs;
  for (auto& d : docs) ptrs.push_back(&d);
  PackOptions po;
  po.max_length = 24;
  Batch b = pack_examples(ptrs, po);
  REQUIRE(b.rows() == 2);
  AdamWConfig c;
  c.lr = 1e-2;
  auto opt = make_adamw(m->named_parameters(), c);
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : m->named_parameters()) params.push_back(p);
  double first = 0, last = 0;
  for (int step = 0; step < 80; ++step) {
    opt->zero_grad();
    auto loss = batch_loss_sum(*m, b) / double(b.num_targets);
    loss.backward();
    clip_grad_norm(params, 1.0);
    opt->step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(first > 3.0);  // about log(64) at random init
  CHECK(last < 0.1);
}
