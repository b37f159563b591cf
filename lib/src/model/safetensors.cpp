// safetensors: header parsing with simdjson, mmap-backed tensors, sharded checkpoints, writer.
// LibTorch ships its own fmt (v12) headers, which shadow the system fmt 9 in torch targets;
// use them header-only so nothing links against the system library's different ABI.
#ifndef FMT_HEADER_ONLY
#define FMT_HEADER_ONLY 1
#endif
#include "delib/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/json.h"

namespace delib::safetensors {
namespace {

// The reference implementation refuses headers over 100 MB; so do we (it also bounds what a
// hostile length field can make us allocate).
constexpr uint64_t kMaxHeader = 100ull << 20;

[[noreturn]] void fail(const std::string& source, const std::string& msg) {
  throw Error(Location{source, 0}, "safetensors: " + msg);
}

bool parse_dtype(std::string_view s, DType* out) {
  if (s == "F32") { *out = DType::F32; return true; }
  if (s == "F16") { *out = DType::F16; return true; }
  if (s == "BF16") { *out = DType::BF16; return true; }
  return false;
}

// JSON string literal for names in the header we write (names are ASCII in practice, but
// escape everything JSON requires).
void escape(std::string_view s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(char(c));
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", unsigned(c));
    } else {
      out.push_back(char(c));
    }
  }
  out.push_back('"');
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

torch::ScalarType to_torch(DType d) {
  switch (d) {
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
  }
  return torch::kFloat32;
}

DType from_torch(torch::ScalarType t) {
  if (t == torch::kFloat32) return DType::F32;
  if (t == torch::kFloat16) return DType::F16;
  if (t == torch::kBFloat16) return DType::BF16;
  throw Error(fmt::format("safetensors: cannot store dtype {} (F32, F16 and BF16 only)",
                          c10::toString(t)));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Header parse_header(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) fail(source, fmt::format("file is {} bytes, shorter than the 8-byte header length", size));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little endian
  if (n > kMaxHeader) fail(source, fmt::format("header length {} exceeds the 100 MB limit", n));
  if (n > size - 8)
    fail(source, fmt::format("header length {} runs past the end of the file ({} bytes)", n, size));
  Header h;
  h.data_offset = 8 + n;
  const uint64_t data_size = size - h.data_offset;

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto err = parser.parse(reinterpret_cast<const char*>(data + 8), size_t(n), true).get(root);
  if (err) fail(source, fmt::format("header is not valid JSON: {}", simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail(source, "header is not a JSON object");

  for (auto field : obj) {
    std::string key(field.key);
    if (key == "__metadata__") {
      simdjson::dom::object meta;
      if (field.value.get_object().get(meta)) fail(source, "__metadata__ is not an object");
      for (auto m : meta) {
        std::string_view v;
        if (m.value.get_string().get(v))
          fail(source, fmt::format("__metadata__ value of \"{}\" is not a string", m.key));
        h.metadata.emplace_back(std::string(m.key), std::string(v));
      }
      continue;
    }
    TensorInfo t;
    t.name = key;
    simdjson::dom::object desc;
    if (field.value.get_object().get(desc))
      fail(source, fmt::format("tensor \"{}\": entry is not an object", key));
    std::string_view dt;
    if (desc["dtype"].get_string().get(dt))
      fail(source, fmt::format("tensor \"{}\": missing or non-string \"dtype\"", key));
    if (!parse_dtype(dt, &t.dtype))
      fail(source, fmt::format("tensor \"{}\" has dtype {}, which delib does not support "
                               "(F32, F16, BF16)", key, dt));
    simdjson::dom::array shape;
    if (desc["shape"].get_array().get(shape))
      fail(source, fmt::format("tensor \"{}\": missing or non-array \"shape\"", key));
    uint64_t numel = 1;
    bool overflow = false;
    for (auto d : shape) {
      uint64_t v;
      if (d.get_uint64().get(v) || v > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(source, fmt::format("tensor \"{}\": shape entries must be non-negative integers", key));
      t.shape.push_back(int64_t(v));
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v) overflow = true;
      numel *= v;
    }
    if (std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end()) {
      numel = 0;
      overflow = false;
    }
    simdjson::dom::array offs;
    if (desc["data_offsets"].get_array().get(offs) || offs.size() != 2)
      fail(source, fmt::format("tensor \"{}\": \"data_offsets\" must be [begin, end]", key));
    if (offs.at(0).get_uint64().get(t.begin) || offs.at(1).get_uint64().get(t.end))
      fail(source, fmt::format("tensor \"{}\": data_offsets must be non-negative integers", key));
    if (t.begin > t.end)
      fail(source, fmt::format("tensor \"{}\": data_offsets [{}, {}] has begin after end", key,
                               t.begin, t.end));
    if (t.end > data_size)
      fail(source, fmt::format("tensor \"{}\": data_offsets [{}, {}] run past the end of the "
                               "data ({} bytes)", key, t.begin, t.end, data_size));
    const uint64_t es = dtype_size(t.dtype);
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / es ||
        numel * es != t.end - t.begin)
      fail(source, fmt::format("tensor \"{}\": {} bytes in data_offsets but shape x {} needs {}",
                               key, t.end - t.begin, dtype_name(t.dtype),
                               overflow ? std::string("more than 2^64")
                                        : std::to_string(numel * es)));
    h.tensors.push_back(std::move(t));
  }
  // Duplicate keys: simdjson keeps both; names must be unique.
  {
    std::set<std::string_view> seen;
    for (const auto& t : h.tensors)
      if (!seen.insert(t.name).second) fail(source, fmt::format("tensor \"{}\" appears twice", t.name));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < h.tensors.size(); ++i) {
    const auto& a = h.tensors[i - 1];
    const auto& b = h.tensors[i];
    if (b.begin < a.end && b.end > b.begin && a.end > a.begin)
      fail(source, fmt::format("tensors \"{}\" [{}, {}] and \"{}\" [{}, {}] overlap", a.name,
                               a.begin, a.end, b.name, b.begin, b.end));
  }
  return h;
}

// ---------------------------------------------------------------------------------------------

std::shared_ptr<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Location{path, 0}, fmt::format("cannot open: {}", std::strerror(errno)), kExitIo);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(Location{path, 0}, fmt::format("cannot stat: {}", std::strerror(e)), kExitIo);
  }
  std::shared_ptr<File> f(new File());
  f->path_ = path;
  f->size_ = size_t(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(Location{path, 0}, fmt::format("cannot mmap: {}", std::strerror(e)), kExitIo);
    }
    f->map_ = p;
  }
  ::close(fd);  // the mapping stays valid
  f->header_ = parse_header(static_cast<const uint8_t*>(f->map_), f->size_, path);
  f->weak_self_ = f;
  return f;
}

