#!/usr/bin/env python3
"""Prints the golden values that tests/test_gguf.c checks, read from the
default model with the reference `gguf` Python package (not by our reader).

Usage: scripts/gguf_golden.py [model.gguf]
Paste the output into the GOLDEN section of tests/test_gguf.c."""
import sys

import gguf
import numpy as np
from gguf.quants import dequantize

DEFAULT = "~/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf"
# (tensor, row, how many leading values)
ROWS = [("token_embd.weight", 1, 8), ("token_embd.weight", 49151, 8), ("blk.0.ffn_down.weight", 3, 8),
        ("blk.29.attn_q.weight", 575, 8), ("output_norm.weight", 0, 8)]


def main():
    import os
    path = os.path.expanduser(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    for name, row, n in ROWS:
        t = tensors[name]
        values = dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0]))[row]
        head = ", ".join(f"{v:.9g}f" for v in values[:n])
        total = float(np.sum(values.astype(np.float64)))
        print(f'    {{"{name}", {row}, {{{head}}}, {total:.9g}}},')


if __name__ == "__main__":
    main()
