#!/usr/bin/env bash
# Draws running perplexity against tokens for several `swiftinfer perplexity
# --csv` runs into one PNG (gnuplot, from Debian's gnuplot-nox), like the
# StreamingLLM paper's figure.
#   scripts/plot-perplexity.sh OUT.png "TITLE" LABEL1=run1.csv LABEL2=run2.csv ...
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 OUT.png TITLE LABEL=FILE.csv..." >&2
    exit 2
fi
command -v gnuplot >/dev/null || { echo "plot-perplexity: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
out="$1"; title="$2"; shift 2
plots=()
for spec in "$@"; do
    label="${spec%%=*}"; file="${spec#*=}"
    [ -f "$file" ] || { echo "plot-perplexity: $file: no such file" >&2; exit 1; }
    plots+=("'$file' using 1:4 with lines lw 2 title '$label'")
done
joined=$(IFS=,; echo "${plots[*]}")
gnuplot <<GP
set terminal pngcairo size 1100,650 font ",11"
set output '$out'
set title '$title'
set datafile separator ','
set key top right
set xlabel 'tokens'
set ylabel 'running perplexity'
set logscale y
set grid
plot $joined
GP
echo "$out"