File::~File() {
  if (map_) munmap(map_, size_);
}

const TensorInfo* File::find(std::string_view name) const {
  for (const auto& t : header_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

torch::Tensor File::tensor(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(Location{path_, 0}, fmt::format("safetensors: no tensor \"{}\"", name));
  auto opts = torch::TensorOptions().dtype(to_torch(t->dtype)).device(torch::kCPU);
  if (t->numel() == 0) return torch::empty(t->shape, opts);
  auto* ptr = static_cast<uint8_t*>(map_) + header_.data_offset + t->begin;
  if (reinterpret_cast<uintptr_t>(ptr) % dtype_size(t->dtype) != 0) {
    // Misaligned data (legal in the format, rare in practice): copy instead of viewing.
    auto out = torch::empty(t->shape, opts);
    std::memcpy(out.data_ptr(), ptr, t->end - t->begin);
    return out;
  }
  std::shared_ptr<File> keep = weak_self_.lock();
  return torch::from_blob(ptr, t->shape, [keep](void*) mutable { keep.reset(); }, opts);
}

// ---------------------------------------------------------------------------------------------

Checkpoint Checkpoint::open(const std::string& model_dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  c.dir_ = model_dir;
  const fs::path dir(model_dir);
  const fs::path index = dir / "model.safetensors.index.json";
  const fs::path single = dir / "model.safetensors";
  if (fs::exists(index)) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::padded_string text;
    if (simdjson::padded_string::load(index.string()).get(text))
      throw Error(Location{index.string(), 0}, "cannot read the index", kExitIo);
    simdjson::dom::object wm;
    if (parser.parse(text).get(root) || root["weight_map"].get_object().get(wm))
      throw Error(Location{index.string(), 0}, "not a JSON object with a \"weight_map\" object");
    std::map<std::string, size_t> shard_ids;
    std::vector<std::pair<std::string, std::string>> expected;
    for (auto kv : wm) {
      std::string_view shard;
      if (kv.value.get_string().get(shard))
        throw Error(Location{index.string(), 0},
                    fmt::format("weight_map entry \"{}\" is not a file name", kv.key));
      std::string s(shard);
      if (s.find('/') != std::string::npos || s == ".." || s.empty())
        throw Error(Location{index.string(), 0}, fmt::format("shard name \"{}\" is not a plain file name", s));
      if (!shard_ids.count(s)) {
        shard_ids[s] = c.files_.size();
        c.files_.push_back(File::open((dir / s).string()));
      }
      expected.emplace_back(std::string(kv.key), s);
    }
    for (size_t i = 0; i < c.files_.size(); ++i)
      for (const auto& t : c.files_[i]->header().tensors) c.index_.emplace_back(t.name, i);
    std::sort(c.index_.begin(), c.index_.end());
    for (const auto& [name, shard] : expected) {
      const auto* e = c.lookup(name);
      if (!e || c.files_[e->second]->path() != (dir / shard).string())
        throw Error(Location{index.string(), 0},
                    fmt::format("tensor \"{}\" is mapped to {} but that shard does not hold it", name, shard));
    }
  } else if (fs::exists(single)) {
    c.files_.push_back(File::open(single.string()));
    for (const auto& t : c.files_[0]->header().tensors) c.index_.emplace_back(t.name, 0);
    std::sort(c.index_.begin(), c.index_.end());
  } else {
    throw Error(Location{model_dir, 0},
                "no model.safetensors or model.safetensors.index.json in this directory", kExitIo);
  }
  for (size_t i = 1; i < c.index_.size(); ++i)
    if (c.index_[i].first == c.index_[i - 1].first)
      throw Error(Location{model_dir, 0},
                  fmt::format("tensor \"{}\" appears in more than one shard", c.index_[i].first));
  return c;
}

const std::pair<std::string, size_t>* Checkpoint::lookup(std::string_view name) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == index_.end() || it->first != name) return nullptr;
  return &*it;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& e : index_) out.push_back(e.first);
  return out;
}

