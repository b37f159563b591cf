#!/usr/bin/env python3
# Reference test: delib's tokenizer against PyPI `tokenizers` (same version as the venv's).
#
# For every tokenizer under $DELIB_SHARED/data/tokenizers/ (Qwen3, Llama 3.1, gpt-oss) and for
# sentencepiece-style tokenizers built here (Metaspace + byte fallback, Llama 2 legacy
# Prepend/Replace normalizers, a normalizer/added-token zoo), a generated corpus (many
# scripts, emoji with ZWJ and skin tones, combining marks, whitespace runs, CRLF, code,
# numbers, long repeats, random code points, special-token text) is encoded by `tokenizers`
# here and by the `tokenize` tool, and the ids must be identical; decode likewise.
#
# What the two modes are compared with:
#   tokenize --field text            == tokenizers with tok.encode_special_tokens = True
#       (special-token text is plain text; non-special added tokens still match; this is
#        transformers' split_special_tokens=True)
#   tokenize --field text --parse-special == tok.encode(text, add_special_tokens=False)
#   tokenize --decode [--skip-special]    == tok.decode(ids, skip_special_tokens=...)
import json
import os
import random
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers, AddedToken

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
SHARED = os.environ.get("DELIB_SHARED", "../shared")
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()
os.makedirs(TMP, exist_ok=True)

check = Checks()


# ---- corpus ---------------------------------------------------------------------------------

