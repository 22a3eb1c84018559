#!/usr/bin/env bash
# The seed's headline comparison on the CPU: the same MT-Bench rounds as one
# endless conversation, (a) swiftinfer, (b) the PyTorch original of
# StreamingLLM (bench/torch_streaming_llm.py: transformers' Llama with the
# original's start+recent cache and position shift), greedy, EOS ignored on
# both sides, the same weights (the float32 export of the default model; our
# Q4_1 GGUF as a second swiftinfer row), the same thread count.
#   bench/vs_pytorch.sh [ROUNDS] [MAX_NEW]      (default 20 rounds, 128 new tokens)
# Environment: THREADS (2), PYTHON (the oracle environment's python),
# HF_DIR (where to export the float32 folder; made if missing).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-20}" MAX_NEW="${2:-128}" THREADS="${THREADS:-2}"
SI="${SI:-$here/build/bin/swiftinfer}"
PYTHON="${PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer/pyenv/bin/python}"
GGUF="$("$here/scripts/fetch-model.sh")"
HF_DIR="${HF_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer/smollm2-f32-hf}"
[ -f "$HF_DIR/model.safetensors" ] || "$SI" export-hf --model "$GGUF" --out "$HF_DIR" >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--input "$here/data/mt_bench.jsonl" --only-n-first "$ROUNDS" --max-new-tokens "$MAX_NEW" --ignore-eos
        --quiet --threads "$THREADS" --temp 0 --repeat-penalty 1 --sink-tokens 4)
"$SI" run --model "$HF_DIR" "${common[@]}" --stats-json "$tmp/si-f32.json" >/dev/null
"$SI" run --model "$GGUF" "${common[@]}" --stats-json "$tmp/si-q41.json" >/dev/null
"$PYTHON" "$here/bench/torch_streaming_llm.py" --model "$HF_DIR" --input "$here/data/mt_bench.jsonl" \
    --rounds "$ROUNDS" --max-new-tokens "$MAX_NEW" --threads "$THREADS" --json "$tmp/torch.jsonl" >/dev/null 2>&1
python3 - "$tmp" "$ROUNDS" "$MAX_NEW" "$THREADS" <<'PY'
import json, sys
tmp, rounds, max_new, threads = sys.argv[1:]
t = json.loads(open(f"{tmp}/torch.jsonl").read().splitlines()[-1])
rows = [("PyTorch original (transformers, float32)", t["generated"], t["decode_tokens_per_s"], t["overall_generation_tokens_per_s"])]
for name, f in (("swiftinfer, float32 export", "si-f32.json"), ("swiftinfer, Q4_1 GGUF", "si-q41.json")):
    s = json.load(open(f"{tmp}/{f}"))["totals"]
    rows.append((name, s["generated_tokens"], s["decode_tokens_per_s"], s["overall_generation_tokens_per_s"]))
print(f"{rounds} MT-Bench rounds, {max_new} new tokens each (EOS ignored), greedy, {threads} threads, torch {t['torch']}\n")
print("| implementation | generated | decode tokens/s | overall tokens/s | ratio (overall) |\n|---|---:|---:|---:|---:|")
base = rows[0][3]
for name, gen, dec, overall in rows:
    print(f"| {name} | {gen} | {dec:.2f} | {overall:.2f} | {overall / base:.2f}x |")
PY
