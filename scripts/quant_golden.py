#!/usr/bin/env python3
"""Writes tests/golden/quant_blocks.json: random blocks of the quantized
types Q5_0, Q5_1, Q4_K, Q5_K and Q6_K with their values as the reference
`gguf` Python package dequantizes them (not our code). tests/test_gguf.c
checks si_dequantize_row against them.

Every byte of a block is random except the f16 scales, which are drawn
finite (ordinary, negative, subnormal, zero) so that values compare exactly.

Usage: scripts/quant_golden.py [OUT]"""
import json
import sys

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

# type -> byte offsets of its f16 scales within a block
SCALES = {T.Q5_0: [0], T.Q5_1: [0, 2], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
BLOCKS = 6


def rand_f16(rng):
    kind = rng.integers(8)
    if kind == 0:
        return np.float16(0.0)
    if kind == 1:
        return np.frombuffer(np.uint16(1).tobytes(), np.float16)[0]  # smallest subnormal
    if kind == 2:
        return np.float16(-rng.uniform(0.001, 0.1))
    return np.float16(rng.uniform(-0.05, 0.05))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/quant_blocks.json"
    rng = np.random.default_rng(20261127)
    golden = {}
    for t, offsets in SCALES.items():
        per, size = GGML_QUANT_SIZES[t]
        raw = bytearray(rng.integers(0, 256, size=BLOCKS * size, dtype=np.uint8).tobytes())
        for b in range(BLOCKS):
            for off in offsets:
                raw[b * size + off: b * size + off + 2] = rand_f16(rng).tobytes()
        values = dequantize(np.frombuffer(bytes(raw), np.uint8).reshape(BLOCKS, size), t).reshape(-1)
        golden[t.name] = {"elements_per_block": per, "block_bytes": size, "blocks": bytes(raw).hex(),
                          "values_f32_hex": values.astype("<f4").tobytes().hex()}
    with open(out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
