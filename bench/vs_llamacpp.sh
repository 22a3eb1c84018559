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
    # llama-bench fills its cache to a depth only where it has -d (newer builds); otherwise its
    # column is left out at DEPTH > 0, as a depth-0 figure would be no comparison.
    depth_arg=()
    if [ "$DEPTH" != 0 ]; then
        if "$LLAMA_BENCH" --help 2>&1 | grep -q -- "--n-depth"; then depth_arg=(-d "$DEPTH"); else depth_arg=(none); fi
    fi
    lj=""
    [ "${depth_arg[0]:-}" != none ] &&
        lj="$("$LLAMA_BENCH" -m "$m" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" "${depth_arg[@]}" -o jsonl 2>/dev/null)"
    sj="$("$SI" bench --model "$m" --threads "$THREADS" --prompt-tokens "$PP" --gen-tokens "$TG" \
        --repetitions "$REPS" --depth "$DEPTH" --batch "$PP" --json "$@")"
    for test in pp tg; do
        python3 - "$name" "$test" "$lj" "$sj" <<'PY'
import json, sys
name, test, lj, sj = sys.argv[1:]
ll = [json.loads(l) for l in lj.splitlines() if l.strip()]
ss = [json.loads(l) for l in sj.splitlines() if l.strip()]
s = next(r for r in ss if r["test"].startswith(test))
l = next((r for r in ll if (r["n_prompt"] > 0) == (test == "pp")), None)
ours = f"{s['tokens_per_s']:.1f} ± {s['stddev']:.1f}"
if l is None:
    print(f"| {name} | {s['test']} @ depth {s['depth']} | - (no depth option) | {ours} | - |")
else:
    print(f"| {name} | {s['test']}{' @ depth ' + str(s['depth']) if s['depth'] else ''} | {l['avg_ts']:.1f} ± {l['stddev_ts']:.1f} "
          f"| {ours} | {s['tokens_per_s'] / l['avg_ts']:.2f}x |")
PY
    done
done
