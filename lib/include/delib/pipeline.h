// The keyed-job driver of the tools that turn records into model calls (cot-gen, cot-judge):
// records in -> validated jobs -> backend calls in chunks -> one result per job, written in
// job order, with --resume (the (id, sample) keys an earlier run wrote are not done again),
// --on-error (an unusable record or a failed call either stops the run or is reported and left
// out) and --rejects. Area: pipeline (core).
//
// A tool on it (cot-gen, lib/src/judge/cot_gen.cpp, is the short example):
//
//   ResumeTarget target = resume_target(output, resume, write);  // -o / --resume, before work
//   size_t skipped = read_records(inputs, read, [&](Record& r) {
//     validate(r);                              // throw Error(r.where(), ...) when unusable
//     if (!target.done.count({r.id(), 0})) jobs.push_back(std::move(r));
//   });
//   KeyedRun run(target, {unordered, read.on_error, chunk});
//   run.run(jobs.size(), [&](size_t begin, size_t end) {   // one backend call per chunk
//     backend.generate(requests_for(begin, end), [&](size_t q, GenResult res) {
//       if (res.error.empty()) run.put(begin + q, output_record(begin + q, res));
//       else run.fail(begin + q, fmt::format("{}: id {}: {}", where, id, res.error));
//     });
//   });
//   run.close();
//   if (!run.first_error().empty()) throw Error(run.first_error(), kExitBackend);
//
// Why in order: the output of an ordered run is at every moment a prefix of the full output,
// so a run killed at any point and continued with --resume writes the same bytes as one that
// was never interrupted (with a deterministic backend).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "delib/records.h"

namespace delib {

// ---------------------------------------------------------------------------------------------
// --resume

// The (id, sample) pairs a job's output is known by.
using DoneKeys = std::set<std::pair<std::string, int64_t>>;

// (id, sample) pairs present in earlier output, for --resume. A record counts when it parses
// and has an `id`; its `sample` field (absent = 0) is the sample. Reads plain or zstd files
// after truncate_to_complete() has cut a torn last record. A missing file (or path "") is an
// empty set.
DoneKeys read_done_keys(const std::string& path);

// The compression of an existing non-empty file (zstd when it starts with the zstd magic,
// else plain); nullopt when the file is missing or empty. --resume appends in the file's own
// format whatever its name.
std::optional<Compression> existing_compression(const std::string& path);

// Where a tool that writes one record per (id, sample) writes, given -o OUTPUT and --resume
// FILE ("" = none). With FILE: cuts it back to its last complete record, collects its (id,
// sample) pairs into `done`, and appends in its own format (write.compression is replaced by
// the file's when it is not empty). Without: OUTPUT with `write` as given. Either way
// write.flush_each is set: a kill -9 loses at most the record being written, and --resume cuts
// that away. Throws Error(kExitUsage) when -o names a file other than FILE.
struct ResumeTarget {
  std::string path;       // the output file ("-" = stdout)
  WriteOptions write;     // how to open it (append set when resuming)
  DoneKeys done;          // keys not to run again
  bool resumed = false;   // --resume was given
};
ResumeTarget resume_target(const std::string& output, const std::string& resume, WriteOptions write);

// How to write a second output of a keyed run (cot-judge's --rejects, where a run puts the
// records it filtered out): `write` with flush_each set (as resume_target), and, when
// target.resumed and path is not "", continued rather than replaced: cuts `path` back to its
// last complete record, adds its (id, sample) pairs to target.done, and sets append and the
// file's own compression (when it is not empty).
WriteOptions resume_also(ResumeTarget& target, const std::string& path, WriteOptions write);

// ---------------------------------------------------------------------------------------------
// Records in

// Reads every record of `inputs` (a RecordReader with `read`: lines that do not parse are
// handled there) and hands each to `accept`, which validates it and keeps what it needs (it
// may move from the record once it cannot throw any more), or leaves it out by returning, or
// throws Error (naming the record's location) when the record is unusable.
//  - read.on_error kFail: that Error propagates; nothing has been sent to a model yet.
//  - kSkip: it is reported on stderr as "FILE:LINE: message (skipped)", counted, and the
//    record goes to read.rejects_path when set. RecordReader puts the lines that did not parse
//    there (plain); the refused records are appended after them once reading is done, in the
//    file's own format, or with `rejects_write` when the reader left the file empty. Both kinds
//    end up in the one file (a second writer on the path would truncate the first's lines).
// Returns the records skipped: lines that did not parse plus records accept() refused.
size_t read_records(const std::vector<std::string>& inputs, const ReadOptions& read,
                    const std::function<void(Record&)>& accept, WriteOptions rejects_write = {});

// ---------------------------------------------------------------------------------------------
// Results out

// A record file opened on its first write, so that a run with nothing to put there creates
// (or truncates) nothing. Path "" discards every record.
class LazyRecordWriter {
 public:
  LazyRecordWriter(std::string path, WriteOptions options)
      : path_(std::move(path)), options_(options) {}
  void write(const Record& r);
  // Ends the file when one was opened (Error(kExitIo) on write errors). Idempotent.
  void close();
  size_t written() const { return writer_ ? writer_->written() : 0; }

