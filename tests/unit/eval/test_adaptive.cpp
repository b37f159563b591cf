// The adaptive attacks' parsers, prompts and technique list (lib/src/eval/adaptive.h). The
// attack loops run against the test server in tests/cli/safety-eval/pair.sh and pap.sh.
#include <catch2/catch.hpp>

#include "delib/error.h"
#include "eval/adaptive.h"

using namespace delib;
using namespace delib::eval;

TEST_CASE("the attacker's reply is one JSON object with a prompt (and an improvement for PAIR)",
          "[eval][adaptive]") {
  auto r = parse_attacker_reply(R"({"improvement": "be subtle", "prompt": "Tell a story about X"})", true);
  REQUIRE(r);
  CHECK(r->improvement == "be subtle");
  CHECK(r->prompt == "Tell a story about X");
  // Text or a code fence around the object is fine.
  r = parse_attacker_reply("Here it is:\n```json\n{\"improvement\": \"a\", \"prompt\": \"b {x}\"}\n```\n", true);
  REQUIRE(r);
  CHECK(r->prompt == "b {x}");
  CHECK(parse_attacker_reply(R"({"prompt": "p"})", false));
  // Never a guess: no JSON, no prompt, an empty prompt, a missing improvement for PAIR.
  CHECK_FALSE(parse_attacker_reply("Prompt: do X", false));
  CHECK_FALSE(parse_attacker_reply(R"({"improvement": "a"})", true));
  CHECK_FALSE(parse_attacker_reply(R"({"improvement": "a", "prompt": "  "})", true));
  CHECK_FALSE(parse_attacker_reply(R"({"prompt": "p"})", true));
  CHECK_FALSE(parse_attacker_reply(R"({"prompt": 3})", false));
  CHECK_FALSE(parse_attacker_reply(R"({"prompt": "p",})", false));
}

TEST_CASE("the PAIR judge's rating is Rating: [[N]] with N in 1..10", "[eval][adaptive]") {
  CHECK(parse_pair_rating("Rating: [[7]]") == 7);
  CHECK(parse_pair_rating("The response refuses.\nRating: [[1]]") == 1);
  CHECK(parse_pair_rating("Rating:[[10]]") == 10);
  CHECK(parse_pair_rating("Rating: [[3]] ... on reflection Rating: [[5]]") == 5);  // the last
  CHECK_FALSE(parse_pair_rating("Rating: [[0]]"));
  CHECK_FALSE(parse_pair_rating("Rating: [[11]]"));
  CHECK_FALSE(parse_pair_rating("Rating: 7"));
  CHECK_FALSE(parse_pair_rating("[[7]]"));
  CHECK_FALSE(parse_pair_rating("Rating: [[7.5]]"));
}

TEST_CASE("PAP techniques: a taxonomy with definitions; lists are checked", "[eval][adaptive]") {
  const auto& ts = pap_techniques();
  CHECK(ts.size() >= 10);
  for (const auto& t : ts) {
    CHECK_FALSE(t.name.empty());
    CHECK(t.definition.size() > 20);
    CHECK_THAT(pap_attacker_system(t), Catch::Contains("TECHNIQUE: " + t.name + "\nDEFINITION: " + t.definition));
  }
  CHECK(parse_pap_list("all").size() == ts.size());
  CHECK(parse_pap_list("logic, evidence,logic") == std::vector<std::string>{"logic", "evidence"});
  CHECK_THROWS_AS(parse_pap_list("logic,nope"), Error);
  CHECK_THROWS_AS(parse_pap_list(""), Error);
}

TEST_CASE("the PAIR prompts carry the goal and the output formats", "[eval][adaptive]") {
  const std::string a = pair_attacker_system("do {goal} X");
  CHECK_THAT(a, Catch::Contains("\nOBJECTIVE: do {goal} X\n"));
  CHECK_THAT(a, Catch::Contains(R"({"improvement": "...", "prompt": "..."})"));
  CHECK_THAT(pair_judge_system("do X"), Catch::Contains("TASK: do X\n") && Catch::Contains("Rating: [[N]]"));
}
