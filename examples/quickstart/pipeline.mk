# The quickstart demo as file targets (included by Makefile; GNU make 4.2 or newer):
#
#   spec-lint -> cot-gen (SHARDS parts, merged by jsonl-cat) -> cot-judge -> sft-train
#     -> rl-train -> safety-eval of base, SFT and RL -> report
#
#   make demo                 # output in work/demo (OUT=DIR elsewhere); QUICK=1 for the CI size
#   make -j2 demo             # two cot-gen shards (and two evaluations) at a time
#   make -n demo              # what a change would rerun; make -q demo: exit 0 when up to date
#
# Each stage's output depends on its input files, the delib binary it runs, and a stamp
# $(OUT)/STAGE.opts holding the stage's command line with every variable expanded (sizes, SEED,
# THREADS, paths, GEN_OPTS ... EVAL_OPTS). A stamp is rewritten only when its text changes, and
# that is done while make reads this file, so `make -n` and `make -q` see a change of options
# too (and record it: the next `make` then reruns that stage, as it must). So editing the spec
# reruns spec-lint, cot-gen and every stage after it (it is also an input of cot-judge, rl-train
# and safety-eval); changing only EVAL_OPTS reruns the three evaluations and the report; a
# rebuilt sft-train reruns SFT, RL, their evaluations and the report; nothing else.
#
# cot-gen runs as SHARDS processes (`--shard K/SHARDS`, K = 0..SHARDS-1) whose parts jsonl-cat
# concatenates in K order. A sample's random stream depends only on --seed, the record id and
# the sample index, so the merged file holds the same records as one unsharded run (checked by
# tests/cli/quickstart/make.sh), only in shard order; gen.jsonl and everything after it depend
# on SHARDS (it is in gen's stamp) but never on -j.

ifneq ($(filter 3.% 4.0% 4.1%,$(MAKE_VERSION)),)
  $(error the quickstart pipeline needs GNU make 4.2 or newer ($$(file <...)); this is $(MAKE_VERSION))
endif
# No built-in implicit rules (they would try, e.g., a Pascal compiler on a `%.p` file).
MAKEFLAGS += --no-builtin-rules

# Variables (command line or environment):
#   OUT      output directory                  MODEL    the base model (a model directory)
#   SPEC     the spec (Markdown)               QUICK    non-empty: the CI sizes (as run.sh's QUICK=1)
#   SEED     every stage's seed                THREADS  LibTorch threads of every model stage
#   SHARDS   cot-gen processes (default 2)     BIN, PY  delib's tools, python3 (see Makefile)
#   GEN_OPTS JUDGE_OPTS SFT_OPTS RL_OPTS EVAL_OPTS: each stage's decoding/training options
OUT ?= $(WORK)/demo
MODEL ?= $(CURDIR)/model
SPEC ?= toy-spec.md
ifneq ($(QUICK),)
  SAMPLES ?= 2
  JUDGE_K ?= 2
  SFT_STEPS ?= 40
  RL_STEPS ?= 2
  PER_TOPIC ?= 2
else
  SAMPLES ?= 4
  JUDGE_K ?= 3
  SFT_STEPS ?= 150
  RL_STEPS ?= 10
  PER_TOPIC ?= 6
endif
SHARDS ?= 2
GEN_OPTS ?= --temperature 1.0 --max-tokens 64 --batch-size 64
# --max-failures 1%: the toy judge (the same 0.28M-parameter model, at temperature 0.5) now and
# then gives no parseable verdict even after cot-judge's 2 re-asks: measured 1 record of 2520
# over SEED=1..5 at both demo sizes (1 of 432 at SEED=1). Such a record is written with
# judge.error and no score, so --min-score leaves it out; the strict default (0) is for real
# judges.
JUDGE_OPTS ?= --nonce-length 2 --aggregate min --min-score 8 --temperature 0.5 --max-tokens 64 \
  --batch-size 64 --max-failures 1%
