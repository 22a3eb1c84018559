#!/usr/bin/env bash
# bench/server_figures.sh: the figures in docs/server.md. Starts
# `swiftinfer serve` on a free loopback port, measures generation throughput
# with 1, 4 and 16 concurrent streams (DURATION seconds each), then time to
# first token of round 1 and round 10 of one conversation, and stops it.
#   BIN=build/bin/swiftinfer MODEL=path.gguf DURATION=60 THREADS=2 bench/server_figures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${BIN:-$here/../build/bin/swiftinfer}"
model="${MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf}"
duration="${DURATION:-60}"
threads="${THREADS:-0}"
log="$(mktemp)"
"$bin" serve --model "$model" --port 0 --threads "$threads" --parallel 16 --quiet >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 600); do
    port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; exit 1; }
model_id="$(basename "$model" .gguf)"
echo "# $(nproc) cores, --threads $threads, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 1 4 16; do
    python3 "$here/load_server.py" --port "$port" --model "$model_id" --pid "$pid" --streams "$n" --duration "$duration" --max-tokens 64
done
python3 "$here/load_server.py" --port "$port" --model "$model_id" --rounds 10 --max-tokens 32
curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -E '^swiftinfer_(decode|session_hits|prompt_tokens|completion_tokens)' || true
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
