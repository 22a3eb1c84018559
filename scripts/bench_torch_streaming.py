#!/usr/bin/env python3
"""PyTorch baseline for `swiftinfer bench-rounds`: the original StreamingLLM
(Xiao et al.) as its reference code runs a multi-round chat, on the same
Hugging Face folder (fp16 on CUDA, batch 1, greedy, EOS ignored).

What makes it "the original" (written here from the paper's description,
not copied):
  - the cache keeps keys *without* RoPE; at every forward the whole cached
    key tensor is rotated at positions 0..L-1 and the new queries at the
    positions after the cache ("pos shift");
  - the cache grows by torch.cat of each layer's K and V at every step (the
    Hugging Face legacy cache of 2023), and before each round it is cut to
    the first `start` and the last entries that leave room for the prompt
    plus max_new tokens (start + recent = max_input + max_new, as SwiftInfer
    sets recent_size);
  - eager attention: matmul, softmax in float32, matmul, as transformers'
    Llama did then; Python drives every layer of every step, and each step
    reads the argmax back to the host (.item()).

The model is a compact Llama forward over the safetensors weights (no
transformers import: its cache classes changed since). Prompts: the lengths
bench-rounds wrote with --dump-prompts (ids are random: with synthetic
weights the speed does not depend on them).

Prints and appends JSON lines like bench-rounds --json."""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import load_file


def rms_norm(x, w, eps):
    v = x.float().pow(2).mean(-1, keepdim=True)
    return (x.float() * torch.rsqrt(v + eps)).to(x.dtype) * w


def rotate(x, cos, sin):
    """Rotate-half RoPE (Hugging Face layout); cos/sin [..., T, head_dim]."""
    h = x.shape[-1] // 2
    turned = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return x * cos + turned * sin


