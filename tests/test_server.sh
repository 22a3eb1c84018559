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
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server (small limits, so the hostile tests can reach each of
# them quickly); sets pid and port.
start_server() {
    "$bin" serve --model "$model" --host 127.0.0.1 --port 0 --api-key "$key" --state-dir "$work/state" \
        --parallel 2 --max-queue 2 --max-sessions 6 --max-connections 8 --timeout 3 \
        --max-body 64 --max-message 16 --default-max-tokens 16 --max-tokens 256 --window 1020 \
        >"$work/out" 2>>"$work/err" &
    pid=$!
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
}

# SIGTERM, then the exit status must be 0 (under ASan: no leak, no error).
stop_server() {
    kill -TERM "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "test_server: the server did not stop within 30 s of SIGTERM"
        return 1
    fi
    wait "$pid"
    local code=$?
    pid=""
    if [ "$code" -ne 0 ]; then
        echo "test_server: the server exited with status $code after SIGTERM:"
        tail -40 "$work/err"
        return 1
    fi
}

run_py() {
    SI_PORT="$port" SI_KEY="$key" SI_PID="$pid" SI_MODEL_ID="$(basename "$model" .gguf)" SI_TIMEOUT=3 \
        SI_MAX_CONNECTIONS=8 SI_MAX_BODY=65536 PYTHONPATH="$here/server" "$venv/bin/python" "$@"
}

start_server
run_py -m unittest discover -s "$here/server" -p "test_*.py" -v
rc=$?
run_py "$here/server/state_check.py" save "$work/conversation.json" || rc=1
stop_server || rc=1
if [ -f "$work/state/index.json" ]; then
    start_server
    run_py "$here/server/state_check.py" resume "$work/conversation.json" || rc=1
    stop_server || rc=1
else
    echo "test_server: no $work/state/index.json after shutdown"
    rc=1
fi
if [ "$rc" -ne 0 ]; then
    echo "test_server: server log (last 40 lines):"
    tail -40 "$work/err"
fi
exit "$rc"
