#!/usr/bin/env python3
"""Golden token ids of 3-round conversations in each chat template, from
Hugging Face's apply_chat_template (transformers). tests/test_templates.c
rebuilds the same conversations with our si_chat_* functions and compares.

Run on demand with the oracle environment (scripts/setup-oracle-env.sh):
    ~/.cache/swiftinfer/pyenv/bin/python scripts/make_template_golden.py

Tokenizers: ChatML on SmolLM2's own tokenizer and Jinja template (from the
default GGUF); Llama-2 and Vicuna v1.1 on the Llama-2 SentencePiece model
(../shared/tokenizers/llama2); Llama-3 on a small byte-level BPE trained here
with Llama-3's pre-tokenizer and special tokens (no Llama-3 tokenizer can be
downloaded here), saved beside the golden file so the C test loads the same one.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_tokenizer_golden as tg  # noqa: E402

import shutil  # noqa: E402
import tempfile  # noqa: E402

from transformers import AutoTokenizer, PreTrainedTokenizerFast  # noqa: E402

GGUF = os.environ.get("SWIFTINFER_MODEL") or os.path.expanduser("~/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf")
LLAMA2 = os.path.join(ROOT, "..", "shared", "tokenizers", "llama2", "tokenizer.model")
OUT_DIR = os.path.join(ROOT, "tests", "golden", "templates")

# Meta's Llama-2-chat template, as published with the model's tokenizer_config.json.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

# FastChat's vicuna_v1.1 conversation format (sep " ", sep2 "</s>") as a Jinja template.
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions.")
VICUNA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set system = '" + VICUNA_SYSTEM.replace("'", "\\'") + "' %}"
    "{% set loop_messages = messages %}{% endif %}{{ bos_token + system }}"
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}"
    "{% if loop.first %}{{ ' ' }}{% endif %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% else %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")

# Meta's Llama-3-Instruct template.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

ANSWERS = [
    "Sure! Here are three ideas:\n\n1. Visit the **volcano** at dawn.\n2. Try poke — it's delicious.\n3. Snorkel at Hanauma Bay 🐠.",
    "  Absolutely, a short reply with trailing spaces and a tab\t ",
]


def conversations():
    with open(os.path.join(ROOT, "data", "mt_bench.jsonl"), encoding="utf-8") as f:
        qs = [json.loads(line) for line in f if line.strip()]
    users = [qs[0]["turns"][0], qs[0]["turns"][1], "  And one more question, with spaces around it?  "]
    for system in (None, "You are a concise assistant. Answer in English."):
        msgs = [] if system is None else [{"role": "system", "content": system}]
        for i, u in enumerate(users):
            msgs.append({"role": "user", "content": u})
            if i < len(ANSWERS):
                msgs.append({"role": "assistant", "content": ANSWERS[i]})
        yield system, msgs


def llama3_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(tg.LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=LLAMA3_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    with open(os.path.join(ROOT, "data", "mt_bench.jsonl"), encoding="utf-8") as f:
        texts = [t for line in f if line.strip() for t in json.loads(line)["turns"]]
    tok.train_from_iterator(texts + ANSWERS, trainer)
    path = os.path.join(OUT_DIR, "llama3_tokenizer.json")
    tok.save(path)
    return PreTrainedTokenizerFast(tokenizer_file=path, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")


def llama2_tokenizer():
    """transformers' Llama tokenizer on the shared tokenizer.model. legacy=True:
    text after a special token gets SentencePiece's dummy prefix, which is what
    the published fast tokenizer does ("<s>[INST]" -> 1, 518, 25580, 29962) and
    what Meta's reference code does (each segment encoded on its own)."""
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(LLAMA2, os.path.join(d, "tokenizer.model"))
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                       "unk_token": "<unk>", "add_bos_token": False, "legacy": True}, f)
        return AutoTokenizer.from_pretrained(d)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    tokens, types, merges = tg.smollm2_vocab(GGUF)
    from gguf import GGUFReader
    chatml_template = GGUFReader(GGUF).fields["tokenizer.chat_template"].contents()
    smol = PreTrainedTokenizerFast(tokenizer_object=tg.byte_level_reference(tokens, types, merges, False),
                                   bos_token="<|im_start|>", eos_token="<|im_end|>")
    llama2 = llama2_tokenizer()
    setups = [("chatml", "smollm2-gguf", smol, chatml_template),
              ("llama2", "llama2-shared", llama2, LLAMA2_TEMPLATE),
              ("vicuna", "llama2-shared", llama2, VICUNA_TEMPLATE),
              ("llama3", "llama3_tokenizer.json", llama3_tokenizer(), LLAMA3_TEMPLATE)]
    rows = []
    for name, source, tok, template in setups:
        for system, msgs in conversations():
            text = tok.apply_chat_template(msgs, chat_template=template, add_generation_prompt=True, tokenize=False)
            ids = tok(text, add_special_tokens=False)["input_ids"]
            rows.append({"template": name, "tokenizer": source, "system": system,
                         "messages": msgs, "rendered": text, "ids": ids})
    out = os.path.join(OUT_DIR, "conversations.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("wrote", out, len(rows), "conversations")


if __name__ == "__main__":
    main()
