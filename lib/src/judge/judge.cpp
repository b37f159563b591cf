// The spec-aware judge: k judgements per item in one batch, bounded re-asks for output that
// does not parse, aggregation (Guan et al. 2024, section 2.3: keep the minimum of k).
#include <cstdio>
#include <map>
#include <random>

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/judge.h"

namespace delib {

Json JudgeResult::to_json(const std::string& judge_model, const std::string& spec_view_hash) const {
  Json j = Json::object();
  Json s = Json::array();
  for (double x : scores) s.push(x);
  j.set("scores", std::move(s));
  j.set("score", score ? Json(*score) : Json());
  j.set("action", action.empty() ? Json() : Json(action));
  j.set("agrees_with_hint", agrees_with_hint ? Json(*agrees_with_hint) : Json());
  j.set("rationale", rationale);
  j.set("judge_model", judge_model);
  j.set("spec_view_hash", spec_view_hash);
  if (!error.empty()) j.set("error", error);
  return j;
}

Judge::Judge(const Spec& spec, Backend& backend, JudgeOptions options)
    : spec_(spec), backend_(backend), options_(std::move(options)) {
  if (options_.samples < 1) throw Error("--judge-samples must be at least 1", kExitUsage);
  if (options_.parse_retries < 0) throw Error("--judge-retries must not be negative", kExitUsage);
  std::random_device rd;
  nonce_state_ = (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

namespace {
bool occurs_in(const JudgeItem& item, const std::string& nonce) {
  if (item.answer.find(nonce) != std::string::npos) return true;
  if (item.reasoning.find(nonce) != std::string::npos) return true;
  if (item.hint.find(nonce) != std::string::npos) return true;
  for (const auto& m : item.messages)
    if (m.content.find(nonce) != std::string::npos || m.reasoning.find(nonce) != std::string::npos ||
        m.role.find(nonce) != std::string::npos || m.name.find(nonce) != std::string::npos)
      return true;
  return false;
}

// A digest of every text a judge request quotes for `item` (and its category and key), for the
// seeded nonces: fields are length-prefixed so that no two different items give one byte string.
std::string content_digest(const JudgeItem& item) {
  std::string b;
  auto add = [&](std::string_view s) {
    b += std::to_string(s.size());
    b += ':';
    b += s;
  };
  add(item.category);
  add(item.key);
  for (const auto& m : item.messages) {
    add(m.role);
    add(m.name);
    add(m.content);
    add(m.reasoning);
  }
  add(item.reasoning);
  add(item.answer);
  add(item.hint);
  return hex64(hash64(b));
}

// splitmix64: a fast, well-mixed step for the per-request random nonces.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

std::string Judge::next_nonce(const JudgeItem& item, const std::string& digest, int sample, int attempt) {
  const int digits = options_.nonce_digits;
  if (digits < 2 || digits > 16) throw Error(fmt::format("nonce length {} is not in [2, 16]", digits), kExitUsage);
  for (int counter = 0;; ++counter) {
    // A short nonce can occur in the quoted text by chance; 4096 draws that all collide mean the
    // text holds (nearly) every nonce of that length.
    if (counter == 4096)
      throw Error(fmt::format("record {}: no {}-digit nonce that does not occur in its text", item.key, digits),
                  kExitFailure);
    uint64_t h;
    if (options_.nonce_seed) {
      h = hash64(fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", *options_.nonce_seed, item.key, sample,
                             attempt, counter, digest));
    } else {
      h = splitmix64(nonce_state_);
    }
    std::string nonce = hex64(h).substr(0, size_t(digits));
    if (!occurs_in(item, nonce)) return nonce;
  }
}

std::vector<JudgeResult> Judge::judge(const std::vector<JudgeItem>& items,
                                      const std::function<void(size_t, const JudgeResult&)>& done) {
  const int k = options_.samples;
  std::vector<JudgeResult> results(items.size());
  if (items.empty()) return results;

  // One spec view per category (throws naming an unknown category before anything is sent).
  std::map<std::string, std::string, std::less<>> views;
  for (const auto& it : items)
    if (!views.count(it.category)) views.emplace(it.category, spec_.render_view(it.category));

  struct ItemState {
    std::vector<std::optional<JudgeVerdict>> verdicts;
    std::vector<std::string> errors;  // per sample: final error ("" = parsed or pending)
    int outstanding = 0;
    bool reported = false;
  };
  std::vector<std::string> digests(items.size());
  if (options_.nonce_seed)
    for (size_t i = 0; i < items.size(); ++i) digests[i] = content_digest(items[i]);
  std::vector<ItemState> state(items.size());
  for (auto& s : state) {
    s.verdicts.resize(k);
    s.errors.resize(k);
    s.outstanding = k;
  }

  auto finalize = [&](size_t i) {
    ItemState& s = state[i];
    JudgeResult& r = results[i];
    std::vector<size_t> parsed;
    for (int j = 0; j < k; ++j)
      if (s.verdicts[j]) {
        r.scores.push_back(s.verdicts[j]->score);
        parsed.push_back(j);
      }
    for (int j = 0; j < k; ++j)
      if (!s.errors[j].empty()) {
        r.error = k > 1 ? fmt::format("judgement {}: {}", j, s.errors[j]) : s.errors[j];
        break;
      }
    if (r.error.empty()) {
      r.score = aggregate_scores(r.scores, options_.aggregate);
      const JudgeVerdict& v = *s.verdicts[parsed[deciding_sample(r.scores, options_.aggregate)]];
      r.action = v.action;
      r.agrees_with_hint = v.agrees;
      r.rationale = v.rationale;
    }
    s.reported = true;
    if (done) done(i, r);
  };

  struct Slot {
    size_t item;
    int sample;
  };
  std::vector<Slot> todo;
  todo.reserve(items.size() * k);
  for (size_t i = 0; i < items.size(); ++i)
    for (int j = 0; j < k; ++j) todo.push_back({i, j});

  for (int attempt = 0; attempt <= options_.parse_retries && !todo.empty(); ++attempt) {
    std::vector<GenRequest> requests;
    std::vector<std::string> nonces;
    requests.reserve(todo.size());
    for (const Slot& sl : todo) {
      const JudgeItem& it = items[sl.item];
      std::string nonce = next_nonce(it, digests[sl.item], sl.sample, attempt);
      GenRequest g;
      g.messages = build_judge_messages(views.find(it.category)->second, it, options_.rubric,
                                        options_.hide_reasoning, nonce);
      if (options_.render) {
        g.prompt = options_.render(g.messages);
        g.messages.clear();
      }
      g.params = options_.params;
      g.seed = options_.seed;
      g.key = it.key;
      g.sample = attempt * k + sl.sample;
      requests.push_back(std::move(g));
      nonces.push_back(std::move(nonce));
    }
    std::vector<Slot> again;
    backend_.generate(requests, [&](size_t q, GenResult g) {
      const Slot& sl = todo[q];
      ItemState& s = state[sl.item];
      JudgeResult& r = results[sl.item];
      r.prompt_tokens += g.prompt_tokens;
      r.completion_tokens += g.completion_tokens;
      if (!g.error.empty()) {
        s.errors[sl.sample] = "judge backend: " + g.error;
        r.backend_error = true;
      } else {
        const std::string& text = !g.answer.empty() ? g.answer : g.text;
        std::string why;
        auto v = parse_judge_output(text, nonces[q], !items[sl.item].hint.empty(), &why);
        if (v) {
          if (v->rationale.empty()) v->rationale = g.reasoning.substr(0, 4000);
          s.verdicts[sl.sample] = std::move(*v);
        } else if (attempt < options_.parse_retries) {
          again.push_back(sl);
          return;
        } else {
          s.errors[sl.sample] = fmt::format(
              "the judge's output did not parse after {} attempts: {}", attempt + 1, why);
        }
      }
      if (--s.outstanding == 0) finalize(sl.item);
    });
    if (interrupted()) break;
    todo = std::move(again);
  }
  for (size_t i = 0; i < items.size(); ++i)
    if (!state[i].reported) results[i].error = "interrupted";
  return results;
}

JudgeResult Judge::judge_one(const JudgeItem& item) { return judge({item}).front(); }

}  // namespace delib