SFT_OPTS ?= --lr 1e-3 --batch-size 16 --warmup-steps 10
RL_OPTS ?= --prompts-per-step 8 --group-size 4 --lr 1e-4 --temperature 1.0 --max-tokens 64 \
  --engine-batch 32 --judge-batch-size 32
EVAL_OPTS ?= --temperature 0 --max-tokens 64 --batch-size 64

# Every model stage gets --threads $(THREADS) (default 1, see Makefile): cot-gen's default, all
# cores, took 46 s for the CI size's 72 samples on the shared 2-core machine at load 8, against
# 1.1 s with one thread, with byte-identical output.
LINT = $(BIN)/spec-lint $(SPEC)
PROMPTS = SEED=$(SEED) $(PY) world.py prompts $(OUT)/prompts
GEN = $(BIN)/cot-gen --spec $(SPEC) --instructions instructions.txt --model $(MODEL) \
  --samples $(SAMPLES) $(GEN_OPTS) --seed $(SEED) --threads $(THREADS)
JUDGE = $(BIN)/cot-judge --spec $(SPEC) --rubric rubric.txt --model $(MODEL) \
  --judge-samples $(JUDGE_K) $(JUDGE_OPTS) --seed $(SEED) --threads $(THREADS)
SFT = $(BIN)/sft-train --model $(MODEL) --max-steps $(SFT_STEPS) $(SFT_OPTS) --seed $(SEED) \
  --threads $(THREADS)
RL = $(BIN)/rl-train --spec $(SPEC) --judge-model $(MODEL) --judge-rubric rubric.txt \
  --judge-nonce-length 2 --steps $(RL_STEPS) $(RL_OPTS) --seed $(SEED) --threads $(THREADS)
EVAL = $(BIN)/safety-eval --spec $(SPEC) $(EVAL_OPTS) --seed $(SEED) --threads $(THREADS)