bool Checkpoint::contains(std::string_view name) const { return lookup(name) != nullptr; }

const TensorInfo& Checkpoint::info(std::string_view name) const {
  const auto* e = lookup(name);
  if (!e) throw Error(Location{dir_, 0}, fmt::format("checkpoint has no tensor \"{}\"", name));
  return *files_[e->second]->find(name);
}

torch::Tensor Checkpoint::tensor(std::string_view name) const {
  const auto* e = lookup(name);
  if (!e) throw Error(Location{dir_, 0}, fmt::format("checkpoint has no tensor \"{}\"", name));
  return files_[e->second]->tensor(name);
}

const std::string& Checkpoint::file_of(std::string_view name) const {
  const auto* e = lookup(name);
  if (!e) throw Error(Location{dir_, 0}, fmt::format("checkpoint has no tensor \"{}\"", name));
  return files_[e->second]->path();
}

// ---------------------------------------------------------------------------------------------

void save_file(const std::string& path,
               const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
               const std::vector<std::pair<std::string, std::string>>& metadata,
               torch::ScalarType as) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"";
  for (const auto& [k, v] : metadata) {
    if (k == "format") continue;
    header.push_back(',');
    escape(k, header);
    header.push_back(':');
    escape(v, header);
  }
  header.push_back('}');
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second)
      throw Error(Location{path, 0}, fmt::format("safetensors: duplicate or reserved name \"{}\"", name));
    DType dt = from_torch(as == at::ScalarType::Undefined ? t.scalar_type() : as);
    uint64_t bytes = uint64_t(t.numel()) * dtype_size(dt);
    header.push_back(',');
    escape(name, header);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[", dtype_name(dt));
    for (int64_t i = 0; i < t.dim(); ++i) header += fmt::format("{}{}", i ? "," : "", t.size(i));
    header += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + bytes);
    offset += bytes;
  }
  header.push_back('}');
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');

  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(Location{path, 0}, fmt::format("cannot create: {}", std::strerror(errno)), kExitIo);
  auto write = [&](const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f) != n) {
      int e = errno;
      std::fclose(f);
      throw Error(Location{path, 0}, fmt::format("write failed: {}", std::strerror(e)), kExitIo);
    }
  };
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
  write(len, 8);
  write(header.data(), header.size());
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU, as == at::ScalarType::Undefined ? t.scalar_type() : as).contiguous();
    write(c.data_ptr(), size_t(c.numel()) * c.element_size());
  }
  if (std::fclose(f) != 0)
    throw Error(Location{path, 0}, fmt::format("write failed: {}", std::strerror(errno)), kExitIo);
}

