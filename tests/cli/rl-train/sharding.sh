# rl-train --sharding grad-opt (gradients and AdamW state 1/N per process, ZeRO-2) and full (the
# parameters too, ZeRO-3: the whole policy gathered for the local rollouts, a unit at a time for
# the update's passes and the checkpoint) on 2 Gloo processes with 1 prompt each per step equal
# one unsharded process with 2 prompts per step: the same completions, rewards and advantages,
# the same KL to the (replicated) reference model, gradient norms and final weights up to float
# reduction order; and the unsharded 2-process run (the same averaging of the ranks' gradients)
# to rel. 1e-6. The checkpoint holds one part per process and no optimizer.pt.
# Padding: DAPO with --drop-uniform-groups and one prompt per process leaves a process without
# a sequence in some updates (its group's rewards are all equal); it must run the other's passes
# on a zero-weighted padding sequence, or its gathers and reduce-scatters fall out of step (a
# hang, killed by run_ranks' timeout, or wrong sums). DAPO's token mean over the global batch makes
# 2 processes equal 1 there too. An unknown strategy is a usage error.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 1 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 6

run rl-train --model model --sharding zero3 prompts.jsonl
expect_rc 2
expect_err_glob "*--sharding: zero3 not in {none,grad-opt,full}*"

common=(--model model --group-size 4 --lr 1e-2 --max-tokens 12 --seed 1 --threads 1 --rule-reward e=1
        --steps 3 --plain prompts.jsonl)
run rl-train "${common[@]}" --prompts-per-step 2 --out one --metrics one.m.jsonl
expect_rc 0
printf '%s\n' "$out" > one.0.jsonl
for s in none grad-opt full; do
  run_ranks $s 2 rl-train "${common[@]}" --prompts-per-step 1 --sharding $s --out $s --metrics $s.m.jsonl
  ranks_ok $s 2   # rank 1 writes no rollouts: rank 0 writes every rank's
done
for r in 0 1; do [ -f full/checkpoint-00000003/shard-rank-$r-of-2.safetensors ] || fail "no part of rank $r"; done
[ ! -e full/checkpoint-00000003/optimizer.pt ] || fail "a sharded checkpoint has an optimizer.pt"

# Padding: steps in which one process keeps no group.
common=(--model model --group-size 4 --lr 1e-2 --max-tokens 12 --seed 2 --threads 1 --rule-reward e=1
        --loss dapo --kl-coef 0.04 --drop-uniform-groups --steps 4 --plain prompts.jsonl)
run rl-train "${common[@]}" --prompts-per-step 2 --max-prompt-draws 2 --out dapo-one --metrics dapo-one.m.jsonl
expect_rc 0
printf '%s\n' "$out" > dapo-one.0.jsonl
for s in none full; do
  run_ranks dapo-$s 2 rl-train "${common[@]}" --prompts-per-step 1 --max-prompt-draws 1 --sharding $s --out dapo-$s \
    --metrics dapo-$s.m.jsonl
  ranks_ok dapo-$s 2
done
py <<'PY' || fail "a sharded run differs (see the assertion above)"
import json
from safetensors.torch import load_file
rows = lambda n: [json.loads(l) for l in open(n) if l.strip()]
rel = lambda x, y: abs(x - y) / max(abs(x), abs(y), 1e-12)
w0 = load_file("model/model.safetensors")

def same(a, b, steps, tol_kl, tol_g, tol_w):
    """a's rollouts, metrics and final weights against b's."""
    ra, rb = rows(f"{a}.0.jsonl"), rows(f"{b}.0.jsonl")
    assert len(ra) == len(rb) == steps * 2 * 4, (a, b, len(ra), len(rb))
    kl = 0.0
    for x, y in zip(ra, rb):
        for k in ("step", "id", "sample", "answer", "rewards", "reward", "dropped"):
            assert x.get(k) == y.get(k), (a, b, k, x.get(k), y.get(k))
        if x["advantage"] is not None or y["advantage"] is not None:  # the group's mean and std, rounded
            assert rel(x["advantage"], y["advantage"]) <= 1e-12, (a, b, x["advantage"], y["advantage"])
        if x["kl"] is not None or y["kl"] is not None:
            kl = max(kl, rel(x["kl"], y["kl"]))
    ma, mb = rows(f"{a}.m.jsonl"), rows(f"{b}.m.jsonl")
    assert len(ma) == len(mb) == steps, (a, b)
    g = 0.0
    for x, y in zip(ma, mb):
        for k in ("step", "updated", "completions", "rewarded", "reward", "tokens"):
            assert x[k] == y[k], (a, b, k, x[k], y[k])
        if x["updated"]:
            g = max(g, rel(x["grad_norm"], y["grad_norm"]))
    wa = load_file(f"{a}/checkpoint-{steps:08d}/model.safetensors")
    wb = load_file(f"{b}/checkpoint-{steps:08d}/model.safetensors")
    assert wa.keys() == wb.keys()
    w = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    moved = max((wa[k] - w0[k]).abs().max().item() for k in wa if k in w0)
    print(f"{a} vs {b}: rel. KL {kl:.1e}, rel. grad norm {g:.1e}, weights {w:.1e} (moved {moved:.1e})")
    assert moved > 1e-3, (a, moved)  # it trained
    assert kl <= tol_kl and g <= tol_g and w <= tol_w, (a, b, kl, g, w)

# The per-sequence KL is a mean of small differences of log-probs: its relative rounding error
# is larger than the gradient norm's.
for s in ("full", "grad-opt"):
    same(s, "one", 3, 1e-4, 1e-6, 1e-4)
    same(s, "none", 3, 1e-6, 1e-6, 1e-6)
dapo = rows("dapo-full.0.jsonl")
uneven = 0
for s in sorted({r["step"] for r in dapo}):
    step = [r for r in dapo if r["step"] == s]   # rank 0's group, then rank 1's (one each)
    uneven += step[0]["dropped"] != step[4]["dropped"]
print("steps in which one process had no sequence:", uneven)
assert uneven >= 1, "the padding is not exercised"
same("dapo-full", "dapo-one", 4, 1e-4, 1e-6, 1e-4)
same("dapo-full", "dapo-none", 4, 1e-6, 1e-6, 1e-6)
PY
