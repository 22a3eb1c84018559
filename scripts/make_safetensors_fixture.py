#!/usr/bin/env python3
"""Writes tests/data/reference.safetensors with the reference `safetensors`
package, so that tests/test_safetensors.c checks our reader against a file
we did not write ourselves. Values are small integers and halves: exact in
every dtype used.

Usage: scripts/make_safetensors_fixture.py [output]"""
import sys

import torch
from safetensors.torch import save_file

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/reference.safetensors"

tensors = {
    "model.embed.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5,  # [2, 3]
    "model.norm.weight": torch.tensor([1.0, -2.0, 3.5], dtype=torch.float16),
    "model.layers.0.w": (torch.arange(24, dtype=torch.float32) - 12).reshape(2, 3, 4).to(torch.bfloat16),
}
save_file(tensors, OUT, metadata={"format": "pt"})