std::vector<std::string> save_sharded(const std::string& dir, const std::string& prefix,
                                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                      int64_t max_shard_size, torch::ScalarType as) {
  if (max_shard_size <= 0)
    throw Error(Location{dir, 0}, fmt::format("max shard size must be positive, got {}", max_shard_size), kExitUsage);
  using Shard = std::vector<std::pair<std::string, torch::Tensor>>;
  auto bytes_of = [&](const torch::Tensor& t) {
    return uint64_t(t.numel()) * dtype_size(from_torch(as == at::ScalarType::Undefined ? t.scalar_type() : as));
  };
  // huggingface_hub's split_state_dict_into_shards_factory (one storage per tensor here).
  std::vector<Shard> shards;
  Shard cur;
  uint64_t cur_size = 0, total_size = 0;
  int64_t total_params = 0;
  const uint64_t max = uint64_t(max_shard_size);
  for (const auto& item : tensors) {
    const uint64_t b = bytes_of(item.second);
    total_size += b;
    total_params += item.second.numel();
    if (b > max) {  // alone; the hub appends it at once, before the shard being filled
      shards.push_back({item});
      continue;
    }
    if (cur_size + b > max) {
      shards.push_back(std::move(cur));
      cur.clear();
      cur_size = 0;
    }
    cur.push_back(item);
    cur_size += b;
  }
  if (!cur.empty() || shards.empty()) shards.push_back(std::move(cur));

  const std::filesystem::path d(dir);
  if (shards.size() == 1) {
    save_file((d / (prefix + ".safetensors")).string(), shards[0], {}, as);
    return {prefix + ".safetensors"};
  }
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = fmt::format("{}-{:05d}-of-{:05d}.safetensors", prefix, i + 1, shards.size());
    save_file((d / name).string(), shards[i], {}, as);
    for (const auto& item : shards[i]) weight_map[item.first] = name;
    files.push_back(name);
  }
  Json meta = Json::object();
  meta.set("total_parameters", total_params);
  meta.set("total_size", total_size);
  Json wm = Json::object();
  for (const auto& [k, v] : weight_map) wm.set(k, v);
  Json index = Json::object();
  index.set("metadata", meta);
  index.set("weight_map", wm);
  const std::string index_name = prefix + ".safetensors.index.json";
  write_file_atomic((d / index_name).string(), index.dump() + "\n", "model.safetensors.index.json");
  files.push_back(index_name);
  return files;
}

}  // namespace delib::safetensors