MODEL_FILES := $(wildcard $(MODEL)/*)
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)) 2>/dev/null)
GEN_PARTS := $(foreach k,$(SHARD_IDS),$(OUT)/gen.part-$(k)-of-$(SHARDS).jsonl)
EVALS := base sft rl

# $(call same,A,B): non-empty when the strings A and B are equal.
same = $(and $(findstring x$(1)x,x$(2)x),$(findstring x$(2)x,x$(1)x))
# $(call stamp,STAGE,TEXT): $(OUT)/STAGE.opts holds TEXT; rewritten only when TEXT changed.
stamp = $(if $(call same,$(file <$(OUT)/$(1).opts),$(2)),,$(file >$(OUT)/$(1).opts,$(2)))
comma := ,
# $(call banner,WHAT): a progress line on stderr.
banner = @printf '\n== %s (%s)\n' "$(1)" "$$(date +%T)" >&2
# $(call latest,DIR): the checkpoint directory DIR/latest names (a link or a file holding a name).
latest = $(PY) -c 'import os,sys; d=sys.argv[1]; l=os.path.join(d,"latest"); print(os.path.realpath(l) if os.path.islink(l) else os.path.join(d, open(l).read().strip()))' $(1)

# The stamps are written only when a pipeline target is asked for (not for base-model & co).
PIPELINE_GOALS := $(filter-out base-model reading-check views-check audit tokenizer-check clean \
  clean-demo,$(MAKECMDGOALS))
ifneq ($(PIPELINE_GOALS),)
  ifeq ($(SHARD_IDS),)
    $(error SHARDS=$(SHARDS): expected a positive integer)
  endif
  ifeq ($(MODEL_FILES),)
    $(error MODEL=$(MODEL): no such model directory, or it is empty)
  endif
  $(shell mkdir -p $(OUT))
  $(call stamp,lint,$(LINT))
  $(call stamp,prompts,$(PROMPTS))
  $(call stamp,gen-in,per-topic $(PER_TOPIC))
  $(call stamp,gen,$(GEN) --shard K/$(SHARDS))
  $(call stamp,judge,$(JUDGE))
  $(call stamp,sft,$(SFT))
  $(call stamp,rl,$(RL) --model SFT)
  $(call stamp,eval,$(EVAL) --model $(MODEL)|SFT|RL)
endif

.PHONY: demo lint prompts gen judge sft rl eval report clean-demo
.DELETE_ON_ERROR:

demo: $(OUT)/report.txt
lint: $(OUT)/spec-lint.txt
prompts: $(OUT)/gen-in.jsonl $(OUT)/eval-in.jsonl
gen: $(OUT)/gen.jsonl
judge: $(OUT)/kept.jsonl
sft: $(OUT)/sft.model
rl: $(OUT)/rl.model
eval: $(foreach m,$(EVALS),$(OUT)/$(m)-eval.jsonl)
report: $(OUT)/report.txt

$(BIN)/%:
	@echo "quickstart: $@ not found: build delib first (scripts/setup.sh), or set BIN=DIR" >&2; exit 1

# Keeps spec-lint's report (empty for a clean spec) and shows it on stderr. Every stage that reads
# the spec depends on it, so a spec that fails the lint stops the pipeline before any model runs.
$(OUT)/spec-lint.txt: $(SPEC) $(BIN)/spec-lint $(OUT)/lint.opts
	$(call banner,spec-lint)
	$(LINT) > $@.tmp; s=$$?; cat $@.tmp >&2; exit $$s
	mv $@.tmp $@

# world.py writes train.jsonl, heldout.jsonl and unseen-topics.jsonl; train.jsonl stands for the
# three. (Every stage has a single target file: with GNU make 4.3, `make -n` does not carry a
# grouped target's remake over to what depends on its other files.)
$(OUT)/prompts/train.jsonl: world.py $(OUT)/prompts.opts
	$(call banner,toy prompts)
	$(PROMPTS)

# cot-gen's input (and rl-train's prompts): at most PER_TOPIC training phrasings of each SEEN
# topic (train.jsonl holds no unseen topic; keeps the demo short).
define per_topic_py
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    seen[r["topic"]] = seen.get(r["topic"], 0) + 1
    if seen[r["topic"]] <= int(sys.argv[2]):
        print(line, end="")
endef
export per_topic_py
$(OUT)/gen-in.jsonl: $(OUT)/prompts/train.jsonl $(OUT)/gen-in.opts
	$(PY) -c "$$per_topic_py" $< $(PER_TOPIC) > $@.tmp
	mv $@.tmp $@

# The evaluation's input: both held-out splits, one run per model. The table's
# `seen-topics: ...` and `unseen-topics: ...` rows are the splits; its overall rows and the plot
# pool them.
$(OUT)/eval-in.jsonl: $(OUT)/prompts/train.jsonl
	cat $(OUT)/prompts/heldout.jsonl $(OUT)/prompts/unseen-topics.jsonl > $@.tmp
	mv $@.tmp $@

$(OUT)/gen.part-%-of-$(SHARDS).jsonl: $(OUT)/gen-in.jsonl $(SPEC) $(OUT)/spec-lint.txt \
    instructions.txt $(MODEL_FILES) $(BIN)/cot-gen $(OUT)/gen.opts
	$(call banner,cot-gen shard $*/$(SHARDS): $(SAMPLES) samples per prompt with the spec in context)
	$(GEN) --shard $*/$(SHARDS) $< -o $@

$(OUT)/gen.jsonl: $(GEN_PARTS) $(BIN)/jsonl-cat
	$(BIN)/jsonl-cat $(GEN_PARTS) -o $@

$(OUT)/kept.jsonl: $(OUT)/gen.jsonl $(SPEC) $(OUT)/spec-lint.txt rubric.txt $(MODEL_FILES) \
    $(BIN)/cot-judge $(OUT)/judge.opts
	$(call banner,cot-judge: $(JUDGE_K) judgements per sample$(comma) keep min score >= 8)
	$(JUDGE) $< -o $@
	@echo "kept $$(wc -l < $@) of $$(wc -l < $<) samples" >&2

