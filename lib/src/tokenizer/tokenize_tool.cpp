// tokenize's run (delib/tokenizer.h run_tokenize): records -> ids and counts, or ids -> text,
// in batches tokenized on worker threads, with the token-count statistics.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/progress.h"
#include "delib/records.h"
#include "delib/tokenizer.h"

namespace delib {
namespace {

// One record in flight.
struct Item {
  Record rec;
  std::string text;                 // encode (--field): the text; decode: the result
  std::vector<Message> messages;    // encode (chat): the conversation
  bool chat = false;
  std::vector<int32_t> ids;         // encode: result; decode: input
  std::string error;                // set when this record failed
};

// Nearest-rank percentile of sorted `v` (REQUIRES: non-empty).
int64_t percentile(const std::vector<int64_t>& v, double p) {
  size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

std::unique_ptr<ChatTemplate> load_template(const TokenizeOptions& o, const Tokenizer& tok) {
  ChatOptions copt;
  if (auto bos = tok.bos_id()) copt.bos_token = tok.id_to_token(*bos);
  std::error_code ec;
  if (!o.format.empty()) return ChatTemplate::from_variant(o.format, copt);
  if (!o.template_file.empty()) return ChatTemplate::from_path(o.template_file, copt);
  if (std::filesystem::is_directory(o.tokenizer, ec)) return ChatTemplate::from_path(o.tokenizer);
  return ChatTemplate::for_tokenizer(tok);
}

}  // namespace

int run_tokenize(const TokenizeOptions& opts) {
  TokenizeOptions o = opts;
  auto tok = Tokenizer::load(o.tokenizer);
  if (!o.ids && !o.count) o.ids = o.count = true;
  const bool chat_mode = !o.decode && o.field.empty();
  if (o.decode && o.field.empty()) o.field = "text";
  std::unique_ptr<ChatTemplate> chat;
  if (chat_mode) chat = load_template(o, *tok);
  ChatEncodeOptions chat_options;
  chat_options.parse_special = o.parse_special;

  const bool skip_bad = o.read.on_error == OnError::kSkip;
  RecordReader reader(o.inputs, o.read);
  std::unique_ptr<RecordWriter> writer;
  if (!o.stats || o.output != "-") writer = std::make_unique<RecordWriter>(o.output, o.write);
  std::vector<int64_t> counts;
  size_t failed = 0;
  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  Progress progress("records", -1, o.progress);

  // Stage 1 (this thread): pull the text, the conversation or the ids out of each record.
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
      if (!raw || parser.parse(*raw).get(arr))
        throw Error(it.rec.where(), "field '" + o.ids_field + "': expected an array of ids");
      for (simdjson::dom::element x : arr) {
        int64_t id;
        if (x.get(id) || id < INT32_MIN || id > INT32_MAX)
          throw Error(it.rec.where(), "field '" + o.ids_field + "': expected integer ids");
        it.ids.push_back(int32_t(id));
      }
    } else if (chat_mode) {
      it.messages = it.rec.messages();
      it.chat = true;
    } else {
      auto v = it.rec.path(o.field);
      if (!v || !v->is_string()) throw Error(it.rec.where(), "field '" + o.field + "': expected a string");
      it.text = v->as_string();
    }
  };
  // Stage 2 (worker threads): the template and tokenizer work.
  auto work = [&](Item& it) {
    if (!it.error.empty()) return;
    try {
      if (o.decode) it.text = tok->decode(it.ids, o.skip_special);
      else if (it.chat) it.ids = encode_chat(*chat, *tok, it.messages, chat_options).ids;
      else it.ids = tok->encode(it.text, o.parse_special);
    } catch (const Error& e) {
      it.error = e.where().file.empty() ? Error(it.rec.where(), e.what()).str() : e.str();
    }
  };

  std::vector<Item> batch;
  bool done = false;
  while (!done) {
    batch.clear();
    Record r;
    while (batch.size() < size_t(o.batch)) {
      if (!reader.next(r)) {
        done = true;
        break;
      }
      Item it;
      it.rec = std::move(r);
      try {
        prepare(it);
      } catch (const Error& e) {
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
        if (!skip_bad) throw Error(it.error);
        ++failed;
        continue;
      }
      if (o.decode) {
        it.rec.set(o.field, Json(std::move(it.text)));
      } else {
        if (o.ids) {
          Json arr = Json::array();
          arr.as_array().reserve(it.ids.size());
          for (int32_t id : it.ids) arr.push(Json(id));
          it.rec.set(o.ids_field, std::move(arr));
        }
        if (o.count) it.rec.set("n_tokens", Json(int64_t(it.ids.size())));
        counts.push_back(int64_t(it.ids.size()));
      }
      if (writer) writer->write(it.rec);
    }
    progress.add(int64_t(batch.size()));
    if (interrupted()) break;
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
  if (failed + reader.skipped() > 0)
    fmt::print(stderr, "tokenize: warning: skipped {} bad record(s)\n", failed + reader.skipped());
  if (interrupted()) return 128 + interrupted();
  return kExitOk;
}

}  // namespace delib
