// chat-render: what exactly will the model see? Renders the `messages` of each record with a
// model's chat template (delib::ChatTemplate) and writes the text, and optionally its turn
// spans, into the record; or splits generated completions back into reasoning and answer.
#include <set>

#include <fmt/format.h>

#include "delib/chat.h"
#include "delib/cli.h"
#include "delib/progress.h"
#include "delib/records.h"

namespace {

delib::Json spans_json(const std::vector<delib::TurnSpan>& spans) {
  delib::Json a = delib::Json::array();
  for (const auto& s : spans) {
    delib::Json o = delib::Json::object();
    o.set("message", s.message_index == delib::kTemplateText ? delib::Json() : delib::Json(s.message_index));
    o.set("role", s.role);
    o.set("begin", s.begin);
    o.set("end", s.end);
    if (s.target_end > s.target_begin) {
      o.set("target_begin", s.target_begin);
      o.set("target_end", s.target_end);
    }
    a.push(std::move(o));
  }
  return a;
}

}  // namespace

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
      "tokenizer_config.json), or --format NAME for model files that carry none. delib recognises the template family (Qwen3, Qwen2/2.5, Llama 3, "
      "Llama 3.1/3.2/3.3, gpt-oss harmony, plain ChatML) and renders it in C++; an unrecognised "
      "template is an error (exit 1), never a guess.\n"
      "\n"
      "Reasoning is kept or dropped as the template does: Qwen3 keeps it only for assistant turns "
      "after the last user query, gpt-oss only for a final assistant turn rendered without a "
      "generation prompt, Llama 3 and ChatML never. --keep-reasoning keeps it in every assistant "
      "turn (for Llama 3 and ChatML as \"<think>\\nREASONING\\n</think>\\n\\n\" before the answer, "
      "delib's convention).\n"
      "\n"
      "--spans adds `spans`: one object per turn, {message, role, begin, end} with byte offsets "
      "into the UTF-8 text (message is null for text the template adds on its own, and equals "
      "the number of messages for the generation prompt), and for assistant turns "
      "target_begin/target_end: the bytes the model learns to produce (reasoning, answer and the "
      "end-of-turn token text, not the role header). The spans tile the text.\n"
      "\n"
      "--parse FIELD splits a generated completion (the text after the generation prompt) into "
      "`reasoning` and `answer` and sets `parse_ok`: Qwen3/Llama 3/ChatML by <think>...</think>, "
      "gpt-oss by its analysis and final channels.";
  info.examples =
      "# what will Qwen3 see for these chats?\n"
      "chat-render --tokenizer models/Qwen3-8B --raw chats.jsonl | less\n"
      "# add the prompt text with a generation prompt, and the spans of each turn\n"
      "chat-render --tokenizer models/Qwen3-8B --add-generation-prompt --spans chats.jsonl -o prompts.jsonl.zst\n"
      "# Llama 3.1 with a fixed date in its system header\n"
      "chat-render --chat-template llama31.jinja --date-string '05 Mar 2025' chats.jsonl\n"
      "# split gpt-oss completions into reasoning and answer\n"
      "chat-render --tokenizer models/gpt-oss-20b --parse completion gen.jsonl.zst -o parsed.jsonl.zst\n"
      "# which family is this template?\n"
      "chat-render --tokenizer models/Llama-3.1-8B-Instruct --detect\n";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  std::string tokenizer, template_file, template_deprecated, format, field = "text", parse_field;
  bool add_generation_prompt = false, keep_reasoning = false, spans = false, raw = false,
       detect = false, no_thinking = false;
  std::string date_string, current_date, reasoning_effort, model_identity, bos_token;
  CLI::Option* template_alias = nullptr;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run, /*with_threads=*/false);
        const char* g = "Template";
        auto* tok = app.add_option("--tokenizer", tokenizer,
                                   "Model directory (or tokenizer_config.json) whose chat template to use")
                        ->type_name("PATH")->group(g);
        auto* tpl = app.add_option("--chat-template", template_file,
                                   "Chat template file (Jinja text, or a tokenizer_config.json)")
                        ->type_name("FILE")->group(g)->excludes(tok);
        // The flag's old name, before every tool called it --chat-template: still accepted,
        // with a warning; hidden from --help and the docs. Its conflicts are checked below
        // rather than with excludes(), which would list it in the other options' --help.
        template_alias = app.add_option("--template", template_deprecated, "Deprecated name of --chat-template")
            ->type_name("FILE")->group("");
        app.add_option("--format", format,
                       "Use a known template by name instead of the model's: qwen3, qwen2.5, llama3, llama3.1, "
                       "llama3.2, llama3.3, gpt-oss, chatml (for model files without a chat template)")
            ->type_name("NAME")->group(g)->excludes(tpl);
        app.add_option("--date-string", date_string,
                       "Llama 3.1-3.3: the date_string argument (\"Today Date:\" in the system header; "
                       "default: the template's, 26 Jul 2024, or today for Llama 3.2)")
            ->type_name("DATE")->group(g);
        app.add_option("--current-date", current_date,
                       "gpt-oss: \"Current date:\" of the system message (default: today, YYYY-MM-DD)")
            ->type_name("YYYY-MM-DD")->group(g);
        app.add_option("--reasoning-effort", reasoning_effort,
                       "gpt-oss: reasoning_effort (default: medium)")
            ->check(CLI::IsMember({"low", "medium", "high"}))->group(g);
        app.add_option("--model-identity", model_identity,
                       "gpt-oss: model_identity, the first line of the system message (default: the "
                       "template's, \"You are ChatGPT, a large language model trained by OpenAI.\")")
            ->type_name("TEXT")->group(g);
        app.add_flag("--no-thinking", no_thinking,
                     "Qwen3: enable_thinking=False (the generation prompt ends with an empty <think> block)")
            ->group(g);
        app.add_option("--bos-token", bos_token,
                       "The bos_token the template prints (default: tokenizer_config.json's, else <|begin_of_text|>)")
            ->type_name("TEXT")->group(g);
        const char* r = "Rendering";
        app.add_flag("--add-generation-prompt", add_generation_prompt,
                     "End with the assistant header the model continues from (add_generation_prompt=True)")
            ->group(r);
        app.add_flag("--keep-reasoning", keep_reasoning,
                     "Render the reasoning of every assistant turn, also where the template drops it")
            ->group(r);
        app.add_option("--field", field, "Record field to write the rendered text to")
            ->capture_default_str()->group(r);
        app.add_flag("--spans", spans, "Also write `spans`, the byte ranges of each turn (see DESCRIPTION)")
            ->group(r);
        app.add_flag("--raw", raw,
                     "Print the rendered text itself to stdout, records separated by a blank line, instead of records")
            ->group(r);
        app.add_option("--parse", parse_field,
                       "Instead of rendering: split the completion in FIELD into `reasoning`, `answer` and `parse_ok`")
            ->type_name("FIELD")->group(r)->excludes("--raw")->excludes("--spans");
        app.add_flag("--detect", detect,
                     "Print the recognised template family, variant and stop strings as one JSON line, and exit")
            ->group(r);
      },
      [&]() -> int {
        if (template_alias->count() > 0) {
          if (!tokenizer.empty() || !template_file.empty() || !format.empty())
            throw delib::Error("--template (the old name of --chat-template) excludes --tokenizer, "
                               "--chat-template and --format", delib::kExitUsage);
          delib::cli::warn("--template is deprecated: use --chat-template");
          template_file = template_deprecated;
        }
        if (tokenizer.empty() && template_file.empty() && format.empty())
          throw delib::Error("one of --tokenizer, --chat-template or --format is required", delib::kExitUsage);
        delib::ChatOptions opt;
        if (!date_string.empty()) opt.date_string = date_string;
        if (!current_date.empty()) opt.current_date = current_date;
        if (!reasoning_effort.empty()) opt.reasoning_effort = reasoning_effort;
        if (!model_identity.empty()) opt.model_identity = model_identity;
        if (no_thinking) opt.enable_thinking = false;
        if (!bos_token.empty()) opt.bos_token = bos_token;
        if (!format.empty() && !tokenizer.empty() && !opt.bos_token) {
          // --tokenizer with --format: the format's template, the model's bos_token.
          std::string bos;
          try {
            delib::read_chat_template(tokenizer, &bos);
          } catch (const delib::Error&) {
          }
          if (!bos.empty()) opt.bos_token = bos;
        }
        auto chat = !format.empty() ? delib::ChatTemplate::from_variant(format, opt)
                                    : delib::ChatTemplate::from_path(tokenizer.empty() ? template_file : tokenizer, opt);

        if (detect) {
          delib::Json o = delib::Json::object();
          o.set("family", delib::chat_family_name(chat->family()));
          o.set("variant", chat->variant());
          o.set("generation_prompt", chat->generation_prompt());
          delib::Json stops = delib::Json::array();
          for (auto& s : chat->stop_strings()) stops.push(s);
          o.set("stop_strings", std::move(stops));
          fmt::print("{}\n", o.dump());
          return delib::kExitOk;
        }

        delib::RecordReader reader(io.inputs, io.read_options());
        std::unique_ptr<delib::RecordWriter> writer;
        if (!raw) writer = std::make_unique<delib::RecordWriter>(io.output, io.write_options());
        delib::Progress progress("records", -1, run.progress());
        delib::Record rec;
        bool first = true;
        std::set<std::string> silent_roles;
        while (reader.next(rec)) {
          progress.add();
          if (!parse_field.empty()) {
            auto completion = rec.get_string(parse_field);
            if (!completion)
              throw delib::Error(rec.where(), "field '" + parse_field + "': missing");
            auto p = chat->parse_completion(*completion);
            rec.set("reasoning", p.reasoning);
            rec.set("answer", p.answer);
            rec.set("parse_ok", p.ok);
            writer->write(rec);
            continue;
          }
          delib::Rendered out;
          auto messages = rec.messages();
          // delib::Message carries no tool calls; rendering a turn without them would silently
          // differ from what the template makes of it.
          for (size_t i = 0; i < messages.size(); ++i) {
            auto calls = rec.path("messages." + std::to_string(i) + ".tool_calls");
            if (calls && !calls->is_null() && !(calls->is_array() && calls->as_array().empty()))
              throw delib::Error(rec.where(), "message " + std::to_string(i) +
                                                  ": tool_calls are not supported by delib's chat "
                                                  "templates (render tool results as `tool` turns)");
          }
          try {
            out = chat->render(messages, add_generation_prompt, keep_reasoning);
          } catch (const delib::Error& e) {
            if (!e.where().file.empty()) throw;
            throw delib::Error(rec.where(), e.what(), e.exit_code());
          }
          // A turn the template renders as nothing (e.g. `developer` in Qwen3's template, a
          // second system turn in gpt-oss's) is what transformers does too, but rarely what
          // the user meant: say so once per role.
          for (const auto& sp : out.spans) {
            if (sp.message_index < messages.size() && sp.begin == sp.end &&
                !messages[sp.message_index].content.empty() && silent_roles.insert(sp.role).second)
              delib::cli::warn(rec.where().str() + ": message " + std::to_string(sp.message_index) +
                               " (role " + sp.role + ") is not rendered by this " + chat->variant() +
                               " template (as in transformers); further such turns are not reported");
          }
          if (raw) {
            fmt::print("{}{}", first ? "" : "\n\n", out.text);
            first = false;
            continue;
          }
          rec.set(field, out.text);
          if (spans) rec.set("spans", spans_json(out.spans));
          writer->write(rec);
        }
        progress.finish();
        if (raw && !first) fmt::print("\n");
        if (writer) writer->close();
        return delib::kExitOk;
      });
}
