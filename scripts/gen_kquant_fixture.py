#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/kquants.json: 768 values each of Q4_K, Q5_K and Q6_K (three
super-blocks) and of Q5_0 and Q5_1 (24 blocks), with the f32 values gguf-py dequantizes them
to, for tests/gguf.rs (bit for bit).

The blocks are random bytes (seeded) with their f16 scales (`d`, `dmin`) drawn finite, so
that every quant, scale and minimum bit pattern is exercised; gguf-py (PyPI `gguf`, the
reader llama.cpp ships) is the reference. Run: python3 scripts/gen_kquant_fixture.py
"""

import json
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

ROOT = Path(__file__).resolve().parent.parent
# (type, bytes per super-block, byte offsets of its f16 scales)
# (name, type, bytes per block, byte offsets of its f16 scales, blocks in 768 values)
KINDS = [
    ("Q4_K", T.Q4_K, 144, [0, 2], 3),
    ("Q5_K", T.Q5_K, 176, [0, 2], 3),
    ("Q6_K", T.Q6_K, 210, [208], 3),
    ("Q5_0", T.Q5_0, 22, [0], 24),
    ("Q5_1", T.Q5_1, 24, [0, 2], 24),
]


def main():
    rng = np.random.default_rng(20261205)
    out = {}
    for name, ty, size, scales, blocks in KINDS:
        data = bytearray(rng.integers(0, 256, size=blocks * size, dtype=np.uint8).tobytes())
        for b in range(blocks):
            for off in scales:
                # A finite f16 of either sign, up to ~1 (a real model's scales are small).
                h = np.float16(rng.uniform(-1.0, 1.0) * 2.0 ** -rng.integers(0, 12))
                data[b * size + off : b * size + off + 2] = h.tobytes()
        values = dequantize(np.frombuffer(bytes(data), dtype=np.uint8), ty).astype(np.float32)
        assert values.shape == (768,)
        out[name] = {
            "bytes": bytes(data).hex(),
            "f32_bits": [int(v) for v in values.view(np.uint32)],
        }
    path = ROOT / "tests/fixtures/gguf/kquants.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
