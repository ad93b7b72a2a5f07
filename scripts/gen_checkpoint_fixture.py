#!/usr/bin/env python3
"""Fixtures for tests/safetensors.rs: Hugging Face checkpoint directories written by
huggingface_hub's `save_torch_state_dict` (what transformers' `save_pretrained` calls),
with tensors in F32, F16 and BF16.

  tests/fixtures/checkpoint/sharded/   model-0000i-of-00004.safetensors and
                                       model.safetensors.index.json (max_shard_size 200 B)
  tests/fixtures/checkpoint/single/    model.safetensors (the same tensors, one file)
  tests/fixtures/checkpoint/expected.json
                                       each tensor's dtype, shape, shard, and its values as
                                       torch converts them to float32 (f32 bit patterns),
                                       so the test compares bit for bit

Usage: pip install torch safetensors huggingface_hub && python3 scripts/gen_checkpoint_fixture.py
"""
import json
import os
import shutil

import torch
from huggingface_hub import save_torch_state_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "checkpoint")


def state_dict():
    g = torch.Generator().manual_seed(22)
    def randn(*shape):
        return torch.randn(*shape, generator=g) * 3
    sd = {
        "model.embed_tokens.weight": randn(8, 6).to(torch.bfloat16),
        "model.layers.0.self_attn.q_proj.weight": randn(6, 6),
        "model.layers.0.self_attn.q_proj.bias": randn(6).to(torch.float16),
        "model.layers.0.mlp.up_proj.weight": randn(10, 6).to(torch.float16),
        "model.layers.0.input_layernorm.weight": randn(6).to(torch.bfloat16),
        "model.norm.weight": randn(6),
        "lm_head.weight": randn(8, 6).to(torch.bfloat16),
    }
    # Values at the edges of the half formats: subnormals, the largest finite, -0, inf.
    sd["model.layers.0.mlp.up_proj.weight"][0, :6] = torch.tensor(
        [2.0**-24, 65504.0, -0.0, float("inf"), -2.0**-14, 1.0 / 3], dtype=torch.float16)
    sd["model.norm.weight"][0] = 1e-40  # an f32 subnormal
    return sd


def bits(t):
    return t.to(torch.float32).contiguous().view(torch.int32).flatten().tolist()


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    sd = state_dict()
    sharded, single = os.path.join(OUT, "sharded"), os.path.join(OUT, "single")
    os.makedirs(sharded)
    os.makedirs(single)
    save_torch_state_dict(sd, sharded, max_shard_size=200)
    save_torch_state_dict(sd, single)
    with open(os.path.join(sharded, "model.safetensors.index.json")) as f:
        index = json.load(f)
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) == 4, shards
    assert os.listdir(os.path.join(OUT, "single")) == ["model.safetensors"]
    expected = {
        name: {
            "dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype],
            "shape": list(t.shape),
            "shard": index["weight_map"][name],
            # Two's-complement i32 in JSON; the test reads them as u32 bit patterns.
            "bits": [b & 0xFFFFFFFF for b in bits(t)],
        }
        for name, t in sd.items()
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print(f"wrote {OUT}: {len(sd)} tensors in {len(shards)} shards and one file, {total} bytes")


if __name__ == "__main__":
    main()
