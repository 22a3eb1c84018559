#!/usr/bin/env bash
# Installs what building and testing SwiftInfer needs on Debian 12, then
# fetches the default model. Safe to run again: it only installs what is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# clang and libclang-rt-14-dev: libFuzzer and the sanitizers for scripts/fuzz.sh.
packages=(build-essential cmake pkg-config libjansson-dev libpcre2-dev libmicrohttpd-dev python3 python3-pip python3-venv ca-certificates clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$here/fetch-model.sh" >/dev/null
echo "setup: done"
