#!/usr/bin/env python3
"""Logits of LLaMA-family checkpoints as `transformers` computes them, for tests/llama.rs.

Two kinds of fixture, both under tests/fixtures/llama/:

1. Tiny random checkpoints, saved as a Hugging Face directory would hold them
   (`config.json` + `model.safetensors`, f32, by `save_pretrained`), one per feature of
   the family: grouped-query attention with an explicit head_dim and llama3 RoPE, Qwen2
   (q/k/v biases, tied head), Mistral (a sliding window shorter than the sequence), and the
   linear, dynamic-NTK and YaRN scalings. `rope_linear` is rewritten to the Hub's older
   `config.json` form (top-level `rope_theta`, `rope_scaling` with `type`), the others stay
   in transformers 5's `rope_parameters` form. Beside each: `expected.safetensors` with
   `ids` (the token ids as F32, (B, S)) and `logits` (F32, (B, S, V)) of an eager f32
   forward. The weights are drawn with a larger spread than the default initialisation so
   attention is far from uniform, and the script prints how far the logits move when
   RoPE's θ changes: a fixture a broken RoPE or mask cannot pass.

2. SmolLM2-135M-Instruct from the GGUF `scripts/fetch-smollm2.sh` fetches, loaded by
   transformers (which dequantizes it and undoes the q/k row permutation), f32:
   `smollm2/expected.json` (each prompt, its ids from transformers' tokenizer of the GGUF,
   the top 50 last-token logits, and the greedy continuation of 24 tokens from
   `generate`) and `smollm2/last_logits.safetensors` (the whole last-token logits of
   prompt i as `p{i}`, (V,)).

3. `llama_gqa_bf16_sharded/`: the `llama_gqa` checkpoint cast to bfloat16 and saved by
   `save_pretrained` in shards (`model-0000i-of-0000n.safetensors` + the index), as the Hub
   ships large models. `expected.safetensors` holds `ids`, `logits` (transformers' eager
   f32 forward of the bf16 weights widened to f32: what a loader that widens at load must
   give, within f32 rounding) and `gap` (the largest distance of those logits from the f32
   checkpoint's: what rounding the weights to bf16 alone costs, the bound a test of the
   bf16 copy against the f32 logits may allow).

    python3 scripts/golden_llama.py      # torch, transformers, gguf, safetensors (PyPI)
    python3 scripts/golden_llama.py sharded   # only 3., from the committed llama_gqa
"""
import copy
import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "llama")
GGUF_DIR = os.path.join(ROOT, "models", "smollm2-135m-instruct")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

COMMON = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              rms_norm_eps=1e-5, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
              attn_implementation="eager")
STD = 0.15


def cases():
    """(name, model class, config, (B, S), rewrite to the older config form?)"""
    return [
        ("llama_gqa", LlamaForCausalLM, LlamaConfig(
            **COMMON, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
            tie_word_embeddings=False,
            rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8}), (2, 10), False),
        ("qwen2", Qwen2ForCausalLM, Qwen2Config(
            **COMMON, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}), (2, 9), False),
        ("mistral_sw", MistralForCausalLM, MistralConfig(
            **COMMON, num_attention_heads=4, num_key_value_heads=1, sliding_window=4,
            tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), (1, 12), False),
        ("rope_linear", LlamaForCausalLM, LlamaConfig(
            **COMMON, num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
            rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
            (1, 12), True),
        ("rope_dynamic", LlamaForCausalLM, LlamaConfig(
            **dict(COMMON, max_position_embeddings=8), num_attention_heads=4,
            num_key_value_heads=2, tie_word_embeddings=False,
            rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}),
            (1, 12), False),
        ("rope_yarn", LlamaForCausalLM, LlamaConfig(
            **dict(COMMON, max_position_embeddings=32), num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
            rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                             "original_max_position_embeddings": 8}), (1, 12), False),
    ]


