// tokenize: add token ids / counts to records, or decode ids back to text.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/progress.h"
#include "delib/records.h"
#include "delib/tokenizer.h"

namespace {

struct Options {
  std::string tokenizer;
  std::string field;
  std::string ids_field = "ids";
  std::string template_file, format;
  bool ids = false, count = false, decode = false, parse_special = false, skip_special = false;
  bool stats = false;
  int batch = 512;
};

// One record in flight.
struct Item {
  delib::Record rec;
  std::string text;                                 // encode: the text to tokenize
  std::vector<std::pair<size_t, size_t>> literal;   // encode: guarded byte ranges (chat content)
  bool chat = false;
  std::vector<int32_t> ids;                         // encode: result; decode: input
  std::string error;                                // set when this record failed
};

// Byte ranges of `rendered` that hold message text containing special-token text, so that
// encode_guarded keeps that text literal. Throws when such text cannot be located (the
// template changed it): failing closed is the only safe answer there.
std::vector<std::pair<size_t, size_t>> guard_ranges(const delib::Rendered& rendered,
                                                    const std::vector<delib::Message>& msgs,
                                                    const std::vector<std::string>& specials,
                                                    const delib::Location& where) {
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& span : rendered.spans) {
    if (span.message_index >= msgs.size()) continue;
    const auto& m = msgs[span.message_index];
    for (const std::string* part : {&m.content, &m.reasoning, &m.name}) {
      if (part->empty()) continue;
      const std::string* hit = nullptr;
      for (auto& s : specials) {
        if (part->find(s) != std::string::npos) {
          hit = &s;
          break;
        }
      }
      if (!hit) continue;
      std::string_view region(rendered.text.data() + span.begin, span.end - span.begin);
      size_t pos = region.find(*part);
      if (pos == std::string_view::npos) {
        throw delib::Error(where, fmt::format("message {} contains special-token text '{}' that the chat template "
                                              "rewrote, so it cannot be kept literal; remove it or pass "
                                              "--parse-special to tokenize as transformers does",
                                              span.message_index, *hit));
      }
      out.emplace_back(span.begin + pos, span.begin + pos + part->size());
    }
  }
  return out;
}