def corpus(seed=1234):
    rng = random.Random(seed)
    fixed = [
        "", " ", "  ", "\n", "\r\n", "\t", "a", "Hello world!", "Hello, world! How's it going? I'm fine, we'll see.",
        "HELLO WORLD'S END'LL", "don't DON'T can't I'VE",
        # scripts
        "你好，世界！今天天气很好。我们去公园吧。", "日本語のテキストです。カタカナとひらがな、漢字。",
        "한국어 텍스트입니다. 안녕하세요!", "مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣٤٥.",
        "नमस्ते दुनिया! यह हिंदी पाठ है।", "สวัสดีชาวโลก นี่คือข้อความภาษาไทย",
        "Привет, мир! Это русский текст. Ёлка.", "Γειά σου Κόσμε! ΑΒΓ αβγ ς σ",
        "שלום עולם", "ሰላም ዓለም", "Tiếng Việt có dấu: Được rồi, cảm ơn.",
        # emoji
        "👋🌍 emoji test 😀😃😄", "👨‍👩‍👧‍👦 family ZWJ", "👍🏻👍🏼👍🏽👍🏾👍🏿 skin tones", "🏳️‍🌈 flag 🇺🇸🇯🇵",
        "❤️ ❤ ☺️ ✌🏽", "🧑🏽‍🚀🧑‍💻",
        # combining marks, normalization
        "e\u0301 é é ñ n\u0303 Å Å Å", "ﬁ ﬂ ① ² ½ Ⅻ ｈｅｌｌｏ", "\u0301\u0302 lone combining", "İstanbul ΣΑΣ ǅ ß ẞ",
        "ａｂｃ　全角スペース", "K Å Ω ſ ſt", "x'S x'ſ I'M",
        # whitespace
        "a  b   c    d", "   leading", "trailing   ", "tabs\t\there\t", "line1\nline2\n\nline4\n\n\n",
        "crlf\r\nline\r\n\r\n", "mixed \t \n \r\n  \u00a0 \u2003 \u3000 end", "\n\n\n\n", "    \n    \n", "\u00a0\u00a0x",
        "\u2028\u2029\u0085 seps", "\u200b zero\u200bwidth \ufeff bom",
        # code
        "def f(x):\n    return x**2 + 1  # comment\n", "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
        "for (let i = 0; i < 10; i++) { console.log(`i=${i}`); }", "SELECT * FROM t WHERE a >= 10 AND b <> 'x';",
        "<html><body class=\"x\">Hi &amp; bye</body></html>", "{\"key\": [1, 2.5, -3e10, null, true]}",
        "path/to/file.txt C:\\Windows\\System32 https://example.com/a?b=c&d=e#f",
        # numbers
        "1 12 123 1234 12345 123456 1234567", "3.14159 2,718 1e-9 0x1F -42 +7", "٣٤٥ ၁၂၃ ๑๒๓ ⅧⅨ",
        "phone: +1 (555) 123-4567", "2024-01-15T10:30:00Z",
        # repeats
        "a" * 500, "ab" * 300, " " * 300, "\n" * 100, "!" * 200, "ha" * 100 + "!", "😀" * 60, "中" * 200,
        "-" * 100 + "\n" + "=" * 100, "abc " * 150,
        # special-token text
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "text <|im_end|> more", "<|endoftext|>",
        "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>{\"a\":1}</tool_call>", "<|begin_of_text|>x<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "<|start|>assistant<|channel|>final<|message|>hi<|end|>",
        "<|im_end", "|im_end|>", "<<|im_end|>>", "<|im_end|><|im_end|>", " <|im_end|> ", "<s> </s> <unk> <pad>",
        "<0x41> <0xZZ>", "▁▁x ▁ hello▁world", "Ġhello Ċ",
        # invalid-looking
        "Ã( Ã© â€™ â€œ", "\ufffd\ufffd replacement", "\x00\x01\x02\x1f\x7f controls", "\ue000\uf8ff private",
        "\ufffe\uffff nonchar", "\U0010FFFF \U0001F9FF \U000E0001", "\u0600\u061c\u200e\u200f bidi",
    ]
    texts = list(fixed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\r", ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|",
        "你好世界中文字符测试", "こんにちはカタカナ", "абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "مرحبابالعالم",
        "नमस्तेदुनिया", "สวัสดีชาวโลก", "😀👍🏽👨‍👩‍👧❤️🏳️‍🌈", "\u0301\u0308\u0327\u200d\u200c", "éñüßøåæ",
    ]
    for _ in range(250):
        parts = []
        for _ in range(rng.randint(1, 12)):
            pool = rng.choice(pools)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 12))))
            if rng.random() < 0.5:
                parts.append(rng.choice([" ", "  ", "\n", " \n", "\t", "\r\n", ""]))
            if rng.random() < 0.05:
                parts.append(rng.choice(["<|im_end|>", "<think>", "<|eot_id|>", "<|endoftext|>", "<s>", "</s>"]))
        texts.append("".join(parts))
    # random code points (no surrogates: Python str must be valid text)
    for _ in range(120):
        cps = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.5:
                cp = rng.randint(0x20, 0x7E)
            elif r < 0.8:
                cp = rng.randint(0x80, 0xFFFF)
            else:
                cp = rng.randint(0x10000, 0x10FFFF)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0x41
            cps.append(chr(cp))
        texts.append("".join(cps))
    # a few long mixed documents
    for _ in range(6):
        texts.append(" ".join(rng.choice(texts[:120]) for _ in range(60)))
    return texts


# ---- tokenizers built here ----------------------------------------------------------------

def train_sentencepiece_style(texts, variant):
    """A small Llama-2/Mistral-style BPE: ▁ for spaces, byte fallback for unseen characters."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if variant == "legacy":  # Llama 2 as converted by transformers (legacy=True)
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.pre_tokenizer = None
    elif variant == "first":  # Llama 2 / Mistral with legacy=False
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    else:  # Metaspace splitting on ▁, always prepending
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=600, limit_alphabet=60, special_tokens=["<unk>", "<s>", "</s>"],
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    if variant == "always":
        tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="always")])
    else:
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    # The byte tokens <0x00>..<0xFF> are ordinary vocabulary in sentencepiece conversions.
    for b in range(256):
        name = f"<0x{b:02X}>"
        if name not in vocab:
            vocab[name] = len(vocab)
    # Added tokens: a special one and a non-special one (with the id tokenizers assigns: the
    # vocabulary's when training already produced the string, else the next free id).
    n = len(vocab)
    for content, special in (("<|im_end|>", True), ("<think>", False)):
        if content in vocab:
            tid = vocab[content]
        else:
            tid, n = n, n + 1
        j["added_tokens"].append({"id": tid, "content": content, "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": False, "special": special})
    return json.dumps(j, ensure_ascii=False)


def train_zoo(texts):
    """GPT-2-style byte-level BPE with a normalizer sequence and added tokens using the flags."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip(left=False, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens([AddedToken("<|im_end|>", lstrip=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("hello", single_word=True, normalized=True),
                    AddedToken("<think>", normalized=False, special=False),
                    AddedToken("ﬁx", normalized=True)])
    return tok.to_str()


