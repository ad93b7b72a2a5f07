#!/usr/bin/env python3
"""Golden optimizer trajectories from PyTorch, for tests/optim.rs.

Writes tests/fixtures/optim/trajectories.safetensors: two float32 parameters of different
shapes (`w` (3, 4) and `b` (5,)), a fixed gradient for each of STEPS steps (the gradients
are inputs, so no model is needed), and, for each optimizer setting, the parameters after
every step as PyTorch's torch.optim computes them (`foreach=False`: the single-tensor path,
which is what runs on CPU by default).

Tensors in the file:
    init.w [3, 4], init.b [5]                 the starting parameters
    grad.w [STEPS, 3, 4], grad.b [STEPS, 5]   the gradient given at each step
    {case}.w [STEPS, 3, 4], {case}.b [STEPS, 5]  the parameters after each step
    {case}.norm [STEPS]                       (clipping cases) the norm before clipping
The metadata holds STEPS and, for each case, its settings as JSON (`case.{name}`).

To regenerate (PyTorch from PyPI; the test itself needs no Python):
    python3 -m venv /tmp/venv-torch
    /tmp/venv-torch/bin/pip install torch numpy safetensors
    /tmp/venv-torch/bin/python scripts/golden_optim.py
(Made with torch 2.15, numpy 2.4, safetensors 0.8.)
"""

import json
import math
import os

import numpy as np
import torch
from safetensors.numpy import save_file

STEPS = 25
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "optim",
                   "trajectories.safetensors")


def inputs():
    rng = np.random.default_rng(1234)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = (rng.standard_normal(5) + 2.0).astype(np.float32)
    # Gradients whose magnitude changes from step to step (so AMSGrad's maximum matters
    # and clipping is active on some steps only).
    scale = np.array([0.2 + 3.0 * abs(math.sin(1.3 * k)) for k in range(STEPS)],
                     dtype=np.float32)
    gw = (rng.standard_normal((STEPS, 3, 4)) * scale[:, None, None]).astype(np.float32)
    gb = (rng.standard_normal((STEPS, 5)) * scale[:, None]).astype(np.float32)
    return w, b, gw, gb


def warmup_cosine(peak, warmup, total, floor):
    """The factor of shapecheck's Schedule::WarmupCosine (Hugging Face's cosine schedule
    with warmup, with a floor), for LambdaLR with base lr `peak`."""
    def factor(s):
        if s < warmup:
            return s / max(1, warmup)
        q = (s - warmup) / max(1, total - warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(q, 1.0)))
        return floor + (1.0 - floor) * cosine
    return factor


# name -> (optimizer, settings, schedule or None, clip max_norm or None)
CASES = {
    "sgd_plain": ("SGD", dict(lr=0.1), None, None),
    "sgd_momentum": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1), None, None),
    "sgd_nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), None, None),
    "sgd_weight_decay": ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.05), None, None),
    "adam": ("Adam", dict(lr=1e-2), None, None),
    "adam_defaults": ("Adam", dict(), None, None),
    "adam_weight_decay": ("Adam", dict(lr=1e-2, weight_decay=0.1), None, None),
    "adam_amsgrad": ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), amsgrad=True), None, None),
    "adamw": ("AdamW", dict(lr=1e-2), None, None),
    "adamw_amsgrad": ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True), None, None),
    "adamw_warmup_cosine": ("AdamW", dict(lr=2e-2), (2e-2, 5, STEPS, 0.1), None),
    "adam_clip": ("Adam", dict(lr=1e-2), None, 1.0),
    "sgd_clip": ("SGD", dict(lr=0.1, momentum=0.9), None, 2.5),
}


def run(w0, b0, gw, gb, kind, settings, schedule, clip):
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    opt = getattr(torch.optim, kind)([w, b], foreach=False, **settings)
    sched = None
    if schedule is not None:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(*schedule))
    ws, bs, norms = [], [], []
    for k in range(STEPS):
        w.grad = torch.tensor(gw[k])
        b.grad = torch.tensor(gb[k])
        if clip is not None:
            norms.append(torch.nn.utils.clip_grad_norm_([w, b], clip, foreach=False).item())
        opt.step()
        if sched is not None:
            sched.step()
        ws.append(w.detach().numpy().copy())
        bs.append(b.detach().numpy().copy())
    return np.stack(ws), np.stack(bs), np.array(norms, dtype=np.float32)


def main():
    w0, b0, gw, gb = inputs()
    tensors = {"init.w": w0, "init.b": b0, "grad.w": gw, "grad.b": gb}
    meta = {"steps": str(STEPS), "torch": torch.__version__}
    for name, (kind, settings, schedule, clip) in CASES.items():
        ws, bs, norms = run(w0, b0, gw, gb, kind, settings, schedule, clip)
        tensors[f"{name}.w"] = ws
        tensors[f"{name}.b"] = bs
        if clip is not None:
            tensors[f"{name}.norm"] = norms
        meta[f"case.{name}"] = json.dumps(
            dict(optimizer=kind, settings=settings, schedule=schedule, clip=clip))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(tensors, OUT, metadata=meta)
    print(f"wrote {OUT}: {len(CASES)} cases x {STEPS} steps")


if __name__ == "__main__":
    main()
