// cot-gen: stage 1 of deliberative alignment. For each (conversation, category) record, a
// helpful model gets the category's spec view and instructions in a system message before the
// conversation and writes reasoning that cites the spec, then an answer; K samples per record.
// Parses flags and calls delib::run_cot_gen (lib/src/judge/cot_gen.cpp).
#include "delib/cli.h"
#include "delib/generate.h"
#include "delib/judge.h"

namespace {

delib::cli::ToolInfo tool_info() {
  delib::cli::ToolInfo info;
  info.name = "cot-gen";
  info.summary = "generate spec-citing reasoning and answers (stage 1 of deliberative alignment)";
  info.description =
      "cot-gen reads records with a conversation (`messages`, or a `prompt` string) that ends "
      "with a user turn, and a `category` naming a category of the safety spec (--spec). For "
      "each record it asks the model for --samples completions. The model sees one system "
      "message made of the instructions (built in, or --instructions FILE) followed by "
      "\"# Safety specification\" and the spec view for the record's category (every category "
      "summarised, the style and helpfulness principles, and the full text of that category), "
      "then the record's conversation unchanged. The built-in instructions ask the model to "
      "cite the relevant spec sections by id, ignore irrelevant ones, decide between comply, "
      "safe-complete and refuse, and keep the analysis out of the final answer.\n"
      "\n"
      "Each sample becomes one output record: the input fields, then `reasoning`, `answer`, "
      "`sample` (0..K-1), `format_ok` (false when the completion could not be split into "
      "non-empty reasoning and answer, or was cut off by --max-tokens) and `provenance` "
      "{backend, model, spec_view_hash, spec_hash, instructions_hash, seed, sampling, tool, "
      "version}. A record without an `id` gets one derived from its content. The random stream "
      "of a sample depends only on --seed, the id and the sample index (servers that honour "
      "`seed` reproduce samples), so output does not depend on concurrency or resumption.\n"
      "\n"
      "Output follows input order (record, then sample) unless --unordered. --resume FILE "
      "continues an interrupted run: it cuts FILE back to its last complete record, skips the "
      "(id, sample) pairs already in it, and appends the rest; the result equals an "
      "uninterrupted run byte for byte when the backend is deterministic (the local engine, "
      "or a server that honours seeds).\n"
      "\n"
      "A record whose category is not in the spec, or that is otherwise unusable, is an error "
      "naming the problem; with --on-error skip it is reported, written to --rejects when "
      "given, and left out. A sample whose request fails after the backend's retries stops "
      "the run with exit code 4 (output stays a clean prefix, ready for --resume); with "
      "--on-error skip it is left out, counted, and a later --resume retries it; the run then "
      "exits 4 when more samples failed than --max-failures allows (default 0) or none got a "
      "result.\n"
      "\n"
      "With --backend openai --completions, the backend renders the conversation to a text "
      "prompt with --chat-template FILE (a model directory, a tokenizer_config.json or a "
      "template file) and sends it to /v1/completions; the completion is then split at "
      "</think>. --threads sets the local model's LibTorch intra-op threads.";
  info.examples =
      "# 4 samples per prompt from a vLLM server\n"
      "cot-gen --spec spec.md --backend openai --base-url http://localhost:8000/v1 --model Qwen/Qwen3-8B --samples 4 prompts.jsonl -o gen.jsonl.zst\n"
      "# the same with a local checkpoint on a GPU\n"
      "cot-gen --spec spec.md --model ./qwen3-8b --device cuda --samples 4 prompts.jsonl -o gen.jsonl.zst\n"
      "# continue after a crash\n"
      "cot-gen --spec spec.md --model ./qwen3-8b --samples 4 prompts.jsonl --resume gen.jsonl.zst\n"
      "# 2 shards (2 machines, or make -j2 as in examples/quickstart/pipeline.mk), merged by jsonl-cat\n"
      "cot-gen --spec spec.md --model ./m --samples 4 --shard 0/2 prompts.jsonl -o gen.part-0-of-2.jsonl\n"
      "# the quickstart's generation stage, rerun only when its inputs, binary or options changed\n"
      "make -C examples/quickstart gen\n";
  info.exit_codes = {{4, "the model or server failed (a request failed after all retries)"}};
  return info;
}

// cot-gen's own flags, straight into the library's options (--max-failures as text, parsed
// in the body so a bad value is a usage error naming the flag).
void add_generation_options(CLI::App& app, delib::CotGenOptions& o, std::string& max_failures) {
  const char* g = "Generation";
  app.add_option("--samples", o.samples, "Completions per record (K)")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str()->group(g);
  app.add_option("--instructions", o.instructions_path,
                 "Replace the built-in generation instructions with the text of FILE (the spec view "
                 "is still appended after it)")
      ->type_name("FILE")->group(g);
  app.add_flag("--unordered", o.unordered,
               "Write samples as they finish instead of in input order (more throughput; "
               "--resume still works, but the file is no longer byte-identical to an ordered run)")
      ->group(g);
  app.add_option("--resume", o.resume,
                 "Continue into FILE: cut it to its last complete record, skip the (id, sample) "
                 "pairs it holds, and append the rest (FILE is the output; -o may only name it too)")
      ->type_name("FILE")->group(g);
  app.add_option("--max-failures", max_failures,
                 "With --on-error skip: most failed samples the run may have and still exit 0: a count "
                 "(0, 12) or a fraction of the samples asked for (0.05, 5%)")
      ->type_name("N|FRACTION")->capture_default_str()->group(g);
  app.add_option("--chunk", o.chunk,
                 "Samples handed to the backend at once (bounds memory; larger keeps more "
                 "requests in flight at chunk ends)")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str()->group(g);
}

}  // namespace

int main(int argc, char** argv) {
  delib::enable_local_backend();
  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::CotGenOptions o;
  std::string max_failures = "0";
  return delib::cli::run_tool(
      argc, argv, tool_info(),
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_backend_options(app, o.backend);
        delib::cli::add_sampling_options(app, o.sampling);
        delib::cli::add_spec_option(app, o.spec_path);
        add_generation_options(app, o, max_failures);
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.backend.threads = run.threads;
        o.seed = run.seed;
        o.progress = run.progress();
        o.max_failures = delib::FailureBudget::parse(max_failures, "--max-failures");
        delib::run_cot_gen(o);
        return delib::kExitOk;
      });
}
