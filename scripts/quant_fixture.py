"""Writes tests/fixtures/quant/blocks.json: a few blocks of 32 f32 values and their bytes
quantized by gguf-py (`gguf.quants.quantize`, which reproduces ggml's reference quantizers
bit for bit) to Q8_0, Q4_0, Q4_1, BF16 and F16. tests/quant.rs checks that
`Quantized::quantize` gives the same bytes.

    python scripts/quant_fixture.py   # gguf and numpy from PyPI
"""

import importlib.metadata
import json
import pathlib

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

rng = np.random.default_rng(24)
blocks = [
    rng.standard_normal(32).astype(np.float32),
    (rng.standard_normal(32) * 1e-3 + 0.5).astype(np.float32),  # all positive: Q4_1's min
    np.zeros(32, dtype=np.float32),  # d = 0
    np.linspace(-3.5, 3.5, 32).astype(np.float32),
    (np.arange(32, dtype=np.float32) - 20.0) / 4.0,  # negative extreme: Q4_0's signed max
    np.array([127.0 / (i + 1) * (-1) ** i for i in range(32)], dtype=np.float32),  # ties
    (rng.standard_normal(32) * 1e4).astype(np.float32),
]
x = np.stack(blocks)
out = {
    "source": "gguf-py " + importlib.metadata.version("gguf") + " gguf.quants.quantize",
    "input_bits": [int(v) for v in x.reshape(-1).view(np.uint32)],
}
for name, t in [("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_1", T.Q4_1), ("BF16", T.BF16), ("F16", T.F16)]:
    out[name] = gguf.quants.quantize(x, t).tobytes().hex()
path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/quant/blocks.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
