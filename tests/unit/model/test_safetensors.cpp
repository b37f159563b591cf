// safetensors: writer round trip, sharded checkpoints, and malformed files rejected with a
// message naming the file and the problem.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "delib/error.h"
#include "delib/safetensors.h"

namespace fs = std::filesystem;
using namespace delib::safetensors;

namespace {

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("delib-test-safetensors-" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p / name;
}

// A file with the given header JSON and `data_bytes` bytes of data.
std::string make_file(const std::string& header, size_t data_bytes, uint64_t len_override = 0) {
  std::string s(8, '\0');
  uint64_t n = len_override ? len_override : header.size();
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  s += header;
  s += std::string(data_bytes, '\x01');
  return s;
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.safetensors");
  } catch (const delib::Error& e) {
    REQUIRE(e.where().file == "bad.safetensors");
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: writer output parses back with identical tensors") {
  auto a = torch::arange(12, torch::kFloat32).view({3, 4});
  auto b = torch::randn({5}, torch::kFloat32).to(torch::kBFloat16);
  auto c = torch::randn({2, 1, 3}).to(torch::kFloat16);
  auto path = scratch("rt.safetensors").string();
  save_file(path, {{"a", a}, {"b.weight", b}, {"c", c}}, {{"note", "x\"y"}});
  auto f = File::open(path);
  REQUIRE(f->header().tensors.size() == 3);
  CHECK(f->header().data_offset % 8 == 0);
  bool has_format = false;
  for (auto& [k, v] : f->header().metadata) has_format |= (k == "format" && v == "pt");
  CHECK(has_format);
  CHECK(torch::equal(f->tensor("a"), a));
  CHECK(torch::equal(f->tensor("b.weight"), b));
  CHECK(torch::equal(f->tensor("c"), c));
  CHECK(f->tensor("b.weight").scalar_type() == torch::kBFloat16);
  // The view keeps the mapping alive after the File handle is gone.
  auto view = f->tensor("a");
  f.reset();
  CHECK(view.sum().item<float>() == 66.0f);
  // Conversion on write.
  save_file(path, {{"a", a}}, {}, torch::kBFloat16);
  CHECK(File::open(path)->tensor("a").scalar_type() == torch::kBFloat16);
}

TEST_CASE("safetensors: sharded checkpoint via model.safetensors.index.json") {
  auto dir = scratch("sharded");
  fs::create_directories(dir);
  save_file((dir / "model-00001-of-00002.safetensors").string(), {{"x", torch::ones({2})}});
  save_file((dir / "model-00002-of-00002.safetensors").string(), {{"y", torch::zeros({3})}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})";
  auto ck = Checkpoint::open(dir.string());
  CHECK((ck.names() == std::vector<std::string>{"x", "y"}));
  CHECK(ck.tensor("y").numel() == 3);
  CHECK_THROWS_WITH(ck.tensor("z"), Catch::Contains("no tensor \"z\""));
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map":{"x":"model-00002-of-00002.safetensors"}})";
  CHECK_THROWS_WITH(Checkpoint::open(dir.string()), Catch::Contains("does not hold it"));
  CHECK_THROWS_WITH(Checkpoint::open(scratch("nothing-here").string()), Catch::Contains("no model.safetensors"));
}

TEST_CASE("safetensors: malformed headers are rejected with a message") {
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK(parse_error(make_file(ok, 8)).empty());
  CHECK_THAT(parse_error("abc"), Catch::Contains("shorter than the 8-byte header length"));
  CHECK_THAT(parse_error(make_file(ok, 8, 1000)), Catch::Contains("runs past the end of the file"));
  CHECK_THAT(parse_error(make_file(ok, 8, uint64_t(1) << 62)), Catch::Contains("exceeds"));
  CHECK_THAT(parse_error(make_file("{\"t\": [1,", 8)), Catch::Contains("not valid JSON"));
  CHECK_THAT(parse_error(make_file("[1,2]", 0)), Catch::Contains("not a JSON object"));
  CHECK_THAT(parse_error(make_file(ok, 4)), Catch::Contains("run past the end of the data"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
             Catch::Contains("tensor \"t\": 8 bytes in data_offsets but shape x F32 needs 12"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", 8)),
             Catch::Contains("tensor \"t\" has dtype I8"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
             Catch::Contains("begin after end"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})", 8)),
             Catch::Contains("overlap"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
             Catch::Contains("non-negative"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"F32","shape":[2]}})", 8)), Catch::Contains("data_offsets"));
  CHECK_THAT(parse_error(make_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8)),
             Catch::Contains("2^64"));
  CHECK_THAT(parse_error(make_file(R"({"__metadata__":{"a":1}})", 0)), Catch::Contains("not a string"));
}

TEST_CASE("safetensors: File::open names the file when it cannot be read") {
  try {
    File::open("/nonexistent/model.safetensors");
    FAIL("expected an error");
  } catch (const delib::Error& e) {
    CHECK(e.exit_code() == delib::kExitIo);
    CHECK(e.where().file == "/nonexistent/model.safetensors");
  }
  auto path = scratch("trunc.safetensors");
  std::ofstream(path, std::ios::binary) << make_file(R"({"t":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", 3);
  CHECK_THROWS_WITH(File::open(path.string()), Catch::Contains("run past the end of the data"));
}
