#!/usr/bin/env python3
"""Golden values for shapecheck's LLaMA-style decoder (src/models/decoder), from PyTorch autograd.

Writes tests/fixtures/autodiff/decoder.safetensors, which tests/autodiff_decoder.rs reads
(the test needs no PyTorch). Run it only to regenerate the fixture:

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch numpy safetensors    # all three from PyPI
    /work/venv-torch/bin/python scripts/golden_decoder.py

(On a machine without a GPU, `pip install torch --index-url https://download.pytorch.org/whl/cpu`
gives a smaller wheel; the numbers do not depend on it.)

The model is written out by hand, with the conventions of the Rust code:
- Linear layers are `x @ W.T` with `W: (out, in)` (PyTorch's layout), no bias;
- RMS norm is `x / sqrt(mean(x^2) + eps) * w`, eps = 1e-5 (LLaMA's placement: inside the root);
- heads: head h is columns h*Hd .. (h+1)*Hd of the projection (view (B, S, H, Hd), transpose);
- RoPE pairs feature j with j + Hd/2 (`RopeLayout::HalfSplit`, Hugging Face's `rotate_half`),
  theta_j = base^(-2j/Hd), position m turned by m*theta_j, the angles and their cos/sin
  computed in float64 and then cast to the run's dtype (as src/nn/rope.rs does);
- scores are (q @ k^T) * (1/sqrt(Hd)) plus a causal mask of -inf above the diagonal, softmax
  over the keys, then @ v; the heads merge back side by side; then o_proj;
- FFN is SwiGLU: down(silu(gate(x)) * up(x)) (W2(silu(W1 x) * W3 x));
- final RMS norm, then the head: `lm_head` (untied) or the embedding table (tied);
- loss: mean cross-entropy over all B*S positions of the logits against `targets`.

Cases (names in the file):
- `untied/{f32,f64}/...`: 2 blocks, untied head, vocab 13, d 16, 2 heads of 8, ffn 32,
  batch 2, seq 7;
- `tied/f64/...`: the same sizes with 1 block and the head tied to the embedding.
Each case holds `param/<name>` (Hugging Face LLaMA names), `grad/<name>` (the parameter's
.grad), `logits` (B, S, V) and `loss` (a 1-element tensor). `tokens` and `targets` are
(B, S), stored as float64 (small integers, exact). The f32 run uses the f64 parameters
rounded to f32.
"""

import math
import os

import numpy as np
import torch
from safetensors.torch import save_file

VOCAB, D, HEADS, FFN, BATCH, SEQ = 13, 16, 2, 32, 2, 7
HD = D // HEADS
EPS = 1e-5
BASE = 10_000.0


def make_params(rng, layers, tied):
    """Parameters in float64: matrices N(0, 0.3^2), norm weights 1 + N(0, 0.1^2)."""
    p = {"embed_tokens.weight": rng.normal(0, 0.3, (VOCAB, D))}
    for i in range(layers):
        pre = f"layers.{i}."
        p[pre + "input_layernorm.weight"] = 1 + rng.normal(0, 0.1, (D,))
        for n in "qkvo":
            p[pre + f"self_attn.{n}_proj.weight"] = rng.normal(0, 0.3, (D, D))
        p[pre + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.1, (D,))
        p[pre + "mlp.gate_proj.weight"] = rng.normal(0, 0.3, (FFN, D))
        p[pre + "mlp.up_proj.weight"] = rng.normal(0, 0.3, (FFN, D))
        p[pre + "mlp.down_proj.weight"] = rng.normal(0, 0.3, (D, FFN))
    p["norm.weight"] = 1 + rng.normal(0, 0.1, (D,))
    if not tied:
        p["lm_head.weight"] = rng.normal(0, 0.3, (VOCAB, D))
    return p


def rms_norm(x, w):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def rope(x, dtype):
    """x: (B, H, S, Hd); pairs (j, j + Hd/2); angles in float64."""
    half = HD // 2
    theta = np.array([BASE ** (-(2 * j) / HD) for j in range(half)], dtype=np.float64)
    pos = np.arange(SEQ, dtype=np.float64)[:, None]
    ang = pos * theta[None, :]
    cos = torch.tensor(np.cos(ang), dtype=dtype)  # (S, half)
    sin = torch.tensor(np.sin(ang), dtype=dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


def forward(p, tokens, layers, tied, dtype):
    emb = p["embed_tokens.weight"]
    x = emb[tokens]  # (B, S, D)
    mask = torch.triu(torch.full((SEQ, SEQ), float("-inf"), dtype=dtype), diagonal=1)
    scale = 1.0 / math.sqrt(HD)
    for i in range(layers):
        pre = f"layers.{i}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"])

        def heads(w):
            return (h @ w.T).view(BATCH, SEQ, HEADS, HD).transpose(1, 2)

        q = rope(heads(p[pre + "self_attn.q_proj.weight"]), dtype)
        k = rope(heads(p[pre + "self_attn.k_proj.weight"]), dtype)
        v = heads(p[pre + "self_attn.v_proj.weight"])
        scores = (q @ k.transpose(-1, -2)) * scale + mask
        o = torch.softmax(scores, dim=-1) @ v  # (B, H, S, Hd)
        o = o.transpose(1, 2).reshape(BATCH, SEQ, D)
        x = x + o @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(h @ p[pre + "mlp.gate_proj.weight"].T)
        up = h @ p[pre + "mlp.up_proj.weight"].T
        x = x + (gate * up) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["norm.weight"])
    head = emb if tied else p["lm_head.weight"]
    return x @ head.T


def run_case(out, prefix, params64, tokens, targets, layers, tied, dtype):
    p = {
        k: torch.tensor(v, dtype=torch.float64).to(dtype).requires_grad_(True)
        for k, v in params64.items()
    }
    logits = forward(p, torch.tensor(tokens), layers, tied, dtype)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), torch.tensor(targets).reshape(-1)
    )
    loss.backward()
    for k, t in p.items():
        out[f"{prefix}/param/{k}"] = t.detach().contiguous()
        out[f"{prefix}/grad/{k}"] = t.grad.detach().contiguous()
    out[f"{prefix}/logits"] = logits.detach().contiguous()
    out[f"{prefix}/loss"] = loss.detach().reshape(1)
    print(f"{prefix}: loss {loss.item():.10f}")


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(20261201)
    tokens = rng.integers(0, VOCAB, (BATCH, SEQ))
    targets = rng.integers(0, VOCAB, (BATCH, SEQ))
    untied = make_params(rng, 2, tied=False)
    tied = make_params(rng, 1, tied=True)
    out = {
        "tokens": torch.tensor(tokens, dtype=torch.float64),
        "targets": torch.tensor(targets, dtype=torch.float64),
    }
    run_case(out, "untied/f32", untied, tokens, targets, 2, False, torch.float32)
    run_case(out, "untied/f64", untied, tokens, targets, 2, False, torch.float64)
    run_case(out, "tied/f64", tied, tokens, targets, 1, True, torch.float64)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "fixtures", "autodiff", "decoder.safetensors")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(out, path, metadata={"generator": "scripts/golden_decoder.py", "torch": torch.__version__})
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
