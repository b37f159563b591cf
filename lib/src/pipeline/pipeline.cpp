// The keyed-job driver (delib/pipeline.h): --resume targets, record intake with --on-error
// routing, in-order writing of results that finish out of order, and the chunked run loop.
#include "delib/pipeline.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "delib/error.h"

namespace delib {

DoneKeys read_done_keys(const std::string& path) {
  DoneKeys keys;
  if (path.empty()) return keys;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    return keys;
  }
  RecordReader reader({path});
  Record r;
  while (reader.next(r)) {
    if (!r.has("id")) continue;
    int64_t sample = r.get_int("sample").value_or(0);
    keys.emplace(r.id(), sample);
  }
  return keys;
}

std::optional<Compression> existing_compression(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::nullopt;
  unsigned char magic[4];
  size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  if (n == 0) return std::nullopt;
  bool zstd = is_zstd(std::string_view(reinterpret_cast<const char*>(magic), n));
  return zstd ? Compression::kZstd : Compression::kPlain;
}

ResumeTarget resume_target(const std::string& output, const std::string& resume, WriteOptions write) {
  write.flush_each = true;
  ResumeTarget t{output, write, {}, false};
  if (resume.empty()) return t;
  if (output != "-" && output != resume)
    throw Error("--resume FILE is the output; -o must be omitted or name the same file", kExitUsage);
  t.path = resume;
  t.resumed = true;
  truncate_to_complete(resume);
  t.done = read_done_keys(resume);
  t.write.append = true;
  if (auto c = existing_compression(resume)) t.write.compression = *c;
  return t;
}

WriteOptions resume_also(ResumeTarget& target, const std::string& path, WriteOptions write) {
  write.flush_each = true;
  if (!target.resumed || path.empty()) return write;
  truncate_to_complete(path);
  DoneKeys more = read_done_keys(path);
  target.done.insert(more.begin(), more.end());
  write.append = true;
  if (auto c = existing_compression(path)) write.compression = *c;
  return write;
}

size_t read_records(const std::vector<std::string>& inputs, const ReadOptions& read,
                    const std::function<void(Record&)>& accept, WriteOptions rejects_write) {
  std::vector<Record> refused;
  size_t skipped = 0;
  {
    RecordReader reader(inputs, read);
    Record r;
    while (reader.next(r)) {
      try {
        accept(r);
      } catch (const Error& e) {
        if (read.on_error == OnError::kFail) throw;
        warn(fmt::format("{}: {} (skipped)", e.where().str(), e.what()));
        if (!read.rejects_path.empty()) refused.push_back(std::move(r));
        ++skipped;
      }
    }
    skipped += reader.skipped();
  }  // the reader has closed its rejects file
  if (!refused.empty()) {
    rejects_write.append = true;
    if (auto c = existing_compression(read.rejects_path)) rejects_write.compression = *c;
    RecordWriter rejects(read.rejects_path, rejects_write);
    for (const Record& r : refused) rejects.write(r);
    rejects.close();
  }
  return skipped;
}

void LazyRecordWriter::write(const Record& r) {
  if (path_.empty()) return;
  if (!writer_) writer_ = std::make_unique<RecordWriter>(path_, options_);
  writer_->write(r);
}

void LazyRecordWriter::close() {
  if (writer_) writer_->close();
}

void OrderedWriter::put(size_t seq, std::optional<Record> record) {
  if (unordered_) {
    if (record) {
      writer_.write(*record);
      ++written_;
    }
    return;
  }
  pending_.emplace(seq, std::move(record));
  drain();
}

void OrderedWriter::stop(size_t seq) {
  if (seq < stop_) stop_ = seq;
}

void OrderedWriter::drain() {
  while (!pending_.empty() && pending_.begin()->first == next_ && next_ < stop_) {
    auto node = pending_.extract(pending_.begin());
    if (node.mapped()) {
      writer_.write(*node.mapped());
      ++written_;
    }
    ++next_;
  }
}

namespace {
// Checked before the output is opened: a usage error creates no file.
KeyedRunOptions checked(KeyedRunOptions o) {
  if (o.chunk < 1) throw Error("the chunk size must be at least 1", kExitUsage);
  return o;
}
}  // namespace

KeyedRun::KeyedRun(const ResumeTarget& target, KeyedRunOptions options)
    : options_(checked(options)), writer_(target.path, target.write), ordered_(writer_, options.unordered) {}

void KeyedRun::run(size_t jobs, const std::function<void(size_t, size_t)>& run_chunk) {
  for (size_t begin = 0; begin < jobs && !interrupted(); begin += options_.chunk) {
    run_chunk(begin, std::min(jobs, begin + options_.chunk));
    if (!first_error_.empty()) break;
  }
}

void KeyedRun::put(size_t seq, std::optional<Record> record) { ordered_.put(seq, std::move(record)); }

void KeyedRun::fail(size_t seq, const std::string& message) {
  ++failed_;
  if (options_.on_error == OnError::kSkip) {
    warn(message + " (left out; --resume retries it)");
  } else {
    if (first_error_.empty()) first_error_ = message;
    ordered_.stop(seq);
  }
  ordered_.put(seq, std::nullopt);
}

void KeyedRun::close() { writer_.close(); }

}  // namespace delib
