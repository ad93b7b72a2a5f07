#!/usr/bin/env python3
"""One training step of the perf example's decoder in PyTorch eager, beside shapecheck's.

The model is the one of `examples/perf/train.rs` (and `benches/autodiff.rs`): a LLaMA-style
decoder of 2 pre-norm blocks, d = 256, 4 heads of 64, SwiGLU FFN of 688, vocab 512, RMS
norm eps 1e-5, RoPE (half split, base 10 000), untied head, no biases, normal(0, 0.02)
initialisation; a step is the forward, the mean cross-entropy over a batch of 8 x 128
tokens, the backward, and `torch.optim.AdamW` (lr 1e-5, otherwise PyTorch's defaults) on
1 thread (`torch.set_num_threads(1)`), median of 11 steps after 3 of warm-up;
peak_step_mib is how far the resident set's high-water mark rises above the initialised
model during the first step (activations, gradients, AdamW's state), as the Rust side
measures it.

Attention is `F.scaled_dot_product_attention(is_causal=True)` (PyTorch's fused CPU kernel,
the faster of its eager paths); `--attn math` writes it out as softmax(q k^T / sqrt(d) +
mask) v instead.

Usage:
    python scripts/bench_train_torch.py                      # PyTorch only
    python scripts/bench_train_torch.py target/release/examples/perf   # runs `perf train`
    python scripts/bench_train_torch.py perf-output.txt      # reads a saved perf output

With a perf binary (or its output), it prints shapecheck's line, PyTorch's, and the ratio
of steps per second (shapecheck / PyTorch, 1 thread). When torch is not installed it
prints "skipped" for the PyTorch side (and still shapecheck's figures if given).

A venv with PyTorch from PyPI (CPU wheels):
    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch numpy safetensors \
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
    /work/venv-torch/bin/python scripts/bench_train_torch.py target/release/examples/perf
(build the binary first: `cargo build --release --example perf`).
"""

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

CASE = "train/f32/2x256x4h/b8s128/step"
VOCAB, D, HEADS, HEAD_DIM, FFN, LAYERS = 512, 256, 4, 64, 688, 2
BATCH, SEQ = 8, 128
LINE = re.compile(r"^(train/\S+/step/(\d+)-threads?) steps/s=([\d.]+) tokens/s=([\d.]+).*$")


def rust_figures(arg):
    """The perf lines of the train section, from a binary (run) or a file (read)."""
    if arg is None:
        return []
    if os.path.isfile(arg) and os.access(arg, os.X_OK) and not arg.endswith((".txt", ".log")):
        out = subprocess.run([arg, "train/"], check=True, capture_output=True, text=True).stdout
    else:
        with open(arg, encoding="utf-8") as f:
            out = f.read()
    lines = []
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if m:
            lines.append((m.group(0), int(m.group(2)), float(m.group(3))))
    return lines


def rss_kib(field):
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def torch_step_rate(attn):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-5):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rotate_half(x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat((-b, a), dim=-1)

    inv = 1.0 / (10000.0 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
    angles = torch.outer(torch.arange(SEQ).float(), inv)
    emb = torch.cat((angles, angles), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.full((SEQ, SEQ), float("-inf")).triu(1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm, self.ffn_norm = RMSNorm(D), RMSNorm(D)
            self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
            self.w1 = nn.Linear(D, FFN, bias=False)
            self.w3 = nn.Linear(D, FFN, bias=False)
            self.w2 = nn.Linear(FFN, D, bias=False)

        def forward(self, x):
            b, s, _ = x.shape
            h = self.attn_norm(x)
            split = lambda t: t.view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
            q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if attn == "sdpa":
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                scores = q @ k.transpose(-1, -2) / math.sqrt(HEAD_DIM) + causal
                o = scores.softmax(-1) @ v
            x = x + self.o(o.transpose(1, 2).reshape(b, s, D))
            h = self.ffn_norm(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.norm = RMSNorm(D)
            self.head = nn.Linear(D, VOCAB, bias=False)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, ids):
            x = self.embed(ids)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x))

    model = Decoder()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    i = torch.arange(BATCH * SEQ)
    ids = ((i * 37 + 11) % VOCAB).view(BATCH, SEQ)
    targets = ((i * 53 + 5) % VOCAB).view(BATCH * SEQ)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids).view(-1, VOCAB), targets)
        loss.backward()
        opt.step()

    # The first step allocates AdamW's state too: its peak above the model's resident
    # size is the memory a step needs (as the Rust side measures it).
    before = rss_kib("VmRSS")
    peak = None
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        step()
        hwm = rss_kib("VmHWM")
        if before is not None and hwm is not None:
            peak = max(0, hwm - before) / 1024.0
    except OSError:
        step()
    for _ in range(2):
        step()
    times = []
    for _ in range(11):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times), peak, torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rust", nargs="?", help="the perf binary, or a file holding its output")
    ap.add_argument("--attn", choices=["sdpa", "math"], default="sdpa")
    args = ap.parse_args()

    rust = rust_figures(args.rust)
    for line, _, _ in rust:
        print(line)
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{CASE}/pytorch-1-thread skipped: torch is not installed")
        return 0
    rate, peak, version = torch_step_rate(args.attn)
    peak = "n/a" if peak is None else f"{peak:.1f}"
    print(
        f"{CASE}/pytorch-1-thread steps/s={rate:.3f} tokens/s={rate * BATCH * SEQ:.0f} "
        f"ms={1e3 / rate:.1f} peak_step_mib={peak} (torch {version}, attention {args.attn})"
    )
    ours = [r for _, threads, r in rust if threads == 1]
    if ours:
        print(f"{CASE}/1-thread ratio shapecheck/pytorch = {ours[0] / rate:.3f} (goal >= 1.5)")
    two = [r for _, threads, r in rust if threads == 2]
    if ours and two:
        print(f"{CASE} 2-thread/1-thread speed-up = {two[0] / ours[0]:.3f} (goal >= 1.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
