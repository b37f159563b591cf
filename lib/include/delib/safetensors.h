// Hugging Face safetensors files: a validated header parser, memory-mapped reading (single
// files and sharded checkpoints with model.safetensors.index.json) and a writer
// (area: model, in delib_torch).
//
// File format (https://github.com/huggingface/safetensors):
//   bytes 0..8      N, the header length, unsigned 64-bit little endian
//   bytes 8..8+N    a JSON object: {"__metadata__": {str: str}, NAME: {"dtype": "F32",
//                   "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
//   bytes 8+N..     the data; offsets are relative to this point, row-major, little endian.
//
// Every problem in a file (truncated, bad JSON, overlapping or out-of-range offsets, a size
// that does not match shape x dtype, an unsupported dtype) is a delib::Error whose message
// names the file and, where there is one, the tensor. The parser never reads out of bounds
// (a fuzz target, tests/fuzz/fuzz_safetensors.cpp, checks this).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace delib::safetensors {

// The element types delib reads and writes. Others (I8, F64, F8_E4M3, ...) are rejected.
enum class DType { F32, F16, BF16 };

// "F32" / "F16" / "BF16".
const char* dtype_name(DType d);
size_t dtype_size(DType d);
torch::ScalarType to_torch(DType d);
// REQUIRES: t is kFloat, kHalf or kBFloat16 (otherwise throws Error).
DType from_torch(torch::ScalarType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the start of the data section
  int64_t numel() const;
};

struct Header {
  std::vector<TensorInfo> tensors;                              // in file order of offsets
  std::vector<std::pair<std::string, std::string>> metadata;    // __metadata__, may be empty
  uint64_t data_offset = 0;                                     // 8 + header length
};

// Parses and validates the header of a whole safetensors file held in `data[0..size)`:
// header length within the file, valid JSON object, each entry has a supported dtype, a shape
// of non-negative dims, offsets [begin, end] with begin <= end, end - begin == numel * size,
// all within the data section, and no two tensors overlapping. `source` names the file in
// error messages. Throws delib::Error; never reads outside data[0..size).
Header parse_header(const uint8_t* data, size_t size, const std::string& source);

// A read-only memory mapping of one safetensors file. Tensors returned by tensor() are CPU
// views of the mapping that keep it alive (no copy); they must not be written to.
class File {
 public:
  // Opens, maps and validates `path`. Throws Error (exit code kExitIo when it cannot be read).
  static std::shared_ptr<File> open(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  const Header& header() const { return header_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr if absent
  // A CPU tensor of the stored dtype and shape viewing the mapping. Throws if absent.
  torch::Tensor tensor(std::string_view name) const;

 private:
  File() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  Header header_;
  std::weak_ptr<File> weak_self_;  // tensors capture a shared_ptr to keep the mapping alive
};

// A checkpoint in a model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json ({"weight_map": {NAME: "model-00001-of-00002.safetensors"}}).
class Checkpoint {
 public:
  // Throws Error naming the directory when neither file exists or the index is malformed.
  static Checkpoint open(const std::string& model_dir);
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;
  // CPU view of the mapping (see File::tensor). Throws Error naming the tensor when absent.
  torch::Tensor tensor(std::string_view name) const;
  // The file that holds `name`.
  const std::string& file_of(std::string_view name) const;

 private:
  std::vector<std::shared_ptr<File>> files_;
  std::vector<std::pair<std::string, size_t>> index_;  // name -> files_ index, sorted by name
  std::string dir_;
  const std::pair<std::string, size_t>* lookup(std::string_view name) const;
};

// Writes `tensors` (any device; each in its own dtype, or converted to `as` when that is not
// kUndefined, one tensor at a time; f32, f16 or bf16, else Error) to `path`: the JSON header is padded with spaces so the data starts at an
// 8-byte boundary, tensors are laid out contiguously in the given order, and __metadata__ is
// {"format": "pt"} plus `metadata`. Names must be unique. Throws Error (kExitIo) on I/O failure.
void save_file(const std::string& path,
               const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
               const std::vector<std::pair<std::string, std::string>>& metadata = {},
               torch::ScalarType as = at::ScalarType::Undefined);

// Writes `tensors` to DIR as transformers' save_pretrained(max_shard_size=...) does, through
// huggingface_hub's split_torch_state_dict_into_shards: tensors in the given order fill a
// shard until the next one would take it past `max_shard_size` bytes (counted in the written
// dtype); a tensor larger than that gets a shard of its own. One shard is DIR/PREFIX.safetensors
// and nothing else; N > 1 are DIR/PREFIX-0000k-of-0000N.safetensors plus
// DIR/PREFIX.safetensors.index.json, {"metadata": {"total_parameters": P, "total_size": BYTES},
// "weight_map": {NAME: FILE}} (names sorted). Each shard is written with save_file (its
// tensors converted one at a time), so nothing beyond one tensor's copy is held at once.
// REQUIRES: DIR exists; max_shard_size > 0. Returns the file names written (shards, index).
std::vector<std::string> save_sharded(const std::string& dir, const std::string& prefix,
                                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                      int64_t max_shard_size,
                                      torch::ScalarType as = at::ScalarType::Undefined);

}  // namespace delib::safetensors
