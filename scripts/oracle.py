#!/usr/bin/env python3
"""Produces the forward-pass oracle: Hugging Face transformers (PyTorch, CPU,
float32) on the default model exported to a float32 Hugging Face folder by
`swiftinfer export-hf`. Writes tests/golden/oracle_smollm2.json, which
tests/test_oracle.c checks in CI without PyTorch.

Run on demand (needs torch + transformers, see scripts/setup-oracle-env.sh):
    scripts/setup-oracle-env.sh
    ~/.cache/swiftinfer/pyenv/bin/python scripts/oracle.py

What it records:
  - a War and Peace passage of 1024 tokens and the top-1 id at each position;
    at each of its first 128 positions also the log-sum-exp of the full logit
    row and the logits of 96 token ids (the 48 largest and 48 spread over the
    vocabulary);
  - greedy continuations (64 tokens, end-of-turn not stopping them) of 5
    MT-Bench prompts in the model's chat template.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF = os.environ.get("SWIFTINFER_MODEL") or os.path.expanduser(
    "~/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf")
BOOK = os.path.join(ROOT, "..", "shared", "data", "war_and_peace.txt")
MT_BENCH = os.path.join(ROOT, "data", "mt_bench.jsonl")
OUT = os.path.join(ROOT, "tests", "golden", "oracle_smollm2.json")
PASSAGE_TOKENS = 1024
DETAILED_POSITIONS = 128
KEEP_TOP, KEEP_SPREAD = 48, 48
GREEDY_PROMPTS, GREEDY_TOKENS = 5, 64


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as hf_dir:
        subprocess.run([os.path.join(ROOT, "build", "bin", "swiftinfer"), "export-hf", "--model", GGUF,
                        "--out", hf_dir], check=True)
        tok = AutoTokenizer.from_pretrained(hf_dir)
        model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32)
        model.eval()

        with open(BOOK, encoding="utf-8") as f:
            book = f.read()
        start = book.index("CHAPTER II")
        ids = tok(book[start:start + 20000], add_special_tokens=False)["input_ids"][:PASSAGE_TOKENS]
        assert len(ids) == PASSAGE_TOKENS
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double().numpy()
        vocab = logits.shape[1]
        spread = np.linspace(0, vocab - 1, KEEP_SPREAD).astype(int)
        positions = []
        top1 = [int(i) for i in logits.argmax(-1)]
        for row in logits[:DETAILED_POSITIONS]:
            top = np.argsort(-row)[:KEEP_TOP]
            keep = sorted(set(top.tolist()) | set(spread.tolist()))
            lse = float(np.log(np.exp(row - row.max()).sum()) + row.max())
            positions.append({"lse": lse, "ids": keep, "logits": [float(row[i]) for i in keep]})

        greedy = []
        with open(MT_BENCH, encoding="utf-8") as f:
            questions = [json.loads(line) for line in f if line.strip()]
        for q in questions[:GREEDY_PROMPTS]:
            messages = [{"role": "user", "content": q["turns"][0]}]
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=GREEDY_TOKENS, do_sample=False,
                                     eos_token_id=None, pad_token_id=0, min_new_tokens=0)
            cont = out[0, len(prompt_ids):].tolist()
            assert len(cont) == GREEDY_TOKENS
            greedy.append({"question_id": q["question_id"], "prompt_ids": prompt_ids, "continuation": cont})

    doc = {
        "source": "transformers %s, torch %s, float32, CPU; weights: %s exported by swiftinfer export-hf"
                  % (__import__("transformers").__version__, torch.__version__, os.path.basename(GGUF)),
        "passage": {"text_offset": start, "ids": ids, "top1": top1, "positions": positions},
        "greedy": greedy,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    sys.exit(main())
