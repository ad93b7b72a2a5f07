#!/usr/bin/env python3
"""PEFT's view of shapecheck's LoRA adapters (issue 23 item 5): loads SmolLM2-135M-Instruct
from its GGUF with transformers (`gguf_file=`, dequantized to float32), puts the adapters that
`examples/lora_llm.rs --out DIR` saved onto it with `PeftModel.from_pretrained`, and checks
that its logits of the prompt that `--dump FILE` recorded equal ours; then loads the merged
model that `--merged DIR` saved with `AutoModelForCausalLM` and checks it the same way.
Offline: PyPI's torch, transformers, gguf, peft, safetensors.

- **float64, the check** (within 1e-9): both sides on the same weights (the GGUF's f32
  dequantization widened; the adapters and merged weights as saved in f32), so that it
  measures the adapters and the files. A float64 transformers model still computes three
  things in float32: RMSNorm (`hidden_states.to(torch.float32)`), RoPE's angles, cosines and
  sines (`inv_freq` and `freqs` in `torch.float`), and the eager attention's softmax
  (`dtype=torch.float32`). That alone puts it 2e-5 from a float64 computation, so the
  reference here runs those three in float64 (the same formulas; attention through SDPA) and
  prints the stock figure beside it.
- **float32**: each side's own f32 error against that float64 reference (ours from the model
  as trained, on the same weights; torch's with SDPA, transformers' default, and with its
  eager attention), ours checked within 1e-4, and the difference of the two f32 runs,
  printed: two independent f32 computations differ by up to the sum of their roundings, so
  that figure says whose rounding it is only beside the other two.

    cargo run --release --example lora_llm -- --out /tmp/lora/adapter \\
        --merged /tmp/lora/merged --dump /tmp/lora/logits.safetensors
    python3 scripts/check_peft.py --adapter /tmp/lora/adapter \\
        --merged /tmp/lora/merged --dump /tmp/lora/logits.safetensors

Exits with 1 when a check fails.
"""
import argparse
import contextlib
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers.models.llama.modeling_llama as llama  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

TOL = 1e-9
TOL_F32 = 1e-4


def rms_norm(self, h):
    """LlamaRMSNorm.forward in the input's dtype (stock: in float32)."""
    variance = h.pow(2).mean(-1, keepdim=True)
    return self.weight * (h * torch.rsqrt(variance + self.variance_epsilon))


def rotary(self, x, position_ids):
    """LlamaRotaryEmbedding.forward (default RoPE) with `inv_freq` and the angles in float64."""
    dim = 2 * self.inv_freq.shape[0]
    base = self.config.rope_parameters["rope_theta"]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].to(torch.float64) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), \
        (emb.sin() * self.attention_scaling).to(x.dtype)


@contextlib.contextmanager
def float64_islands_removed():
    saved = llama.LlamaRMSNorm.forward, llama.LlamaRotaryEmbedding.forward
    llama.LlamaRMSNorm.forward, llama.LlamaRotaryEmbedding.forward = rms_norm, rotary
    try:
        yield
    finally:
        llama.LlamaRMSNorm.forward, llama.LlamaRotaryEmbedding.forward = saved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", default="models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--adapter", required=True, help="the directory lora_llm --out wrote")
    ap.add_argument("--merged", help="the directory lora_llm --merged wrote")
    ap.add_argument("--dump", required=True, help="the file lora_llm --dump wrote")
    args = ap.parse_args()

    dump = load_file(args.dump)
    ids = dump["ids"].to(torch.long)
    print(f"prompt of {ids.shape[1]} tokens; logits {tuple(dump['adapted'].shape)}")
    gguf_dir, gguf_file = os.path.split(os.path.abspath(args.gguf))
    ok = True

    def diff(a, b):
        return (a.to(torch.float64) - b.to(torch.float64)).abs().max().item()

    def compare(name, theirs, ours, check):
        nonlocal ok
        d = diff(theirs, ours)
        same = bool((theirs[0, -1].argmax() == ours[0, -1].argmax()).item())
        verdict = ""
        if check:
            ok &= d < TOL
            verdict = f" ({'within' if d < TOL else 'NOT within'} {TOL:g})"
        print(f"  {name:<42} max |theirs - ours| = {d:.3e}{verdict}; same next token: {same}")

    def logits(dtype, adapter=None, attn="sdpa", path=None):
        if path:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attn)
        else:
            model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=dtype,
                                                         attn_implementation=attn)
        if adapter:
            model = PeftModel.from_pretrained(model, adapter)
        with torch.no_grad():
            return model.eval()(ids).logits, model

    print("torch.float64 (ours: the base loaded again as f64, the adapters read back by load_peft):")
    stock, _ = logits(torch.float64, attn="eager")
    compare("stock transformers base (f32 norm/RoPE/softmax)", stock, dump["base"], False)
    with float64_islands_removed():
        ref_base, _ = logits(torch.float64)
        compare("transformers base (GGUF, no adapter)", ref_base, dump["base"], True)
        ref_adapted, model = logits(torch.float64, args.adapter)
        c = model.peft_config["default"]
        compare(f"PEFT base + our adapters (r={c.r}, alpha={c.lora_alpha:g})", ref_adapted,
                dump["adapted"], True)
        if args.merged and "merged" in dump:
            merged, _ = logits(torch.float64, path=args.merged)
            compare("transformers, our merged directory", merged, dump["merged"], True)
            compare("  the same against PEFT's adapted", merged, dump["adapted"], False)
    del model

    print("torch.float32 (ours: the model trained in f32), each against the float64 reference above:")
    for name, key, adapter, ref in (("base (no adapter)", "base", None, ref_base),
                                    ("base + our adapters", "adapted", args.adapter, ref_adapted)):
        ours = dump[key + "_f32"]
        own = diff(ours, ref)
        ok &= own < TOL_F32
        print(f"  {name}: |ours f32 - f64| = {own:.3e} "
              f"({'within' if own < TOL_F32 else 'NOT within'} {TOL_F32:g})")
        for attn in ("sdpa", "eager"):  # transformers' default, and its own attention
            theirs, _ = logits(torch.float32, adapter, attn=attn)
            same = bool((theirs[0, -1].argmax() == ours[0, -1].argmax()).item())
            print(f"    torch f32 ({attn:<5}): |torch f32 - f64| = {diff(theirs, ref):.3e}   "
                  f"|torch f32 - ours f32| = {diff(theirs, ours):.3e}; same next token: {same}")
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
