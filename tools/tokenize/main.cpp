// tokenize: add token ids / counts to records, or decode ids back to text.
// Parses flags into delib::TokenizeOptions and calls delib::run_tokenize
// (lib/src/tokenizer/tokenize_tool.cpp).
#include "delib/cli.h"
#include "delib/error.h"
#include "delib/tokenizer.h"

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "tokenize";
  info.summary = "add token ids and counts to records with a Hugging Face tokenizer, or decode ids";
  info.description =
      "tokenize encodes one text per record with the model's own tokenizer.json and adds the ids "
      "(field `ids`) and/or their number (field `n_tokens`). The ids are exactly those of Hugging "
      "Face tokenizers `encode(text, add_special_tokens=False)` (BPE, byte-level or sentencepiece "
      "style).\n"
      "\n"
      "The text is the field named by --field, or by default the conversation (`messages`, or a "
      "bare `prompt`) rendered with the model's chat template, as transformers' apply_chat_template "
      "renders it without a generation prompt.\n"
      "\n"
      "Special tokens: by default special-token text in a --field text (e.g. a user writing "
      "<|im_end|>) is tokenized as ordinary text, so data cannot inject control tokens; in a rendered "
      "chat the template's own markup is parsed and the messages' text is kept literal. "
      "--parse-special matches special tokens everywhere, as transformers does by default.\n"
      "\n"
      "--decode does the reverse: it reads the ids field and writes the decoded text into --field "
      "(default `text`), like tokenizers' decode(ids, skip_special_tokens).\n"
      "\n"
      "--stats prints the number of records and tokens and the token-count percentiles p50, p90, "
      "p99 and max to stdout (nearest rank) instead of the records; with -o the records are written "
      "too.";
  info.examples =
      "# token ids and counts of the rendered chats\n"
      "tokenize --tokenizer models/Qwen3-8B data.jsonl.zst -o tok.jsonl.zst\n"
      "# how long are the prompts?\n"
      "tokenize --tokenizer models/Qwen3-8B --field prompt --stats data.jsonl.zst\n"
      "# decode ids back to text\n"
      "tokenize --tokenizer tokenizer.json --decode tok.jsonl.zst --plain | less\n";
  info.see_also = "delib-records(5), chat-render(1)";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::TokenizeOptions o;
  std::string template_deprecated;
  CLI::Option* template_alias = nullptr;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run);
        const char* g = "Tokenizer";
        app.add_option("--tokenizer", o.tokenizer,
                       "Model directory (tokenizer.json or tokenizer.json.zst, tokenizer_config.json) or a "
                       "tokenizer.json file (plain or zstd)")
            ->type_name("PATH")->required()->group(g);
        app.add_option("--field", o.field,
                       "Text field to encode (dotted path). Default: the rendered chat of `messages`; with "
                       "--decode, the field written (default `text`)")
            ->type_name("F")->group(g);
        app.add_flag("--ids", o.ids, "Add the token ids as field `ids` (default when neither --ids nor --count)")->group(g);
        app.add_flag("--count", o.count, "Add the number of tokens as field `n_tokens`")->group(g);
        auto* tpl = app.add_option("--chat-template", o.template_file,
                                   "Chat template for the default text (Jinja file or tokenizer_config.json). Default: the "
                                   "model's (tokenizer_config.json `chat_template`, else chat_template.jinja)")
                        ->type_name("FILE")->group(g);
        // The flag's old name, before every tool called it --chat-template: still accepted, with
        // a warning; hidden from --help and the docs (as in chat-render).
        template_alias = app.add_option("--template", template_deprecated, "Deprecated name of --chat-template")
            ->type_name("FILE")->group("");
        app.add_option("--format", o.format,
                       "Use a known chat template by name for the default text: qwen3, llama3, llama3.1, "
                       "llama3.2, llama3.3, gpt-oss, chatml (for model files without one)")
            ->type_name("NAME")->group(g)->excludes(tpl);
        app.add_option("--ids-field", o.ids_field, "Name of the ids field written by --ids and read by --decode")
            ->capture_default_str()->type_name("NAME")->group(g);
        app.add_flag("--decode", o.decode, "Decode the ids field into text instead of encoding")->group(g)
            ->excludes("--count")->excludes("--ids");
        app.add_flag("--parse-special", o.parse_special,
                     "Match special-token text (e.g. <|im_end|>) everywhere, as transformers does by default "
                     "(default: only in the chat template's own markup)")->group(g);
        app.add_flag("--skip-special", o.skip_special, "With --decode: leave special tokens out of the text")->group(g);
        app.add_flag("--stats", o.stats,
                     "Print records, tokens and token-count percentiles (p50/p90/p99/max) to stdout; records "
                     "are written only with -o")->group(g)->excludes("--decode");
        app.add_option("--batch", o.batch, "Records encoded in parallel per batch")->capture_default_str()
            ->type_name("N")->group(g)->check(CLI::PositiveNumber);
      },
      [&]() -> int {
        if (template_alias->count() > 0) {
          if (!o.template_file.empty() || !o.format.empty())
            throw delib::Error("--template (the old name of --chat-template) excludes --chat-template and --format",
                               delib::kExitUsage);
          delib::cli::warn("--template is deprecated: use --chat-template");
          o.template_file = template_deprecated;
        }
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.threads = run.threads;
        o.progress = run.progress();
        return delib::run_tokenize(o);
      });
}
