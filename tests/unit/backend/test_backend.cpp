// Unit tests of the backend plumbing and of the HTTP backend against an in-process scripted
// HTTP server (exact control over 429 / 500 / dropped connections / Retry-After).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "delib/backend.h"

using namespace delib;

TEST_CASE("split_think", "[backend]") {
  auto s = split_think("<think>\nreason\n</think>\n\nanswer ");
  CHECK(s.ok);
  CHECK(s.reasoning == "reason");
  CHECK(s.answer == "answer");
  s = split_think("reason only then</think>answer");  // template opened <think> already
  CHECK(s.ok);
  CHECK(s.reasoning == "reason only then");
  s = split_think("<think>never closed");
  CHECK(!s.ok);
  CHECK(s.reasoning.empty());
  CHECK(s.answer == "<think>never closed");
  s = split_think("plain answer");
  CHECK(!s.ok);
  CHECK(s.answer == "plain answer");
  CHECK(!split_think("<think>a</think>b</think>c").ok);
  CHECK(!split_think("<think>a<think>b</think>c").ok);
  s = split_think("<think></think>just the answer");
  CHECK(s.ok);
  CHECK(s.reasoning.empty());
}

TEST_CASE("request_seed depends on (seed, key, sample) only", "[backend]") {
  GenRequest a;
  a.seed = 1;
  a.key = "id-1";
  a.sample = 0;
  GenRequest b = a;
  b.params.temperature = 0.3;
  b.messages = {Message{"user", "x", "", ""}};
  CHECK(request_seed(a) == request_seed(b));
  CHECK(request_seed(a) < (uint64_t(1) << 31));
  b.sample = 1;
  CHECK(request_seed(a) != request_seed(b));
  b = a;
  b.key = "id-2";
  CHECK(request_seed(a) != request_seed(b));
  b = a;
  b.seed = 2;
  CHECK(request_seed(a) != request_seed(b));
}

TEST_CASE("redact_url drops credentials", "[backend]") {
  CHECK(redact_url("http://user:pw@host:8000/v1") == "http://host:8000/v1");
  CHECK(redact_url("https://host/v1") == "https://host/v1");
  CHECK(redact_url("http://host/v1/a@b") == "http://host/v1/a@b");
}

TEST_CASE("SamplingParams to JSON", "[backend]") {
  SamplingParams p;
  p.temperature = 0.7;
  p.top_k = 20;
  p.max_tokens = 99;
  p.stop = {"###"};
  CHECK(p.to_json().dump() ==
        "{\"temperature\":0.7,\"top_p\":1,\"top_k\":20,\"min_p\":0,\"max_tokens\":99,\"stop\":[\"###\"]}");
}

TEST_CASE("make_backend chooses and validates", "[backend]") {
  BackendOptions o;
  o.backend = "nope";
  CHECK_THROWS_WITH(make_backend(o), Catch::Contains("unknown --backend"));
  o.backend = "openai";
  CHECK_THROWS_WITH(make_backend(o), Catch::Contains("--base-url"));
  o.base_url = "http://127.0.0.1:9/v1";
  CHECK_THROWS_WITH(make_backend(o), Catch::Contains("--model"));
  o.model = "m";
  CHECK(make_backend(o)->name() == "openai:m@http://127.0.0.1:9/v1");
  o.backend = "local";
  o.model = "dir";
  register_local_backend_factory(nullptr);
  try {
    make_backend(o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitUsage);
  }
  int made = 0;
  register_local_backend_factory([&](const BackendOptions&) {
    ++made;
    return make_openai_backend([] {
      BackendOptions x;
      x.base_url = "http://127.0.0.1:9";
      x.model = "stand-in";
      return x;
    }());
  });
  CHECK(make_backend(o)->name() == "openai:stand-in@http://127.0.0.1:9");
  CHECK(made == 1);
  register_local_backend_factory(nullptr);
}

namespace {

// One scripted answer: an HTTP status with headers and body, or "drop" (close the connection
// without answering).
struct Scripted {
  int status = 200;
  std::string headers;  // extra header lines, each ending in \r\n
  std::string body;
  bool drop = false;
};

// A one-thread HTTP/1.1 server on 127.0.0.1 (free port) answering requests in arrival order
// from a script; records each request's head and body. Connection: close on every answer.
class ScriptServer {
 public:
  explicit ScriptServer(std::deque<Scripted> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 64) == 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  std::vector<std::chrono::steady_clock::time_point> times() {
    std::lock_guard<std::mutex> l(mu_);
    return times_;
  }

 private:
  void loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string data;
      char buf[65536];
      size_t head_end = std::string::npos, need = 0;
      while (true) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, size_t(n));
        if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
          size_t cl = data.find("Content-Length: ");
          need = cl == std::string::npos ? 0 : std::strtoul(data.c_str() + cl + 16, nullptr, 10);
        }
        if (head_end != std::string::npos && data.size() >= head_end + 4 + need) break;
      }
      Scripted s;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (head_end != std::string::npos)
          seen_.emplace_back(data.substr(0, head_end), data.substr(head_end + 4));
        times_.push_back(std::chrono::steady_clock::now());
        if (!script_.empty()) {
          s = script_.front();
          script_.pop_front();
        } else {
          s.status = 500;
          s.body = "{\"error\":\"script exhausted\"}";
        }
      }
      if (!s.drop) {
        std::string resp = "HTTP/1.1 " + std::to_string(s.status) + " X\r\nContent-Type: application/json\r\n" +
                           s.headers + "Content-Length: " + std::to_string(s.body.size()) +
                           "\r\nConnection: close\r\n\r\n" + s.body;
        ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      }
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::deque<Scripted> script_;
  std::vector<std::pair<std::string, std::string>> seen_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