# $(OUT)/sft.model and rl.model name the checkpoint each run ended with.
$(OUT)/sft.model: $(OUT)/kept.jsonl $(MODEL_FILES) $(BIN)/sft-train $(OUT)/sft.opts
	$(call banner,sft-train: $(SFT_STEPS) steps on the kept data$(comma) spec NOT in context)
	rm -rf $(OUT)/sft
	$(SFT) --out $(OUT)/sft $< -o $(OUT)/sft-metrics.jsonl
	$(call latest,$(OUT)/sft) > $@.tmp
	mv $@.tmp $@

$(OUT)/rl.model: $(OUT)/sft.model $(OUT)/gen-in.jsonl $(SPEC) $(OUT)/spec-lint.txt rubric.txt \
    $(MODEL_FILES) $(BIN)/rl-train $(OUT)/rl.opts
	$(call banner,rl-train: $(RL_STEPS) steps$(comma) reward = spec-aware judge on the answer)
	rm -rf $(OUT)/rl
	$(RL) --model "$$(cat $(OUT)/sft.model)" --out $(OUT)/rl $(OUT)/gen-in.jsonl \
	  -o $(OUT)/rl-rollouts.jsonl
	$(call latest,$(OUT)/rl) > $@.tmp
	mv $@.tmp $@

# safety-eval of each model on the held-out prompts, spec NOT in context: NAME-eval.jsonl, the
# graded records, stands for NAME.json, the metrics, written by the same run.
$(OUT)/%-eval.jsonl: $(OUT)/eval-in.jsonl $(SPEC) $(OUT)/spec-lint.txt \
    $(BIN)/safety-eval $(OUT)/eval.opts
	$(call banner,safety-eval $*: held-out prompts (seen topics$(comma) new phrasings; unseen topics)$(comma) spec NOT in context)
	$(EVAL) --model $(if $(filter base,$*),$(MODEL),"$$(cat $(OUT)/$*.model)") --name $* \
	  --json $(OUT)/$*.json $< -o $(OUT)/$*-eval.jsonl
$(OUT)/base-eval.jsonl: $(MODEL_FILES)
$(OUT)/sft-eval.jsonl: $(OUT)/sft.model
$(OUT)/rl-eval.jsonl: $(OUT)/rl.model

# Acceptance numbers per model and split (world.py score), one line per model.
$(OUT)/acceptance.txt: $(foreach m,$(EVALS),$(OUT)/$(m)-eval.jsonl) world.py
	for m in $(EVALS); do s=$$($(PY) world.py score $(OUT)/$$m-eval.jsonl) || exit 1; \
	  echo "$$m: $$s"; done > $@.tmp
	mv $@.tmp $@

# The report: safety-eval's comparison table (bootstrap intervals) with the Pareto plot, then
# the acceptance numbers per split with 95% Wilson intervals; printed when (re)made.
$(OUT)/report.txt: $(foreach m,$(EVALS),$(OUT)/$(m)-eval.jsonl) $(OUT)/acceptance.txt \
    $(BIN)/safety-eval world.py
	$(call banner,report)
	{ $(BIN)/safety-eval --compare $(foreach m,$(EVALS),$(OUT)/$(m).json) --plot $(OUT)/pareto.svg && \
	  echo && \
	  echo "Acceptance numbers per split, spec NOT in context, greedy (95% Wilson intervals):" && \
	  $(PY) world.py table $(OUT)/acceptance.txt; } > $(OUT)/report.txt.tmp
	mv $(OUT)/report.txt.tmp $(OUT)/report.txt
	@cat $(OUT)/report.txt
	@echo "report: $(OUT)/report.txt; acceptance numbers: $(OUT)/acceptance.txt; Pareto plot: $(OUT)/pareto.svg" >&2

clean-demo:
	rm -rf $(OUT)
