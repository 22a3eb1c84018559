#!/usr/bin/env python3
"""The PyTorch original of StreamingLLM, as a baseline for `swiftinfer run`:
Hugging Face transformers' Llama modules (embeddings, RMSNorm, projections,
MLP, head, rotary embedding) with the original's attention patch, re-written
here from the paper's description:
  - the cache keeps keys WITHOUT RoPE; at every step the whole cached key
    tensor is rotated to positions 0..L-1 and the new queries to the
    positions after it ("pos shift");
  - each layer's K and V grow by torch.cat at every step, and before each
    round the cache is cut to the first `start` entries plus the most recent
    ones that leave room for the prompt and the reply ("evict for space",
    recent = max_input + max_new - start, as SwiftInfer sets it);
  - greedy decoding, one token at a time, the argmax read back each step.
MT-Bench turns are fed as one endless conversation (the model's chat template
on each user turn), EOS ignored so that every reply has max_new tokens.

    python bench/torch_streaming_llm.py --model HF_DIR --input data/mt_bench.jsonl \\
        --rounds 20 --max-new-tokens 128 --threads 2 [--device cpu|cuda] [--dtype float32|float16]
Prints per-round lines and a total line; --json appends the totals as JSON."""
import argparse
import json
import os
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv


class StartRecentCache:
    """Per layer: un-rotated keys and values [1, n_kv, L, head_dim]."""

    def __init__(self, n_layers):
        self.k = [None] * n_layers
        self.v = [None] * n_layers

    def length(self):
        return 0 if self.k[0] is None else self.k[0].shape[2]

    def evict_for_space(self, start, recent, coming):
        n = self.length()
        if n + coming <= start + recent:
            return
        keep_from = n - recent + coming
        for i in range(len(self.k)):
            self.k[i] = torch.cat((self.k[i][:, :, :start], self.k[i][:, :, keep_from:]), dim=2)
            self.v[i] = torch.cat((self.v[i][:, :, :start], self.v[i][:, :, keep_from:]), dim=2)


@torch.no_grad()
def forward(model, ids, cache):
    """Logits of the last position after feeding ids [1, T] on top of the cache."""
    inner = model.model
    T = ids.shape[1]
    past = cache.length()
    L = past + T
    x = inner.embed_tokens(ids)
    # pos shift: positions are cache positions, recomputed every step
    cos_all, sin_all = inner.rotary_emb(x, torch.arange(L, device=ids.device)[None])
    q_cos, q_sin = cos_all[:, past:], sin_all[:, past:]
    mask = None
    if T > 1:
        mask = torch.full((T, L), float("-inf"), device=ids.device, dtype=x.dtype).triu(past + 1)
    for i, layer in enumerate(inner.layers):
        att = layer.self_attn
        h = layer.input_layernorm(x)
        shape = (1, T, -1, att.head_dim)
        q = att.q_proj(h).view(shape).transpose(1, 2)
        k = att.k_proj(h).view(shape).transpose(1, 2)
        v = att.v_proj(h).view(shape).transpose(1, 2)
        if cache.k[i] is not None:
            k = torch.cat((cache.k[i], k), dim=2)
            v = torch.cat((cache.v[i], v), dim=2)
        cache.k[i], cache.v[i] = k, v
        q, _ = apply_rotary_pos_emb(q, q, q_cos, q_sin)
        _, kr = apply_rotary_pos_emb(k, k, cos_all, sin_all)
        kr = repeat_kv(kr, att.num_key_value_groups)
        vr = repeat_kv(v, att.num_key_value_groups)
        s = torch.matmul(q, kr.transpose(2, 3)) * att.scaling
        if mask is not None:
            s = s + mask
        p = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(p, vr).transpose(1, 2).reshape(1, T, -1)
        x = x + att.o_proj(o)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(inner.norm(x[:, -1:]))[0, -1]


def user_turns(path, rounds):
    turns = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                turns += json.loads(line)["turns"]
    return turns[:rounds]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face folder")
    ap.add_argument("--input", required=True, help="MT-Bench style JSONL")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--max-input-tokens", type=int, default=2048)
    ap.add_argument("--start-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--json", help="append the totals as a JSON line")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev, dtype = a.device, getattr(torch, a.dtype)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).to(dev).eval()
    cache = StartRecentCache(len(model.model.layers))
    recent = a.max_input_tokens + a.max_new_tokens - a.start_size
    forward(model, torch.tensor([[1, 2, 3, 4]], device=dev), StartRecentCache(len(model.model.layers)))  # warm-up
    totals = {"prompt_tokens": 0, "generated": 0, "prefill_s": 0.0, "decode_s": 0.0}
    history = []
    for r, turn in enumerate(user_turns(a.input, a.rounds)):
        # the new round's tokens: the template's rendering of the history plus this turn, minus what came before
        before = tok.apply_chat_template(history, tokenize=False) if history else ""
        history.append({"role": "user", "content": turn})
        full = tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        ids = tok(full[len(before):], add_special_tokens=False)["input_ids"][-a.max_input_tokens:]
        cache.evict_for_space(a.start_size, recent, len(ids) + a.max_new_tokens)
        sync()
        t0 = time.time()
        logits = forward(model, torch.tensor([ids], device=dev), cache)
        nxt = int(logits.argmax().item())
        sync()
        t1 = time.time()
        reply = [nxt]
        for _ in range(a.max_new_tokens - 1):
            logits = forward(model, torch.tensor([[nxt]], device=dev), cache)
            nxt = int(logits.argmax().item())
            reply.append(nxt)
        # the reply's last token is fed too, as swiftinfer feeds every generated token
        forward(model, torch.tensor([[nxt]], device=dev), cache)
        sync()
        t2 = time.time()
        history.append({"role": "assistant", "content": tok.decode(reply, skip_special_tokens=True)})
        totals["prompt_tokens"] += len(ids)
        totals["generated"] += len(reply)
        totals["prefill_s"] += t1 - t0
        totals["decode_s"] += t2 - t1
        print(f"[round {r + 1}] prompt {len(ids)} tokens | reply {len(reply)} tokens | prefill {len(ids) / (t1 - t0):.1f} "
              f"tokens/s | decode {len(reply) / (t2 - t1):.1f} tokens/s | cache {cache.length()}", flush=True)
    wall = totals["prefill_s"] + totals["decode_s"]
    totals.update({"impl": "torch-original", "torch": torch.__version__, "device": dev, "dtype": a.dtype,
                   "threads": torch.get_num_threads(), "rounds": a.rounds, "max_new_tokens": a.max_new_tokens,
                   "decode_tokens_per_s": totals["generated"] / totals["decode_s"],
                   "overall_generation_tokens_per_s": totals["generated"] / wall})
    print(f"== torch original: {totals['generated']} generated tokens, decode {totals['decode_tokens_per_s']:.2f} tokens/s, "
          f"overall {totals['overall_generation_tokens_per_s']:.2f} tokens/s ({a.dtype}, {dev}, {totals['threads']} threads)")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(totals) + "\n")


if __name__ == "__main__":
    main()
