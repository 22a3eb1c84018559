#!/usr/bin/env bash
# scripts/gpu-check.sh: the one prepared run on a GPU machine (H100 / H200).
#
# Prepare here first (network needed): scripts/gpu-carry.sh, then run this
# script on the GPU machine from the repository root, carrying .carry:
#     device run  command: "scripts/gpu-check.sh"  carry: [".carry"]  timeout_s: 600
# Steps (one line each on stdout, full logs under ${OUT:-/tmp/gpu-out}):
#   1. the GPU (nvidia-smi); jansson/PCRE2/pkgconf from .carry/debs if absent
#   2. Release build for sm_90 (-DCMAKE_CUDA_ARCHITECTURES=90), -j16, warnings
#      not fatal (-DSI_WERROR=OFF: that machine's compiler may warn differently)
#   3. ctest -R cuda (test_cuda_host, test_cuda_emulated, test_cuda_kernels
#      with its kernel bandwidth table, test_cuda on a synthetic SmolLM2 f16
#      model and, when carried, the default model and its q4_k/q5_k/q6_k forms)
#   4. compute-sanitizer memcheck: test_cuda_kernels (quick) and a short
#      `swiftinfer generate --device cuda` (CUDA graphs, cuBLAS prefill)
#   5. `swiftinfer synth --arch llama2-7b --dtype f16` to /tmp (runs during
#      3-4), then `swiftinfer bench-rounds`: ROUNDS MT-Bench rounds, sink 4,
#      window 2048 + max_new - 4, greedy, EOS ignored, for each MAX_NEW
#   6. the PyTorch original (scripts/bench_torch_streaming.py) on the same
#      weights and prompt lengths, TORCH_ROUNDS rounds per setting, plus a
#      device-to-device copy to measure the bandwidth
#   7. if time is left: a per-operation profile of 32 decode steps of the 7B
#      model at 3000 cached keys (SWIFTINFER_CUDA_PROFILE=1, the decode table
#      into the summary); prefill (pp512) of the default Q4_1 model, quantized
#      matrices through cuBLAS (default) and through the GEMV kernels
#      (CUBLAS_QMIN=1000000), and compute-sanitizer over a Q4_1 generate with
#      a ~100-token prompt
#   8. a summary table: tokens/s, ratio to PyTorch, % of the weight-read limit
#   5b. A/B: `swiftinfer bench` decode at 3000 cached keys with the default
#      settings, SWIFTINFER_CUDA_GEMV=wide, SWIFTINFER_CUDA_GEMV=async,
#      SWIFTINFER_CUDA_FUSE_NORM=0, SWIFTINFER_CUDA_PDL=0,
#      SWIFTINFER_CUDA_ATTN=tiled, then the single switches that beat the
#      default together, and tiled + PDL=0 + FUSE_NORM=0 (the kernels of the
#      earlier runs); the fastest is used for step 5. No variant starts after
#      AB_UNTIL=240 s (AB=0 skips all; ~2 min)
#   If the tests fail, test_cuda and test_cuda_kernels run again with
#   SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_ATTN=tiled SWIFTINFER_CUDA_GEMV=reg
#   SWIFTINFER_CUDA_CUBLAS_QMIN=1000000 SWIFTINFER_CUDA_FUSE_NORM=0 (which
#   test_cuda_kernels then keeps to); when that passes the benchmark uses those.
# Knobs (environment): ROUNDS=20 TORCH_ROUNDS=2 MAX_NEW=512,1024 SANITIZE=1 BENCH=1 AB=1 AB_UNTIL=240
# DEADLINE=570 (seconds: no step is given time past it, so that the script
# ends, summary included, inside a 600 s device call; the summary is printed
# on any exit)
# (TESTS=0 with BENCH=0: build only, as scripts/gpu-attn-sweep.sh uses it);
# for a dry run of the script itself without a GPU: DEVICE=cpu ARCH=tiny
# SANITIZE=0 PYTHON=<a python with torch>.
# Expected: build ~1 min, tests ~1.5, sanitizer ~1, A/B only while t < 4 min,
# bench ~3 (fewer rounds when less is left), PyTorch on the rest (one round
# when under 150 s are left, none under 60 s); step 7 only on what is left
# before DEADLINE. All of it does not fit in one 600 s call: the figures come
# first (tests, sanitizer, bench, PyTorch), the A/B and step 7 when time allows.
# OUT keeps 8 files (the device tool returns 8 at most).
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
OUT="${OUT:-/tmp/gpu-out}"
ROUNDS="${ROUNDS:-20}"
TORCH_ROUNDS="${TORCH_ROUNDS:-2}"
MAX_NEW="${MAX_NEW:-512,1024}"
SANITIZE="${SANITIZE:-1}"
DEVICE="${DEVICE:-cuda}"
ARCH="${ARCH:-llama2-7b}"
PYTHON="${PYTHON:-python3}"
BUILD="$repo/build-gpu"
SYNTH_SMALL=/tmp/si-smollm2
SYNTH_7B="/tmp/si-$ARCH"
PROMPTS=/tmp/si-prompts.jsonl
DEADLINE="${DEADLINE:-570}"
mkdir -p "$OUT"
# the logs are appended to step by step: start them empty (an earlier run's rows would mix in)
for f in summary.txt build.log tests.log sanitizer.log ab.log bench.log bench.jsonl torch.log; do : >"$OUT/$f"; done
t_start=$(date +%s)

