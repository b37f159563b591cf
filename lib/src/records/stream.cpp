// Reading and writing the record stream: plain or zstd JSONL, files or stdin/stdout.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "delib/fs.h"
#include "delib/records.h"

namespace delib {

// ---------------------------------------------------------------------------------------------
// Signals

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal.store(sig); }
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR so loops can stop
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int interrupted() { return g_signal.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------------
// zstd detection and whole-file reading

bool is_zstd(std::string_view bytes) {
  return bytes.size() >= sizeof kZstdMagic && std::memcmp(bytes.data(), kZstdMagic, sizeof kZstdMagic) == 0;
}

std::string read_file_decompressed(const std::string& path) {
  std::string data = read_text_file(path, "");
  if (!is_zstd(data)) return data;
  std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
  if (!ds) throw std::bad_alloc();
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  std::string out;
  std::vector<char> buf(ZSTD_DStreamOutSize());
  size_t last = 0;  // 0 once a frame is complete; the decoder's hint of bytes still needed otherwise
  for (;;) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    last = ZSTD_decompressStream(ds.get(), &o, &in);
    if (ZSTD_isError(last))
      throw Error(Location{path, 0}, std::string("corrupt zstd data: ") + ZSTD_getErrorName(last));
    out.append(buf.data(), o.pos);
    // Done when all input is consumed and the decoder did not fill the buffer (nothing held back).
    if (in.pos == in.size && o.pos < o.size) break;
  }
  if (last != 0) throw Error(Location{path, 0}, "truncated zstd data");
  return out;
}

// ---------------------------------------------------------------------------------------------
// LineReader

namespace {
constexpr size_t kReadChunk = size_t(1) << 20;
}  // namespace

struct LineReader::Impl {
  int fd = -1;
  bool own_fd = false;
  bool eof = false;          // raw input exhausted
  bool zstd = false;
  bool sniffed = false;
  std::string memory;        // from_memory source
  size_t memory_pos = 0;
  bool from_memory = false;
  ZSTD_DStream* ds = nullptr;
  size_t last_ret = 0;       // last ZSTD_decompressStream return (0 = at a frame boundary)
  bool any_frame = false;
  std::string raw;           // undecoded input bytes
  size_t raw_pos = 0;
  std::string text;          // decoded bytes not yet returned
  size_t text_pos = 0;

  ~Impl() {
    if (ds) ZSTD_freeDStream(ds);
    if (own_fd && fd >= 0) ::close(fd);
  }

  // Appends up to kReadChunk raw bytes; false at EOF.
  bool read_raw(const std::string& path) {
    if (eof) return false;
    if (raw_pos > 0 && raw_pos == raw.size()) {
      raw.clear();
      raw_pos = 0;
    }
    if (from_memory) {
      size_t n = std::min(kReadChunk, memory.size() - memory_pos);
      raw.append(memory, memory_pos, n);
      memory_pos += n;
      if (n == 0) eof = true;
      return n > 0;
    }
    size_t old = raw.size();
    raw.resize(old + kReadChunk);
    ssize_t n;
    for (;;) {
      n = ::read(fd, raw.data() + old, kReadChunk);
      if (n >= 0) break;
      if (errno == EINTR) {
        if (interrupted()) { n = 0; break; }
        continue;
      }
      raw.resize(old);
      throw Error(Location{path, 0}, fmt::format("read error: {}", std::strerror(errno)), kExitIo);
    }
    raw.resize(old + size_t(n));
    if (n == 0) eof = true;
    return n > 0;
  }
};

LineReader::LineReader(std::string path) : impl_(std::make_unique<Impl>()), path_(std::move(path)) {
  if (path_ == "-") {
    impl_->fd = 0;
  } else {
    impl_->fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (impl_->fd < 0)
      throw Error(Location{path_, 0}, fmt::format("cannot open: {}", std::strerror(errno)), kExitIo);
    impl_->own_fd = true;
    struct stat st;
    if (fstat(impl_->fd, &st) == 0 && S_ISDIR(st.st_mode))
      throw Error(Location{path_, 0}, "is a directory", kExitIo);
  }
}

std::unique_ptr<LineReader> LineReader::from_memory(std::string bytes, std::string name) {
  std::unique_ptr<LineReader> r(new LineReader());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->from_memory = true;
  r->impl_->memory = std::move(bytes);
  r->path_ = std::move(name);
  return r;
}

LineReader::~LineReader() = default;

bool LineReader::is_zstd() const { return impl_->zstd; }

