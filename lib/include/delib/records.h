// The record stream: one JSON object per line, plain or zstd-compressed (see delib-records(5)).
//
// Every tool reads records with RecordReader and writes them with RecordWriter. A Record keeps
// the original line: fields a tool does not touch are written back byte for byte (order and
// number formatting preserved); set() replaces a field in place or appends a new one.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "delib/error.h"
#include "delib/json.h"

namespace delib {

// One chat turn (OpenAI chat format). `reasoning` is an assistant's chain of thought when the
// record carries one (field `reasoning`, or `reasoning_content` as vLLM writes it).
struct Message {
  std::string role;     // system | user | assistant | tool | developer
  std::string content;
  std::string reasoning;
  std::string name;     // optional (tool name)
};

class Record {
 public:
  Record() = default;
  Record(Record&&) noexcept = default;
  Record& operator=(Record&&) noexcept = default;
  Record(const Record& other);
  Record& operator=(const Record& other);

  // Parses one line (without its '\n'). Throws Error(where, ...) when the line is not valid
  // UTF-8 JSON or not an object.
  static Record parse(std::string_view line, Location where = {});
  // A record from a Json object (REQUIRES: obj.is_object()).
  static Record from_json(const Json& obj, Location where = {});

  const Location& where() const { return where_; }

  // Top-level fields, including edits. Returns nullopt when absent.
  bool has(std::string_view key) const;
  std::optional<Json> get(std::string_view key) const;
  // Dotted path into nested objects (`judge.score`); array elements by index (`messages.0.role`).
  std::optional<Json> path(std::string_view dotted) const;
  // Typed shortcuts: nullopt when absent; throw Error(where, "field 'k': expected a string")
  // when present with the wrong type.
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<double> get_number(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  // Raw JSON text of a top-level field as it appears in the output.
  std::optional<std::string> raw(std::string_view key) const;
  // Names of the top-level fields in output order.
  std::vector<std::string> keys() const;

  // Replaces (in place) or appends a top-level field.
  void set(std::string_view key, Json value);
  void erase(std::string_view key);

  // The record's id: the `id` field (a string, or a number's text), or when absent an id
  // derived from the content: 16 hex digits of XXH3-64 over the line. Stable across runs.
  std::string id() const;
  // Writes the derived id into the record when it has none; returns the id.
  std::string ensure_id();

  // The conversation: `messages`, or a bare `prompt` string as one user turn. Throws
  // Error(where, ...) naming the field when neither is present or they are malformed.
  std::vector<Message> messages() const;

  // Serialises to one line of JSON (no '\n'). Untouched records are returned verbatim.
  std::string to_json() const;
  void append_json(std::string& out) const;

 private:
  struct Field {
    std::string key;       // unescaped key
    std::string raw_key;   // key as written (quoted), for verbatim output
    std::string raw;       // value text verbatim (when !edited)
    Json value;            // value (when edited)
    bool edited = false;
  };
  std::string line_;
  std::vector<Field> fields_;
  bool dirty_ = false;
  Location where_;
  const Field* find(std::string_view key) const;
};

// Json for a list of messages, in the OpenAI chat format.
Json messages_to_json(const std::vector<Message>& messages);

// Deterministic subset: record belongs to shard k of n (0 <= k < n) when
// XXH3-64(id) % n == k.
struct Shard {
  int k = 0, n = 1;
  static Shard parse(std::string_view text);  // "K/N"; throws Error(kExitUsage) when malformed
  bool contains(std::string_view id) const;
};

uint64_t hash64(std::string_view bytes);  // XXH3-64
std::string hex64(uint64_t h);           // 16 lowercase hex digits

enum class OnError { kFail, kSkip };

struct ReadOptions {
  OnError on_error = OnError::kFail;
  std::string rejects_path;             // with kSkip: bad lines go here verbatim ("" = discard)
  std::optional<Shard> shard;           // keep only records of this shard
  size_t max_line_bytes = size_t(1) << 30;
};

// ---- zstd detection and whole-file reading -------------------------------------------------
// Every reader of possibly-compressed input (LineReader, read_file_decompressed, the tokenizer's
// files, cot-judge's --resume) detects zstd with is_zstd, never with a magic check of its own.

// The four bytes every zstd frame starts with (28 B5 2F FD; 0xFD2FB528 little-endian).
inline constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

// True when `bytes` starts with kZstdMagic. Fewer than 4 bytes: false.
bool is_zstd(std::string_view bytes);

// The whole file at `path`, decompressed when it starts with kZstdMagic (any number of frames,
// as `zstd -d` accepts), else byte for byte. For small whole-file inputs (tokenizer.json, its
// configs); record streams use LineReader. Throws Error(Location{path, 0}, kExitIo) "cannot
// open: REASON" when the file cannot be read, and Error(Location{path, 0}) "corrupt zstd data:
// REASON" or "truncated zstd data" (the last frame is cut) when the zstd data is damaged.
std::string read_file_decompressed(const std::string& path);

// Bytes -> lines, with zstd auto-detected (is_zstd), multi-frame and concatenated
// streams. A truncated or corrupt zstd stream throws after every complete line before it has
// been returned. Used by RecordReader; exposed for the fuzz target and for tools that read text.
class LineReader {
 public:
  // path "-" is stdin. Throws Error(kExitIo) when the file cannot be opened.
  explicit LineReader(std::string path);
  // For tests and fuzzing: reads from memory.
  static std::unique_ptr<LineReader> from_memory(std::string bytes, std::string name = "<memory>");
  ~LineReader();
  // Next line without '\n' (a final line without '\n' counts). false at EOF.
  bool next(std::string& line);
  long line_number() const { return line_no_; }
  const std::string& path() const { return path_; }
  bool is_zstd() const;

