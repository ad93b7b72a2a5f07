#!/usr/bin/env python3
"""RoPE frequencies and rotations as transformers computes them, for tests/rope_scaling.rs.

Builds a LlamaConfig for each scaling (default, linear, dynamic, llama3, yarn), asks
transformers' own `LlamaRotaryEmbedding` for cos/sin at a few positions (with the whole
sequence's position ids, so dynamic NTK sees the sequence length), and records its inverse
frequencies and attention factor. Writes tests/fixtures/rope_scaling.json.

    python3 scripts/golden_rope.py        # transformers, torch (PyPI), offline
"""
import json
import os

import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

HEAD_DIM = 16
MAX_POS = 64

CASES = [
    ("default", 10000.0, {"rope_type": "default"}),
    ("default-500k", 500000.0, {"rope_type": "default"}),
    ("linear", 10000.0, {"rope_type": "linear", "factor": 4.0}),
    ("dynamic", 10000.0, {"rope_type": "dynamic", "factor": 2.0}),
    ("llama3", 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    ("yarn", 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}),
    ("yarn-betas", 10000.0, {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 32,
                             "beta_fast": 16.0, "beta_slow": 2.0}),
    ("yarn-attention-factor", 10000.0, {"rope_type": "yarn", "factor": 4.0,
                                        "original_max_position_embeddings": 16, "attention_factor": 0.5}),
]
# Sequence lengths: inside the trained context, at its end, and past it (dynamic grows).
LENGTHS = [8, MAX_POS, 3 * MAX_POS]


def main():
    out = {"transformers": transformers.__version__, "torch": torch.__version__,
           "head_dim": HEAD_DIM, "max_position_embeddings": MAX_POS, "cases": []}
    for name, theta, params in CASES:
        params = dict(params, rope_theta=theta)
        config = LlamaConfig(hidden_size=HEAD_DIM * 2, num_attention_heads=2, head_dim=HEAD_DIM,
                             max_position_embeddings=MAX_POS, rope_parameters=params)
        for length in LENGTHS:
            rope = LlamaRotaryEmbedding(config)
            x = torch.zeros(1, length, HEAD_DIM)
            position_ids = torch.arange(length).unsqueeze(0)
            with torch.no_grad():
                cos, sin = rope(x, position_ids)
            positions = sorted({0, 1, length // 2, length - 1})
            out["cases"].append({
                "name": name,
                "rope_theta": theta,
                "parameters": params,
                "length": length,
                "inv_freq": rope.inv_freq.tolist(),
                "attention_factor": float(rope.attention_scaling),
                "positions": positions,
                # cos and sin of pair j at each position (transformers repeats them per half).
                "cos": [cos[0, p, : HEAD_DIM // 2].tolist() for p in positions],
                "sin": [sin[0, p, : HEAD_DIM // 2].tolist() for p in positions],
            })
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "rope_scaling.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out['cases'])} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
