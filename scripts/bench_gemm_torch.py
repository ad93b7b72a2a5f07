#!/usr/bin/env python3
"""`torch.mm` on 1 thread at the shapes and forms of `perf gemm/`, in GFLOP/s, and beside
shapecheck's figures when given a perf binary or its saved output.

The shapes are those of `examples/perf/gemm.rs`: the products of one training step of the
perf decoder (1024 tokens, d 256, FFN 688, the 512-wide head) and of MiniLM inference
(d 384, FFN 1536) on 512 tokens and on one 16-token sentence. Forms, as there: `nt` is
`x @ w.t()` (w stored out x in), `nn` is `dy @ w`, `tn` is `dy.t() @ x`; the operands are
contiguous tensors and the transposes are views, so torch picks its own BLAS call with
transposition flags, as a model's forward and backward do. Each figure is the median of 21
rounds of ~20 ms after a warm-up (the perf example's protocol), written into a preallocated
output with `torch.mm(a, b, out=c)`.

Usage:
    python scripts/bench_gemm_torch.py                          # torch only
    python scripts/bench_gemm_torch.py target/release/examples/perf   # runs `perf gemm/`
    python scripts/bench_gemm_torch.py perf-output.txt          # reads a saved perf output

With shapecheck's figures it prints, per line, ours / torch.mm (`vs_torch`).
Needs `pip install torch numpy`.
"""

import os
import re
import statistics
import subprocess
import sys
import time

SHAPES = [
    (1024, 256, 256, ("nn", "nt", "tn")),
    (1024, 256, 688, ("nn", "nt", "tn")),
    (1024, 688, 256, ("nn", "nt", "tn")),
    (1024, 256, 512, ("nn", "nt", "tn")),
    (256, 1024, 256, ("nn", "nt", "tn")),
    (688, 1024, 256, ("nn", "nt", "tn")),
    (512, 384, 384, ("nt",)),
    (512, 384, 1536, ("nt",)),
    (512, 1536, 384, ("nt",)),
    (16, 384, 1536, ("nt",)),
]
ROUNDS, ROUND = 21, 0.020
LINE = re.compile(r"^(gemm/f32/\S+) ours=([\d.]+) matrixmultiply=([\d.]+) faer=([\d.]+)")


def rate(f):
    """Calls per second: median of ROUNDS rounds of about ROUND seconds each."""
    f()
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < ROUND / 4:
        f()
        n += 1
    calls = max(1, int(ROUND / ((time.perf_counter() - t) / n)))
    rates = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(calls):
            f()
        rates.append(calls / (time.perf_counter() - t))
    return statistics.median(rates)


def torch_figures():
    import torch

    torch.set_num_threads(1)
    out = {}
    g = torch.Generator().manual_seed(0)
    for m, k, n, forms in SHAPES:
        for form in forms:
            a = torch.rand(k, m, generator=g) - 0.5 if form == "tn" else torch.rand(m, k, generator=g) - 0.5
            b = torch.rand(n, k, generator=g) - 0.5 if form == "nt" else torch.rand(k, n, generator=g) - 0.5
            a_ = a.t() if form == "tn" else a
            b_ = b.t() if form == "nt" else b
            c = torch.empty(m, n)
            flops = 2.0 * m * k * n
            r = rate(lambda: torch.mm(a_, b_, out=c))
            out[f"gemm/f32/{m}x{k}x{n}/{form}"] = r * flops / 1e9
    return out, torch.__version__


def rust_figures(arg):
    if arg is None:
        return {}
    if os.path.isfile(arg) and os.access(arg, os.X_OK) and not arg.endswith((".txt", ".log")):
        text = subprocess.run([arg, "gemm/"], check=True, capture_output=True, text=True).stdout
    else:
        with open(arg, encoding="utf-8") as f:
            text = f.read()
    figs = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            figs[m.group(1)] = tuple(float(m.group(i)) for i in (2, 3, 4))
    return figs


def main():
    arg = sys.argv[1] if len(sys.argv) > 1 else None
    ours = rust_figures(arg)
    try:
        torch_gf, version = torch_figures()
    except ImportError:
        print("torch is not installed: skipped (pip install torch numpy)")
        for case, (o, mm, fa) in ours.items():
            print(f"{case} ours={o:.1f} matrixmultiply={mm:.1f} faer={fa:.1f} torch=skipped")
        return
    print(f"# torch {version}, 1 thread; GFLOP/s")
    for case, t in torch_gf.items():
        if case in ours:
            o, mm, fa = ours[case]
            print(
                f"{case} ours={o:.1f} matrixmultiply={mm:.1f} faer={fa:.1f} "
                f"torch={t:.1f} vs_torch={o / t:.3f}"
            )
        else:
            print(f"{case} torch={t:.1f}")


if __name__ == "__main__":
    main()