say() { echo "$*" | tee -a "$OUT/summary.txt"; }
elapsed() { echo $(($(date +%s) - t_start)); }
# ---- 8. the summary: on any exit (a failed build or test included) ----
final_summary() {
    [ -s "$OUT/bench.jsonl" ] && python3 - "$OUT/bench.jsonl" "$SYNTH_7B" >>"$OUT/summary.txt" 2>&1 <<'PY'
import json, os, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if os.path.exists(sys.argv[1]) else []
try:
    name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except OSError:
    name = "?"
sheet = 4.8e12 if "H200" in name else (2.0e12 if "PCIe" in name else 3.35e12 if "H100" in name else None)
copy = next((r["bytes_per_s"] for r in rows if r.get("impl") == "copy-bandwidth"), None)
# bytes read per decoded token: every weight but the embedding table (one row of it)
st, cfg = os.path.join(sys.argv[2], "model.safetensors"), os.path.join(sys.argv[2], "config.json")
per_tok = 0
if os.path.exists(st) and os.path.exists(cfg):
    c = json.load(open(cfg))
    tied = c.get("tie_word_embeddings", False)  # then the table is read whole, as the output head
    per_tok = os.path.getsize(st) - (0 if tied else (c["vocab_size"] - 1) * c["hidden_size"] * 2)
print(f"\n{name}: weights read per token {per_tok / 1e9:.2f} GB (+ KV cache: 0.52 MB per visible key for 7B, f16)")
print(f"bandwidth: datasheet {sheet / 1e12 if sheet else float('nan'):.2f} TB/s, measured copy {copy / 1e12 if copy else float('nan'):.2f} TB/s")
print(f"{'impl':16} {'max_new':>7} {'rounds':>6} {'decode tok/s':>12} {'e2e tok/s':>10} {'x torch':>8} {'% sheet':>8} {'% copy':>7}")
torch = {r["max_new"]: r for r in rows if r.get("impl") == "torch-original"}
for r in rows:
    if r.get("impl") not in ("swiftinfer", "torch-original"):
        continue
    t = torch.get(r["max_new"])
    ratio = f"{r['decode_tok_s'] / t['decode_tok_s']:.2f}" if t and r["impl"] == "swiftinfer" else "-"
    pct = lambda bw: f"{100 * r['decode_tok_s'] * per_tok / bw:.0f}%" if bw and per_tok else "-"
    print(f"{r['impl']:16} {r['max_new']:>7} {r['rounds']:>6} {r['decode_tok_s']:>12.2f} {r['e2e_tok_s']:>10.2f} {ratio:>8} {pct(sheet):>8} {pct(copy):>7}")
PY
    grep -E "GB/s" "$OUT/tests.log" | sed 's/^ */  kernel: /' >>"$OUT/summary.txt"
    echo
    echo "==== summary (also $OUT/summary.txt; total $(elapsed)s) ===="
    cat "$OUT/summary.txt"
}
trap final_summary EXIT