def to_old_form(path):
    """Rewrites a config.json to the Hub's older form: top-level rope_theta, and
    rope_scaling with `type` (as Llama 2-era checkpoints ship it)."""
    with open(path) as f:
        config = json.load(f)
    params = dict(config.pop("rope_parameters"))
    config["rope_theta"] = params.pop("rope_theta")
    kind = params.pop("rope_type")
    config["rope_scaling"] = None if kind == "default" else dict(params, type=kind)
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def tiny(name, cls, config, shape, old_form):
    torch.manual_seed(sum(map(ord, name)))
    config.initializer_range = STD
    model = cls(config).float().eval()
    with torch.no_grad():
        # Norm weights away from 1 and biases away from 0, so a misplaced one shows.
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
    ids = torch.randint(0, config.vocab_size, shape)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    # Sensitivity: the same weights with RoPE's theta 10% higher.
    changed = copy.deepcopy(config)
    changed.rope_parameters = dict(changed.rope_parameters,
                                   rope_theta=changed.rope_parameters["rope_theta"] * 1.1)
    other = cls(changed).float().eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        moved = (other(input_ids=ids).logits - logits).abs().max().item()
    spread = logits.std().item()
    print(f"{name}: logits {tuple(logits.shape)} std {spread:.3f}; "
          f"theta x1.1 moves them by {moved:.2e}")
    if moved < 1e-3:
        sys.exit(f"{name}: the fixture does not discriminate RoPE (moved {moved:.2e})")

    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    if old_form:
        to_old_form(os.path.join(d, "config.json"))
    save_file({"ids": ids.float().contiguous(), "logits": logits.float().contiguous()},
              os.path.join(d, "expected.safetensors"))


PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
]


def smollm2():
    path = os.path.join(GGUF_DIR, GGUF_FILE)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-smollm2.sh first")
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE,
                                                 dtype=torch.float32).eval()
    d = os.path.join(OUT, "smollm2")
    os.makedirs(d, exist_ok=True)
    out = {"transformers": transformers.__version__, "torch": torch.__version__,
           "gguf": GGUF_FILE, "new_tokens": 24, "prompts": []}
    tensors = {}
    for i, prompt in enumerate(PROMPTS):
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        with torch.no_grad():
            last = model(input_ids=ids).logits[0, -1].float()
            gen = model.generate(ids, max_new_tokens=24, do_sample=False, num_beams=1,
                                 attention_mask=torch.ones_like(ids))
        top = torch.topk(last, 50)
        new = gen[0, ids.shape[1]:].tolist()
        out["prompts"].append({
            "text": prompt,
            "ids": ids[0].tolist(),
            "top_ids": top.indices.tolist(),
            "top_logits": top.values.tolist(),
            "greedy": new,
            "greedy_text": tok.decode(new),
        })
        tensors[f"p{i}"] = last.contiguous()
        print(f"smollm2 p{i}: {ids.shape[1]} ids, greedy {tok.decode(new)!r}")
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    save_file(tensors, os.path.join(d, "last_logits.safetensors"))


def sharded_bf16():
    src = os.path.join(OUT, "llama_gqa")
    model = LlamaForCausalLM.from_pretrained(src, dtype=torch.float32,
                                             attn_implementation="eager").eval()
    ids = load_file(os.path.join(src, "expected.safetensors"))["ids"].long()
    with torch.no_grad():
        f32 = model(input_ids=ids).logits
        half = copy.deepcopy(model).to(torch.bfloat16)
        # A fresh f32 model given the bf16 weights: `.float()` on `half` would widen
        # RoPE's inverse frequencies too, which `.to(bfloat16)` rounded.
        widened = copy.deepcopy(model)
        widened.load_state_dict({k: v.float() for k, v in half.state_dict().items()})
        logits = widened(input_ids=ids).logits
    gap = (logits - f32).abs().max().item()
    d = os.path.join(OUT, "llama_gqa_bf16_sharded")
    shutil.rmtree(d, ignore_errors=True)
    half.save_pretrained(d, safe_serialization=True, max_shard_size="20KB")
    p = os.path.join(d, "generation_config.json")
    if os.path.exists(p):
        os.remove(p)
    shards = sorted(f for f in os.listdir(d) if f.startswith("model-"))
    print(f"llama_gqa_bf16_sharded: {len(shards)} shards; bf16 weights move the logits by "
          f"{gap:.3e} (logits std {f32.std().item():.3f})")
    if len(shards) < 3:
        sys.exit("llama_gqa_bf16_sharded: fewer than 3 shards")
    save_file({"ids": ids.float().contiguous(), "logits": logits.float().contiguous(),
               "gap": torch.tensor([gap], dtype=torch.float32)},
              os.path.join(d, "expected.safetensors"))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["sharded"]:
        sharded_bf16()
        return
    for case in cases():
        tiny(*case)
    sharded_bf16()
    smollm2()


if __name__ == "__main__":
    main()
