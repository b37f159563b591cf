// chat-render: what exactly will the model see? Parses flags into delib::ChatRenderOptions
// and calls delib::run_chat_render (lib/src/chat/render_tool.cpp).
#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/error.h"

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "chat-render";
  info.summary = "render chats with a model's chat template, exactly as transformers does";
  info.description =
      "chat-render reads records with `messages` (OpenAI chat format; assistant reasoning in "
      "`reasoning`, `reasoning_content` or `thinking`; a bare `prompt` is one user turn) and adds "
      "the text that transformers' tokenizer.apply_chat_template(messages, tokenize=False, "
      "add_generation_prompt=...) renders with the model's own chat template. Use it to check "
      "what exactly a model will be trained on or prompted with.\n"
      "\n"
      "The template comes from --tokenizer (a model directory: tokenizer_config.json "
      "`chat_template`, else chat_template.jinja), --chat-template (a template file or a "
      "tokenizer_config.json), or --format NAME, a built-in format for model files that carry none. "
      "Any Hugging Face chat template renders: delib's Jinja engine renders it as transformers does "
      "(trim_blocks, lstrip_blocks, the sandbox, raise_exception, strftime_now, tojson, namespace, "
      "macros, loop controls, {% generation %}). A record's `tools`, `documents` and "
      "`chat_template_kwargs` fields are passed to the template as apply_chat_template's tools, "
      "documents and keyword arguments; --template-kwargs adds keyword arguments for every record. "
      "A template error (a syntax error, raise_exception, an undefined attribute, a type error) names "
      "the template file and line and exits 1; nothing is written for that record.\n"
      "\n"
      "Reasoning (`reasoning`, `reasoning_content` or `thinking`, passed under all three names as "
      "transformers does) is kept or dropped as the template does: Qwen3 keeps it only for assistant "
      "turns after the last user query, gpt-oss only for a final assistant turn rendered without a "
      "generation prompt, Llama 3 and ChatML never. --keep-reasoning keeps it in every assistant "
      "turn: as the template writes it elsewhere, or for templates without a reasoning format as "
      "\"<think>\\nREASONING\\n</think>\\n\\n\" before the answer (delib's convention; see "
      "docs/chat-templates.md).\n"
      "\n"
      "--spans adds `spans`: one object per turn, {message, role, begin, end} with byte offsets "
      "into the UTF-8 text (message is null for text the template adds on its own, and equals "
      "the number of messages for the generation prompt), and for assistant turns "
      "target_begin/target_end: the bytes the model learns to produce (reasoning, answer and the "
      "end-of-turn token text, not the role header). The spans tile the text.\n"
      "\n"
      "--parse FIELD splits a generated completion (the text after the generation prompt) into "
      "`reasoning` and `answer` and sets `parse_ok`: by the template's reasoning tags "
      "(<think>...</think>, <seed:think>...</seed:think>), gpt-oss by its analysis and final channels.";
  info.examples =
      "# what will Qwen3 see for these chats?\n"
      "chat-render --tokenizer models/Qwen3-8B --raw chats.jsonl | less\n"
      "# add the prompt text with a generation prompt, and the spans of each turn\n"
      "chat-render --tokenizer models/Qwen3-8B --add-generation-prompt --spans chats.jsonl -o prompts.jsonl.zst\n"
      "# Llama 3.1 with a fixed date in its system header\n"
      "chat-render --chat-template llama31.jinja --date-string '05 Mar 2025' chats.jsonl\n"
      "# split gpt-oss completions into reasoning and answer\n"
      "chat-render --tokenizer models/gpt-oss-20b --parse completion gen.jsonl.zst -o parsed.jsonl.zst\n"
      "# Seed-OSS with a thinking budget, tools taken from each record's `tools` field\n"
      "chat-render --chat-template seed-oss.jinja --template-kwargs '{\"thinking_budget\": 512}' chats.jsonl\n"
      "# which family is this template?\n"
      "chat-render --tokenizer models/Llama-3.1-8B-Instruct --detect\n";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::ChatRenderOptions o;
  std::string template_deprecated, date_string, current_date, reasoning_effort, model_identity, bos_token, eos_token;
  bool no_thinking = false;
  CLI::Option* template_alias = nullptr;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run, /*with_threads=*/false);
        const char* g = "Template";
        auto* tok = app.add_option("--tokenizer", o.tokenizer,
                                   "Model directory (or tokenizer_config.json) whose chat template to use")
                        ->type_name("PATH")->group(g);
        auto* tpl = app.add_option("--chat-template", o.template_file,
                                   "Chat template file (Jinja text, or a tokenizer_config.json)")
                        ->type_name("FILE")->group(g)->excludes(tok);
        // The flag's old name, before every tool called it --chat-template: still accepted,
        // with a warning; hidden from --help and the docs. Its conflicts are checked below
        // rather than with excludes(), which would list it in the other options' --help.
        template_alias = app.add_option("--template", template_deprecated, "Deprecated name of --chat-template")
            ->type_name("FILE")->group("");
        app.add_option("--format", o.format,
                       "Use a built-in format by name instead of the model's template: qwen3, qwen2.5, llama3, "
                       "llama3.1, llama3.2, llama3.3, gpt-oss, chatml (for model files without a chat template)")
            ->type_name("NAME")->group(g)->excludes(tpl);
        app.add_option("--template-kwargs", o.template_kwargs,
                       "More template variables as a JSON object, like apply_chat_template's keyword arguments "
                       "(e.g. '{\"enable_thinking\": false}'); a record's `chat_template_kwargs` adds to them")
            ->type_name("JSON")->group(g);
        app.add_option("--date-string", date_string,
                       "Llama 3.1-3.3: the date_string argument (\"Today Date:\" in the system header; "
                       "default: the template's, 26 Jul 2024, or today for Llama 3.2)")
            ->type_name("DATE")->group(g);
        app.add_option("--current-date", current_date,
                       "The date strftime_now sees (gpt-oss's \"Current date:\", Mistral's, Llama 3.2's): "
                       "YYYY-MM-DD, optionally with HH:MM[:SS] (default: now)")
            ->type_name("YYYY-MM-DD")->group(g);
        app.add_option("--reasoning-effort", reasoning_effort,
                       "gpt-oss: reasoning_effort (default: medium)")
            ->check(CLI::IsMember({"low", "medium", "high"}))->group(g);
        app.add_option("--model-identity", model_identity,
                       "gpt-oss: model_identity, the first line of the system message (default: the "
                       "template's, \"You are ChatGPT, a large language model trained by OpenAI.\")")
            ->type_name("TEXT")->group(g);
        app.add_flag("--no-thinking", no_thinking,
                     "enable_thinking=False (Qwen3: the generation prompt ends with an empty <think> block)")
            ->group(g);
        app.add_option("--bos-token", bos_token,
                       "The bos_token the template prints (default: tokenizer_config.json's; <|begin_of_text|> "
                       "for the built-in formats)")
            ->type_name("TEXT")->group(g);
        app.add_option("--eos-token", eos_token,
                       "The eos_token the template prints, also a stop string (default: tokenizer_config.json's)")
            ->type_name("TEXT")->group(g);
        const char* r = "Rendering";
        app.add_flag("--add-generation-prompt", o.add_generation_prompt,
                     "End with the assistant header the model continues from (add_generation_prompt=True)")
            ->group(r);
        app.add_flag("--keep-reasoning", o.keep_reasoning,
                     "Render the reasoning of every assistant turn, also where the template drops it")
            ->group(r);
        app.add_option("--field", o.field, "Record field to write the rendered text to")
            ->capture_default_str()->group(r);
        app.add_flag("--spans", o.spans, "Also write `spans`, the byte ranges of each turn (see DESCRIPTION)")
            ->group(r);
        app.add_flag("--raw", o.raw,
                     "Print the rendered text itself to stdout, records separated by a blank line, instead of records")
            ->group(r);
        app.add_option("--parse", o.parse_field,
                       "Instead of rendering: split the completion in FIELD into `reasoning`, `answer` and `parse_ok`")
            ->type_name("FIELD")->group(r)->excludes("--raw")->excludes("--spans");
        app.add_flag("--detect", o.detect,
                     "Print the template's family, generation prompt and stop strings as one JSON line, and exit")
            ->group(r);
      },
      [&]() -> int {
        if (template_alias->count() > 0) {
          if (!o.tokenizer.empty() || !o.template_file.empty() || !o.format.empty())
            throw delib::Error("--template (the old name of --chat-template) excludes --tokenizer, "
                               "--chat-template and --format", delib::kExitUsage);
          delib::cli::warn("--template is deprecated: use --chat-template");
          o.template_file = template_deprecated;
        }
        if (!date_string.empty()) o.chat.date_string = date_string;
        if (!current_date.empty()) o.chat.current_date = current_date;
        if (!reasoning_effort.empty()) o.chat.reasoning_effort = reasoning_effort;
        if (!model_identity.empty()) o.chat.model_identity = model_identity;
        if (no_thinking) o.chat.enable_thinking = false;
        if (!bos_token.empty()) o.chat.bos_token = bos_token;
        if (!eos_token.empty()) o.chat.eos_token = eos_token;
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.progress = run.progress();
        return delib::run_chat_render(o);
      });
}
