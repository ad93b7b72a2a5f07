#!/usr/bin/env python3
"""Writes tests/fixtures/autodiff/ops.safetensors: PyTorch autograd's values and gradients
for each op family that shapecheck's autodiff traces; tests/autodiff_golden.rs compares
against it without needing PyTorch.

PyTorch comes from PyPI; a venv that runs this script:

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors
    .venv/bin/python scripts/golden_autodiff_ops.py

(It was generated with torch 2.15, numpy 2.4.) Only someone regenerating the fixture runs
it; the file is committed.

Layout of the file, for every case `C` and dtype `dt` in {f32, f64}:

    C.dt.in0, C.dt.in1, ...   the inputs (leaves), in their stored shapes
    C.dt.r                    a random weighting of the output
    C.dt.out                  the op's output
    C.dt.grad0, ...           d(sum(out * r)) / d(in_i), for the inputs that are traced

The inputs are drawn in float64 with a fixed seed and rounded to float32 for the f32
cases, so both dtypes see the same numbers; each dtype's reference is PyTorch computing in
that dtype. The loss `sum(out * r)` with a random `r` makes every gradient element depend on
the op's whole Jacobian (no gradient is 1 or 0 by symmetry). An input that the Rust side
reads through `.t()` is stored transposed (noted per case). The comments of each case say
what the Rust test does with it: the two files must be read together.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "autodiff", "ops.safetensors")

rng = np.random.default_rng(20261201)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


# Each case: name -> (inputs as float64 arrays, indices of the traced inputs, function of
# the torch inputs returning the output). The inputs are drawn once, here, for both dtypes.
CASES = {}


def case(name, inputs, traced, fn):
    CASES[name] = (inputs, traced, fn)


CE_TARGETS = [1, 4, 0, 2]  # the cross-entropy targets, hard-coded in the Rust test too
TAU = 0.05  # the InfoNCE temperature (sentence-transformers' default scale of 20)

# --- matmul -------------------------------------------------------------------------
case("matmul_2d", [randn(3, 4), randn(4, 2)], [0, 1], lambda a, b: a @ b)
# in1 is stored (N, K) and read as in1.t().
case("matmul_t", [randn(3, 4), randn(2, 4)], [0, 1], lambda a, b: a @ b.T)
# Batched with a transposed right operand: (2, 3, 4) · (2, 5, 4)ᵀ.
case("matmul_batched", [randn(2, 3, 4), randn(2, 5, 4)], [0, 1],
     lambda x, y: x @ y.transpose(-1, -2))
# A right operand shared by the batch: (2, 3, 4) · (4, 5).
case("matmul_shared", [randn(2, 3, 4), randn(4, 5)], [0, 1], lambda x, w: x @ w)
case("matvec", [randn(3, 4), randn(4)], [0, 1], lambda a, v: a @ v)

# --- broadcasting elementwise -------------------------------------------------------
# ((x + bias) * m) / z with x (2, 3, 4), bias (4,), m (2, 1, 4), z (1, 3, 1) positive:
# each broadcast operand's gradient is summed over its broadcast axes.
case("broadcast", [randn(2, 3, 4), randn(4), randn(2, 1, 4), positive(1, 3, 1)], [0, 1, 2, 3],
     lambda x, b, m, z: ((x + b) * m) / z)
case("broadcast_sub", [randn(3, 4), randn(3, 1)], [0, 1], lambda x, y: y - x)

# --- unary math and scalar ops ------------------------------------------------------
case("exp", [randn(3, 4)], [0], torch.exp)
case("ln", [positive(3, 4)], [0], torch.log)
case("sqrt", [positive(3, 4)], [0], torch.sqrt)
case("powi3", [randn(3, 4)], [0], lambda x: x ** 3)
case("abs", [randn(3, 4)], [0], torch.abs)
case("tanh", [randn(3, 4)], [0], torch.tanh)
case("sigmoid", [randn(3, 4)], [0], torch.sigmoid)
case("scale_add", [randn(3, 4)], [0], lambda x: -(x * -1.5 + 0.5))

# --- activations --------------------------------------------------------------------
case("relu", [randn(3, 4)], [0], F.relu)
case("gelu", [randn(3, 4)], [0], F.gelu)
case("gelu_tanh", [randn(3, 4)], [0], lambda x: F.gelu(x, approximate="tanh"))
case("silu", [randn(3, 4)], [0], F.silu)

# --- reductions (population variance: correction = 0) -------------------------------
X3 = randn(2, 3, 4)
case("sum0", [X3], [0], lambda x: x.sum(0))
case("mean1", [X3], [0], lambda x: x.mean(1))
case("max2", [X3], [0], lambda x: x.max(2).values)
case("var1", [X3], [0], lambda x: x.var(1, correction=0))
case("var2", [X3], [0], lambda x: x.var(2, correction=0))
case("norm0", [X3], [0], lambda x: torch.linalg.vector_norm(x, dim=0))
case("norm2", [X3], [0], lambda x: torch.linalg.vector_norm(x, dim=2))
case("sum_all", [X3], [0], lambda x: x.sum())
case("mean_all", [X3], [0], lambda x: x.mean())
case("max_all", [X3], [0], lambda x: x.max())
case("var_all", [X3], [0], lambda x: x.var(correction=0))
case("norm_all", [X3], [0], lambda x: torch.linalg.vector_norm(x))

# --- softmax ------------------------------------------------------------------------
case("softmax2", [X3], [0], lambda x: F.softmax(x, 2))
case("softmax0", [X3], [0], lambda x: F.softmax(x, 0))
case("log_softmax1", [X3], [0], lambda x: F.log_softmax(x, 1))

# --- norms --------------------------------------------------------------------------
case("layer_norm", [randn(3, 5), randn(5), randn(5)], [0, 1, 2],
     lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5))
case("rms_norm", [randn(3, 5), randn(5)], [0, 1],
     lambda x, w: F.rms_norm(x, (5,), w, 1e-5))

# --- losses -------------------------------------------------------------------------
case("mse", [randn(3, 4), randn(3, 4)], [0, 1], F.mse_loss)
case("cross_entropy", [randn(4, 5)], [0],
     lambda l: F.cross_entropy(l, torch.tensor(CE_TARGETS)))
# Logits of ±1e4: finite loss and gradients.
case("cross_entropy_1e4", [np.round(randn(4, 5)) * 1e4], [0],
     lambda l: F.cross_entropy(l, torch.tensor(CE_TARGETS)))

# --- shape ops ----------------------------------------------------------------------
# (3, 4) -> (2, 6); and a transposed input (stored (4, 3), read .t()) -> (6, 2), a copy.
case("reshape", [randn(3, 4)], [0], lambda x: x.reshape(2, 6))
case("reshape_t", [randn(4, 3)], [0], lambda x: x.T.reshape(6, 2))
# split (2, 6) -> (2, 2, 3), swap the last two axes, merge back -> (2, 6) (a copy).
case("split_permute_merge", [randn(2, 6)], [0],
     lambda x: x.reshape(2, 2, 3).transpose(1, 2).reshape(2, 6))
# concat along axis 1 of a (2, 3), a constant (2, 1) and bᵀ (b stored (2, 2), read .t()): (2, 6).
case("concat", [randn(2, 3), randn(2, 1), randn(2, 2)], [0, 2],
     lambda a, c, b: torch.cat([a, c, b.T], 1))
# stack along a new axis 1 of three (2, 3): a, a constant, and cᵀ (c stored (3, 2)).
case("stack", [randn(2, 3), randn(2, 3), randn(3, 2)], [0, 2],
     lambda a, k, c: torch.stack([a, k, c.T], 1))
# x (3, 5): x[1:3, 1:4] (a slice of a slice, via the static and the runtime forms).
case("slice", [randn(3, 5)], [0], lambda x: x[:, 1:4][1:3])
# squeeze (1, 4) -> (4,), unsqueeze -> (4, 1), broadcast against (4, 3): a (4, 3) output.
case("squeeze_unsqueeze", [randn(1, 4), randn(4, 3)], [0, 1],
     lambda x, y: x.squeeze(0).unsqueeze(1) * y)
# contiguous copy of a transposed (stored (3, 2), read .t()).
case("contiguous", [randn(3, 2)], [0], lambda x: x.T.contiguous().exp())

# --- normalize, cosine similarity, InfoNCE -----------------------------------------
case("normalize", [randn(3, 4)], [0], lambda x: F.normalize(x, dim=-1))
# similarity of two normalised sets: (3, 4)·(2, 4)ᵀ.
case("similarity", [randn(3, 4), randn(2, 4)], [0, 1],
     lambda a, b: F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T)
case("cosine", [randn(5), randn(5)], [0, 1], lambda u, w: F.cosine_similarity(u, w, dim=0))


def info_nce(a, p, symmetric):
    s = F.normalize(a, dim=-1) @ F.normalize(p, dim=-1).T * (1.0 / TAU)
    labels = torch.arange(a.shape[0])
    forward = F.cross_entropy(s, labels)
    return 0.5 * (forward + F.cross_entropy(s.T, labels)) if symmetric else forward


case("info_nce", [randn(4, 6), randn(4, 6)], [0, 1], lambda a, p: info_nce(a, p, False))
case("info_nce_symmetric", [randn(4, 6), randn(4, 6)], [0, 1], lambda a, p: info_nce(a, p, True))


def main():
    out = {}
    # The weightings r: one per case, drawn after the inputs, shared by both dtypes.
    weights = {}
    for name, (inputs, traced, fn) in CASES.items():
        shape = fn(*[torch.from_numpy(x) for x in inputs]).shape
        weights[name] = rng.standard_normal(tuple(shape))
    for dt, tdt in (("f32", torch.float32), ("f64", torch.float64)):
        for name, (inputs, traced, fn) in CASES.items():
            xs = [torch.tensor(x, dtype=tdt, requires_grad=(i in traced))
                  for i, x in enumerate(inputs)]
            y = fn(*xs)
            r = torch.tensor(weights[name], dtype=tdt)
            (y * r).sum().backward()
            key = f"{name}.{dt}"
            for i, x in enumerate(xs):
                out[f"{key}.in{i}"] = x.detach().clone()
                if i in traced:
                    out[f"{key}.grad{i}"] = x.grad.clone()
            out[f"{key}.r"] = r.clone()
            out[f"{key}.out"] = y.detach().clone().contiguous()
            assert torch.isfinite(y).all(), name
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(out, OUT, metadata={
        "generator": "scripts/golden_autodiff_ops.py",
        "torch": torch.__version__,
        "loss": "sum(out * r)",
    })
    print(f"wrote {len(out)} tensors, {os.path.getsize(OUT)} bytes, to {OUT}")


if __name__ == "__main__":
    main()
