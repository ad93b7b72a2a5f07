#!/usr/bin/env python3
"""Writes tests/fixtures/peft/: a tiny random LLaMA checkpoint (`base/`, saved by
transformers' `save_pretrained`), three LoRA adapters on it saved by PEFT's `save_pretrained`
with non-zero B (`adapter/`: r = 4, α = 8 on q/k/v/o; `adapter_rslora/`: rsLoRA on q/v with
a `rank_pattern` and an `alpha_pattern`; `adapter_mlp/`: the MLP's gate/up/down and q, down
of rank 2), and `expected.safetensors`: the ids of two
sequences and the logits of the base and of base + each adapter, as PEFT computes them.
tests/peft.rs loads them through shapecheck's public API and checks the logits within 1e-4.

Offline: needs only PyPI's torch, transformers, peft and safetensors (run with torch 2.15,
transformers 5.25, peft 0.21.2).

    python3 scripts/gen_peft_fixture.py
"""
import os

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "peft")


def main():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        initializer_range=0.15,
        bos_token_id=1,
        eos_token_id=2,
    )
    base = LlamaForCausalLM(config).eval()
    # Relative paths, so that `base_model_name_or_path` in the adapters' configs is `base`.
    os.makedirs(OUT, exist_ok=True)
    os.chdir(OUT)
    base.save_pretrained("base", safe_serialization=True)

    ids = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = {"ids": ids.to(torch.float32), "base": base(ids).logits.float()}

    adapters = {
        "adapter": LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        ),
        "adapter_rslora": LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "v_proj"],
            rank_pattern={"v_proj": 2},
            alpha_pattern={"q_proj": 16},
            use_rslora=True,
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        ),
        "adapter_mlp": LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "gate_proj", "up_proj", "down_proj"],
            rank_pattern={"down_proj": 2},
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        ),
    }
    for seed, (name, lora) in enumerate(adapters.items()):
        model = get_peft_model(LlamaForCausalLM.from_pretrained("base"), lora)
        gen = torch.Generator().manual_seed(10 + seed)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "lora_B" in pname:  # PEFT starts B at zero: make the update visible
                    p.copy_(0.2 * torch.randn(p.shape, generator=gen))
        path = name
        model.save_pretrained(path)
        # The logits of the adapter as PEFT loads it back, not of the model in memory.
        loaded = PeftModel.from_pretrained(
            LlamaForCausalLM.from_pretrained("base"), path
        ).eval()
        with torch.no_grad():
            expected[name] = loaded(ids).logits.float()
        print(name, "max |Δ logits| against the base:",
              float((expected[name] - expected["base"]).abs().max()))
    save_file({k: v.contiguous() for k, v in expected.items()},
              "expected.safetensors")
    for name in adapters:  # PEFT's model card, not needed
        os.remove(os.path.join(name, "README.md"))
    for root, _, files in os.walk("."):
        for f in sorted(files):
            print(os.path.join(root, f), os.path.getsize(os.path.join(root, f)))


if __name__ == "__main__":
    main()