class Llama:
    def __init__(self, folder, device):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        self.dim = c["hidden_size"]
        self.n_layers = c["num_hidden_layers"]
        self.n_heads = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads", self.n_heads)
        self.hd = c.get("head_dim") or self.dim // self.n_heads
        self.eps = c.get("rms_norm_eps", 1e-6)
        theta = c.get("rope_theta", 10000.0)
        w = load_file(os.path.join(folder, "model.safetensors"), device=device)
        self.w = {k: v.to(torch.float16) for k, v in w.items()}
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])
        inv = 1.0 / (theta ** (torch.arange(0, self.hd, 2, device=device, dtype=torch.float32) / self.hd))
        pos = torch.arange(c.get("max_position_embeddings", 4096) * 4, device=device, dtype=torch.float32)
        ang = torch.outer(pos, inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.cos, self.sin = ang.cos().to(torch.float16), ang.sin().to(torch.float16)

    def layer_weight(self, l, name):
        return self.w[f"model.layers.{l}.{name}.weight"]

    @torch.no_grad()
    def forward(self, ids, cache):
        """ids [1, T]; cache: per layer (K, V) of un-rotated keys [1, n_kv, L, hd] or None.
        Returns the last row's logits and the grown cache."""
        T = ids.shape[1]
        past = cache[0][0].shape[2] if cache[0] is not None else 0
        L = past + T
        x = self.w["model.embed_tokens.weight"][ids]
        q_cos, q_sin = self.cos[past:L], self.sin[past:L]
        k_cos, k_sin = self.cos[:L], self.sin[:L]
        mask = None
        if T > 1:  # query i (at past + i) sees keys 0..past + i
            mask = torch.full((T, L), float("-inf"), device=ids.device).triu(past + 1)
        group = self.n_heads // self.n_kv
        new_cache = []
        for l in range(self.n_layers):
            h = rms_norm(x, self.layer_weight(l, "input_layernorm"), self.eps)
            q = (h @ self.layer_weight(l, "self_attn.q_proj").T).view(1, T, self.n_heads, self.hd).transpose(1, 2)
            k = (h @ self.layer_weight(l, "self_attn.k_proj").T).view(1, T, self.n_kv, self.hd).transpose(1, 2)
            v = (h @ self.layer_weight(l, "self_attn.v_proj").T).view(1, T, self.n_kv, self.hd).transpose(1, 2)
            if cache[l] is not None:
                k = torch.cat((cache[l][0], k), dim=2)
                v = torch.cat((cache[l][1], v), dim=2)
            new_cache.append((k, v))
            q = rotate(q, q_cos, q_sin)
            kr = rotate(k, k_cos, k_sin)  # pos shift: every cached key, every step
            if group > 1:
                kr = kr.repeat_interleave(group, dim=1)
                v = v.repeat_interleave(group, dim=1)
            s = (q @ kr.transpose(2, 3)) / math.sqrt(self.hd)
            if mask is not None:
                s = s + mask
            p = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
            o = (p @ v).transpose(1, 2).reshape(1, T, self.n_heads * self.hd)
            x = x + o @ self.layer_weight(l, "self_attn.o_proj").T
            h = rms_norm(x, self.layer_weight(l, "post_attention_layernorm"), self.eps)
            g = h @ self.layer_weight(l, "mlp.gate_proj").T
            u = h @ self.layer_weight(l, "mlp.up_proj").T
            x = x + (torch.nn.functional.silu(g) * u) @ self.layer_weight(l, "mlp.down_proj").T
        x = rms_norm(x[:, -1:], self.w["model.norm.weight"], self.eps)
        return (x @ self.head.T)[0, -1], new_cache


def evict_for_space(cache, start, recent, coming):
    """Keep the first `start` entries and the most recent ones, leaving room for `coming`."""
    if cache[0] is None:
        return cache
    n = cache[0][0].shape[2]
    if n + coming <= start + recent:
        return cache
    keep_from = n - recent + coming
    return [
        (torch.cat((k[:, :, :start], k[:, :, keep_from:]), dim=2), torch.cat((v[:, :, :start], v[:, :, keep_from:]), dim=2))
        for k, v in cache
    ]


def measure_bandwidth(device):
    """Device-to-device copy of 2 GiB, bytes read plus written per second (median of 10)."""
    a = torch.empty(1 << 30, dtype=torch.float16, device=device).uniform_(-1, 1)
    b = torch.empty_like(a)
    times = []
    for i in range(13):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        b.copy_(a)
        e1.record()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(e0.elapsed_time(e1) / 1e3)
    times.sort()
    del a, b
    return 2 * (1 << 31) / times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face folder (e.g. from swiftinfer synth)")
    ap.add_argument("--prompts", required=True, help="bench-rounds --dump-prompts output")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-new-tokens", default="512", help="one or more, e.g. 512,1024")
    ap.add_argument("--max-input-tokens", type=int, default=2048)
    ap.add_argument("--start-size", type=int, default=4)
    ap.add_argument("--json", help="append one JSON line per setting")
    ap.add_argument("--measure-bandwidth", action="store_true")
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu for a smoke test")
    a = ap.parse_args()
    dev = a.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    with open(a.prompts) as f:
        lengths = [json.loads(line)["prompt_tokens"] for line in f if line.strip()]
    if len(lengths) < a.rounds:
        sys.exit(f"{a.prompts}: {len(lengths)} rounds, {a.rounds} asked for")
    t = time.time()
    m = Llama(a.model, dev)
    name = torch.cuda.get_device_name() if dev == "cuda" else dev
    print(f"torch {torch.__version__}: loaded {a.model} in {time.time() - t:.1f} s on {name}")
    gen = torch.Generator().manual_seed(7)
    results = []
    if a.measure_bandwidth:
        bw = measure_bandwidth(dev)
        print(f"device-to-device copy: {bw / 1e12:.2f} TB/s (read + write)")
        results.append({"impl": "copy-bandwidth", "bytes_per_s": bw})
    for max_new in [int(x) for x in a.max_new_tokens.split(",")]:
        # warm-up: kernels, cuBLAS handles, allocator
        cache = [None] * m.n_layers
        _, cache = m.forward(torch.randint(3, 32000, (1, 16), generator=gen).to(dev), cache)
        sync()
        cache = [None] * m.n_layers
        recent = a.max_input_tokens + max_new - a.start_size
        prefill_s = decode_s = 0.0
        generated = steps = prompt_tokens = 0
        for r in range(a.rounds):
            n = lengths[r]
            cache = evict_for_space(cache, a.start_size, recent, n + max_new)
            ids = torch.randint(3, 32000, (1, n), generator=gen).to(dev)
            sync()
            t0 = time.time()
            logits, cache = m.forward(ids, cache)
            tok = int(logits.argmax().item())
            t1 = time.time()
            for _ in range(max_new - 1):
                logits, cache = m.forward(torch.tensor([[tok]], device=dev), cache)
                tok = int(logits.argmax().item())
            sync()
            t2 = time.time()
            prefill_s += t1 - t0
            decode_s += t2 - t1
            prompt_tokens += n
            generated += max_new
            steps += max_new - 1
        res = {"impl": "torch-original", "device": name, "max_new": max_new, "rounds": a.rounds,
               "prompt_tokens": prompt_tokens, "generated": generated, "prefill_s": prefill_s, "decode_s": decode_s,
               "decode_tok_s": steps / decode_s, "e2e_tok_s": generated / (prefill_s + decode_s)}
        print(f"torch-original max_new={max_new} rounds={a.rounds}: decode {res['decode_tok_s']:.2f} tok/s, "
              f"end-to-end {res['e2e_tok_s']:.2f} tok/s")
        results.append(res)
        del cache
        if dev == "cuda":
            torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
