// The local backend: GenRequest -> token ids (chat template or raw prompt) -> Engine ->
// GenResult (text split into reasoning and answer by the chat template).
#include <algorithm>
#include <filesystem>

#include <sys/stat.h>

#include <torch/torch.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/generate.h"

namespace delib {

namespace {

// The eos ids of generation_config.json (an int or a list), when the file exists.
std::vector<int32_t> generation_config_eos(const std::string& model_dir) {
  std::vector<int32_t> out;
  std::filesystem::path p = std::filesystem::path(model_dir) / "generation_config.json";
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return out;  // optional; present but unreadable is an error
  const std::string text = read_text_file(p.string(), "");
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error(Location{p.string(), 0}, std::string("invalid JSON: ") + e.what());
  }
  const Json* eos = j.find("eos_token_id");
  if (!eos) return out;
  if (eos->is_int()) out.push_back(int32_t(eos->as_int()));
  if (eos->is_array()) {
    for (const auto& x : eos->as_array()) {
      if (x.is_int()) out.push_back(int32_t(x.as_int()));
    }
  }
  return out;
}

class LocalBackend : public Backend {
 public:
  LocalBackend(std::string name, std::shared_ptr<CausalLM> model,
               std::shared_ptr<const Tokenizer> tok, EngineOptions options,
               std::vector<int32_t> extra_stop_ids)
      : name_(std::move(name)), tok_(tok), engine_(std::move(model), tok, std::move(options)) {
    if (!tok_) throw Error("the local backend needs a tokenizer");
    if (!tok_->chat_template().empty()) {
      try {
        template_ = ChatTemplate::for_tokenizer(*tok_);
      } catch (const Error& e) {
        template_error_ = e.what();
      }
    } else {
      template_error_ = "the tokenizer has no chat_template; give records a raw `prompt`";
    }
    // Stop ids: eos, generation_config's eos list, and the template's end-of-turn strings that
    // are single tokens. Generation stops after emitting one of them.
    if (auto e = tok_->eos_id()) stop_ids_.push_back(*e);
    for (int32_t id : extra_stop_ids) stop_ids_.push_back(id);
    if (template_) {
      for (const auto& s : template_->stop_strings()) {
        if (auto id = tok_->token_id(s)) stop_ids_.push_back(*id);
      }
    }
    std::sort(stop_ids_.begin(), stop_ids_.end());
    stop_ids_.erase(std::unique(stop_ids_.begin(), stop_ids_.end()), stop_ids_.end());
  }

  std::string name() const override { return name_; }
  int threads() const override { return int(at::get_num_threads()); }

  void generate(const std::vector<GenRequest>& requests,
                const std::function<void(size_t, GenResult)>& done) override {
    std::vector<EngineRequest> ereqs;
    std::vector<size_t> index;  // engine request -> backend request
    ereqs.reserve(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      const GenRequest& g = requests[i];
      EngineRequest e;
      e.prompt_ids = encode(g);
      e.params = g.params;
      e.seed = sample_seed(g.seed, g.key, g.sample);
      e.stop_ids = stop_ids_;
      // A stop string that is exactly one special token also stops by id (cheaper, and it
      // never needs decoding).
      for (const auto& s : g.params.stop) {
        auto id = tok_->token_id(s);
        if (id && tok_->is_special(*id)) e.stop_ids.push_back(*id);
      }
      ereqs.push_back(std::move(e));
      index.push_back(i);
    }
    engine_.run(ereqs, [&](size_t k, EngineResult r) {
      const GenRequest& g = requests[index[k]];
      GenResult out;
      out.text = std::move(r.text);
      out.finish_reason = r.finish_reason;
      out.token_ids = std::move(r.ids);
      if (g.params.logprobs) out.logprobs = std::move(r.logprobs);
      out.prompt_tokens = r.prompt_tokens;
      out.completion_tokens = int64_t(out.token_ids.size());
      bool ok = true;
      if (template_) {
        ParsedCompletion p = template_->parse_completion(out.text);
        out.reasoning = std::move(p.reasoning);
        out.answer = std::move(p.answer);
        ok = p.ok;
      } else {
        out.answer = out.text;
      }
      out.format_ok = ok && out.finish_reason == "stop";
      done(index[k], std::move(out));
    });
  }

  // Token ids of a request's prompt. Raw prompts: bos (when the tokenizer has one) + the text
  // with special-token markup recognised (the caller composed it, as with /v1/completions).
  // Chat: see encode_chat.
  std::vector<int32_t> encode(const GenRequest& g) const {
    if (!g.prompt.empty()) {
      std::vector<int32_t> ids;
      if (auto b = tok_->bos_id()) ids.push_back(*b);
      auto body = tok_->encode(g.prompt, /*parse_special=*/true);
      if (!ids.empty() && !body.empty() && body.front() == ids.front()) ids.clear();
      ids.insert(ids.end(), body.begin(), body.end());
      return ids;
    }
    if (!template_) throw Error("local backend (" + name_ + "): " + template_error_);
    return encode_chat(*template_, *tok_, g.messages);
  }

 private:
  std::string name_;
  std::shared_ptr<const Tokenizer> tok_;
  Engine engine_;
  std::unique_ptr<ChatTemplate> template_;
  std::string template_error_;
  std::vector<int32_t> stop_ids_;
};

}  // namespace

std::vector<int32_t> encode_chat(const ChatTemplate& tpl, const Tokenizer& tok,
                                 const std::vector<Message>& messages) {
  ChatEncodeOptions o;
  o.add_generation_prompt = true;
  return encode_chat(tpl, tok, messages, o).ids;
}

std::unique_ptr<Backend> make_local_backend(std::shared_ptr<CausalLM> model,
                                            std::shared_ptr<const Tokenizer> tokenizer,
                                            EngineOptions options) {
  std::string name = "local:" + model->config().model_type;
  return std::make_unique<LocalBackend>(std::move(name), std::move(model), std::move(tokenizer),
                                        std::move(options), std::vector<int32_t>{});
}

std::unique_ptr<Backend> make_local_backend(const BackendOptions& options) {
  if (options.model.empty()) {
    throw Error(options.flag("backend") + " local needs " + options.flag("model") +
                    " DIR (a Hugging Face checkpoint directory)",
                kExitUsage);
  }
  const torch::Device device = parse_device(options.device, 0, options.flag("device"));
  // Before the model loads, so that loading and every later op run on these threads. The
  // count is per process (LibTorch's global intra-op pool).
  if (options.threads > 0) at::set_num_threads(options.threads);
  auto model = CausalLM::load(options.model, device, options.dtype);
  auto tok = Tokenizer::load(options.model);
  EngineOptions eo;
  eo.batch_size = options.batch_size;
  return std::make_unique<LocalBackend>("local:" + options.model, std::move(model),
                                        std::move(tok), std::move(eo),
                                        generation_config_eos(options.model));
}

void enable_local_backend() {
  register_local_backend_factory(
      [](const BackendOptions& o) { return make_local_backend(o); });
}

}  // namespace delib
