#!/usr/bin/env python3
"""The fixture of tests/stored.rs, written with gguf-py (llama.cpp's own Python package):

  tests/fixtures/stored/tiny_llama.gguf   a 2-layer LLaMA decoder (vocab 64, width 64,
      2 heads and 1 key/value head of 32, FFN 96, tied head) whose matrices mix every type
      a stored decoder keeps: the embedding Q8_0, q Q4_0, k Q4_1, v Q8_0, o F16, gate Q4_1,
      up Q4_0, down Q8_0 in layer 0; q BF16, k F32, v Q4_1, o Q8_0, gate F16, up Q8_0,
      down Q4_0 in layer 1; the norms F32. Quantized by gguf.quants (ggml's reference
      quantizers). The q/k rows are written in llama.cpp's permuted order, as
      convert_hf_to_gguf.py writes them, so the loader's unpermutation is exercised on
      blocks.

  tests/fixtures/stored/tiny_llama_kq.gguf   the same shapes with FFN 256, in the types a
      Q4_K_M file of a model this narrow holds and the stored decoder keeps only converted:
      q/k/v/o, gate and up Q5_0 (layer 0) and Q5_1 (layer 1), down Q4_K (layer 0) and Q6_K
      (layer 1), the embedding Q8_0. gguf-py quantizes Q5_0/Q5_1; it has no k-quant
      quantizer, so the Q4_K/Q6_K blocks are random bytes with small finite f16 scales
      (their dequantization is checked against gguf-py in tests/gguf.rs).

The test compares the stored decoder's logits with those of the same file dequantized
(`Decoder::from_gguf`), so no expected values are written here.

Usage: pip install gguf numpy && python3 scripts/gen_stored_fixture.py
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter
from gguf.quants import quantize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "stored")

VOCAB, WIDTH, HEADS, KV_HEADS, HEAD_DIM, FFN, LAYERS = 64, 64, 2, 1, 32, 96, 2

TYPES = [
    {"attn_q": Q.Q4_0, "attn_k": Q.Q4_1, "attn_v": Q.Q8_0, "attn_output": Q.F16,
     "ffn_gate": Q.Q4_1, "ffn_up": Q.Q4_0, "ffn_down": Q.Q8_0},
    {"attn_q": Q.BF16, "attn_k": Q.F32, "attn_v": Q.Q4_1, "attn_output": Q.Q8_0,
     "ffn_gate": Q.F16, "ffn_up": Q.Q8_0, "ffn_down": Q.Q4_0},
]


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def add(w, name, x, qt):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if qt == Q.F32:
        w.add_tensor(name, x)
    elif qt == Q.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, quantize(x, qt), raw_dtype=qt)


def random_k_blocks(rng, rows, cols, qt):
    """Random Q4_K / Q6_K super-blocks for a (rows, cols) matrix, with small finite f16
    scales (`d`, `dmin` for Q4_K; `d` for Q6_K)."""
    size, scales = {Q.Q4_K: (144, [0, 2]), Q.Q6_K: (210, [208])}[qt]
    n = rows * cols // 256
    data = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for off in scales:
        h = (rng.uniform(-1.0, 1.0, size=n) * 0.01).astype(np.float16)
        data[:, off:off + 2] = h.view(np.uint8).reshape(n, 2)
    return data.reshape(rows, cols // 256 * size)


def write(path, rng, types, ffn):
    w = GGUFWriter(path, arch="llama")
    w = GGUFWriter(path, arch="llama")
    w.add_uint32("llama.context_length", 128)
    w.add_uint32("llama.embedding_length", WIDTH)
    w.add_uint32("llama.block_count", LAYERS)
    w.add_uint32("llama.feed_forward_length", ffn)
    w.add_uint32("llama.attention.head_count", HEADS)
    w.add_uint32("llama.attention.head_count_kv", KV_HEADS)
    w.add_uint32("llama.attention.key_length", HEAD_DIM)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32("llama.rope.freq_base", 10000.0)

    def normal(*shape, std=0.2):
        return rng.standard_normal(shape).astype(np.float32) * std

    add(w, "token_embd.weight", normal(VOCAB, WIDTH, std=1.0), Q.Q8_0)
    for l, layer in enumerate(types):
        shapes = {"attn_q": (HEADS * HEAD_DIM, WIDTH), "attn_k": (KV_HEADS * HEAD_DIM, WIDTH),
                  "attn_v": (KV_HEADS * HEAD_DIM, WIDTH), "attn_output": (WIDTH, HEADS * HEAD_DIM),
                  "ffn_gate": (ffn, WIDTH), "ffn_up": (ffn, WIDTH), "ffn_down": (WIDTH, ffn)}
        add(w, f"blk.{l}.attn_norm.weight", 1.0 + normal(WIDTH, std=0.1), Q.F32)
        for part, shape in shapes.items():
            x = normal(*shape)
            if part == "attn_q":
                x = permute(x, HEADS)
            elif part == "attn_k":
                x = permute(x, KV_HEADS)
            if layer[part] in (Q.Q4_K, Q.Q6_K):
                blocks = random_k_blocks(rng, *shape, layer[part])
                w.add_tensor(f"blk.{l}.{part}.weight", blocks, raw_dtype=layer[part])
            else:
                add(w, f"blk.{l}.{part}.weight", x, layer[part])
        add(w, f"blk.{l}.ffn_norm.weight", 1.0 + normal(WIDTH, std=0.1), Q.F32)
    add(w, "output_norm.weight", 1.0 + normal(WIDTH, std=0.1), Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    os.makedirs(OUT, exist_ok=True)
    write(os.path.join(OUT, "tiny_llama.gguf"), np.random.default_rng(24), TYPES, FFN)
    five = {p: None for p in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up")}
    kq = [dict(five, **{p: Q.Q5_0 for p in five}, ffn_down=Q.Q4_K),
          dict(five, **{p: Q.Q5_1 for p in five}, ffn_down=Q.Q6_K)]
    write(os.path.join(OUT, "tiny_llama_kq.gguf"), np.random.default_rng(25), kq, 256)


if __name__ == "__main__":
    main()
