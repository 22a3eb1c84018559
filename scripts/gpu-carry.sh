#!/usr/bin/env bash
# scripts/gpu-carry.sh: prepares .carry/ (git-ignored) for scripts/gpu-check.sh,
# which runs on a GPU machine that has no network and no ../shared:
#   .carry/debs/     jansson, PCRE2 and libmicrohttpd development packages and
#                    pkgconf, as .deb files (gpu-check.sh unpacks them when the
#                    machine lacks them; libmicrohttpd12 needs the machine's
#                    own libgnutls30, which apt itself depends on)
#   .carry/shared/   the Llama-2 tokenizer (for `swiftinfer synth`) and MT-Bench
#   .carry/SmolLM2-135M-Instruct.Q4_1.gguf  the default model, only with --model:
#                    it is 94 MiB, over the 64 MiB a device call can carry.
# Then call the device tool with carry [".carry"] (see gpu-check.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
with_model=0
[ "${1:-}" = "--model" ] && with_model=1
shared="${SWIFTINFER_SHARED:-$repo/../shared}"
rm -rf .carry
mkdir -p .carry/debs .carry/shared/tokenizers/llama2 .carry/shared/data
(cd .carry/debs && apt-get download -q libjansson-dev libjansson4 libpcre2-dev libpcre2-8-0 libpcre2-16-0 \
    libpcre2-32-0 libpcre2-posix3 libmicrohttpd-dev libmicrohttpd12 pkgconf pkgconf-bin libpkgconf3 >/dev/null)
cp "$shared/tokenizers/llama2/tokenizer.model" .carry/shared/tokenizers/llama2/
if [ -f data/mt_bench.jsonl ]; then cp data/mt_bench.jsonl .carry/shared/data/; else cp "$shared/data/mt_bench.jsonl" .carry/shared/data/; fi
if [ "$with_model" = 1 ]; then
    cp "$(scripts/fetch-model.sh)" .carry/
fi
grep -qx '/.carry/' .gitignore 2>/dev/null || echo "note: add /.carry/ to .gitignore (or .git/info/exclude) so it is not committed" >&2
echo "prepared $(du -sh .carry | cut -f1) in .carry: $(ls .carry/debs | wc -l) packages, tokenizer, MT-Bench$([ "$with_model" = 1 ] && echo ', default model')"
