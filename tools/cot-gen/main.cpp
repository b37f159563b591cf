// cot-gen: stage 1 of deliberative alignment. For each (conversation, category) record, a
// helpful model gets the category's spec view and instructions in a system message before the
// conversation and writes reasoning that cites the spec, then an answer; K samples per record.
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "delib/backend.h"
#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/fs.h"
#include "delib/generate.h"
#include "delib/judge.h"
#include "delib/progress.h"
#include "delib/records.h"
#include "delib/spec.h"

namespace {

struct Job {
  size_t record;  // index into the records
  int sample;
};

}  // namespace

int main(int argc, char** argv) {
  delib::enable_local_backend();

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
      "--on-error skip it is left out and a later --resume retries it.\n"
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
      "cot-gen --spec spec.md --model ./qwen3-8b --samples 4 prompts.jsonl --resume gen.jsonl.zst\n";
  info.exit_codes = {{4, "the model or server failed (a request failed after all retries)"}};

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::cli::BackendOptions bopt;
  delib::cli::SamplingOptions sopt;
  std::string spec_path, instructions_path, resume;
  int samples = 1;
  bool unordered = false;
  int chunk = 4096;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        delib::cli::add_backend_options(app, bopt);
        delib::cli::add_sampling_options(app, sopt);
        delib::cli::add_spec_option(app, spec_path);
        const char* g = "Generation";
        app.add_option("--samples", samples, "Completions per record (K)")
            ->check(CLI::Range(1, 1 << 20))->capture_default_str()->group(g);
        app.add_option("--instructions", instructions_path,
                       "Replace the built-in generation instructions with the text of FILE (the spec view "
                       "is still appended after it)")
            ->type_name("FILE")->group(g);
        app.add_flag("--unordered", unordered,
                     "Write samples as they finish instead of in input order (more throughput; "
                     "--resume still works, but the file is no longer byte-identical to an ordered run)")
            ->group(g);
        app.add_option("--resume", resume,
                       "Continue into FILE: cut it to its last complete record, skip the (id, sample) "
                       "pairs it holds, and append the rest (FILE is the output; -o may only name it too)")
            ->type_name("FILE")->group(g);
        app.add_option("--chunk", chunk,
                       "Samples handed to the backend at once (bounds memory; larger keeps more "
                       "requests in flight at chunk ends)")
            ->check(CLI::Range(1, 1 << 24))->capture_default_str()->group(g);
      },
      [&]() -> int {
        using delib::Error;
        const delib::Spec spec = delib::Spec::load(spec_path);
        const std::string instructions = instructions_path.empty()
                                             ? delib::default_generation_instructions()
                                             : delib::read_text_file(instructions_path, "--instructions");
        delib::WriteOptions wopt = io.write_options();
        wopt.flush_each = true;  // a kill -9 loses at most the record being written
        const delib::ResumeTarget target = delib::resume_target(io.output, resume, wopt);

        bopt.threads = run.threads;
        std::unique_ptr<delib::Backend> backend = delib::make_backend(bopt);
        delib::SamplingParams params = delib::SamplingParams::from(sopt);

        // Read and validate every record first: problems surface before any compute is spent.
        delib::ReadOptions ropt = io.read_options();
        std::vector<delib::Record> records;
        std::vector<std::vector<delib::Message>> convs;
        std::vector<std::string> cats;
        std::unique_ptr<delib::RecordWriter> rejects;
        size_t skipped = 0;
        {
          delib::RecordReader reader(io.inputs, ropt);
          delib::Record r;
          while (reader.next(r)) {
            try {
              std::string cat = delib::record_category(r, spec);
              std::vector<delib::Message> conv = r.messages();
              if (conv.empty() || conv.back().role != "user")
                throw Error(r.where(), "the conversation must end with a user turn");
              r.ensure_id();
              cats.push_back(std::move(cat));
              convs.push_back(std::move(conv));
              records.push_back(std::move(r));
            } catch (const Error& e) {
              if (ropt.on_error == delib::OnError::kFail) throw;
              ++skipped;
              delib::cli::warn(fmt::format("{}: {} (skipped)", e.where().str(), e.what()));
              if (!io.rejects.empty()) {
                if (!rejects) rejects = std::make_unique<delib::RecordWriter>(
                                  io.rejects, io.write_options());
                rejects->write(r);
              }
            }
          }
          skipped += reader.skipped();
        }

        std::map<std::string, std::string> views, view_hashes;
        for (const auto& c : cats)
          if (!views.count(c)) {
            views[c] = spec.render_view(c);
            view_hashes[c] = spec.view_hash(c);
          }

        std::vector<Job> jobs;
        for (size_t i = 0; i < records.size(); ++i) {
          std::string id = records[i].id();
          for (int s = 0; s < samples; ++s)
            if (!target.done.count({id, s})) jobs.push_back({i, s});
        }

        delib::Json sampling = params.to_json();
        const std::string instructions_hash = delib::hex64(delib::hash64(instructions));
        const std::string spec_hash = spec.spec_hash();

        delib::RecordWriter writer(target.path, target.write);
        delib::OrderedWriter ordered(writer, unordered);
        delib::Progress progress("samples", int64_t(jobs.size()), run.progress());
        std::vector<int> left(records.size(), 0);
        for (const Job& j : jobs) ++left[j.record];
        size_t records_total = 0, records_done = 0;
        for (int n : left) records_total += n > 0;
        int64_t tokens = 0;
        auto t0 = std::chrono::steady_clock::now();
        std::string first_error;
        size_t failed = 0;

        for (size_t begin = 0; begin < jobs.size() && !delib::interrupted(); begin += chunk) {
          size_t end = std::min(jobs.size(), begin + size_t(chunk));
          std::vector<delib::GenRequest> requests;
          requests.reserve(end - begin);
          for (size_t q = begin; q < end; ++q) {
            const Job& j = jobs[q];
            delib::GenRequest g;
            g.messages = delib::build_generation_messages(views[cats[j.record]], instructions,
                                                          convs[j.record]);
            g.params = params;
            g.seed = run.seed;
            g.key = records[j.record].id();
            g.sample = j.sample;
            requests.push_back(std::move(g));
          }
          backend->generate(requests, [&](size_t q, delib::GenResult res) {
            const size_t seq = begin + q;
            const Job& j = jobs[seq];
            tokens += res.completion_tokens;
            if (!res.error.empty()) {
              ++failed;
              std::string msg = fmt::format("{}: id {} sample {}: {}",
                                            records[j.record].where().str(),
                                            records[j.record].id(), j.sample, res.error);
              if (io.on_error == "skip") {
                delib::cli::warn(msg + " (left out; --resume retries it)");
                ordered.put(seq, std::nullopt);
              } else {
                if (first_error.empty()) first_error = msg;
                ordered.stop(seq);
                ordered.put(seq, std::nullopt);
              }
            } else {
              delib::Record out = records[j.record];
              out.set("reasoning", res.reasoning);
              out.set("answer", res.answer);
              out.set("sample", j.sample);
              out.set("format_ok", res.format_ok && !res.reasoning.empty() && !res.answer.empty());
              delib::Json prov = delib::Json::object();
              prov.set("backend", backend->name());
              prov.set("model", bopt.model);
              prov.set("spec_view_hash", view_hashes[cats[j.record]]);
              prov.set("spec_hash", spec_hash);
              prov.set("instructions_hash", instructions_hash);
              prov.set("seed", run.seed);
              prov.set("sampling", sampling);
              prov.set("tool", "cot-gen");
              prov.set("version", DELIB_VERSION);
              out.set("provenance", std::move(prov));
              ordered.put(seq, std::move(out));
            }
            if (--left[j.record] == 0) ++records_done;
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            progress.add(1, fmt::format("{}/{} records, {:.0f} tok/s", records_done, records_total,
                                        secs > 0 ? double(tokens) / secs : 0.0));
          });
          if (!first_error.empty()) break;
        }
        progress.finish();
        writer.close();
        if (rejects) rejects->close();
        if (skipped)
          delib::cli::warn(fmt::format("{} input record(s) skipped", skipped));
        if (!first_error.empty())
          throw Error(first_error + (failed > 1 ? fmt::format(" ({} failed)", failed) : ""),
                      delib::kExitBackend);
        if (failed)
          delib::cli::warn(fmt::format("{} sample(s) failed and were left out", failed));
        return delib::kExitOk;
      });
}
