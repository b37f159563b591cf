// gen-check: a developer tool that runs delib's generation engine on token ids, so that
// tests/reference/test_generate_reference.py can compare it with transformers' generate and
// tests/bench/generate_bench.py can time it. No tokenizer is needed.
#include <cstdio>

#include <fmt/format.h>
#include <torch/torch.h>

#include "delib/cli.h"
#include "delib/error.h"
#include "delib/fs.h"
#include "delib/generate.h"
#include "delib/model.h"
#include "delib/records.h"
#include "delib/train.h"

int main(int argc, char** argv) {
  delib::cli::ToolInfo info{
      "gen-check",
      "run the generation engine on token ids (developer tool)",
      "Loads a Hugging Face model directory and continues every input record's \"prompt_ids\" "
      "(an array of token ids) with delib's engine: continuous batching over --batch-size "
      "slots, sampling as the flags say (--temperature 0 is greedy). Each output record is the "
      "input plus \"ids\" (the generated ids), \"finish_reason\" and, with --logprobs, "
      "\"logprobs\" (log softmax of the raw logits at temperature 1 of each generated id). "
      "A record's \"seed_key\" (default: its id) and --seed give its random stream.\n\n"
      "--stats FILE writes the run's counters and timings as JSON (tokens/s for benchmarks): "
      "per decode step the time of its phases (forward, sample, host bookkeeping) and the host "
      "syncs it paid (the points where the host waits for the device). --stats-sync makes the phase "
      "times exact on a GPU by synchronising the device at the end of each phase (two more syncs "
      "per step; without it a phase's device work shows up in the phase that waits for it).\n\n"
      "A developer tool: tests/reference/test_generate_reference.py and "
      "tests/bench/generate_bench.py drive it.",
      "gen-check --model tiny-llama --temperature 0 --max-tokens 16 prompts.jsonl -o out.jsonl",
  };
  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::SamplingParams params;
  std::string model_dir, device = "cpu", dtype = "f32", stats_path;
  std::vector<int> stop_ids;
  int batch_size = 16;
  bool stats_sync = false, cuda_graphs = false;
  std::string profile_path, profile_steps = "3:4";
  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_sampling_options(app, params);
        app.add_option("--model", model_dir, "Hugging Face model directory")->required();
        app.add_option("--device", device, "cpu, cuda or cuda:N (default: cpu)");
        app.add_option("--dtype", dtype, "model dtype: auto, f32, bf16, f16 (default: f32)");
        app.add_option("--batch-size", batch_size, "decode slots (default: 16)");
        app.add_option("--stop-id", stop_ids, "a token id that ends generation (repeatable)")
            ->allow_extra_args(false);
        app.add_flag("--logprobs", params.logprobs, "write each generated id's log-probability");
        app.add_option("--stats", stats_path, "write the run's counters and timings as JSON to FILE");
        app.add_flag("--stats-sync", stats_sync,
                     "synchronise the device after each phase of a decode step (exact --stats phase times)");
        app.add_flag("--cuda-graphs", cuda_graphs,
                     "CUDA: replay each decode step that samples on the device as one CUDA graph (experimental)");
        delib::cli::add_profile_options(app, profile_path, profile_steps, app.option_defaults()->get_group(),
                                        "decode steps");
      },
      [&]() {
        if (run.threads > 0) torch::set_num_threads(run.threads);
        const torch::Device dev = delib::parse_device(device);  // a usage error before any reading
        delib::train::StepProfiler profiler(profile_path, profile_steps, dev.is_cuda());  // checks the spec
        delib::RecordReader reader(io.inputs, io.read_options());
        std::vector<delib::Record> records;
        std::vector<delib::EngineRequest> reqs;
        delib::Record r;
        while (reader.next(r)) {
          auto ids = r.get("prompt_ids");
          if (!ids || !ids->is_array())
            throw delib::Error(r.where(), "field 'prompt_ids': expected an array of token ids");
          delib::EngineRequest e;
          for (const auto& x : ids->as_array()) {
            if (!x.is_int()) throw delib::Error(r.where(), "field 'prompt_ids': expected integers");
            e.prompt_ids.push_back(int32_t(x.as_int()));
          }
          e.params = params;
          std::string key = r.get_string("seed_key").value_or(r.id());
          e.seed = delib::sample_seed(run.seed, key, 0);
          e.stop_ids.assign(stop_ids.begin(), stop_ids.end());
          reqs.push_back(std::move(e));
          records.push_back(std::move(r));
          r = delib::Record();
        }
        auto model = delib::CausalLM::load(model_dir, dev, dtype);
        delib::EngineOptions eo;
        eo.batch_size = batch_size;
        eo.sync_phases = stats_sync;
        eo.cuda_graphs = cuda_graphs;
        eo.on_step = [&](int64_t n, bool before) { before ? profiler.before_step(n) : profiler.after_step(n); };
        delib::Engine engine(model, nullptr, eo);
        std::vector<delib::EngineResult> results(reqs.size());
        auto t0 = std::chrono::steady_clock::now();
        engine.run(reqs, [&](size_t i, delib::EngineResult res) { results[i] = std::move(res); });
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        profiler.finish();  // a run shorter than the range: saves what it traced
        if (delib::interrupted()) return 128 + delib::interrupted();

        delib::RecordWriter out(io.output, io.write_options());
        for (size_t i = 0; i < records.size(); ++i) {
          delib::Json ids = delib::Json::array();
          for (int32_t id : results[i].ids) ids.push(id);
          records[i].set("ids", std::move(ids));
          records[i].set("finish_reason", results[i].finish_reason);
          if (params.logprobs) {
            delib::Json lp = delib::Json::array();
            for (float x : results[i].logprobs) lp.push(double(x));
            records[i].set("logprobs", std::move(lp));
          }
          out.write(records[i]);
        }
        out.close();
        if (!stats_path.empty()) {
          const auto& s = engine.stats();
          delib::Json j = delib::Json::object();
          j.set("requests", s.requests);
          j.set("prompt_tokens", s.prompt_tokens);
          j.set("shared_prompt_tokens", s.shared_prompt_tokens);
          j.set("generated_tokens", s.generated_tokens);
          j.set("decode_steps", s.decode_steps);
          j.set("prefill_seconds", s.prefill_seconds);
          j.set("decode_seconds", s.decode_seconds);
          j.set("sample_seconds", s.sample_seconds);
          // Decode steps by phase (delib/generate.h, EngineStats) and their host syncs.
          j.set("stats_sync", stats_sync);
          j.set("cuda_graphs", cuda_graphs);
          j.set("graph_steps", s.graph_steps);
          j.set("step_forward_seconds", s.step_forward_seconds);
          j.set("step_sample_seconds", s.step_sample_seconds);
          j.set("step_host_seconds", s.step_host_seconds);
          j.set("decode_syncs", s.decode_syncs);
          j.set("prefill_syncs", s.prefill_syncs);
          j.set("syncs_per_decode_step", s.decode_steps > 0 ? double(s.decode_syncs) / double(s.decode_steps) : 0.0);
          j.set("device_to_host_bytes", s.device_to_host_bytes);
          j.set("wall_seconds", wall);
          j.set("generated_tokens_per_second", wall > 0 ? double(s.generated_tokens) / wall : 0.0);
          j.set("threads", int64_t(torch::get_num_threads()));
          delib::write_file_atomic(stats_path, j.dump() + "\n", "--stats");
        }
        profiler.require_traced("decode steps");
        return int(delib::kExitOk);
      });
}