# budget WANT RESERVE: WANT seconds, or what is left before DEADLINE once
# RESERVE seconds are kept for the steps after (at least 1)
budget() {
    local left=$((DEADLINE - $(elapsed) - $2))
    [ "$left" -lt 1 ] && left=1
    echo $(($1 < left ? $1 : left))
}
# step NAME LIMIT_S LOG COMMAND...: runs with a time limit, appends to LOG, one status line
step() {
    local name=$1 limit=$2 log=$3 t0 rc status
    shift 3
    t0=$(date +%s)
    echo "### $name: $*" >>"$OUT/$log"
    timeout "$limit" "$@" >>"$OUT/$log" 2>&1
    rc=$?
    status=ok
    [ $rc -ne 0 ] && status="FAILED rc=$rc"
    [ $rc -eq 124 ] && status="TIMEOUT ${limit}s"
    say "$(printf '%-30s %-16s %4ds  (log: %s, t=%ss)' "$name" "$status" $(($(date +%s) - t0)) "$log" "$(elapsed)")"
    return $rc
}

# ---- 1. device and dependencies ----
say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.memory --format=csv,noheader 2>&1 | head -1)"
export SWIFTINFER_SHARED="$repo/.carry/shared"
[ -f "$repo/.carry/SmolLM2-135M-Instruct.Q4_1.gguf" ] && export SWIFTINFER_MODEL="$repo/.carry/SmolLM2-135M-Instruct.Q4_1.gguf"
cmake_extra=()
# FORCE_CARRIED_DEPS=1 uses the carried packages (and pkgconf) even where the machine has its own (to test this path)
if [ "${FORCE_CARRIED_DEPS:-0}" = 1 ] ||
    ! { command -v pkg-config >/dev/null && pkg-config --exists jansson libpcre2-8 libmicrohttpd; }; then
    deps=/tmp/si-deps
    if ! ls .carry/debs/*.deb >/dev/null 2>&1; then
        say "jansson/PCRE2/libmicrohttpd missing and no .carry/debs: run scripts/gpu-carry.sh before the call"
        exit 1
    fi
    for d in .carry/debs/*.deb; do dpkg -x "$d" "$deps"; done
    sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
    # libmicrohttpd.pc names gnutls as a private requirement (static linking
    # only): without the machine's gnutls.pc pkg-config refuses the package
    sed -i '/^Requires.private:/d' "$deps"/usr/lib/x86_64-linux-gnu/pkgconfig/libmicrohttpd.pc 2>/dev/null
    export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    if [ "${FORCE_CARRIED_DEPS:-0}" = 1 ] || ! command -v pkg-config >/dev/null; then
        export PKG_CONFIG="$deps/usr/bin/pkgconf"
        cmake_extra+=(-DPKG_CONFIG_EXECUTABLE="$PKG_CONFIG")
    fi
    say "dependencies: unpacked $(ls .carry/debs | wc -l) carried packages into $deps"
    ldconfig -p 2>/dev/null | grep -q 'libgnutls\.so\.30' ||
        say "warning: no libgnutls.so.30 here: the carried libmicrohttpd12 needs it (the build will fail to link or run)"
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
nvcc_path="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
cmake_extra+=(-DCMAKE_CUDA_COMPILER="$nvcc_path")

# ---- 2. build ----
step "build (Release, sm_90)" 300 build.log cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSI_WERROR=OFF "${cmake_extra[@]}" &&
    step "build: compile" 300 build.log cmake --build "$BUILD" -j16 || {
    tail -30 "$OUT/build.log"
    exit 1
}
if grep -q "nvcc not found" "$OUT/build.log"; then
    say "the build has no CUDA backend (nvcc at $nvcc_path not usable): see build.log"
    exit 1
fi
SI="$BUILD/bin/swiftinfer"

# ---- 5a. the 7B model, written while the tests run ----
BENCH="${BENCH:-1}" # 0: build, tests and sanitizer only
[ "$BENCH" = 1 ] && (
    echo "### synth $ARCH f16"
    "$SI" synth --arch "$ARCH" --dtype f16 --seed 1 --out "$SYNTH_7B"
    echo "synth rc=$?"
) >"/tmp/si-synth.log" 2>&1 &
synth_pid=$!
[ "$BENCH" = 1 ] || synth_pid=

# ---- 3. tests ----
export SI_TEST_SYNTH_DIR="$SYNTH_SMALL"
[ "${TESTS:-1}" = 0 ] && { say "TESTS=0: built only (t=$(elapsed)s)"; exit 0; }
# (ctest's --timeout does not bound tests that have a TIMEOUT property, as
# these do: the step's own limit is what stops a hung kernel)
step "ctest -R cuda" "$(budget 240 240)" tests.log ctest --test-dir "$BUILD" -R cuda -V
tests_rc=$?
# ctest -V puts the test's number before each line of its output
grep -E "^([0-9]+: )?\((a|b|c|d)\)|Passed|Failed|SKIP|tests passed" "$OUT/tests.log" | head -40 >>"$OUT/summary.txt"
# The warp attention kernels (per head, GQA and row groups), programmatic
# dependent launch, cuBLAS on expanded quantized weights and the norm folded
# into the GEMV are the parts no GPU has run yet: if the tests fail, try again without them, and if that
# passes, benchmark without them so that the run still yields a valid figure.
if [ $tests_rc -ne 0 ]; then
    # (test_cuda_kernels then tests only the tiled attention and register
    # GEMV kernels, which the variables fix, and times nothing)
    if step "ctest without PDL, tiled attention, GEMV prefill, norm kernel" "$(budget 180 200)" tests.log env \
        SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_ATTN=tiled SWIFTINFER_CUDA_GEMV=reg SWIFTINFER_CUDA_CUBLAS_QMIN=1000000 \
        SWIFTINFER_CUDA_FUSE_NORM=0 SI_CUDA_NO_BENCH=1 ctest --test-dir "$BUILD" -R "test_cuda(_kernels)?$" -V; then
        export SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_ATTN=tiled SWIFTINFER_CUDA_GEMV=reg SWIFTINFER_CUDA_CUBLAS_QMIN=1000000 SWIFTINFER_CUDA_FUSE_NORM=0
        say "FALLBACK: the tests pass only with SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_ATTN=tiled SWIFTINFER_CUDA_GEMV=reg SWIFTINFER_CUDA_CUBLAS_QMIN=1000000 SWIFTINFER_CUDA_FUSE_NORM=0; benchmarking that way"
    fi
fi

# ---- 4. compute-sanitizer ----
if [ "$SANITIZE" = 1 ]; then
    step "memcheck test_cuda_kernels" "$(budget 200 230)" sanitizer.log env SI_TEST_QUICK=1 SI_CUDA_NO_BENCH=1 \
        "$sanitizer" --tool memcheck --error-exitcode 9 "$BUILD/bin/test_cuda_kernels"
    step "memcheck generate (graphs)" "$(budget 150 200)" sanitizer.log "$sanitizer" --tool memcheck --error-exitcode 9 \
        "$SI" generate --model "$SYNTH_SMALL" --device cuda --temp 0 --max-new-tokens 8 \
        --prompt "Once upon a time, in a land far away, there lived a curious engineer who"
    grep -E "ERROR SUMMARY" "$OUT/sanitizer.log" >>"$OUT/summary.txt"
fi

[ "$BENCH" != 1 ] && exit 0

# ---- 5b. the synthetic model; A/B of the kernel switches ----
wait "$synth_pid"
cat /tmp/si-synth.log >>"$OUT/bench.log"
say "synth $ARCH: $(tail -2 /tmp/si-synth.log | head -1) (t=$(elapsed)s)"
# Decode at a full window (3000 cached keys + 128 new) with each switch of
# the newest kernels, then the switches that beat the default together (one
# per setting); the fastest is the one benchmarked below (unless the tests
# forced the fallback). Last, the setting of the earlier measured runs
# (docs/cuda.md). A variant starts only before AB_UNTIL seconds (default
# 240), so that the benchmark (~3 min) and PyTorch (~1.5 min) keep their time.
AB_UNTIL="${AB_UNTIL:-240}"
# bench_figure LIMIT NAME TEST ENVS ARGS...: `swiftinfer bench ARGS` as a step
# into ab.log, with ENVS ("VAR=x VAR2=y", or default); sets tps to TEST's
# tokens/s read from this run's own output (empty when the run failed)
bench_figure() {
    local limit=$1 name=$2 test=$3 envs=() from
    [ "$4" != default ] && read -ra envs <<<"$4"
    shift 4
    from=$(($(wc -l <"$OUT/ab.log") + 1))
    step "$name" "$limit" ab.log env "${envs[@]}" "$SI" bench "$@"
    tps=$(tail -n +"$from" "$OUT/ab.log" | grep -E "\| $test \|" | tail -1 | awk -F'|' '{print $(NF-1)}' | awk '{print $1}')
}
ab_run() { # ab_run "VAR=x VAR2=y" | default: sets tps (empty when the run failed or was skipped)
    tps=
    if [ "$(elapsed)" -gt "$AB_UNTIL" ]; then
        say "  $1: skipped (t=$(elapsed)s > AB_UNTIL=${AB_UNTIL}s)"
        return
    fi
    bench_figure "$(budget 90 300)" "A/B $1" tg128 "$1" --model "$SYNTH_7B" --device cuda \
        --prompt-tokens 0 --gen-tokens 128 --repetitions 2 --depth 3000 --sink-tokens 4 --window 3068
    say "  $1: decode ${tps:-?} tok/s"
}
faster() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN{exit !(a > b)}'; }
if [ "${AB:-1}" = 1 ] && [ "$DEVICE" = cuda ]; then
    best=default best_tps=0 default_tps=0
    declare -A win win_tps # per setting: the value that beat the default most
    for variant in default SWIFTINFER_CUDA_GEMV=wide SWIFTINFER_CUDA_GEMV=async SWIFTINFER_CUDA_FUSE_NORM=0 \
        SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_ATTN=tiled; do
        ab_run "$variant"
        [ "$variant" = default ] && default_tps=${tps:-0}
        faster "$tps" "$best_tps" && best=$variant best_tps=$tps
        name=${variant%%=*}
        if [ "$variant" != default ] && faster "$tps" "$default_tps" && faster "$tps" "${win_tps[$name]:-0}"; then
            win[$name]=$variant win_tps[$name]=$tps
        fi
    done
    for variant in "${win[*]}" "SWIFTINFER_CUDA_ATTN=tiled SWIFTINFER_CUDA_PDL=0 SWIFTINFER_CUDA_FUSE_NORM=0"; do
        [[ "$variant" == *" "* ]] || continue # the winners together: only when two or more
        ab_run "$variant"
        faster "$tps" "$best_tps" && best=$variant best_tps=$tps
    done
    if [ -z "${SWIFTINFER_CUDA_ATTN:-}" ] && [ "$best" != default ]; then
        read -ra best_envs <<<"$best"
        export "${best_envs[@]}"
        say "benchmarking with the fastest setting: $best"
    fi
fi

# ---- 5c. our benchmark ----
# ~3 min for 20 rounds of 512 and 1024 tokens at ~180 tokens/s; fewer
# rounds when less than that is left before the PyTorch run's minute
limit=$(budget 330 75)
if [ "$limit" -lt 200 ] && [ "$ROUNDS" -gt 10 ]; then
    ROUNDS=$((ROUNDS * limit / 220 > 2 ? ROUNDS * limit / 220 : 2))
    say "bench-rounds: ${limit}s left for it, ROUNDS lowered to $ROUNDS"
fi
step "bench-rounds $DEVICE ($ROUNDS rounds)" "$limit" bench.log "$SI" bench-rounds --model "$SYNTH_7B" --device "$DEVICE" \
    --input data/mt_bench.jsonl --rounds "$ROUNDS" --max-new-tokens "$MAX_NEW" --template llama2 \
    --dump-prompts "$PROMPTS" --json "$OUT/bench.jsonl"
grep "^bench-rounds" "$OUT/bench.log" >>"$OUT/summary.txt"

# ---- 6. the PyTorch original, on what time is left ----
left=$((DEADLINE - 15 - $(elapsed)))
if [ -s "$PROMPTS" ] && [ "$left" -gt 60 ]; then
    [ "$left" -lt 150 ] && TORCH_ROUNDS=1
    bw=--measure-bandwidth
    [ "$DEVICE" = cuda ] || bw=
    step "pytorch original ($TORCH_ROUNDS rounds)" "$left" torch.log env PYTHONUNBUFFERED=1 "$PYTHON" \
        scripts/bench_torch_streaming.py --model "$SYNTH_7B" --prompts "$PROMPTS" --rounds "$TORCH_ROUNDS" \
        --max-new-tokens "$MAX_NEW" --device "$DEVICE" $bw --json "$OUT/bench.jsonl"
else
    say "pytorch original: skipped (${left}s left or no prompts)"
fi

# ---- 7. on what time is left (after the figures that matter most). First,
# where a decode step's time goes: every operation timed on its own
# (SWIFTINFER_CUDA_PROFILE=1: graphs off, no overlap between kernels), with
# the setting benchmarked above, at the A/B's 3000 cached keys ----
if [ "$DEVICE" = cuda ] && [ "$(elapsed)" -lt $((DEADLINE - 50)) ]; then
    step "profile decode" "$(budget 60 5)" ab.log env SWIFTINFER_CUDA_PROFILE=1 "$SI" bench --model "$SYNTH_7B" \
        --device cuda --prompt-tokens 0 --gen-tokens 32 --repetitions 1 --depth 3000 --sink-tokens 4 --window 3068
    # the table of decode passes (the prefill of the 3000 keys follows it)
    awk '/^decode passes/{on=1} /^prefill passes/{on=0} on' "$OUT/ab.log" | head -24 | sed 's/^/  /' \
        >>"$OUT/summary.txt"
fi

# Then prefill of the quantized default model, its products on cuBLAS (the
# default) and on the GEMV kernels, and a compute-sanitizer pass over it (a
# prompt past 32 tokens: f16 expansion, cuBLAS, attention in row groups).
if [ -n "${SWIFTINFER_MODEL:-}" ] && [ "$DEVICE" = cuda ]; then
    for variant in default SWIFTINFER_CUDA_CUBLAS_QMIN=1000000; do
        [ "$(elapsed)" -lt $((DEADLINE - 25)) ] || { say "  Q4_1 prefill, $variant: skipped (no time left)"; continue; }
        bench_figure "$(budget 25 0)" "prefill $variant" pp512 "$variant" --model "$SWIFTINFER_MODEL" --device cuda \
            --prompt-tokens 512 --gen-tokens 0 --repetitions 3
        say "  Q4_1 prefill, $variant: ${tps:-?} tok/s"
    done
    if [ "$SANITIZE" = 1 ] && [ "$(elapsed)" -lt $((DEADLINE - 30)) ]; then
        step "memcheck generate (Q4_1 prefill)" "$(budget 60 0)" sanitizer.log \
            "$sanitizer" --tool memcheck --error-exitcode 9 "$SI" generate --model "$SWIFTINFER_MODEL" \
            --device cuda --temp 0 --max-new-tokens 4 --prompt "$(head -c 400 data/mt_bench.jsonl)"
        grep -E "ERROR SUMMARY" "$OUT/sanitizer.log" | tail -1 | sed 's/^/  Q4_1 memcheck: /' >>"$OUT/summary.txt"
    fi
fi
