#!/usr/bin/env python3
"""Writes tests/fixtures/autodiff/attention.safetensors: inputs, output gradient and
PyTorch autograd's gradients of torch.nn.functional.scaled_dot_product_attention, for the
golden test in tests/autodiff_attention.rs. Only needed to regenerate the fixture (the test
reads the committed file and needs no PyTorch).

A venv with the packages from PyPI (CPU wheels are enough):

    python3 -m venv /tmp/venv-torch
    /tmp/venv-torch/bin/pip install torch numpy safetensors \
        --extra-index-url https://download.pytorch.org/whl/cpu
    /tmp/venv-torch/bin/python scripts/golden_attention.py   # from the repository root

(generated with torch 2.15.0, numpy 2.4.6, safetensors 0.8.0).

Cases, each in f32 and f64 (tensor names `{case}/{dtype}/{name}`):

- `causal`: q, k, v `(2, 2, 9, 8)`, `is_causal=True`;
- `padding`: `(2, 2, 9, 8)`, a boolean `attn_mask` `(2, 1, 1, 9)` (True = attend) keeping
  the first 9 and 5 keys of the two batch rows; stored as `lengths` (f64, `(2,)`);
- `bias`: `(2, 3, 6, 8)` against 7 keys, an additive float `attn_mask` `(6, 7)` shared by
  batch and heads, with `requires_grad` (its gradient is `dbias`);
- `long_causal`: `(1, 1, 130, 8)`, causal: past the backward's 128-row blocks.

Each case stores q, k, v, dout (the output's gradient), out, dq, dk, dv (and bias, dbias).
The f32 and f64 cases use the same values (drawn in f64, rounded to f32), and each runs in
its own precision. The math backend (`sdpa_kernel(SDPBackend.MATH)`) is forced so both
dtypes use the same algorithm.
"""

import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from torch.nn.attention import SDPBackend, sdpa_kernel

OUT = os.path.join("tests", "fixtures", "autodiff", "attention.safetensors")


def run(case, dtype, q, k, v, dout, mask=None, causal=False, bias=None):
    t = lambda a, grad=True: torch.tensor(a, dtype=dtype, requires_grad=grad)
    tq, tk, tv = t(q), t(k), t(v)
    attn_mask = None
    tb = None
    if mask is not None:
        attn_mask = torch.tensor(mask)
    if bias is not None:
        tb = t(bias)
        attn_mask = tb
    with sdpa_kernel(SDPBackend.MATH):
        out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=attn_mask, is_causal=causal)
    out.backward(t(dout, grad=False))
    name = "f32" if dtype == torch.float32 else "f64"
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    res = {
        "q": q, "k": k, "v": v, "dout": dout,
        "out": out.detach().numpy(),
        "dq": tq.grad.numpy(), "dk": tk.grad.numpy(), "dv": tv.grad.numpy(),
    }
    if bias is not None:
        res["bias"] = bias
        res["dbias"] = tb.grad.numpy()
    return {f"{case}/{name}/{n}": np.ascontiguousarray(a, dtype=np_dtype) for n, a in res.items()}


def main():
    rng = np.random.default_rng(13)
    tensors = {}

    def inputs(b, h, sq, sk, d):
        return (rng.standard_normal((b, h, sq, d)), rng.standard_normal((b, h, sk, d)),
                rng.standard_normal((b, h, sk, d)), rng.standard_normal((b, h, sq, d)))

    cases = []
    q, k, v, do = inputs(2, 2, 9, 9, 8)
    cases.append(("causal", dict(q=q, k=k, v=v, dout=do, causal=True)))
    q, k, v, do = inputs(2, 2, 9, 9, 8)
    lengths = np.array([9, 5])
    mask = np.arange(9)[None, None, None, :] < lengths[:, None, None, None]
    cases.append(("padding", dict(q=q, k=k, v=v, dout=do, mask=mask)))
    tensors["padding/lengths"] = lengths.astype(np.float64)
    q, k, v, do = inputs(2, 3, 6, 7, 8)
    bias = rng.standard_normal((6, 7))
    cases.append(("bias", dict(q=q, k=k, v=v, dout=do, bias=bias)))
    q, k, v, do = inputs(1, 1, 130, 130, 8)
    cases.append(("long_causal", dict(q=q, k=k, v=v, dout=do, causal=True)))

    for case, kw in cases:
        for dtype in (torch.float32, torch.float64):
            np_dtype = np.float32 if dtype == torch.float32 else np.float64
            args = {n: (a.astype(np_dtype) if n in ("q", "k", "v", "dout", "bias") else a)
                    for n, a in kw.items()}
            tensors.update(run(case, dtype, **args))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(tensors, OUT, metadata={"generator": "scripts/golden_attention.py",
                                      "torch": torch.__version__})
    print(f"wrote {OUT}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
