#!/usr/bin/env bash
# Reproduces StreamingLLM's perplexity comparison on the default model and
# War and Peace: writes one CSV per run, a summary table and the plots under
# OUT (default docs/perplexity). Hours of CPU in all; each run is skipped if
# its CSV is already complete, so the script can be resumed.
#   scripts/eval-perplexity.sh [BOOK]
# Environment: OUT, THREADS (2), PREFIX (4096: the recompute prefix),
# LONG (0 = the whole book; else that many tokens), STRIDE_256 (1), STRIDE_1020 (8),
# PART (all | long | prefix: only the long runs, or only the recompute
# prefix), DEVICE (cpu | cuda: the prefix runs are cheap on a GPU).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
SI="${SI:-$here/build/bin/swiftinfer}"
BOOK="${1:-$here/../shared/data/war_and_peace.txt}"
OUT="${OUT:-$here/docs/perplexity}"
THREADS="${THREADS:-2}" PREFIX="${PREFIX:-4096}" LONG="${LONG:-0}"
PART="${PART:-all}" DEVICE="${DEVICE:-cpu}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
touch "$summary"

run() { # name args...
    local name=$1
    shift
    if grep -q "^$name " "$summary"; then
        echo "skip $name (done)"
        return
    fi
    echo "== $name: $*" >&2
    local line
    line="$("$SI" perplexity --device "$DEVICE" --threads "$THREADS" --text "$BOOK" --csv "$OUT/$name.csv" "$@" | grep '^mode=')"
    echo "$name $line device=$DEVICE" >>"$summary"
    echo "$name $line"
}

long=()
[ "$LONG" != 0 ] && long=(--max-tokens "$LONG")
[ "$PART" != prefix ] && for W in 256 1020; do
    run "long-streaming-s4-w$W" --mode streaming --sink-tokens 4 --window "$W" "${long[@]}"
    run "long-window-w$W" --mode window --window "$W" "${long[@]}"
done
[ "$PART" != prefix ] && for S in 1 2 8; do # S=4 is long-streaming-s4-w256, S=0 is long-window-w256
    run "long-streaming-s$S-w256" --mode streaming --sink-tokens "$S" --window 256 "${long[@]}"
done
# The recompute prefix, like for like: every mode scores the same positions.
# Recompute costs about W forward tokens per scored token, so only every
# STRIDE_W-th position is scored (STRIDE_256 = 1 and STRIDE_1020 = 8 by default).
STRIDE_256="${STRIDE_256:-1}" STRIDE_1020="${STRIDE_1020:-8}"
[ "$PART" != long ] && for W in 256 1020; do
    st="$STRIDE_256"
    [ "$W" = 1020 ] && st="$STRIDE_1020"
    run "prefix-dense-stride$st" --mode dense --max-tokens "$PREFIX" --stride "$st"
    run "prefix-streaming-s4-w$W" --mode streaming --sink-tokens 4 --window "$W" --max-tokens "$PREFIX" --stride "$st"
    run "prefix-window-w$W" --mode window --window "$W" --max-tokens "$PREFIX" --stride "$st"
    run "prefix-recompute-s4-w$W" --mode recompute --sink-tokens 4 --window "$W" --max-tokens "$PREFIX" --stride "$st"
    run "prefix-recompute-s0-w$W" --mode recompute --sink-tokens 0 --window "$W" --max-tokens "$PREFIX" --stride "$st"
done
echo "summary: $summary"
