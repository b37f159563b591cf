// Encode throughput of delib::Tokenizer (driven by tokenizer_bench.py, which runs HF
// `tokenizers` on the same documents in the same run).
//
//   tokenizer_bench TOKENIZER DOCS [REPEAT]
// DOCS: documents, each as its byte length in decimal, a newline, then its bytes. Prints one JSON object: load seconds, bytes, tokens,
// single-thread MB/s (encode() per document, best of REPEAT passes, the first pass warms the
// word cache as HF's does) and all-thread MB/s (encode_batch with every core).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "delib/error.h"
#include "delib/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tokenizer_bench TOKENIZER DOCS [REPEAT]\n");
    return 2;
  }
  int repeat = argc > 3 ? std::atoi(argv[3]) : 3;
  try {
    using clock = std::chrono::steady_clock;
    auto secs = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    std::ifstream f(argv[2], std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string all = ss.str();
    // Each document: its byte length in decimal, '\n', then the bytes (texts may hold NULs).
    std::vector<std::string> docs;
    for (size_t pos = 0; pos < all.size();) {
      size_t nl = all.find('\n', pos);
      if (nl == std::string::npos) break;
      size_t len = std::stoul(all.substr(pos, nl - pos));
      docs.push_back(all.substr(nl + 1, len));
      pos = nl + 1 + len;
    }
    size_t bytes = 0;
    for (auto& d : docs) bytes += d.size();

    auto t0 = clock::now();
    auto tok = delib::Tokenizer::load(argv[1]);
    double load = secs(t0, clock::now());

    size_t tokens = 0;
    double best_st = 1e30;
    for (int r = 0; r < repeat; ++r) {
      auto a = clock::now();
      size_t n = 0;
      for (auto& d : docs) n += tok->encode(d).size();
      best_st = std::min(best_st, secs(a, clock::now()));
      tokens = n;
    }
    double best_mt = 1e30;
    int threads = int(std::thread::hardware_concurrency());
    for (int r = 0; r < repeat; ++r) {
      auto a = clock::now();
      auto out = tok->encode_batch(docs, false, 0);
      best_mt = std::min(best_mt, secs(a, clock::now()));
    }
    std::printf("{\"load_s\":%.3f,\"docs\":%zu,\"bytes\":%zu,\"tokens\":%zu,\"st_mb_s\":%.2f,\"mt_mb_s\":%.2f,\"threads\":%d}\n",
                load, docs.size(), bytes, tokens, double(bytes) / 1e6 / best_st, double(bytes) / 1e6 / best_mt, threads);
  } catch (const delib::Error& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.str().c_str());
    return 1;
  }
  return 0;
}
