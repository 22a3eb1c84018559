#!/usr/bin/env bash
# Draws running perplexity against tokens for several `swiftinfer perplexity
# --csv` runs into one PNG (gnuplot, from Debian's gnuplot-nox), like the
# StreamingLLM paper's figure: perplexity over a sliding span of SPAN tokens
# (default 256), so that a collapse shows where it happens.
#   [SPAN=256] scripts/plot-perplexity.sh OUT.png "TITLE" LABEL1=run1.csv LABEL2=run2.csv ...
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 OUT.png TITLE LABEL=FILE.csv..." >&2
    exit 2
fi
command -v gnuplot >/dev/null || { echo "plot-perplexity: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
out="$1"; title="$2"; shift 2
span="${SPAN:-256}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
plots=()
i=0
for spec in "$@"; do
    label="${spec%%=*}"; file="${spec#*=}"
    [ -f "$file" ] || { echo "plot-perplexity: $file: no such file" >&2; exit 1; }
    # index,token,nll,running -> index,perplexity over the last $span tokens
    awk -F, -v span="$span" 'NR > 1 { n++; sum += $3; if (n > span) sum -= old[n % span];
         old[n % span] = $3; if (n >= span) printf "%d,%.6f\n", $1, exp(sum / span) }' "$file" > "$tmp/$i.csv"
    plots+=("'$tmp/$i.csv' using 1:2 with lines lw 2 title '$label'")
    i=$((i + 1))
done
joined=$(IFS=,; echo "${plots[*]}")
gnuplot <<GP
set terminal pngcairo size 1100,650 font ",11"
set output '$out'
set termoption noenhanced
set title '$title'
set datafile separator ','
set key top right
set xlabel 'tokens'
set ylabel sprintf('perplexity over the last %d scored tokens', $span)
set logscale y
set grid
plot $joined
GP
echo "$out"