// Nearest-rank percentile of sorted `v` (REQUIRES: non-empty).
int64_t percentile(const std::vector<int64_t>& v, double p) {
  size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "tokenize";
  info.summary = "add token ids and counts to records with a Hugging Face tokenizer, or decode ids";
  info.description =
      "tokenize encodes one text per record with the model's own tokenizer.json and adds the ids "
      "(field `ids`) and/or their number (field `n_tokens`). The ids are exactly those of Hugging "
      "Face tokenizers `encode(text, add_special_tokens=False)` (BPE, byte-level or sentencepiece "
      "style).\n"
      "\n"
      "The text is the field named by --field, or by default the conversation (`messages`, or a "
      "bare `prompt`) rendered with the model's chat template, as transformers' apply_chat_template "
      "renders it without a generation prompt.\n"
      "\n"
      "Special tokens: by default special-token text in a --field text (e.g. a user writing "
      "<|im_end|>) is tokenized as ordinary text, so data cannot inject control tokens; in a rendered "
      "chat the template's own markup is parsed and the messages' text is kept literal. "
      "--parse-special matches special tokens everywhere, as transformers does by default.\n"
      "\n"
      "--decode does the reverse: it reads the ids field and writes the decoded text into --field "
      "(default `text`), like tokenizers' decode(ids, skip_special_tokens).\n"
      "\n"
      "--stats prints the number of records and tokens and the token-count percentiles p50, p90, "
      "p99 and max to stdout (nearest rank) instead of the records; with -o the records are written "
      "too.";
  info.examples =
      "# token ids and counts of the rendered chats\n"
      "tokenize --tokenizer models/Qwen3-8B data.jsonl.zst -o tok.jsonl.zst\n"
      "# how long are the prompts?\n"
      "tokenize --tokenizer models/Qwen3-8B --field prompt --stats data.jsonl.zst\n"
      "# decode ids back to text\n"
      "tokenize --tokenizer tokenizer.json --decode tok.jsonl.zst --plain | less\n";
  info.see_also = "delib-records(5), chat-render(1)";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  Options o;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        const char* g = "Tokenizer";
        app.add_option("--tokenizer", o.tokenizer,
                       "Model directory (tokenizer.json or tokenizer.json.zst, tokenizer_config.json) or a "
                       "tokenizer.json file (plain or zstd)")
            ->type_name("PATH")->required()->group(g);
        app.add_option("--field", o.field,
                       "Text field to encode (dotted path). Default: the rendered chat of `messages`; with "
                       "--decode, the field written (default `text`)")
            ->type_name("F")->group(g);
        app.add_flag("--ids", o.ids, "Add the token ids as field `ids` (default when neither --ids nor --count)")->group(g);
        app.add_flag("--count", o.count, "Add the number of tokens as field `n_tokens`")->group(g);
        app.add_option("--template", o.template_file,
                       "Chat template for the default text (Jinja file or tokenizer_config.json). Default: the "
                       "model's (tokenizer_config.json `chat_template`, else chat_template.jinja)")
            ->type_name("FILE")->group(g);
        app.add_option("--format", o.format,
                       "Use a known chat template by name for the default text: qwen3, llama3, llama3.1, "
                       "llama3.2, llama3.3, gpt-oss, chatml (for model files without one)")
            ->type_name("NAME")->group(g)->excludes("--template");
        app.add_option("--ids-field", o.ids_field, "Name of the ids field written by --ids and read by --decode")
            ->capture_default_str()->type_name("NAME")->group(g);
        app.add_flag("--decode", o.decode, "Decode the ids field into text instead of encoding")->group(g)
            ->excludes("--count")->excludes("--ids");
        app.add_flag("--parse-special", o.parse_special,
                     "Match special-token text (e.g. <|im_end|>) everywhere, as transformers does by default "
                     "(default: only in the chat template's own markup)")->group(g);
        app.add_flag("--skip-special", o.skip_special, "With --decode: leave special tokens out of the text")->group(g);
        app.add_flag("--stats", o.stats,
                     "Print records, tokens and token-count percentiles (p50/p90/p99/max) to stdout; records "
                     "are written only with -o")->group(g)->excludes("--decode");
        app.add_option("--batch", o.batch, "Records encoded in parallel per batch")->capture_default_str()
            ->type_name("N")->group(g)->check(CLI::PositiveNumber);
      },
      [&]() -> int {
        auto tok = delib::Tokenizer::load(o.tokenizer);
        if (!o.ids && !o.count) o.ids = o.count = true;
        const bool chat_mode = !o.decode && o.field.empty();
        if (o.decode && o.field.empty()) o.field = "text";
        std::unique_ptr<delib::ChatTemplate> chat;
        if (chat_mode) {
          delib::ChatOptions copt;
          if (auto bos = tok->bos_id()) copt.bos_token = tok->id_to_token(*bos);
          std::error_code ec;
          if (!o.format.empty()) chat = delib::ChatTemplate::from_variant(o.format, copt);
          else if (!o.template_file.empty()) chat = delib::ChatTemplate::from_path(o.template_file, copt);
          else if (std::filesystem::is_directory(o.tokenizer, ec)) chat = delib::ChatTemplate::from_path(o.tokenizer);
          else chat = delib::ChatTemplate::for_tokenizer(*tok);
        }
        const bool skip_bad = io.on_error == "skip";
        delib::RecordReader reader(io.inputs, io.read_options());
        std::unique_ptr<delib::RecordWriter> writer;
        if (!o.stats || io.output != "-") writer = std::make_unique<delib::RecordWriter>(io.output, io.write_options());
        std::vector<int64_t> counts;
        size_t failed = 0;
        int threads = run.threads > 0 ? run.threads : int(std::max(1u, std::thread::hardware_concurrency()));
        delib::Progress progress("records", -1, run.progress());

        // Stage 1 (this thread): pull the text or ids out of each record.
        auto prepare = [&](Item& it) {
          if (o.decode) {
            // The raw JSON text, parsed here: ids arrays are long and only integers matter.
            std::optional<std::string> raw = it.rec.raw(o.ids_field);
            if (!raw) {
              auto v = it.rec.path(o.ids_field);
              if (v) raw = v->dump();
            }
            simdjson::dom::array arr;
            thread_local simdjson::dom::parser parser;
            if (!raw || parser.parse(*raw).get(arr)) {
              throw delib::Error(it.rec.where(), "field '" + o.ids_field + "': expected an array of ids");
            }
            for (simdjson::dom::element x : arr) {
              int64_t id;
              if (x.get(id) || id < INT32_MIN || id > INT32_MAX) {
                throw delib::Error(it.rec.where(), "field '" + o.ids_field + "': expected integer ids");
              }
              it.ids.push_back(int32_t(id));
            }
          } else if (chat_mode) {
            auto msgs = it.rec.messages();
            auto rendered = chat->render(msgs, false);
            if (!o.parse_special) it.literal = guard_ranges(rendered, msgs, tok->special_tokens(), it.rec.where());
            it.text = std::move(rendered.text);
            it.chat = true;
          } else {
            auto v = it.rec.path(o.field);
            if (!v || !v->is_string()) throw delib::Error(it.rec.where(), "field '" + o.field + "': expected a string");
            it.text = v->as_string();
          }
        };
        // Stage 2 (worker threads): the tokenizer work.
        auto work = [&](Item& it) {
          if (!it.error.empty()) return;
          try {
            if (o.decode) {
              it.text = tok->decode(it.ids, o.skip_special);
            } else if (it.chat && !o.parse_special) {
              it.ids = tok->encode_guarded(it.text, it.literal);
            } else {
              it.ids = tok->encode(it.text, o.parse_special);
            }
          } catch (const delib::Error& e) {
            it.error = e.where().file.empty() ? delib::Error(it.rec.where(), e.what()).str() : e.str();
          }
        };

        std::vector<Item> batch;
        bool done = false;
        while (!done) {
          batch.clear();
          delib::Record r;
          while (batch.size() < size_t(o.batch)) {
            if (!reader.next(r)) {
              done = true;
              break;
            }
            Item it;
            it.rec = std::move(r);
            try {
              prepare(it);
            } catch (const delib::Error& e) {
              it.error = e.str();
            }
            batch.push_back(std::move(it));
          }
          size_t nthreads = std::min<size_t>(size_t(threads), batch.size());
          std::atomic<size_t> next{0};
          auto loop = [&] {
            for (size_t i; (i = next.fetch_add(1)) < batch.size();) work(batch[i]);
          };
          std::vector<std::thread> pool;
          for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(loop);
          loop();
          for (auto& t : pool) t.join();

          for (auto& it : batch) {
            if (!it.error.empty()) {
              if (!skip_bad) throw delib::Error(it.error);
              ++failed;
              continue;
            }
            if (o.decode) {
              it.rec.set(o.field, delib::Json(std::move(it.text)));
            } else {
              if (o.ids) {
                delib::Json arr = delib::Json::array();
                arr.as_array().reserve(it.ids.size());
                for (int32_t id : it.ids) arr.push(delib::Json(id));
                it.rec.set(o.ids_field, std::move(arr));
              }
              if (o.count) it.rec.set("n_tokens", delib::Json(int64_t(it.ids.size())));
              counts.push_back(int64_t(it.ids.size()));
            }
            if (writer) writer->write(it.rec);
          }
          progress.add(int64_t(batch.size()));
          if (delib::interrupted()) break;
        }
        progress.finish();
        if (writer) writer->close();
        if (o.stats) {
          std::sort(counts.begin(), counts.end());
          int64_t total = 0;
          for (auto c : counts) total += c;
          fmt::print("records\t{}\ntokens\t{}\n", counts.size(), total);
          if (!counts.empty()) {
            fmt::print("p50\t{}\np90\t{}\np99\t{}\nmax\t{}\n", percentile(counts, 50), percentile(counts, 90),
                       percentile(counts, 99), counts.back());
          }
        }
        if (failed + reader.skipped() > 0) {
          delib::cli::warn(fmt::format("skipped {} bad record(s)", failed + reader.skipped()));
        }
        if (delib::interrupted()) return 128 + delib::interrupted();
        return delib::kExitOk;
      });
}
