// model-check: a developer tool that runs a model on token ids and dumps logits, loss and
// every parameter's gradient to safetensors, so tests/reference/test_model_reference.py can
// compare them with transformers (as llm.c's test_gpt2 compares with PyTorch).
// LibTorch ships its own fmt (v12) headers, which shadow the system fmt 9 in torch targets;
// use them header-only so nothing links against the system library's different ABI.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>

#include "delib/cli.h"
#include "delib/error.h"
#include "delib/model.h"
#include "delib/safetensors.h"

namespace {

// Reads a (B, T) array of integers (or booleans) from `doc[key]`; undefined when absent.
torch::Tensor read_matrix(simdjson::dom::element doc, const char* key, const std::string& path) {
  simdjson::dom::array rows;
  auto field = doc[key];
  if (field.error() == simdjson::NO_SUCH_FIELD) return {};
  if (field.get_array().get(rows))
    throw delib::Error(delib::Location{path, 0}, fmt::format("\"{}\" must be an array of arrays", key));
  std::vector<int64_t> flat;
  int64_t B = 0, T = -1;
  for (auto row : rows) {
    simdjson::dom::array r;
    if (row.get_array().get(r))
      throw delib::Error(delib::Location{path, 0}, fmt::format("\"{}\" must be an array of arrays", key));
    int64_t n = 0;
    for (auto v : r) {
      int64_t x;
      bool b;
      if (!v.get_int64().get(x)) flat.push_back(x);
      else if (!v.get_bool().get(b)) flat.push_back(b ? 1 : 0);
      else throw delib::Error(delib::Location{path, 0}, fmt::format("\"{}\" holds a non-integer", key));
      ++n;
    }
    if (T >= 0 && n != T)
      throw delib::Error(delib::Location{path, 0}, fmt::format("\"{}\" rows differ in length", key));
    T = n;
    ++B;
  }
  return torch::tensor(flat, torch::kInt64).view({B, std::max<int64_t>(T, 0)});
}

}  // namespace

int main(int argc, char** argv) {
  delib::cli::ToolInfo info{
      "model-check",
      "dump a model's logits, loss and gradients for reference tests",
      "Loads a Hugging Face model directory with delib's model code, runs it on the token ids "
      "of a JSON file and writes the results to a safetensors file: \"logits\" (B, T, V) "
      "float32, and with --grads \"loss\" (mean next-token cross-entropy over labels that are "
      "not -100, labels defaulting to input_ids with padding ignored; plus router_aux_loss_coef "
      "times \"aux_loss\", the load-balancing loss, also written, when a mixture-of-experts "
      "config sets output_router_logits, as transformers) and \"grad.NAME\" for "
      "every parameter. The JSON file holds \"input_ids\" (B, T) and optionally "
      "\"attention_mask\", \"doc_ids\", \"positions\" and \"labels\", all (B, T).\n\n"
      "A developer tool: tests/reference/test_model_reference.py drives it.",
      "model-check --model tiny-llama --input ids.json -o out.safetensors --grads",
  };
  std::string model_dir, input, output, save_dir, dtype = "f32", device = "cpu";
  bool grads = false, checkpoint = false;
  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        app.add_option("--model", model_dir, "Hugging Face model directory")->required();
        app.add_option("--input", input, "JSON file with input_ids and optional masks")->required();
        app.add_option("-o,--output", output, "safetensors file to write")->required();
        app.add_flag("--grads", grads, "also compute the loss and every parameter's gradient");
        app.add_flag("--checkpoint", checkpoint, "use activation checkpointing (recompute layers in backward)");
        app.add_option("--dtype", dtype, "model dtype: auto, f32, bf16, f16 (default: f32)");
        app.add_option("--device", device, "cpu or cuda[:N] (default: cpu)");
        app.add_option("--save", save_dir, "also save the loaded model to this directory with delib's writer");
      },
      [&]() {
        const torch::Device dev = delib::parse_device(device);  // a usage error before any reading
        simdjson::dom::parser parser;
        simdjson::padded_string text;
        if (simdjson::padded_string::load(input).get(text))
          throw delib::Error(delib::Location{input, 0}, "cannot read", delib::kExitIo);
        simdjson::dom::element doc;
        if (parser.parse(text).get(doc)) throw delib::Error(delib::Location{input, 0}, "invalid JSON");
        auto ids = read_matrix(doc, "input_ids", input);
        if (!ids.defined()) throw delib::Error(delib::Location{input, 0}, "missing \"input_ids\"");
        delib::ForwardOptions opts;
        opts.attention_mask = read_matrix(doc, "attention_mask", input);
        if (opts.attention_mask.defined()) opts.attention_mask = opts.attention_mask.to(torch::kBool);
        opts.doc_ids = read_matrix(doc, "doc_ids", input);
        opts.positions = read_matrix(doc, "positions", input);
        opts.checkpoint = checkpoint;
        auto labels = read_matrix(doc, "labels", input);

        auto model = delib::CausalLM::load(model_dir, dev, dtype);
        if (!save_dir.empty()) model->save(save_dir, "", model->dtype());
        std::vector<std::pair<std::string, torch::Tensor>> out;
        if (!grads) {
          torch::NoGradGuard ng;
          out.emplace_back("logits", model->forward(ids, opts).to(torch::kFloat32));
        } else {
          // MoE with output_router_logits: HF's loss adds router_aux_loss_coef * the
          // load-balancing loss of the router logits.
          const delib::ModelConfig& cfg = model->config();
          std::vector<torch::Tensor> router;
          if (cfg.output_router_logits) opts.router_logits = &router;
          auto logits = model->forward(ids, opts);
          if (!labels.defined()) {
            labels = ids.clone();
            if (opts.attention_mask.defined()) labels.masked_fill_(opts.attention_mask.logical_not(), -100);
          }
          // Next-token loss as HF's ForCausalLMLoss: position t predicts labels[t + 1].
          const int64_t V = logits.size(-1);
          auto shift_logits = logits.narrow(1, 0, logits.size(1) - 1).to(torch::kFloat32).reshape({-1, V});
          auto shift_labels = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1}).to(dev);
          auto loss = torch::nn::functional::cross_entropy(
              shift_logits, shift_labels,
              torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
          if (!router.empty()) {
            auto aux = delib::load_balancing_loss(router, cfg.num_experts, cfg.num_experts_per_tok,
                                                  opts.attention_mask);
            out.emplace_back("aux_loss", aux.detach());
            loss = loss + cfg.router_aux_loss_coef * aux;
          }
          loss.backward();
          out.emplace_back("logits", logits.detach().to(torch::kFloat32));
          out.emplace_back("loss", loss.detach());
          for (auto& [name, p] : model->named_parameters())
            if (p.grad().defined()) out.emplace_back("grad." + name, p.grad().to(torch::kFloat32));
        }
        delib::safetensors::save_file(output, out);
        return delib::kExitOk;
      });
}