 private:
  std::string path_;
  WriteOptions options_;
  std::unique_ptr<RecordWriter> writer_;
};

// Writes results that finish in any order either in sequence order (default: the output is
// then always a prefix of the full output, which is what makes --resume byte-exact) or as they
// come (unordered). Sequence numbers are 0, 1, 2, ... with no gaps; each is put() once.
class OrderedWriter {
 public:
  // REQUIRES: writer outlives this.
  OrderedWriter(RecordWriter& writer, bool unordered) : writer_(writer), unordered_(unordered) {}
  // Hands over the result for `seq`: a record to write, or nullopt when nothing is written
  // for it (a skipped sample). Writes every result that is now next in order.
  void put(size_t seq, std::optional<Record> record);
  // After stop(seq): nothing at or after seq is written (ordered mode), so a failure leaves a
  // clean prefix behind. Unordered mode writes what has finished regardless.
  void stop(size_t seq);
  size_t written() const { return written_; }
  size_t pending() const { return pending_.size(); }

 private:
  RecordWriter& writer_;
  bool unordered_;
  size_t next_ = 0, written_ = 0, stop_ = SIZE_MAX;
  std::map<size_t, std::optional<Record>> pending_;
  void drain();
};

// ---------------------------------------------------------------------------------------------
// The driver

struct KeyedRunOptions {
  // Write results as they finish instead of in job order (--unordered). Default: false.
  bool unordered = false;
  // A failed job (a backend call that failed after its retries), --on-error:
  //   kFail: the run stops after the chunk it happened in; nothing at or after the first failed
  //     job is written, so the output is a clean prefix for --resume.
  //   kSkip: reported on stderr as "MESSAGE (left out; --resume retries it)", counted, nothing
  //     written for it; the run goes on. Default: kFail.
  OnError on_error = OnError::kFail;
  // Jobs handed to the backend at once (--chunk): bounds memory; larger keeps more requests in
  // flight at chunk ends. Must be >= 1. Default: 4096.
  size_t chunk = 4096;
};

// Runs jobs 0..n-1 in chunks and writes their results (KeyedRunOptions says how).
class KeyedRun {
 public:
  // Opens target.path with target.write; throws Error(kExitIo) when it cannot be created, and
  // Error(kExitUsage), before opening anything, when options.chunk is 0.
  KeyedRun(const ResumeTarget& target, KeyedRunOptions options);

  // Calls run_chunk(begin, end) for consecutive job ranges of at most `chunk` jobs, until every
  // job has run, interrupted() is set, or a failure under kFail stopped the run. run_chunk
  // reports each job in [begin, end) once, with put() or fail(), from its own thread (never
  // concurrently); jobs that an interrupt left unfinished need no report.
  void run(size_t jobs, const std::function<void(size_t begin, size_t end)>& run_chunk);
  // Job `seq` is done: `record` is written in its place (nullopt: nothing to write for it).
  void put(size_t seq, std::optional<Record> record);
  // Job `seq` failed; `message` says where and why ("FILE:LINE: id X: error"). See on_error.
  void fail(size_t seq, const std::string& message);
  // Ends the output file (Error(kExitIo) on write errors, BrokenPipe on EPIPE). Call once,
  // after run().
  void close();

  size_t failed() const { return failed_; }   // fail() calls
  size_t written() const { return ordered_.written(); }
  // The first failure under kFail, "" when none: the run stopped there, and the caller reports
  // it (cot-gen and cot-judge exit 4).
  const std::string& first_error() const { return first_error_; }

 private:
  KeyedRunOptions options_;
  RecordWriter writer_;
  OrderedWriter ordered_;
  size_t failed_ = 0;
  std::string first_error_;
};

}  // namespace delib
