#!/usr/bin/env bash
# The Python environment for the oracle and golden-file scripts (never needed
# by the engine or by CI): PyTorch, transformers, tokenizers, sentencepiece,
# safetensors and gguf from PyPI, in ~/.cache/swiftinfer/pyenv.
set -euo pipefail
env_dir="${XDG_CACHE_HOME:-$HOME/.cache}/swiftinfer/pyenv"
if [ ! -x "$env_dir/bin/python" ]; then
    python3 -m venv "$env_dir"
fi
"$env_dir/bin/pip" install --quiet --disable-pip-version-check \
    torch transformers tokenizers sentencepiece safetensors gguf numpy jinja2 accelerate protobuf
echo "$env_dir/bin/python"
