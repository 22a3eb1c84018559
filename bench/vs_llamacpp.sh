#!/usr/bin/env bash
# Prompt processing and generation speed of swiftinfer and llama.cpp on the
# same GGUF files, side by side in one run, with the ratio. llama.cpp is not
# part of this project: build it yourself and point LLAMA_BENCH at its
# llama-bench binary.
#   LLAMA_BENCH=/path/to/llama-bench bench/vs_llamacpp.sh MODEL.gguf... [-- extra swiftinfer bench args]
# Environment: THREADS (2), PP (512), TG (128), REPS (5), DEPTH (0).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
SI="${SI:-$here/build/bin/swiftinfer}"
THREADS="${THREADS:-2}" PP="${PP:-512}" TG="${TG:-128}" REPS="${REPS:-5}" DEPTH="${DEPTH:-0}"
[ -x "${LLAMA_BENCH:-}" ] || { echo "set LLAMA_BENCH to a llama-bench binary" >&2; exit 2; }
models=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do models+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
printf "| model | test | llama.cpp tokens/s | swiftinfer tokens/s | ratio |\n|---|---|---:|---:|---:|\n"
for m in "${models[@]}"; do
    name="$(basename "$m")"
    # llama-bench JSON lines: one per test, avg_ts and stddev_ts
    lj="$("$LLAMA_BENCH" -m "$m" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" -o jsonl 2>/dev/null)"
    sj="$("$SI" bench --model "$m" --threads "$THREADS" --prompt-tokens "$PP" --gen-tokens "$TG" \
        --repetitions "$REPS" --depth "$DEPTH" --batch "$PP" --json "$@")"
    for test in pp tg; do
        python3 - "$name" "$test" "$lj" "$sj" <<'PY'
import json, sys
name, test, lj, sj = sys.argv[1:]
ll = [json.loads(l) for l in lj.splitlines() if l.strip()]
ss = [json.loads(l) for l in sj.splitlines() if l.strip()]
l = next(r for r in ll if (r["n_prompt"] > 0) == (test == "pp"))
s = next(r for r in ss if r["test"].startswith(test))
size = l["n_prompt"] if test == "pp" else l["n_gen"]
print(f"| {name} | {test}{size} | {l['avg_ts']:.1f} ± {l['stddev_ts']:.1f} | {s['tokens_per_s']:.1f} ± {s['stddev']:.1f} "
      f"| {s['tokens_per_s'] / l['avg_ts']:.2f}x |")
PY
    done
done
