#!/usr/bin/env python3
"""PEFT's view of shapecheck's LoRA adapters (issue 23 item 5): loads SmolLM2-135M-Instruct
from its GGUF with transformers (`gguf_file=`, dequantized to float32), puts the adapters that
`examples/lora_llm.rs --out DIR` saved onto it with `PeftModel.from_pretrained`, and checks
that its logits of the prompt that `--dump FILE` recorded equal ours within 1e-4; then
loads the merged model that `--merged DIR` saved with `AutoModelForCausalLM` and checks it
the same way. The check is in float64 on both sides (the GGUF dequantized to f64, the
adapters' and merged weights as saved in f32), so that it measures the adapters and the
files; the f32 figures (ours from the model as trained) are printed beside them, with the
base's own f32 difference, for scale. Offline: PyPI's torch, transformers, gguf, peft, safetensors.

    cargo run --release --example lora_llm -- --out /tmp/lora/adapter \\
        --merged /tmp/lora/merged --dump /tmp/lora/logits.safetensors
    python3 scripts/check_peft.py --adapter /tmp/lora/adapter \\
        --merged /tmp/lora/merged --dump /tmp/lora/logits.safetensors

Exits with 1 when a check fails.
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

TOL = 1e-4


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

    def compare(name, theirs, key, check):
        nonlocal ok
        ours = dump[key]
        d = (theirs.to(ours.dtype) - ours).abs().max().item()
        same = bool((theirs[0, -1].argmax() == ours[0, -1].argmax()).item())
        verdict = ""
        if check:
            ok &= d < TOL
            verdict = f" ({'within' if d < TOL else 'NOT within'} {TOL:g})"
        print(f"  {name:<40} max |theirs - ours| = {d:.3e}{verdict}; same next token: {same}")

    for dtype, suffix in ((torch.float64, ""), (torch.float32, "_f32")):
        check = dtype == torch.float64
        print(f"{dtype} (ours: {'the base loaded again as f64, the adapters read back by load_peft' if check else 'the model trained in f32'}):")
        base = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file,
                                                    dtype=dtype).eval()
        with torch.no_grad():
            compare("transformers base (GGUF, no adapter)", base(ids).logits, "base" + suffix, False)
        model = PeftModel.from_pretrained(base, args.adapter).eval()
        c = model.peft_config["default"]
        with torch.no_grad():
            compare(f"PEFT base + our adapters (r={c.r}, alpha={c.lora_alpha:g})",
                    model(ids).logits, "adapted" + suffix, check)
        if args.merged and check and "merged" in dump:
            merged = AutoModelForCausalLM.from_pretrained(args.merged, dtype=dtype).eval()
            with torch.no_grad():
                logits = merged(ids).logits
            compare("transformers, our merged directory", logits, "merged", check)
            compare("  the same against PEFT's adapted", logits, "adapted", False)
        del base, model
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
