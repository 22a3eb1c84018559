#!/usr/bin/env bash
# tests/test_server.sh BINARY BUILD_DIR: starts `swiftinfer serve` on a free
# loopback port with the default model, runs the Python tests in
# tests/server (the official openai client, raw-socket hostile inputs)
# against it, then stops it with SIGTERM and checks that it exits cleanly
# (under ASan that includes no leaks). Exit 77 (skipped) when the model is
# absent or the openai package cannot be installed (no network).
set -uo pipefail
bin="$1"
build="$2"
here="$(cd "$(dirname "$0")" && pwd)"

model="${SWIFTINFER_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -r "$model" ]; then
    echo "test_server: skipped: no model at $model (run scripts/fetch-model.sh)"
    exit 77
fi
if [ ! -x "$bin" ]; then
    echo "test_server: no binary at $bin"
    exit 1
fi

# A virtual environment with the openai package, made once per build folder.
venv="$build/server-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1 ||
       ! timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "openai>=1.30,<3" >"$build/server-venv.log" 2>&1; then
        echo "test_server: skipped: cannot create a venv with the openai package (no network?); see $build/server-venv.log"
        rm -rf "$venv"
        exit 77
    fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/si-server-test.XXXXXX")"
key="test-key-$RANDOM$RANDOM"
# Small limits so the hostile tests can reach each of them quickly.
"$bin" serve --model "$model" --host 127.0.0.1 --port 0 --api-key "$key" \
    --parallel 2 --max-queue 2 --max-sessions 6 --max-connections 8 --timeout 3 \
    --max-body 64 --max-message 16 --default-max-tokens 16 --max-tokens 256 --window 1020 \
    >"$work/out" 2>"$work/err" &
pid=$!
cleanup() {
    kill -KILL "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=""
for _ in $(seq 600); do
    port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/out")"
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "test_server: the server did not start:"
    cat "$work/err"
    exit 1
fi
echo "test_server: server pid $pid on port $port"

SI_PORT="$port" SI_KEY="$key" SI_PID="$pid" SI_MODEL_ID="$(basename "$model" .gguf)" SI_TIMEOUT=3 \
    SI_MAX_CONNECTIONS=8 SI_MAX_BODY=65536 SI_PARALLEL=2 SI_MAX_QUEUE=2 \
    "$venv/bin/python" -m unittest discover -s "$here/server" -p "test_*.py" -v
rc=$?

kill -TERM "$pid"
status=0
for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "test_server: the server did not stop within 30 s of SIGTERM"
    status=1
else
    wait "$pid"
    exit_code=$?
    if [ "$exit_code" -ne 0 ]; then
        echo "test_server: the server exited with status $exit_code after SIGTERM:"
        tail -40 "$work/err"
        status=1
    fi
fi
[ "$rc" -ne 0 ] && { echo "test_server: server log (last 40 lines):"; tail -40 "$work/err"; }
[ "$rc" -eq 0 ] && [ "$status" -eq 0 ]
