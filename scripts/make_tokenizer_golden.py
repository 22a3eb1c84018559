#!/usr/bin/env python3
"""Golden token ids for tests/test_tokenizer.c, from the reference libraries.

Run on demand with the reference environment (the engine never needs Python):

    /root/.cache/swiftinfer/pyenv/bin/python scripts/make_tokenizer_golden.py

It builds the references
  * SmolLM2: a Hugging Face `tokenizers` Tokenizer made from the GGUF metadata
    (read with the `gguf` package): BPE with the GGUF vocabulary and merges,
    pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel(
    add_prefix_space=False, use_regex=True)] ("smollm"), ByteLevel decoder, and
    the CONTROL tokens (token_type 3) as special added tokens;
  * the same vocabulary with Llama-3's pre-tokenizer (Split on Llama-3's regex,
    then ByteLevel without regex, ignore_merges=True): checks the "llama-bpe"
    regex stage and ignore_merges against `tokenizers`;
  * Llama-2: the `sentencepiece` library on the shared tokenizer.model, and on
    two variants of it with another normalizer_spec appended (protobuf merges
    a repeated message field): remove_extra_whitespaces=true ("llama2_rmws")
    and add_dummy_prefix=false ("llama2_noprefix"); the test builds the same
    variants by appending the same bytes,
and writes one JSON line per case to tests/golden/:
    {"text": ..., "special": bool, "ids": [...]}   (no BOS)
    {"hex": ..., "special": false, "ids": [...]}    (Llama-2 only: bytes that
                                                     are not valid UTF-8)
"special": true means special-token strings in the text become their ids
(SI_ENCODE_SPECIAL): `tokenizers` does that for added tokens; for Llama-2,
which sentencepiece cannot do, the reference is sentencepiece on each piece of
text between special strings (what Hugging Face's legacy LlamaTokenizer did).
With "special": false the byte-level reference has encode_special_tokens=True.

Texts: every MT-Bench turn (data/mt_bench.jsonl), hard cases (below), and a
few pages of War and Peace and of Pride and Prejudice (CRLF), from ../shared.
tests/golden/tokenizer_decode_<name>.jsonl holds decoding cases: seeded
random id sequences (rich in byte tokens, so in invalid UTF-8, and in control
tokens) with the reference's text: {"ids": [...], "special": bool, "text": ...}
("special": control tokens rendered, i.e. skip_special_tokens=False).
tests/golden/tokenizer_books.jsonl holds, for each whole book and tokenizer,
the id count and the FNV-1a 64 hash of the ids as little-endian int32 bytes
(the ids themselves would be megabytes).

    --verify-export DIR   checks folders written by si_tokenizer_save_hf
        (test_tokenizer writes DIR/smollm2 and DIR/llama2 when
        SI_TOKENIZER_EXPORT=DIR is set): `tokenizers`, `sentencepiece` and
        `transformers` must load them and give the golden ids. (transformers
        needs the `protobuf` package to read a tokenizer.model; if the
        environment lacks it: pip install --target /tmp/pbdeps protobuf and
        run with PYTHONPATH=/tmp/pbdeps.)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DEFAULT_MODEL = os.path.expanduser("~/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_SPM = os.path.join(SHARED, "tokenizers", "llama2", "tokenizer.model")
GOLDEN = os.path.join(ROOT, "tests", "golden")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")

HARD_CASES = [
    "", " ", "  ", "   leading spaces", "trailing spaces   ", "multiple   spaces   inside",
    "\n", "\n\n\n", "line1\nline2\n\nline4", "a\r\nb\r\n", "\r\n\r\n", "\r", "\t", "tab\tseparated\tvalues",
    "mixed \t \n whitespace \n\t ", " \n \n", "x \n", "end with space ",
    "Hello, world!", "Don't you think it's 'quoted'? I'll, we've, they're, she'd, I'm.",
    "DON'T SHOUT IT'S LOUD, WE'LL SEE", "o'clock rock'n'roll ''double''",
    "café naïve résumé façade coöperate", "Crème brûlée à la française", "e\u0301 (combining acute) vs \u00e9",
    "日本語のテキストです。", "中文分词测试，标点符号。", "한국어 텍스트", "Ελληνικά κείμενα", "Русский текст с ёлкой",
    "עברית", "العربية", "हिन्दी", "ไทย", "Tiếng Việt có dấu",
    "emoji 😀😃😄 and 👍🏽", "family 👨\u200d👩\u200d👧\u200d👦 ZWJ", "flags 🇫🇷🇯🇵", "❤️ heart with VS16", "🧑🏿\u200d🚀",
    "12345", "3.14159", "1,000,000", "phone 555-123-4567", "long number 98765432109876543210",
    "2024-01-01T12:00:00Z", "٣٤٥ Arabic-Indic digits", "Ⅻ roman numeral ½ ² ³", "v1.2.3-rc4", "0x1F 0b1010",
    "!!!???...", "----====****", "((([[[{{{}}}]]])))", "a.b,c;d:e!f?g", "~`@#$%^&*_+=|\\/<>", "...and...",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "text<|endoftext|>more", "<s>[INST] Hi [/INST]", "Hi</s> there", "<unk>", "a <s> b",
    "<|im_end|><|im_end|>", "<|im_start", "<|notatoken|>", "<|im_start|> spaced <|im_end|> ",
    "def f(x):\n    return x ** 2  # comment\n", "    indented code\n\tand tab", "{\"json\": [1, 2, 3]}",
    "https://example.com/path?q=1&r=2", "user@example.com",
    "\u00a0non-breaking\u00a0space", "\u3000ideographic space", "zero\u200bwidth", "\u0085NEL char", "a\u0085\u0085!",
    "\u2028line sep", "\ufeffBOM", "\u180emongolian", "nul\u0000byte", "bell\u0007 and \u001b[0m escape",
    "a" * 300, " " * 100, "\n" * 50, "ab" * 150, "😀" * 20, " \t" * 40, "x" * 7 + " " * 7 + "y" * 7,
    "ĠĊ literal byte-level chars", "▁ lower one eighth block ▁▁", "the\u2581char",
    "A", "Ω", "ß", "İstanbul", "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ",
]

INVALID_UTF8 = [b"a\xffb", b"\xe6\x97", b"\xed\xa0\x80", b"\xc0\x80x", b"\xf0\x9f\x98a", b"ok \xe2\x82 then",
                b"\x80\x80\x80", b"tail \xf4\x90\x80\x80", b"\xfe\xff mixed caf\xc3\xa9"]

SPECIAL_STRINGS_LLAMA2 = ["<s>", "</s>", "<unk>"]

# normalizer_spec (field 3) holding one bool: remove_extra_whitespaces (4) / add_dummy_prefix (3)
SPM_VARIANTS = {"llama2_rmws": b"\x1a\x02\x20\x01", "llama2_noprefix": b"\x1a\x02\x18\x00"}


def arr(fields, key):
    f = fields[key]
    return [f.contents(i) for i in range(len(f.data))]


def smollm2_vocab(model_path):
    from gguf import GGUFReader
    fields = GGUFReader(model_path).fields
    tokens = arr(fields, "tokenizer.ggml.tokens")
    types = arr(fields, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in arr(fields, "tokenizer.ggml.merges")]
    pre = fields["tokenizer.ggml.pre"].contents()
    assert pre == "smollm", pre
    return tokens, types, merges


def byte_level_reference(tokens, types, merges, llama3):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=llama3))
    if llama3:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    return tok


def hf_ids(tok, text, special):
    tok.encode_special_tokens = not special
    return tok.encode(text, add_special_tokens=False).ids


def spm_ids(sp, text, special, specials):
    if not special:
        return sp.encode(text)
    ids, i, seg = [], 0, 0
    while i < len(text):  # leftmost-longest special string
        hit = max((s for s in specials if text.startswith(s, i)), key=len, default=None)
        if hit is None:
            i += 1
            continue
        if i > seg:
            ids += sp.encode(text[seg:i])
        ids.append(sp.piece_to_id(hit))
        i = seg = i + len(hit)
    return ids + (sp.encode(text[seg:]) if seg < len(text) else [])


def pages(path, starts, length, newline):
    with open(path, encoding="utf-8", newline=newline) as f:
        text = f.read()
    return [text[s:s + length] for s in starts]


def all_texts():
    with open(os.path.join(ROOT, "data", "mt_bench.jsonl"), encoding="utf-8") as f:
        turns = [t for line in f if line.strip() for t in json.loads(line)["turns"]]
    books = pages(os.path.join(SHARED, "data", "war_and_peace.txt"), [0, 400000, 1500000, 3000000], 6000, None)
    books += pages(os.path.join(SHARED, "data", "pride_and_prejudice.txt"), [20000, 350000], 6000, "")
    return turns, HARD_CASES, books


def has_special(text, specials):
    return any(s in text for s in specials)


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} cases, {os.path.getsize(path)} bytes")


def make(args):
    import sentencepiece as spm
    turns, hard, books = all_texts()
    texts = turns + hard + books
    tokens, types, merges = smollm2_vocab(args.model)
    specials = [t for t, ty in zip(tokens, types) if ty == 3]
    for name, llama3, cases in (("smollm2", False, texts), ("llama3regex", True, hard + books[:2])):
        ref = byte_level_reference(tokens, types, merges, llama3)
        rows = [{"text": t, "special": False, "ids": hf_ids(ref, t, False)} for t in cases]
        rows += [{"text": t, "special": True, "ids": hf_ids(ref, t, True)} for t in cases if has_special(t, specials)]
        write(os.path.join(GOLDEN, f"tokenizer_{name}.jsonl"), rows)
    sp = spm.SentencePieceProcessor(model_file=args.spm)
    rows = [{"text": t, "special": False, "ids": spm_ids(sp, t, False, None)} for t in texts]
    rows += [{"text": t, "special": True, "ids": spm_ids(sp, t, True, SPECIAL_STRINGS_LLAMA2)}
             for t in hard if has_special(t, SPECIAL_STRINGS_LLAMA2)]
    rows += [{"hex": b.hex(), "special": False, "ids": sp.encode(b)} for b in INVALID_UTF8]
    write(os.path.join(GOLDEN, "tokenizer_llama2.jsonl"), rows)
    with open(args.spm, "rb") as f:
        model = f.read()
    for name, extra in SPM_VARIANTS.items():
        variant = spm.SentencePieceProcessor(model_proto=model + extra)
        rows = [{"text": t, "special": False, "ids": variant.encode(t)} for t in hard + books[:1]]
        write(os.path.join(GOLDEN, f"tokenizer_{name}.jsonl"), rows)
    smollm2 = byte_level_reference(tokens, types, merges, False)
    make_decode(smollm2, tokens, types, sp)
    make_books(smollm2, sp)


def fnv1a64(ids):
    h = 0xcbf29ce484222325
    for b in b"".join(i.to_bytes(4, "little", signed=True) for i in ids):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def make_books(smollm2, sp):
    rows = []
    for name, newline in (("war_and_peace.txt", ""), ("pride_and_prejudice.txt", "")):
        with open(os.path.join(SHARED, "data", name), encoding="utf-8", newline=newline) as f:
            text = f.read()
        for tok_name, ids in (("smollm2", hf_ids(smollm2, text, False)), ("llama2", sp.encode(text))):
            rows.append({"tokenizer": tok_name, "file": name, "n_ids": len(ids), "fnv1a64": fnv1a64(ids)})
    write(os.path.join(GOLDEN, "tokenizer_books.jsonl"), rows)


def random_id_sequences(n_vocab, byte_ids, special_ids, seed):
    import random
    rng = random.Random(seed)
    seqs = []
    for k in range(300):
        pool = [lambda: rng.randrange(n_vocab), lambda: rng.choice(byte_ids), lambda: rng.choice(special_ids)]
        weights = [5, 4, 1]
        seqs.append([rng.choices(pool, weights)[0]() for _ in range(1 + k % 30)])
    return seqs


def make_decode(smollm2, tokens, types, sp):
    b2u = bytes_to_unicode()
    vocab = {t: i for i, t in enumerate(tokens)}
    byte_ids = [vocab[b2u[b]] for b in range(0x80, 0x100) if b2u[b] in vocab]
    specials = [i for i, ty in enumerate(types) if ty == 3]
    rows = []
    for ids in random_id_sequences(len(tokens), byte_ids, specials, 1):
        for special in (False, True):
            rows.append({"ids": ids, "special": special, "text": smollm2.decode(ids, skip_special_tokens=not special)})
    write(os.path.join(GOLDEN, "tokenizer_decode_smollm2.jsonl"), rows)
    byte_ids = [sp.piece_to_id(f"<0x{b:02X}>") for b in range(0x80, 0x100)]
    rows = [{"ids": ids, "special": False, "text": sp.decode(ids)}
            for ids in random_id_sequences(sp.get_piece_size(), byte_ids, [0, 1, 2], 2)]
    write(os.path.join(GOLDEN, "tokenizer_decode_llama2.jsonl"), rows)


def bytes_to_unicode():
    """GPT-2's byte -> character table (as in its encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def load_golden(name):
    with open(os.path.join(GOLDEN, f"tokenizer_{name}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def report(what, rows, got):
    ok = sum(1 for r, g in zip(rows, got) if r["ids"] == g)
    print(f"{what}: {ok}/{len(rows)} exact")
    for r, g in zip(rows, got):
        if r["ids"] != g:
            i = next((k for k, (a, b) in enumerate(zip(r["ids"], g)) if a != b), min(len(g), len(r["ids"])))
            print(f"  first mismatch: {r.get('text', r.get('hex'))[:60]!r}, at id {i}:\n"
                  f"    golden {r['ids'][max(0, i - 3):i + 5]}\n    got    {g[max(0, i - 3):i + 5]}")
            break
    return ok == len(rows)


def verify_export(args):
    import sentencepiece as spm
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    good = True
    folder = os.path.join(args.verify_export, "smollm2")
    rows = load_golden("smollm2")
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    good &= report("tokenizers on exported smollm2/tokenizer.json", rows,
                   [hf_ids(tok, r["text"], r["special"]) for r in rows])
    auto = AutoTokenizer.from_pretrained(folder)
    # transformers always turns special-token text into ids
    plain = [r for r in rows if r["special"] or not has_special(r["text"], auto.all_special_tokens)]
    good &= report("transformers AutoTokenizer on exported smollm2", plain,
                   [auto.encode(r["text"], add_special_tokens=False) for r in plain])
    print(f"  {type(auto).__name__}: bos={auto.bos_token!r} eos={auto.eos_token!r} "
          f"chat_template={'yes' if auto.chat_template else 'no'}")

    folder = os.path.join(args.verify_export, "llama2")
    rows = [r for r in load_golden("llama2") if not r["special"]]
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    good &= report("sentencepiece on exported llama2/tokenizer.model", rows,
                   [sp.encode(bytes.fromhex(r["hex"]) if "hex" in r else r["text"]) for r in rows])
    auto = AutoTokenizer.from_pretrained(folder)
    text_rows = [r for r in rows if "text" in r and not has_special(r["text"], SPECIAL_STRINGS_LLAMA2)]
    got = [auto.encode(r["text"], add_special_tokens=False) for r in text_rows]
    # transformers converts tokenizer.model into its own fast tokenizer, which
    # differs from sentencepiece on some runs of spaces: report that, and
    # require the same result as transformers on the original model file.
    report("transformers AutoTokenizer on exported llama2 (vs sentencepiece)", text_rows, got)
    with tempfile.TemporaryDirectory() as orig:
        shutil.copy(args.spm, os.path.join(orig, "tokenizer.model"))
        shutil.copy(os.path.join(folder, "tokenizer_config.json"), orig)
        ref = AutoTokenizer.from_pretrained(orig)
        same = [dict(r, ids=ref.encode(r["text"], add_special_tokens=False)) for r in text_rows]
    good &= report("transformers AutoTokenizer on exported llama2 (vs the original tokenizer.model)", same, got)
    print(f"  {type(auto).__name__}: bos={auto.bos_token!r} eos={auto.eos_token!r}")
    return 0 if good else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="SmolLM2 GGUF file")
    ap.add_argument("--spm", default=DEFAULT_SPM, help="Llama-2 tokenizer.model")
    ap.add_argument("--verify-export", metavar="DIR", help="check folders written by si_tokenizer_save_hf")
    args = ap.parse_args()
    if args.verify_export:
        return verify_export(args)
    os.makedirs(GOLDEN, exist_ok=True)
    make(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
