// cot-gen (stage 1, Guan et al. 2024 section 2.2) on the keyed-job driver: records -> one
// generation request per (record, sample) -> one output record per sample, in input order.
#include <map>

#include <fmt/format.h>

#include "delib/failures.h"
#include "delib/fs.h"
#include "delib/judge.h"
#include "delib/progress.h"

namespace delib {
namespace {

// One validated input record.
struct GenInput {
  Record record;
  std::string id;
  std::string category;
  std::vector<Message> conversation;
};

// One sample to generate.
struct GenJob {
  size_t input;  // index into the inputs
  int sample;
};

class CotGen {
 public:
  explicit CotGen(const CotGenOptions& o)
      : o_(o),
        spec_(Spec::load(o.spec_path)),
        instructions_(o.instructions_path.empty()
                          ? default_generation_instructions()
                          : read_text_file(o.instructions_path, "--instructions")),
        target_(resume_target(o.output, o.resume, o.write)),
        backend_(make_backend(o.backend)) {}

  CotGenResult run();

 private:
  const CotGenOptions& o_;
  const Spec spec_;
  const std::string instructions_;
  const ResumeTarget target_;
  std::unique_ptr<Backend> backend_;
  std::vector<GenInput> inputs_;
  std::vector<GenJob> jobs_;
  std::map<std::string, std::string> views_;    // category -> spec view
  std::map<std::string, Json> provenance_;      // category -> provenance object
  std::vector<int> left_;                       // per input: samples not finished yet
  size_t records_total_ = 0, records_done_ = 0;
  int64_t tokens_ = 0;

  void read_inputs(CotGenResult& result);
  void plan();
  Json provenance(const std::string& category) const;
  GenRequest request(const GenJob& j) const;
  void on_result(KeyedRun& run, Progress& progress, size_t seq, const GenResult& res);
};

// Every record is read and validated before any request: problems surface before compute.
void CotGen::read_inputs(CotGenResult& result) {
  result.skipped = read_records(o_.inputs, o_.read, [&](Record& r) {
    std::string category = record_category(r, spec_);
    std::vector<Message> conversation = r.messages();
    if (conversation.empty() || conversation.back().role != "user")
      throw Error(r.where(), "the conversation must end with a user turn");
    std::string id = r.ensure_id();
    inputs_.push_back({std::move(r), std::move(id), std::move(category), std::move(conversation)});
  }, o_.write);
}

// The jobs: every (record, sample) the --resume file does not hold; one view per category.
void CotGen::plan() {
  left_.assign(inputs_.size(), 0);
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const std::string& cat = inputs_[i].category;
    if (!views_.count(cat)) {
      views_[cat] = spec_.render_view(cat);
      provenance_[cat] = provenance(cat);
    }
    for (int s = 0; s < o_.samples; ++s)
      if (!target_.done.count({inputs_[i].id, s})) {
        jobs_.push_back({i, s});
        ++left_[i];
      }
    records_total_ += left_[i] > 0;
  }
}

Json CotGen::provenance(const std::string& category) const {
  Json prov = Json::object();
  prov.set("backend", backend_->name());
  prov.set("model", o_.backend.model);
  prov.set("spec_view_hash", spec_.view_hash(category));
  prov.set("spec_hash", spec_.spec_hash());
  prov.set("instructions_hash", hex64(hash64(instructions_)));
  prov.set("seed", o_.seed);
  prov.set("sampling", o_.sampling.to_json());
  prov.set("tool", "cot-gen");
  prov.set("version", DELIB_VERSION);
  return prov;
}

GenRequest CotGen::request(const GenJob& j) const {
  const GenInput& in = inputs_[j.input];
  GenRequest g;
  g.messages = build_generation_messages(views_.at(in.category), instructions_, in.conversation);
  g.params = o_.sampling;
  g.seed = o_.seed;
  g.key = in.id;
  g.sample = j.sample;
  return g;
}

void CotGen::on_result(KeyedRun& run, Progress& progress, size_t seq, const GenResult& res) {
  const GenJob& j = jobs_[seq];
  const GenInput& in = inputs_[j.input];
  tokens_ += res.completion_tokens;
  if (!res.error.empty()) {
    run.fail(seq, fmt::format("{}: id {} sample {}: {}", in.record.where().str(), in.id, j.sample,
                              res.error));
  } else {
    Record out = in.record;
    out.set("reasoning", res.reasoning);
    out.set("answer", res.answer);
    out.set("sample", j.sample);
    out.set("format_ok", res.format_ok && !res.reasoning.empty() && !res.answer.empty());
    out.set("provenance", provenance_.at(in.category));
    run.put(seq, std::move(out));
  }
  if (--left_[j.input] == 0) ++records_done_;
  double secs = progress.elapsed_seconds();
  progress.add(1, fmt::format("{}/{} records, {:.0f} tok/s", records_done_, records_total_,
                              secs > 0 ? double(tokens_) / secs : 0.0));
}

CotGenResult CotGen::run() {
  CotGenResult result;
  read_inputs(result);
  plan();
  KeyedRun run(target_, {o_.unordered, o_.read.on_error, size_t(o_.chunk)});
  Progress progress("samples", int64_t(jobs_.size()), o_.progress);
  run.run(jobs_.size(), [&](size_t begin, size_t end) {
    std::vector<GenRequest> requests;
    requests.reserve(end - begin);
    for (size_t q = begin; q < end; ++q) requests.push_back(request(jobs_[q]));
    backend_->generate(requests, [&](size_t q, GenResult res) {
      on_result(run, progress, begin + q, res);
    });
  });
  progress.finish();
  run.close();
  result.written = run.written();
  result.failed = run.failed();
  if (result.skipped) warn(fmt::format("{} input record(s) skipped", result.skipped));
  if (!run.first_error().empty())
    throw Error(run.first_error() +
                    (result.failed > 1 ? fmt::format(" ({} failed)", result.failed) : ""),
                kExitBackend);
  const auto attempted = int64_t(jobs_.size());
  const std::string msg = fmt::format("{} of {} sample(s) failed and were left out (--resume retries them)",
                                      result.failed, attempted);
  FailureMessages say;
  say.over = fmt::format("{}: more than --max-failures {} allows", msg, o_.max_failures.str());
  say.all_failed = say.over + "; no sample got a result";
  say.within = fmt::format("{} (within --max-failures {})", msg, o_.max_failures.str());
  enforce_failure_budget(int64_t(result.failed), attempted, o_.max_failures, say);
  return result;
}

}  // namespace

CotGenResult run_cot_gen(const CotGenOptions& options) { return CotGen(options).run(); }

}  // namespace delib