 private:
  LineReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  long line_no_ = 0;
};

// Reads records from several inputs in order ("-" is stdin; no inputs means stdin).
class RecordReader {
 public:
  explicit RecordReader(std::vector<std::string> inputs, ReadOptions options = {});
  ~RecordReader();
  // Next record; false after the last input. Bad lines throw (kFail) or are counted and
  // written to rejects (kSkip). Empty lines are ignored.
  bool next(Record& out);
  size_t skipped() const { return skipped_; }
  // Reads everything into memory.
  std::vector<Record> read_all();

 private:
  std::vector<std::string> inputs_;
  ReadOptions options_;
  size_t input_index_ = 0;
  std::unique_ptr<LineReader> current_;
  std::unique_ptr<class RecordWriter> rejects_;
  size_t skipped_ = 0;
};

enum class Compression { kAuto, kZstd, kPlain };

struct WriteOptions {
  // kAuto: plain when the destination is a terminal or the file name ends in .jsonl/.json,
  // zstd otherwise.
  Compression compression = Compression::kAuto;
  int level = 3;          // zstd level
  int workers = 0;        // zstd worker threads (0 = single-threaded)
  bool append = false;    // append to an existing file (after truncate_to_complete)
  // Flush (and end the zstd frame) after every record, so that a kill -9 loses at most the
  // record being written. Use for slow producers (generation, training metrics).
  bool flush_each = false;
};

class RecordWriter {
 public:
  // path "-" is stdout. Throws Error(kExitIo) when the file cannot be created.
  explicit RecordWriter(std::string path, WriteOptions options = {});
  ~RecordWriter();  // close()s; never throws
  void write(const Record& r);
  void write_line(std::string_view json);  // one JSON object without '\n'
  // Makes everything written so far decodable (ends the zstd frame) and flushes the fd.
  void flush();
  // Ends the stream. Throws Error(kExitIo) on write errors, BrokenPipe on EPIPE.
  void close();
  bool zstd() const { return zstd_; }
  size_t written() const { return count_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool zstd_ = true;
  size_t count_ = 0;
};

// Cuts a file that a killed writer left behind back to its last complete record (plain: the
// last '\n'; zstd: the last complete frame, then the last complete line in it). Returns the
// number of bytes removed. Used before appending on --resume. A missing file is not an error.
size_t truncate_to_complete(const std::string& path);

// Signals: SIGINT/SIGTERM set a flag that long loops poll; SIGPIPE is ignored so that a
// write to a closed pipe returns EPIPE (-> BrokenPipe). Installed by cli::run_tool.
void install_signal_handlers();
int interrupted();  // 0, or the signal number received

}  // namespace delib
