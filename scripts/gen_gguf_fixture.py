#!/usr/bin/env python3
"""Fixtures for tests/gguf.rs, written with gguf-py (llama.cpp's own Python package):

  tests/fixtures/gguf/tiny.gguf   a small GGUF v3 file written by gguf's GGUFWriter: metadata
                                  of every value type (strings with non-ASCII text, arrays,
                                  an array of arrays), alignment 64, and six tensors quantized
                                  by gguf.quants (F32, F16, BF16, Q8_0, Q4_0, Q4_1)
  tests/fixtures/gguf/tiny.json   what gguf says is in it: the metadata, each tensor's shape
                                  (numpy's, row-major) and gguf.quants.dequantize's values as
                                  f32 bit patterns, so the test compares bit for bit
  tests/fixtures/gguf/smollm2.json  (when models/smollm2-135m-instruct/ holds the model, see
                                  scripts/fetch-smollm2.sh) a few rows of two real tensors as
                                  gguf dequantizes them: the Q8_0 embedding and a Q4_1 projection

Usage: pip install gguf numpy && python3 scripts/gen_gguf_fixture.py
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).reshape(-1).tolist()


def tiny():
    rng = np.random.default_rng(22)
    path = os.path.join(OUT, "tiny.gguf")
    w = GGUFWriter(path, arch="llama")
    w.add_custom_alignment(64)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("llama.block_count", 30)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("llama.rope.freq_base", 100000.0)
    w.add_bool("test.bool", True)
    w.add_string("general.name", "tiny ✓ — ünïcode 字")
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", -1.5e300)
    w.add_array("tokenizer.ggml.tokens", ["<s>", "Ġthe", "▁x", "🙂", ""])
    w.add_array("tokenizer.ggml.token_type", [1, 3, -2])
    w.add_array("tokenizer.ggml.scores", [0.5, -1.25])
    w.add_array("test.nested", [[1, 2, 3], ["a", "bc"], [True]])

    shapes = {"f32": (3, 64), "f16": (2, 32), "bf16": (5,), "q8_0": (4, 64),
              "q4_0": (3, 96), "q4_1": (2, 128)}
    types = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0,
             "q4_0": Q.Q4_0, "q4_1": Q.Q4_1}
    expected = {}
    for name, shape in shapes.items():
        x = rng.standard_normal(shape).astype(np.float32) * 3
        if name == "q4_1":
            x[0] += 5.0  # a row whose minimum is far from 0
        if name == "q8_0":
            x[1] *= -1e-3  # small scales
        qt = types[name]
        if qt == Q.F32:
            stored, raw = x, None
        elif qt == Q.F16:
            stored, raw = x.astype(np.float16), None
        else:
            stored, raw = quantize(x, qt), qt
        w.add_tensor(name, stored, raw_dtype=raw)
        values = x if qt == Q.F32 else (stored.astype(np.float32) if qt == Q.F16 else dequantize(stored, qt))
        expected[name] = {"type": qt.name, "shape": list(shape), "bits": bits(values)}
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    meta = {
        "general.architecture": "llama",
        "general.alignment": 64,
        "test.u8": 200, "test.i8": -100, "test.u16": 60000, "test.i16": -30000,
        "llama.block_count": 30, "test.i32": -2_000_000_000, "llama.rope.freq_base": 100000.0,
        "test.bool": True, "general.name": "tiny ✓ — ünïcode 字", "test.u64": 2**63 + 5,
        "test.i64": -(2**62), "test.f64": -1.5e300,
    }
    # Read back with gguf's own reader: the file holds what the JSON says.
    r = GGUFReader(path)
    assert r.fields["llama.block_count"].contents() == 30
    assert [t.name for t in r.tensors] == list(shapes)
    with open(os.path.join(OUT, "tiny.json"), "w") as f:
        json.dump({"metadata": meta, "tensors": expected, "order": list(shapes)}, f)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and tiny.json")


def smollm2():
    path = os.path.join(ROOT, "models", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        print(f"note: {path} missing: smollm2.json not regenerated (scripts/fetch-smollm2.sh)")
        return
    r = GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}
    out = {}
    for name, rows in [("token_embd.weight", [0, 1, 2, 1000, 49151]),
                       ("blk.0.attn_q.weight", [0, 17, 575]),
                       ("blk.29.ffn_down.weight", [0, 575])]:
        t = tensors[name]
        values = dequantize(t.data, t.tensor_type)  # row-major (ne reversed)
        out[name] = {
            "type": t.tensor_type.name,
            "shape": list(values.shape),
            "rows": {str(i): bits(values[i][:64]) for i in rows},  # the first 64 of each
        }
    with open(os.path.join(OUT, "smollm2.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote smollm2.json")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tiny()
    smollm2()
    sys.exit(0)
