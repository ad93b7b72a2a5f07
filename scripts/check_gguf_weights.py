#!/usr/bin/env python3
"""Whether transformers' float32 weights of a GGUF are the dequantization shapecheck computes
(issue 23 item 2: our base logits differ from transformers' by 1.07e-4 in f32, 2.05e-5 in f64).

Two checks, offline (PyPI's gguf, numpy, torch, transformers):
1. gguf-py's f32 dequantization of every Q4_1 tensor against the exact value `d·q + m` (in f64)
   rounded once to f32, which is what `src/io/gguf/dequant.rs` computes (`d·q` is exact in f32:
   an f16 times a 4-bit integer; the one rounding is the addition of `m`).
2. Every tensor transformers loads from the GGUF against gguf-py's dequantization: bit for bit,
   or (q_proj, k_proj, which transformers un-permutes from llama.cpp's rotary layout) the same
   values in another order.

    python3 scripts/check_gguf_weights.py [--gguf FILE]

Exits with 1 when a check fails.
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gguf import GGMLQuantizationType, GGUFReader, dequantize  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", default="models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    reader = GGUFReader(args.gguf)
    ok = True

    off = 0
    for t in reader.tensors:
        if t.tensor_type != GGMLQuantizationType.Q4_1:
            continue
        blocks = np.asarray(t.data).reshape(-1, 20)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float64)
        m = blocks[:, 2:4].copy().view(np.float16).astype(np.float64)
        qs = blocks[:, 4:]
        nibbles = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float64)
        exact = (d * nibbles + m).astype(np.float32).reshape(-1)
        got = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        off += int((exact.view(np.uint32) != got.view(np.uint32)).sum())
    ok &= off == 0
    print(f"Q4_1 elements where gguf-py's f32 dequantization is not d·q + m rounded once: {off}")

    gguf_dir, gguf_file = os.path.split(os.path.abspath(args.gguf))
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    theirs = {k: v.numpy().reshape(-1) for k, v in model.state_dict().items()}
    ours = {t.name: dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            for t in reader.tensors}
    rename = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
              "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
              "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    same = permuted = differ = 0
    for name, b in ours.items():
        if name.startswith("blk."):
            _, layer, kind, _ = name.split(".")
            hf = f"model.layers.{layer}.{rename[kind]}.weight"
        else:
            hf = {"token_embd.weight": "model.embed_tokens.weight",
                  "output_norm.weight": "model.norm.weight",
                  "output.weight": "lm_head.weight"}[name]
        a = theirs[hf]
        if np.array_equal(a.view(np.uint32), b.view(np.uint32)):
            same += 1
        elif np.array_equal(np.sort(a), np.sort(b)) and ("q_proj" in hf or "k_proj" in hf):
            permuted += 1
        else:
            differ += 1
            print(f"  {hf} differs from {name}")
    ok &= differ == 0
    print(f"{len(ours)} tensors: {same} bit-identical, {permuted} q/k un-permuted (the same values), "
          f"{differ} different")
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
