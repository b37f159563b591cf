// The option table: shared flags registered once, used by every tool.
#include <unistd.h>

#include <fmt/format.h>

#include "delib/cli.h"

namespace delib::cli {

ReadOptions IoOptions::read_options() const {
  ReadOptions r;
  r.on_error = on_error == "skip" ? OnError::kSkip : OnError::kFail;
  r.rejects_path = rejects;
  if (!shard.empty()) r.shard = Shard::parse(shard);
  return r;
}

WriteOptions IoOptions::write_options() const {
  WriteOptions w;
  w.compression = plain ? Compression::kPlain : zstd ? Compression::kZstd : Compression::kAuto;
  w.level = level;
  w.workers = zstd_threads;
  return w;
}

bool RunOptions::progress() const { return !quiet && isatty(2); }

void add_io_options(CLI::App& app, IoOptions& o, bool with_output) {
  app.add_option("inputs", o.inputs,
                 "Input record files, plain or zstd JSONL (auto-detected); '-' or none reads stdin")
      ->type_name("FILE");
  if (with_output) {
    app.add_option("-o,--output", o.output, "Write records to FILE instead of stdout")
        ->type_name("FILE")->capture_default_str()->group("Input/output");
    app.add_flag("--plain", o.plain,
                 "Write plain JSONL (default: zstd, or plain when stdout is a terminal or FILE ends in .jsonl)")
        ->group("Input/output");
    app.add_flag("--zstd", o.zstd, "Write zstd even to a terminal")->group("Input/output")
        ->excludes("--plain");
    app.add_option("--level", o.level, "zstd compression level")
        ->check(CLI::Range(-7, 22))->capture_default_str()->group("Input/output");
    app.add_option("--zstd-threads", o.zstd_threads, "zstd worker threads (0: compress in the calling thread; 1 or more: in background threads)")
        ->check(CLI::Range(0, 256))->capture_default_str()->group("Input/output");
  }
  app.add_option("--on-error", o.on_error,
                 "What to do with an input line that is not a valid record: fail (stop with an error) or skip (count it, write it to --rejects)")
      ->check(CLI::IsMember({"fail", "skip"}))->capture_default_str()->group("Input/output");
  app.add_option("--rejects", o.rejects, "With --on-error skip: write bad lines verbatim to FILE")
      ->type_name("FILE")->group("Input/output");
  app.add_option("--shard", o.shard,
                 "Process only shard K of N (0 <= K < N), chosen by a hash of the record id, so N machines can split a job")
      ->type_name("K/N")->group("Input/output");
}

void add_run_options(CLI::App& app, RunOptions& o, bool with_threads) {
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str()->group("Run");
  if (with_threads)
    app.add_option("--threads", o.threads, "Worker threads (0: all cores)")
        ->check(CLI::Range(0, 4096))->capture_default_str()->group("Run");
  app.add_flag("-q,--quiet", o.quiet, "No progress on stderr (progress is also off when stderr is not a terminal)")
      ->group("Run");
}

void add_backend_options(CLI::App& app, BackendOptions& o, const std::string& prefix) {
  const std::string g = prefix.empty() ? "Model" : "Model (" + prefix + ")";
  o.prefix = prefix;
  auto name = [&](const char* n) { return o.flag(n); };
  app.add_option(name("backend"), o.backend,
                 "local: run the model in-process with LibTorch; openai: an OpenAI-compatible server (vLLM, SGLang, llama.cpp)")
      ->check(CLI::IsMember({"local", "openai"}))->capture_default_str()->group(g);
  app.add_option(name("model"), o.model,
                 "Model: a Hugging Face directory (local) or the served model name (openai)")
      ->type_name("DIR|NAME")->group(g);
  app.add_option(name("base-url"), o.base_url, "Server URL for --backend openai, e.g. http://localhost:8000/v1")
      ->type_name("URL")->group(g);
  app.add_option(name("api-key-env"), o.api_key_env, "Environment variable holding the API key")
      ->type_name("VAR")->capture_default_str()->group(g);
  app.add_option(name("api-key-file"), o.api_key_file, "File holding the API key (never printed or recorded)")
      ->type_name("FILE")->group(g);
  app.add_option(name("concurrency"), o.concurrency, "Requests in flight (openai)")
      ->check(CLI::Range(1, 4096))->capture_default_str()->group(g);
  app.add_option(name("timeout"), o.timeout, "Seconds per request (openai)")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(g);
  app.add_option(name("max-retries"), o.max_retries, "Retries per request on 429/5xx/connection errors (openai)")
      ->check(CLI::Range(0, 100))->capture_default_str()->group(g);
  app.add_option(name("device"), o.device, "Device for the local model: cpu, cuda or cuda:N")
      ->capture_default_str()->group(g);
  app.add_option(name("dtype"), o.dtype, "Weights dtype for the local model: auto (bf16 on CUDA, f32 on CPU), f32, bf16, f16")
      ->check(CLI::IsMember({"auto", "f32", "bf16", "f16"}))->capture_default_str()->group(g);
  app.add_option(name("batch-size"), o.batch_size, "Sequences decoded together by the local engine")
      ->check(CLI::Range(1, 4096))->capture_default_str()->group(g);
  app.add_flag(name("completions"), o.completions,
               "openai: use /v1/completions with a prompt rendered here with " + name("chat-template") +
                   " instead of /v1/chat/completions")
      ->group(g);
  app.add_option(name("chat-template"), o.chat_template,
                 "With " + name("completions") + ": the chat template that renders each request (a model "
                 "directory, a tokenizer_config.json or a template file)")
      ->type_name("FILE")->group(g);
}

void add_sampling_options(CLI::App& app, SamplingParams& o) {
  const std::string g = "Sampling";
  app.add_option("--temperature", o.temperature, "Sampling temperature (0: greedy)")
      ->check(CLI::Range(0.0, 100.0))->capture_default_str()->group(g);
  app.add_option("--top-p", o.top_p, "Nucleus sampling: keep the smallest set of tokens with this total probability")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
  app.add_option("--top-k", o.top_k, "Keep only the K most likely tokens (0: off)")
      ->check(CLI::Range(0, 1 << 24))->capture_default_str()->group(g);
  app.add_option("--min-p", o.min_p, "Drop tokens less likely than min-p times the most likely one")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
  app.add_option("--max-tokens", o.max_tokens, "Most new tokens per completion")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str()->group(g);
  app.add_option("--stop", o.stop, "Stop string (repeatable); the model's end of turn always stops")
      ->allow_extra_args(false)
      ->type_name("STR")->group(g);
}

void add_spec_option(CLI::App& app, std::string& path, bool required) {
  auto* opt = app.add_option("--spec", path, "Safety spec (Markdown, see delib-spec(5))")
                  ->type_name("FILE")->group("Spec");
  if (required) opt->required();
  else opt->capture_default_str();
}

void add_profile_options(CLI::App& app, std::string& path, std::string& steps, const std::string& group,
                         const std::string& what) {
  app.add_option("--profile", path,
                 "Write a PyTorch profiler (Kineto) trace of --profile-steps (" + what +
                     ") to FILE (Chrome trace JSON, for Perfetto) and the largest entries to FILE.top.txt and stderr "
                     "(rank 0)")
      ->type_name("FILE")->group(group);
  app.add_option("--profile-steps", steps, "Steps of this run that --profile traces, A:B inclusive")
      ->type_name("A:B")->capture_default_str()->group(group);
}

}  // namespace delib::cli
