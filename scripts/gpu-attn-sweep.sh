#!/usr/bin/env bash
# scripts/gpu-attn-sweep.sh: tunes the split-K sizing of the CUDA attention
# kernel on the GPU machine (after scripts/gpu-carry.sh, carrying .carry):
# (the default warp kernel; the default sizing is from its occupancy)
# builds, times the attention kernel of test_cuda_kernels (Llama-2-7B shapes,
# 3073 keys; the test's correctness checks run with each setting too) for each
# SI_CUDA_ATTN_BLOCKS_PER_SM x SI_CUDA_ATTN_KEYS_PER_SPLIT, then runs
# bench-rounds on a synth 7B model with the default and with the fastest setting.
#   BPS="6 12 24 48" KPS="64 32" ROUNDS=8 MAX_NEW=1024 scripts/gpu-attn-sweep.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-out}"
BPS="${BPS:-6 12 24 48}" KPS="${KPS:-64 32}" ROUNDS="${ROUNDS:-8}" MAX_NEW="${MAX_NEW:-1024}"
BUILD=build-gpu
mkdir -p "$OUT"
BENCH=0 SANITIZE=0 TESTS=0 OUT="$OUT" scripts/gpu-check.sh || exit 1
export SWIFTINFER_SHARED="$PWD/.carry/shared" # synth's tokenizer
[ -d /tmp/si-deps ] && export LD_LIBRARY_PATH="/tmp/si-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$BUILD/bin/swiftinfer" synth --arch llama2-7b --dtype f16 --seed 1 --out /tmp/si-7b >/tmp/synth.log 2>&1 &
best_us=1e9 best=""
for b in $BPS; do
    for k in $KPS; do
        # the first timing line is the default (warp) kernel's; the tiled one follows
        out=$(SI_TEST_QUICK=1 SI_CUDA_ATTN_BLOCKS_PER_SM=$b SI_CUDA_ATTN_KEYS_PER_SPLIT=$k "$BUILD/bin/test_cuda_kernels" 2>&1)
        line=$(echo "$out" | grep -E "attention 3073|all checks passed|FAIL" | tr '\n' ' ')
        us=$(echo "$out" | grep -m1 "attention 3073" | sed -n 's/.*f16 KV *\([0-9.]*\) us.*/\1/p')
        echo "blocks/SM $b keys/split $k: $line" | tee -a "$OUT/sweep.txt"
        if [ -n "$us" ] && echo "$line" | grep -q "all checks passed" && awk "BEGIN{exit !($us < $best_us)}"; then
            best_us=$us best="$b $k"
        fi
    done
done
echo "fastest: blocks/SM, keys/split = $best ($best_us us)" | tee -a "$OUT/sweep.txt"
wait
set -- $best
for setting in "default" "$1 $2"; do
    env_args=()
    [ "$setting" != default ] && env_args=(SI_CUDA_ATTN_BLOCKS_PER_SM=$1 SI_CUDA_ATTN_KEYS_PER_SPLIT=$2)
    echo "bench-rounds ($setting): $(env "${env_args[@]}" "$BUILD/bin/swiftinfer" bench-rounds --model /tmp/si-7b --device cuda \
        --input data/mt_bench.jsonl --rounds "$ROUNDS" --max-new-tokens "$MAX_NEW" --template llama2 2>&1 | grep '^bench-rounds')" |
        tee -a "$OUT/sweep.txt"
done