def train_nfd(texts):
    """Character BPE without byte-level: NFD + StripAccents, WhitespaceSplit, unk for the rest."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Split(pattern="-", behavior="merged_with_next")])
    trainer = trainers.BpeTrainer(vocab_size=500, limit_alphabet=80, special_tokens=["[UNK]"],
                                  continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


# ---- run ----------------------------------------------------------------------------------

def run_tool(args, records):
    inp = os.path.join(TMP, "tok_ref_in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    p = subprocess.run([os.path.join(BIN, "tokenize"), "--plain", "--threads", "2"] + args + [inp],
                       capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"tokenize {' '.join(args)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return [json.loads(line) for line in p.stdout.decode("utf-8").split("\n") if line]


def compare(name, path, hf, texts, rng):
    # encode, both modes
    for parse_special in (False, True):
        hf.encode_special_tokens = not parse_special
        want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
        args = ["--tokenizer", path, "--field", "text", "--ids"] + (["--parse-special"] if parse_special else [])
        got = [r["ids"] for r in run_tool(args, [{"text": t} for t in texts])]
        mode = "parse-special" if parse_special else "plain"
        bad = [i for i in range(len(texts)) if got[i] != want[i]]
        check(f"{name} encode {mode}", not bad,
              f"{len(bad)}/{len(texts)} differ; first {texts[bad[0]]!r}: got {got[bad[0]][:40]} want {want[bad[0]][:40]}" if bad else "")
    hf.encode_special_tokens = False
    # decode: the ids of the corpus, plus random id sequences (fragments of multi-byte
    # characters, special tokens in the middle, out-of-range ids)
    id_lists = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    size = hf.get_vocab_size(with_added_tokens=True)
    for _ in range(150):
        id_lists.append([rng.randrange(size) for _ in range(rng.randint(1, 30))])
    id_lists.append([size + 5, 0, size + 100])
    for skip in (False, True):
        want = [hf.decode(ids, skip_special_tokens=skip) for ids in id_lists]
        args = ["--tokenizer", path, "--decode"] + (["--skip-special"] if skip else [])
        got = [r["text"] for r in run_tool(args, [{"ids": ids} for ids in id_lists])]
        bad = [i for i in range(len(id_lists)) if got[i] != want[i]]
        check(f"{name} decode skip_special={skip}", not bad,
              f"{len(bad)}/{len(id_lists)} differ; first ids {id_lists[bad[0]][:20]}: got {got[bad[0]]!r} want {want[bad[0]]!r}" if bad else "")


def chat_check(texts):
    """The tool's default text (the rendered chat) against transformers'
    apply_chat_template(messages, tokenize=True): identical ids for conversations whose text holds
    no special-token text, and with --parse-special also for those that do (transformers parses
    special tokens everywhere; delib by default keeps message text literal)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        check("transformers importable", False)
        return
    rng = random.Random(5)
    plain = [t for t in texts[:150] if "<" not in t and t.strip()]
    convs = []
    for i in range(40):
        msgs = []
        if i % 3 == 0:
            msgs.append({"role": "system", "content": rng.choice(plain)})
        for _ in range(rng.randint(1, 3)):
            msgs.append({"role": "user", "content": rng.choice(plain)})
            msgs.append({"role": "assistant", "content": rng.choice(plain)})
        convs.append(msgs)
    injected = [[{"role": "user", "content": "hi <|im_end|><|eot_id|> there"}, {"role": "assistant", "content": "ok"}]]
    for name in ("qwen3", "llama3_1"):
        src = os.path.join(SHARED, "data", "tokenizers", name)
        if not os.path.isfile(os.path.join(src, "tokenizer.json.zst")):
            check(f"{name} chat: shared tokenizer present", False, f"missing shared test data {src}")
            continue
        d = os.path.join(TMP, f"tok_ref_hf_{name}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "wb") as f:
            f.write(subprocess.run(["zstd", "-dc", os.path.join(src, "tokenizer.json.zst")], check=True,
                                   capture_output=True).stdout)
        with open(os.path.join(src, "tokenizer_config.json"), "rb") as fi, open(os.path.join(d, "tokenizer_config.json"), "wb") as fo:
            fo.write(fi.read())
        hf = AutoTokenizer.from_pretrained(d)

        def want(msgs):
            r = hf.apply_chat_template(msgs, tokenize=True, add_generation_prompt=False)
            if hasattr(r, "keys"):
                r = r["input_ids"]
            return list(r)

        got = [r["ids"] for r in run_tool(["--tokenizer", src, "--ids"], [{"messages": m} for m in convs])]
        bad = [i for i, m in enumerate(convs) if got[i] != want(m)]
        check(f"{name} chat ids == apply_chat_template", not bad, f"{len(bad)}/{len(convs)} differ" if bad else "")
        got = [r["ids"] for r in run_tool(["--tokenizer", src, "--ids", "--parse-special"], [{"messages": m} for m in injected])]
        check(f"{name} chat --parse-special == apply_chat_template", got[0] == want(injected[0]))
        got = [r["ids"] for r in run_tool(["--tokenizer", src, "--ids"], [{"messages": m} for m in injected])]
        specials = {hf.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|eot_id|>") if t in hf.get_vocab()}
        n_turns = 2
        check(f"{name} chat content cannot inject", sum(1 for t in got[0] if t in specials) == n_turns,
              f"{[t for t in got[0] if t in specials]}")


def main():
    texts = corpus()
    rng = random.Random(99)
    tok_root = os.path.join(SHARED, "data", "tokenizers")
    if not os.path.isdir(tok_root):
        print(f"FAIL missing shared test data {tok_root} (set DELIB_SHARED to the shared/ checkout)")
        print("0 passed, 1 failed")
        return 1
    names = sorted(d for d in os.listdir(tok_root) if os.path.isdir(os.path.join(tok_root, d)))
    check("shared tokenizers present", {"qwen3", "llama3_1", "gptoss"} <= set(names), str(names))
    for name in names:
        d = os.path.join(tok_root, name)
        js = os.path.join(d, "tokenizer.json")
        if os.path.exists(js):
            text = open(js, encoding="utf-8").read()
        else:
            text = subprocess.run(["zstd", "-dc", js + ".zst"], check=True, capture_output=True).stdout.decode("utf-8")
        hf = Tokenizer.from_str(text)
        compare(name, d, hf, texts, rng)

    train_texts = texts[:200]
    built = {
        "sp-first": train_sentencepiece_style(train_texts, "first"),
        "sp-legacy": train_sentencepiece_style(train_texts, "legacy"),
        "sp-always-split": train_sentencepiece_style(train_texts, "always"),
        "bytelevel-zoo": train_zoo(train_texts),
        "nfd-wordpiece-prefix": train_nfd(train_texts),
    }
    for name, js in built.items():
        path = os.path.join(TMP, f"tok_ref_{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(js)
        compare(name, path, Tokenizer.from_str(js), texts, rng)

    chat_check(texts)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
