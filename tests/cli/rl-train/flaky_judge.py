"""The test server (tests/servers/openai_server.py, echo mode) with a judge that gives no
verdict for about a third of the answers: for an answer whose sha256 is 0 mod 3 it replies
with reasons only, on every re-ask. Deterministic per answer. Same flags as the server.

usage: flaky_judge.py [openai_server.py flags...]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.environ["DELIB_SRC"], "tests", "servers"))
import openai_server as srv  # noqa: E402

_echo_judge = srv.State.echo_judge


def flaky_echo_judge(self, user, nonce, seed):
    answer = srv.extract_block(user, "ANSWER", nonce) or ""
    if int(srv.sha(answer)[:8], 16) % 3 == 0:
        return "Reasons, but no verdict block.", ""
    return _echo_judge(self, user, nonce, seed)


srv.State.echo_judge = flaky_echo_judge

if __name__ == "__main__":
    srv.main()