bool LineReader::next(std::string& line) {
  Impl& m = *impl_;
  if (!m.sniffed) {
    while (m.raw.size() < 4 && m.read_raw(path_)) {}
    m.sniffed = true;
    m.zstd = delib::is_zstd(m.raw);  // (the member is_zstd() hides the free function)
    if (m.zstd) m.ds = ZSTD_createDStream();
  }
  for (;;) {
    // A complete line in the decoded buffer?
    const char* start = m.text.data() + m.text_pos;
    size_t avail = m.text.size() - m.text_pos;
    if (const void* nl = std::memchr(start, '\n', avail)) {
      size_t len = static_cast<const char*>(nl) - start;
      line.assign(start, len);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      m.text_pos += len + 1;
      ++line_no_;
      return true;
    }
    if (m.text_pos > 0) {  // compact
      m.text.erase(0, m.text_pos);
      m.text_pos = 0;
    }
    // Decode more.
    if (!m.zstd) {
      if (m.raw_pos < m.raw.size()) {
        m.text.append(m.raw, m.raw_pos, std::string::npos);
        m.raw_pos = m.raw.size();
        continue;
      }
      if (m.read_raw(path_)) continue;
    } else {
      if (m.raw_pos == m.raw.size() && !m.read_raw(path_)) {
        // Input exhausted: the stream must end at a frame boundary.
        if (m.last_ret != 0)
          throw Error(Location{path_, line_no_ + 1},
                      "truncated zstd stream (the input ends inside a frame)");
      } else {
        ZSTD_inBuffer in{m.raw.data(), m.raw.size(), m.raw_pos};
        size_t out_cap = ZSTD_DStreamOutSize() * 4;
        size_t old = m.text.size();
        m.text.resize(old + out_cap);
        ZSTD_outBuffer out{m.text.data() + old, out_cap, 0};
        size_t ret = ZSTD_decompressStream(m.ds, &out, &in);
        m.text.resize(old + out.pos);
        m.raw_pos = in.pos;
        if (ZSTD_isError(ret))
          throw Error(Location{path_, line_no_ + 1},
                      fmt::format("corrupt zstd stream: {}", ZSTD_getErrorName(ret)));
        m.last_ret = ret;
        m.any_frame = true;
        if (m.text.size() - m.text_pos > (size_t(1) << 30))
          throw Error(Location{path_, line_no_ + 1}, "line longer than 1 GiB");
        continue;
      }
    }
    // EOF: a last line without '\n'.
    if (m.text.size() > m.text_pos) {
      line.assign(m.text, m.text_pos, std::string::npos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      m.text.clear();
      m.text_pos = 0;
      ++line_no_;
      return true;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// RecordReader

RecordReader::RecordReader(std::vector<std::string> inputs, ReadOptions options)
    : inputs_(std::move(inputs)), options_(std::move(options)) {
  if (inputs_.empty()) inputs_.push_back("-");
  if (options_.on_error == OnError::kSkip && !options_.rejects_path.empty()) {
    WriteOptions w;
    w.compression = Compression::kPlain;
    rejects_ = std::make_unique<RecordWriter>(options_.rejects_path, w);
  }
}

RecordReader::~RecordReader() = default;

bool RecordReader::next(Record& out) {
  std::string line;
  for (;;) {
    if (interrupted()) return false;
    if (!current_) {
      if (input_index_ >= inputs_.size()) {
        if (rejects_) rejects_->close();
        return false;
      }
      current_ = std::make_unique<LineReader>(inputs_[input_index_++]);
    }
    if (!current_->next(line)) {
      current_.reset();
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Location where{current_->path(), current_->line_number()};
    if (line.size() > options_.max_line_bytes) {
      Error e(where, fmt::format("line of {} bytes exceeds the limit", line.size()));
      if (options_.on_error == OnError::kFail) throw e;
      ++skipped_;
      if (rejects_) rejects_->write_line(line);
      continue;
    }
    try {
      out = Record::parse(line, where);
    } catch (const Error&) {
      if (options_.on_error == OnError::kFail) throw;
      ++skipped_;
      if (rejects_) rejects_->write_line(line);
      continue;
    }
    if (options_.shard && !options_.shard->contains(out.id())) continue;
    return true;
  }
}

std::vector<Record> RecordReader::read_all() {
  std::vector<Record> all;
  Record r;
  while (next(r)) all.push_back(std::move(r));
  return all;
}

// ---------------------------------------------------------------------------------------------
// RecordWriter

struct RecordWriter::Impl {
  std::string path;
  int fd = -1;
  bool own_fd = false;
  ZSTD_CCtx* cctx = nullptr;
  std::string in;    // pending uncompressed bytes
  std::string out;   // compressed bytes
  bool closed = false;
  bool frame_open = false;
  bool flush_each = false;

  ~Impl() {
    if (cctx) ZSTD_freeCCtx(cctx);
    if (own_fd && fd >= 0) ::close(fd);
  }

  void write_fd(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EPIPE) throw BrokenPipe{};
        throw Error(Location{path, 0}, fmt::format("write error: {}", std::strerror(errno)), kExitIo);
      }
      p += w;
      n -= size_t(w);
    }
  }

  // Compresses (or passes through) the pending input; end = close the zstd frame.
  void drain(bool end) {
    if (!cctx) {
      write_fd(in.data(), in.size());
      in.clear();
      return;
    }
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      size_t cap = ZSTD_CStreamOutSize();
      size_t old = out.size();
      out.resize(old + cap);
      ZSTD_outBuffer ob{out.data() + old, cap, 0};
      size_t rem = ZSTD_compressStream2(cctx, &ob, &ib, mode);
      out.resize(old + ob.pos);
      if (ZSTD_isError(rem))
        throw Error(Location{path, 0}, fmt::format("zstd: {}", ZSTD_getErrorName(rem)), kExitIo);
      if (out.size() >= (size_t(1) << 20)) {
        write_fd(out.data(), out.size());
        out.clear();
      }
      bool done = end ? rem == 0 : ib.pos == ib.size;
      if (done) break;
    }
    in.clear();
    frame_open = !end;
    if (end) {
      write_fd(out.data(), out.size());
      out.clear();
    }
  }
};

RecordWriter::RecordWriter(std::string path, WriteOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = std::move(path);
  m.flush_each = options.flush_each;
  bool tty = false;
  if (m.path == "-") {
    m.fd = 1;
    tty = isatty(1);
  } else {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.append ? O_APPEND : O_TRUNC);
    m.fd = ::open(m.path.c_str(), flags, 0644);
    if (m.fd < 0)
      throw Error(Location{m.path, 0}, fmt::format("cannot create: {}", std::strerror(errno)), kExitIo);
    m.own_fd = true;
  }
  auto ends_with = [&](std::string_view suffix) {
    return m.path.size() >= suffix.size() &&
           m.path.compare(m.path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  switch (options.compression) {
    case Compression::kZstd: zstd_ = true; break;
    case Compression::kPlain: zstd_ = false; break;
    case Compression::kAuto: zstd_ = !(tty || ends_with(".jsonl") || ends_with(".json")); break;
  }
  if (zstd_) {
    m.cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(m.cctx, ZSTD_c_compressionLevel, options.level);
    if (options.workers > 0) ZSTD_CCtx_setParameter(m.cctx, ZSTD_c_nbWorkers, options.workers);
  }
}

RecordWriter::~RecordWriter() {
  try {
    close();
  } catch (...) {
  }
}

void RecordWriter::write_line(std::string_view json) {
  Impl& m = *impl_;
  m.in.append(json);
  m.in.push_back('\n');
  ++count_;
  if (m.flush_each)
    flush();
  else if (m.in.size() >= (size_t(1) << 20))
    m.drain(false);
}

void RecordWriter::write(const Record& r) {
  Impl& m = *impl_;
  r.append_json(m.in);
  m.in.push_back('\n');
  ++count_;
  if (m.flush_each)
    flush();
  else if (m.in.size() >= (size_t(1) << 20))
    m.drain(false);
}

void RecordWriter::flush() {
  Impl& m = *impl_;
  if (m.closed) return;
  if (m.in.empty() && !m.frame_open) return;
  m.drain(true);
}

void RecordWriter::close() {
  Impl& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  if (!m.in.empty() || m.frame_open) m.drain(true);
  if (m.own_fd) {
    int fd = m.fd;
    m.fd = -1;
    if (::close(fd) != 0)
      throw Error(Location{m.path, 0}, fmt::format("close: {}", std::strerror(errno)), kExitIo);
  }
}

// ---------------------------------------------------------------------------------------------

size_t truncate_to_complete(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    throw Error(Location{path, 0}, fmt::format("cannot open: {}", std::strerror(errno)), kExitIo);
  }
  std::string data;
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, size_t(n));
  size_t keep = 0;
  if (is_zstd(data)) {
    // Walk whole frames; keep those that decode to complete lines.
    size_t pos = 0;
    while (pos < data.size()) {
      size_t fsz = ZSTD_findFrameCompressedSize(data.data() + pos, data.size() - pos);
      if (ZSTD_isError(fsz)) break;
      unsigned long long content = ZSTD_getFrameContentSize(data.data() + pos, fsz);
      if (content != ZSTD_CONTENTSIZE_ERROR && content != ZSTD_CONTENTSIZE_UNKNOWN && content > 0) {
        std::string dec(content, '\0');
        size_t got = ZSTD_decompress(dec.data(), dec.size(), data.data() + pos, fsz);
        if (ZSTD_isError(got) || got == 0 || dec[got - 1] != '\n') break;
      }
      pos += fsz;
      keep = pos;
    }
  } else {
    size_t nl = data.rfind('\n');
    keep = nl == std::string::npos ? 0 : nl + 1;
  }
  size_t removed = data.size() - keep;
  if (removed > 0 && ftruncate(fd, off_t(keep)) != 0) {
    ::close(fd);
    throw Error(Location{path, 0}, fmt::format("truncate: {}", std::strerror(errno)), kExitIo);
  }
  ::close(fd);
  return removed;
}

}  // namespace delib
