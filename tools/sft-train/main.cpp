// sft-train: spec-free supervised fine-tuning (stage 3 of deliberative alignment).
// Parses flags and calls delib::train::run_sft (lib/src/train/sft.cpp).
#include <cstdio>

#include "delib/cli.h"
#include "delib/error.h"
#include "delib/peft.h"
#include "delib/train.h"

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "sft-train";
  info.summary = "supervised fine-tuning on (prompt, reasoning, answer) records, without the spec";
  info.description =
      "sft-train fine-tunes a Hugging Face causal LM (Llama, Qwen2/3, Mistral) on records: stage 3 of "
      "deliberative alignment, where the model learns to recall the safety spec itself, so the spec is "
      "NOT put in context. Each record is rendered with the model's own chat template: the conversation "
      "(`messages`, or `prompt` as one user turn), then an assistant turn with `reasoning` (in the "
      "model's reasoning format, e.g. <think> for Qwen3) and `answer`. A record whose last message is "
      "an assistant turn is trained on that turn. Models without a chat template train on "
      "{\"text\", \"target\"} or {\"prompt\", \"completion\"} records. Several inputs are mixed (e.g. "
      "safety data plus ordinary helpfulness data) and shuffled with --seed every epoch.\n"
      "\n"
      "The loss covers the assistant's target tokens only (reasoning, answer and end of turn); the "
      "template markup is tokenized with special tokens, message contents without, so a record cannot "
      "inject control tokens. A warning is printed when a system message contains a spec view "
      "(a view whose hash is the record's provenance.spec_view_hash, as cot-gen writes it, found "
      "among the message's other text; or a view or rule of --spec): that would defeat the method.\n"
      "\n"
      "Batches: --batch-size examples per micro-batch per process, packed into rows of at most "
      "--max-length tokens with a document mask (no attention across examples), or padded with "
      "--padding. A record longer than --max-length is never cut: it is dropped and counted. The "
      "loss of a step is the mean over the target tokens of the whole global batch (batch-size x "
      "grad-accum x processes), computed with a chunked cross-entropy that never materialises the "
      "(tokens x vocabulary) logits. AdamW, warm-up then cosine/linear/constant learning rate, "
      "gradient clipping, bf16 autocast on CUDA, activation checkpointing, full fine-tuning or LoRA.\n"
      "\n"
      "Output: one metrics record per optimizer step on stdout (or -o), flushed as written: step, "
      "epoch, loss, lr, grad_norm, tokens, target_tokens, tokens_per_s, step_time_s, memory_mb "
      "(peak: CUDA allocator, or the process's max RSS on CPU), memory_baseline_mb (the same before the model "
      "was loaded: --plan's peak is the difference) and, with --sharding full, gathers (units all-gathered "
      "in the step), prefetched (how many of them had been all-gathered in the background) and "
      "gather_wait_s (the seconds the step waited for gathers). With --out DIR, checkpoints "
      "DIR/checkpoint-NNNNNNNN are Hugging Face model directories (LoRA merged) that transformers "
      "loads, plus trainer_state.json (format_version, data cursor, schedule), optimizer.pt, rng.pt "
      "and, with LoRA, trainable.pt and adapter/: the adapters alone in PEFT's format "
      "(adapter_config.json, adapter_model.safetensors) for peft.PeftModel.from_pretrained(base, "
      "\"DIR/checkpoint-NNNNNNNN/adapter\"), vLLM's --lora-modules, or --lora-init to continue from them. "
      "A model above --max-shard-size is saved as transformers saves it, in model-0000k-of-0000N.safetensors "
      "shards with model.safetensors.index.json. Each checkpoint is written to a temporary directory and renamed, and "
      "DIR/latest names the newest. --resume DIR (a checkpoint or an --out directory) continues "
      "exactly: on CPU a run killed with kill -9 and resumed has the same loss curve, bit for bit, "
      "as one that was never interrupted.\n"
      "\n"
      "Several processes (data parallel): launch with torchrun --no-python or srun. Rank and world "
      "size come from RANK/WORLD_SIZE/LOCAL_RANK (torchrun) or SLURM_PROCID/SLURM_NTASKS/"
      "SLURM_LOCALID (Slurm), the rendezvous from MASTER_ADDR/MASTER_PORT (a c10d TCPStore). "
      "Gradients are summed with c10d Gloo on CPU, NCCL on CUDA (--device cuda picks "
      "cuda:LOCAL_RANK). Every process reads the inputs and trains on its own part of each global "
      "batch; rank 0 writes metrics and checkpoints. The result equals one process with the same "
      "global batch. Inputs must be files (not stdin). See examples/distributed/ for launch scripts; "
      "on multi-node CPU runs set GLOO_SOCKET_IFNAME.\n"
      "\n"
      "Sharding: --sharding grad-opt splits the gradients and the AdamW state over the processes (ZeRO-2): "
      "each unit (a decoder layer, the embeddings, the final norm with the LM head) is flattened and cut in "
      "as many parts as processes; as soon as a unit's backward is done each process receives the sum of its "
      "part of the unit's gradients (reduce-scatter) and the full gradients are freed; it then clips with the "
      "global norm, steps AdamW on its part and all-gathers the updated parameters. The result equals one "
      "unsharded process with the same global batch up to float reduction order. "
      "--sharding full also shards the parameters (ZeRO-3): each process keeps its part of every unit and "
      "all-gathers a unit when an operator is about to read it, holding at most two units at a time (forward, "
      "backward and activation recomputation alike) while the next one comes in: from the second step on, "
      "the unit the last step gathered next is all-gathered in the background during the current unit's "
      "compute. No process reads the whole model: each reads its part of each unit from the safetensors "
      "files, one unit at a time. With --lora the frozen base is sharded too (gathered whole for each "
      "checkpoint, whose merged weights read base and adapters together). "
      "Checkpoints of sharded runs hold the model as transformers loads it (written by rank 0 gathering one "
      "unit at a time), the run state, and one part per process, shard-rank-R-of-N.safetensors, written by "
      "every process at once: its part of each unit's master weights and AdamW moments. --resume continues "
      "on the same number of processes bit for bit (CPU), and on another number by resharding the parts on "
      "load (equal up to float reduction order); a checkpoint missing a part, of another model or of another "
      "--sharding is refused, naming the file and field.\n"
      "\n"
      "Memory plan: --plan reads only config.json and prints, per process, the bytes of the parameters, "
      "gradients, AdamW state (f32 master weights unless --dtype bf16), saved activations with and without "
      "--checkpoint-activations (derived tensor by tensor from delib's decoder layer; every row assumed full), "
      "the chunked loss's buffers and the peak, for --world-size, --sharding, --device, --dtype, --batch-size, "
      "--max-length, --loss-chunk and LoRA; the last line says whether the peak fits --memory-per-device (exit 0) "
      "or not (exit 1). On the CPU it is within 15% of the measured peak RSS above the baseline.\n"
      "\n"
      "On a GPU: run once on one H200 (tests/gpu/run.sh, 2026-12-04): bf16 autocast with "
      "--checkpoint-activations, the fused CUDA loss kernel, --plan against the CUDA allocator and "
      "--sharding full through NCCL in a process group of one passed; throughput there was low (6% "
      "MFU) and the changes made since (attention kernel selection, gradient-norm sync) have not yet "
      "run on a GPU; NCCL with several processes has never run. Treat CUDA speed as unmeasured.";
  info.examples =
      "# full fine-tuning on judged CoT data mixed with helpfulness data\n"
      "sft-train --model Qwen3-0.6B --out ckpt --epochs 2 --lr 1e-5 kept.jsonl.zst helpful.jsonl.zst > metrics.jsonl\n"
      "# LoRA on a GPU with activation checkpointing\n"
      "sft-train --model Qwen3-8B --device cuda --lora --lora-rank 16 --checkpoint-activations --out ckpt data.jsonl.zst\n"
      "# continue a killed run\n"
      "sft-train --model Qwen3-0.6B --out ckpt --resume ckpt --epochs 2 --lr 1e-5 kept.jsonl.zst helpful.jsonl.zst >> metrics.jsonl\n"
      "# two processes on one machine\n"
      "torchrun --nproc-per-node 2 --no-python sft-train --model Qwen3-0.6B --out ckpt data.jsonl.zst\n"
      "# does full fine-tuning of an 8B model fit 8 x 80 GB with full sharding?\n"
      "sft-train --plan --model Llama-3.1-8B --device cuda --world-size 8 --sharding full --batch-size 1 --max-length 4096 --memory-per-device 80GB\n"
      "# follow the loss\n"
      "jsonl-cat --select step,loss,lr metrics.jsonl\n"
      "# the quickstart's SFT stage, rerun only when its inputs, binary or options changed\n"
      "make -C examples/quickstart sft\n";
  info.exit_codes = {{1, "failure; with --plan: the planned peak per rank does not fit --memory-per-device"},
                     {3, "an input, the model or a checkpoint could not be read or written"}};
  info.see_also = "delib-records(5), cot-judge(1), rl-train(1), jsonl-cat(1)";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::train::SftOptions o;
  bool padding = false, no_autocast = false, no_shuffle = false, plan = false;
  std::string sharding = "none", memory_per_device;
  std::string lora_init, max_shard_size = "5GB";
  int world_size = 0;
  std::vector<std::string> lora_targets = o.lora_options.targets;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        std::string g = "Model";
        app.add_option("--model", o.model_dir, "Hugging Face model directory (config.json, safetensors, tokenizer)")
            ->type_name("DIR")->required()->group(g);
        app.add_option("--tokenizer", o.tokenizer_dir, "Tokenizer directory or tokenizer.json (default: --model)")
            ->type_name("PATH")->group(g);
        app.add_option("--chat-template", o.chat_template,
                       "Chat template when the tokenizer has none (or to override it): a variant name "
                       "(qwen3, llama3, llama3.1, llama3.2, gpt-oss, chatml) or a template file")
            ->type_name("NAME|FILE")->group(g);
        app.add_option("--device", o.device, "cpu, cuda (cuda:LOCAL_RANK) or cuda:N")->capture_default_str()->group(g);
        app.add_option("--dtype", o.dtype,
                       "Weights while training: auto (f32 master weights; bf16 autocast on CUDA), f32, bf16 (pure bf16)")
            ->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str()->group(g);
        app.add_flag("--no-autocast", no_autocast, "CUDA: run the forward in the weights' dtype, not bf16 autocast")->group(g);
        delib::cli::add_profile_options(app, o.profile, o.profile_steps, g, "forward, backward and optimizer step");
        app.add_flag("--checkpoint-activations", o.checkpoint_activations,
                     "Recompute each layer in backward: less memory, about a third more compute")->group(g);
        app.add_flag("--lora", o.lora, "Train LoRA adapters instead of all weights (checkpoints hold the merged model and, in adapter/, the "
                     "adapters in PEFT's format)")->group(g);
        app.add_option("--lora-rank", o.lora_options.rank, "LoRA rank r")->check(CLI::Range(1, 4096))->capture_default_str()->group(g);
        app.add_option("--lora-alpha", o.lora_options.alpha, "LoRA alpha (scale alpha / r)")->check(CLI::PositiveNumber)->capture_default_str()->group(g);
        app.add_option("--lora-targets", lora_targets, "Linear layers that get adapters")
            ->delimiter(',')->type_name("NAME,...")->default_str("q_proj,k_proj,v_proj,o_proj")->group(g);
        app.add_option("--lora-init", lora_init,
                       "Start LoRA from a PEFT adapter directory (adapter_config.json, adapter_model.safetensors): "
                       "r, lora_alpha and target_modules come from it; implies --lora")
            ->type_name("DIR")->excludes("--lora-rank", "--lora-alpha", "--lora-targets")->group(g);

        g = "Data";
        app.add_option("--spec", o.spec_path, "Safety spec: also warn when a system message contains one of its views or rules")
            ->type_name("FILE")->group(g);
        app.add_option("--max-length", o.max_length, "Tokens per sequence; longer records are dropped and counted, never cut")
            ->check(CLI::Range(int64_t(2), int64_t(1) << 24))->capture_default_str()->group(g);
        app.add_flag("--padding", padding, "One example per row, padded, instead of packing several per row with a document mask")->group(g);
        app.add_flag("--no-shuffle", no_shuffle, "Keep the input order instead of a seeded shuffle per epoch")->group(g);

        g = "Optimisation";
        app.add_option("--batch-size", o.batch_size, "Examples per micro-batch per process")
            ->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str()->group(g);
        app.add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step (gradient accumulation)")
            ->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str()->group(g);
        app.add_option("--epochs", o.epochs, "Passes over the data")->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str()->group(g);
        app.add_option("--max-steps", o.max_steps, "Stop after N optimizer steps and size the schedule to N (0: --epochs decides)")
            ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
        app.add_option("--lr", o.adamw.lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str()->group(g);
        app.add_option("--schedule", o.schedule, "Learning rate after warm-up: cosine, linear or constant")
            ->check(CLI::IsMember({"cosine", "linear", "constant"}))->capture_default_str()->group(g);
        app.add_option("--warmup-steps", o.warmup_steps, "Linear warm-up steps (default: --warmup-ratio of all steps)")->group(g);
        app.add_option("--warmup-ratio", o.warmup_ratio, "Warm-up as a fraction of all steps")->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
        app.add_option("--min-lr-ratio", o.min_lr_ratio, "Final learning rate as a fraction of --lr")->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
        app.add_option("--weight-decay", o.adamw.weight_decay, "AdamW decoupled weight decay (matrices only)")->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
        app.add_option("--beta1", o.adamw.beta1, "AdamW beta1")->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
        app.add_option("--beta2", o.adamw.beta2, "AdamW beta2")->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
        app.add_option("--eps", o.adamw.eps, "AdamW epsilon")->check(CLI::PositiveNumber)->capture_default_str()->group(g);
        app.add_option("--max-grad-norm", o.max_grad_norm, "Clip the global gradient norm to this (0: no clipping)")
            ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
        app.add_option("--loss-chunk", o.loss_chunk, "Token rows per chunk of the chunked cross-entropy (memory O(chunk x vocabulary))")
            ->check(CLI::Range(int64_t(1), int64_t(1) << 24))->capture_default_str()->group(g);

        g = "Sharding and memory plan";
        app.add_option("--sharding", sharding,
                       "How processes split the training state: none (replicated), grad-opt (gradients and "
                       "AdamW state 1/N, as ZeRO-2), full (parameters too, gathered a unit at a time, as ZeRO-3)")
            ->check(CLI::IsMember({"none", "grad-opt", "full"}))->capture_default_str()->group(g);
        app.add_flag("--plan", plan,
                     "Print the memory per process (parameters, gradients, optimizer state, activations with "
                     "and without checkpointing, loss chunk) from config.json alone, and exit: 0 when it fits "
                     "--memory-per-device, 1 when not; no weights or records are read")->group(g);
        app.add_option("--world-size", world_size, "With --plan: the number of processes (default: WORLD_SIZE or SLURM_NTASKS, else 1)")
            ->check(CLI::Range(1, 1 << 20))->type_name("N")->group(g);
        app.add_option("--memory-per-device", memory_per_device,
                       "With --plan: the memory of one device, e.g. 80GB (10^9 bytes) or 80GiB (2^30)")
            ->type_name("SIZE")->group(g);

        g = "Checkpoints";
        app.add_option("--out", o.out_dir, "Write checkpoints under DIR (DIR/checkpoint-NNNNNNNN, DIR/latest)")->type_name("DIR")->group(g);
        app.add_option("--save-every", o.save_every, "Also checkpoint every N steps (0: only at the end)")
            ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
        app.add_option("--max-shard-size", max_shard_size,
                       "Split a saved model into safetensors shards of at most SIZE (transformers' max_shard_size: "
                       "5GB = 5*10^9 bytes, 5GiB = 5*2^30) with model.safetensors.index.json")
            ->type_name("SIZE")->capture_default_str()->group(g);
        app.add_option("--keep-last", o.keep_last, "Keep only the newest N checkpoints (0: all)")
            ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
        app.add_option("--resume", o.resume, "Continue from a checkpoint, or from the newest in an --out directory (none yet: start fresh)")
            ->type_name("DIR")->group(g);
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.metrics = io.output;
        o.metrics_write = io.write_options();
        o.seed = run.seed;
        o.threads = run.threads;
        o.progress = run.progress();
        o.pack = !padding;
        o.bf16_autocast = !no_autocast;
        o.shuffle = !no_shuffle;
        o.lora_options.targets = lora_targets;
        if (!lora_init.empty()) {
          o.lora = true;
          o.lora_options = delib::peft::read_lora_options(lora_init);
        }
        o.max_shard_size = delib::train::parse_size(max_shard_size, "--max-shard-size");
        o.sharding = delib::train::parse_sharding(sharding);
        if (!plan && (world_size > 0 || !memory_per_device.empty()))
          throw delib::Error("--world-size and --memory-per-device go with --plan (a run takes its world size "
                             "from the launcher)", delib::kExitUsage);
        if (plan) {
          const int64_t budget = memory_per_device.empty() ? 0 : delib::train::parse_size(memory_per_device);
          const delib::train::PlanInput in = delib::train::sft_plan_input(o, world_size);
          const delib::train::MemoryPlan p = delib::train::plan_memory(in);
          std::fputs(delib::train::format_plan(in, p, budget).c_str(), stdout);
          return budget > 0 && p.peak(in.checkpoint_activations) > budget ? delib::kExitFailure : delib::kExitOk;
        }
        delib::train::SftResult r = delib::train::run_sft(o);
        // Plain stdio: with LibTorch on the include path fmt resolves to LibTorch's bundled copy,
        // whose print() is not exported.
        if (!run.quiet)
          std::fprintf(stderr, "sft-train: %lld steps on %zu examples, final loss %.4f%s%s\n",
                       (long long)r.steps, r.examples, r.final_loss,
                       r.last_checkpoint.empty() ? "" : ", checkpoint ", r.last_checkpoint.c_str());
        return delib::interrupted() ? 128 + delib::interrupted() : delib::kExitOk;
      });
}
