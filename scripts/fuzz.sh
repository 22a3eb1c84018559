#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [HARNESS...]: builds the libFuzzer targets
# (build-fuzz/: clang, ASan + UBSan, -DSI_FUZZ=ON) and runs each harness of
# fuzz/ (all, or those named) for SECONDS (default 30), one after the other,
# on a scratch copy of its seed corpus, with its dictionary. Prints a table of
# executions, final coverage and findings; a crashing, leaking, hanging or
# out-of-memory input is saved under fuzz/findings/<harness>/ and the script
# exits 1. JOBS sets the build's parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
secs="${1:-30}"
shift || true
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [HARNESS...]" >&2; exit 2; }
start=$(date +%s)

# The toolchain: clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' > "$probe/p.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "fuzz: clang with libFuzzer is missing: run scripts/setup.sh (installs clang and libclang-rt-14-dev)" >&2
    exit 2
fi

build=build-fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$build" -DSI_FUZZ=ON -DSI_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target fuzz -j "${JOBS:-$(nproc)}" >/dev/null

if (($#)); then
    harnesses=("$@")
else
    harnesses=()
    for f in fuzz/harness_*.c; do
        h="${f#fuzz/harness_}"
        harnesses+=("${h%.c}")
    done
fi

rows=()
failed=0
for h in "${harnesses[@]}"; do
    bin="$build/bin/fuzz_$h"
    [ -x "$bin" ] || { echo "fuzz: no harness $h" >&2; exit 2; }
    run="$build/run/$h"
    rm -rf "$run"
    mkdir -p "$run/corpus" "fuzz/findings/$h"
    cp fuzz/corpus/"$h"/* "$run/corpus/"
    dict=()
    [ -f "fuzz/dict/$h.dict" ] && dict=("-dict=$root/fuzz/dict/$h.dict")
    touch "$run/started"
    echo "fuzz: $h for ${secs}s ($run/log)"
    rc=0
    (cd "$run" && "$root/$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/findings/$h/" "${dict[@]}" corpus >log 2>&1) || rc=$?
    # Findings: the inputs libFuzzer saved (crash-, leak-, timeout-, oom-), not its slow-unit notes.
    found=$(find "fuzz/findings/$h" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$run/started" | wc -l)
    found=$((found > 0 ? found : (rc != 0 ? 1 : 0)))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -1)
    # Coverage from the last status line (DONE, or the last before a crash).
    cov=$(grep -E '^#[0-9]+.*cov: ' "$run/log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 \2/')
    rows+=("$(printf '%-18s %12s %8s %8s %9s' "$h" "${execs:-?}" "${cov% *}" "${cov#* }" "$found")")
    if ((found)); then
        failed=1
        echo "fuzz: $h FOUND A PROBLEM (exit $rc); inputs in fuzz/findings/$h/:"
        grep -E 'ERROR|SUMMARY|invariant broken|runtime error' "$run/log" | head -5
    fi
done

printf '\n%-18s %12s %8s %8s %9s\n' harness executions cov ft findings
printf '%s\n' "${rows[@]}"
echo "fuzz: ${#harnesses[@]} harness(es), ${secs}s each, $(( $(date +%s) - start ))s in all (build included)"
exit "$failed"