Scripted ok_chat(const std::string& content, const std::string& reasoning = "") {
  Scripted s;
  s.body = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" +
           Json(content).dump() +
           (reasoning.empty() ? "" : ",\"reasoning_content\":" + Json(reasoning).dump()) +
           "},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5}}";
  return s;
}

BackendOptions opts(const ScriptServer& srv) {
  BackendOptions o;
  o.backend = "openai";
  o.base_url = srv.url();
  o.model = "m";
  o.concurrency = 1;
  o.timeout = 5;
  o.max_retries = 4;
  o.api_key_env = "DELIB_UNIT_TEST_KEY";
  return o;
}

GenRequest chat(const std::string& text) {
  GenRequest r;
  r.messages = {Message{"user", text, "", ""}};
  r.key = "k";
  r.seed = 3;
  return r;
}

}  // namespace

TEST_CASE("HTTP: 429 with Retry-After, 500 and a dropped connection are retried", "[backend][http]") {
  Scripted r429;
  r429.status = 429;
  r429.headers = "Retry-After: 0.4\r\n";
  Scripted r500;
  r500.status = 500;
  Scripted drop;
  drop.drop = true;
  ScriptServer srv({r429, r500, drop, ok_chat("<think>because R1</think>\n\nthe answer")});
  ::setenv("DELIB_UNIT_TEST_KEY", "sk-unit-secret", 1);
  auto b = make_openai_backend(opts(srv), HttpRetryPolicy{0.01, 0.05, 10});
  auto res = b->generate_all({chat("hello")});
  ::unsetenv("DELIB_UNIT_TEST_KEY");
  REQUIRE(res.size() == 1);
  CHECK(res[0].error.empty());
  CHECK(res[0].reasoning == "because R1");
  CHECK(res[0].answer == "the answer");
  CHECK(res[0].format_ok);
  CHECK(res[0].completion_tokens == 5);
  auto reqs = srv.requests();
  REQUIRE(reqs.size() == 4);
  auto t = srv.times();
  CHECK(std::chrono::duration<double>(t[1] - t[0]).count() >= 0.38);  // Retry-After honoured
  // Every attempt is the same request: n=1, the per-sample seed, the key in the header only.
  GenRequest probe = chat("hello");
  for (auto& [head, body] : reqs) {
    CHECK(head.find("POST /v1/chat/completions") == 0);
    CHECK(head.find("Authorization: Bearer sk-unit-secret") != std::string::npos);
    CHECK(body.find("\"n\":1") != std::string::npos);
    CHECK(body.find("\"seed\":" + std::to_string(request_seed(probe))) != std::string::npos);
    CHECK(body == reqs[0].second);
  }
}

TEST_CASE("HTTP: retries are bounded and other 4xx are not retried", "[backend][http]") {
  Scripted r500;
  r500.status = 503;
  Scripted r400;
  r400.status = 400;
  r400.body = "{\"error\":\"bad request\"}";
  {
    ScriptServer srv({r500, r500, r500, r500, r500, r500});
    auto o = opts(srv);
    o.max_retries = 2;
    auto res = make_openai_backend(o, HttpRetryPolicy{0.01, 0.02, 1})->generate_all({chat("x")});
    CHECK(srv.requests().size() == 3);
    CHECK(res[0].finish_reason == "error");
    CHECK(res[0].error.find("HTTP 503") != std::string::npos);
    CHECK(res[0].error.find("gave up after 3 attempts") != std::string::npos);
  }
  {
    ::setenv("DELIB_UNIT_TEST_KEY", "sk-unit-secret", 1);
    ScriptServer srv({r400, r400});
    auto res = make_openai_backend(opts(srv), HttpRetryPolicy{0.01, 0.02, 1})->generate_all({chat("x")});
    ::unsetenv("DELIB_UNIT_TEST_KEY");
    CHECK(srv.requests().size() == 1);
    CHECK(res[0].error.find("HTTP 400") != std::string::npos);
    CHECK(res[0].error.find("sk-unit-secret") == std::string::npos);
  }
}

TEST_CASE("HTTP: reasoning_content, completions endpoint, results in request order", "[backend][http]") {
  {
    ScriptServer srv({ok_chat("final", "thinking about R2"), ok_chat("<think>a</think>b"),
                      ok_chat("no tags")});
    auto b = make_openai_backend(opts(srv));
    auto res = b->generate_all({chat("1"), chat("2"), chat("3")});
    CHECK(res[0].reasoning == "thinking about R2");
    CHECK(res[0].answer == "final");
    CHECK(res[0].format_ok);
    CHECK(res[1].reasoning == "a");
    CHECK(!res[2].format_ok);
    CHECK(res[2].answer == "no tags");
  }
  {
    Scripted c;
    c.body = "{\"choices\":[{\"text\":\"x</think>y\",\"finish_reason\":\"length\"}]}";
    ScriptServer srv({c});
    auto o = opts(srv);
    o.completions = true;
    GenRequest r;
    r.prompt = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n";
    auto res = make_openai_backend(o)->generate_all({r});
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].first.find("POST /v1/completions") == 0);
    CHECK(reqs[0].second.find("\"prompt\":") != std::string::npos);
    CHECK(res[0].reasoning == "x");
    CHECK(res[0].answer == "y");
    CHECK(!res[0].format_ok);  // cut off by max_tokens
    CHECK(res[0].finish_reason == "length");
  }
}
