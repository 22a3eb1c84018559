#!/usr/bin/env python3
"""Turns the runs of scripts/eval-perplexity.sh (OUT/summary.txt, one line per
run) into OUT/README.md: the like-for-like table on the recompute prefix, the
long-text table and the sink-count ablation. Standard library only.
    python3 scripts/perplexity-report.py [OUT]"""
import os
import re
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "docs", "perplexity")
runs = {}
with open(os.path.join(out, "summary.txt")) as f:
    for line in f:
        name, rest = line.split(" ", 1)
        runs[name] = dict(re.findall(r"(\w+)=(\S+)", rest))


def ppl(name):
    r = runs.get(name)
    return float(r["perplexity"]) if r else None


def cell(name):
    p = ppl(name)
    return f"{p:.2f}" if p is not None else "not run"


def scored(name):
    r = runs.get(name)
    return r["tokens"] if r else "-"


lines = ["# Perplexity: StreamingLLM's comparison on SmolLM2-135M-Instruct (Q4_1)", "",
         "War and Peace (../shared/data/war_and_peace.txt), the default model, 2 CPU threads. Produced by",
         "`scripts/eval-perplexity.sh` (runs, CSVs with one row per token) and `scripts/perplexity-report.py`",
         "(this page); plots by `scripts/plot-perplexity.sh`. Every mode lets a token see at most S + W earlier",
         "tokens; `dense` keeps everything (the model's trained context is 8192, so on these prefixes it never",
         "evicts).", ""]
lines += ["## Like for like on the recompute prefix (the first 4096 tokens)", "",
          "| W | positions scored | dense | streaming (S=4) | window (S=0) | recompute (S=4) | recompute (S=0) |",
          "|---:|---:|---:|---:|---:|---:|---:|"]
for w in ("256", "1020"):
    st = runs.get(f"prefix-streaming-s4-w{w}", {}).get("stride", "1")
    lines.append(f"| {w} | {scored(f'prefix-streaming-s4-w{w}')} (every {st}) | {cell(f'prefix-dense-stride{st}')} | "
                 f"{cell(f'prefix-streaming-s4-w{w}')} | {cell(f'prefix-window-w{w}')} | "
                 f"{cell(f'prefix-recompute-s4-w{w}')} | {cell(f'prefix-recompute-s0-w{w}')} |")
for w in ("256", "1020"):
    st, wi, rs, r0 = (ppl(f"prefix-{m}-w{w}") for m in ("streaming-s4", "window", "recompute-s4", "recompute-s0"))
    if None not in (st, wi, rs, r0):
        lines += ["", f"W={w}: streaming is {100 * (st / rs - 1):+.1f}% from recompute with 4 sinks and "
                      f"{100 * (st / r0 - 1):+.1f}% from recompute without sinks; window attention is "
                      f"{wi / st:.2f}x streaming's perplexity."]
lines += ["", "## Long text", "", "| W | tokens | streaming (S=4) | window (S=0) |", "|---:|---:|---:|---:|"]
for w in ("256", "1020"):
    lines.append(f"| {w} | {scored(f'long-streaming-s4-w{w}')} | {cell(f'long-streaming-s4-w{w}')} | {cell(f'long-window-w{w}')} |")
lines += ["", "## Sink-count ablation (streaming, W=256)", "", "| S | tokens | perplexity |", "|---:|---:|---:|"]
for s, name in (("0", "long-window-w256"), ("1", "long-streaming-s1-w256"), ("2", "long-streaming-s2-w256"),
                ("4", "long-streaming-s4-w256"), ("8", "long-streaming-s8-w256")):
    lines.append(f"| {s} | {scored(name)} | {cell(name)} |")
cuda = os.path.join(out, "cuda-prefix-summary.txt")
if os.path.exists(cuda):
    lines += ["", "## Cross-check on a GPU, every position scored", "",
              "The same prefix runs with `DEVICE=cuda PART=prefix scripts/eval-perplexity.sh` on an H200 (CUDA",
              "backend, every one of the 4095 positions scored), from `cuda-prefix-summary.txt`:", "", "```"]
    lines += [l.rstrip() for l in open(cuda)] + ["```"]
pngs = sorted(p for p in os.listdir(out) if p.endswith(".png"))
if pngs:
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in pngs]
with open(os.path.join(out, "README.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
