#!/usr/bin/env python3
"""Reference fixtures for tests/generate.rs, from transformers itself.

  tests/fixtures/generate/processors.json
      Rows of f32 logits in, and out of each of transformers' LogitsProcessors
      (RepetitionPenalty, Temperature, TopK, TopP, MinP) for several settings, and out of the
      list `generate` builds from a GenerationConfig (`_get_logits_processor` of a tiny
      LlamaForCausalLM), with the class order it used. -inf is written as null.
  tests/fixtures/generate/chat_templates.json
      `apply_chat_template(..., tokenize=False)` of transformers for a few conversations with
      SmolLM2-135M-Instruct's template (read from its GGUF), Llama 3's and Qwen3's (from the
      tokenizer_config.json files scripts/fetch-tokenizers.sh fetches) and a Mistral-style
      template that raises (mistralai/Mistral-7B-Instruct-v0.1's, as text here), and Zephyr's
      (from transformers' docs; blocks on their own lines, so trim_blocks/lstrip_blocks matter): the
      templates, their special tokens, and the rendered strings or the exception message.

Usage: scripts/golden_generate.py  (after scripts/fetch-smollm2.sh and scripts/fetch-tokenizers.sh;
offline, CPU). Needs torch, transformers, gguf, numpy.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import jinja2
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "generate")
SMOLLM2 = os.path.join(ROOT, "models", "smollm2-135m-instruct")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENIZERS = os.path.join(ROOT, "models", "tokenizers")
VOCAB = 48


def f32(x):
    """The shortest decimal that reads back as the same f32 (None for -inf)."""
    x = np.float32(x)
    if math.isinf(x) and x < 0:
        return None
    assert math.isfinite(x), x
    return float(repr(x).replace("np.float32(", "").rstrip(")"))


def row(t):
    return [f32(v) for v in t.tolist()]


def processor_cases():
    g = torch.Generator().manual_seed(22)
    rows = []
    for scale in (1.0, 3.0, 0.3):
        rows.append((torch.randn(VOCAB, generator=g) * scale).float())
    # Reads each row back from its short decimals, so Python and Rust start from the same f32s.
    rows = [torch.tensor(row(r), dtype=torch.float32) for r in rows]
    # A row with ties (top-k keeps every logit equal to the k-th) and one already filtered.
    ties = torch.tensor([float((i * 7) % 5) - 2.0 for i in range(VOCAB)], dtype=torch.float32)
    masked = rows[1].clone()
    masked[::3] = -math.inf
    rows += [ties, masked]
    seen = [3, 7, 7, 0, 11, 40, 3, 22, VOCAB + 5, 47]

    cases = []

    def case(name, param, proc, logits, ids=None):
        ids_t = torch.tensor([ids if ids is not None else [0]], dtype=torch.long)
        out = proc(ids_t, logits.clone().unsqueeze(0))[0]
        c = {"processor": name, "param": param, "logits": row(logits), "expected": row(out)}
        if ids is not None:
            c["input_ids"] = ids
        cases.append(c)

    for n, logits in enumerate(rows):
        for p in (1.3, 0.7):
            case("repetition_penalty", p, RepetitionPenaltyLogitsProcessor(penalty=p), logits, seen)
        for t in (0.7, 1.5):
            case("temperature", t, TemperatureLogitsWarper(temperature=t), logits)
        for k in (1, 5, 40, VOCAB + 10):
            case("top_k", k, TopKLogitsWarper(top_k=k), logits)
        # Not on the row of ties: where the nucleus boundary cuts through equal logits, which
        # of them stay depends on torch.sort's order of equal keys (it is not stable).
        for p in (0.1, 0.5, 0.9, 0.99) if n != 3 else ():
            case("top_p", p, TopPLogitsWarper(top_p=p), logits)
        for p in (0.05, 0.2, 0.5):
            case("min_p", p, MinPLogitsWarper(min_p=p), logits)

    # The processors `generate` builds, in its order, from a GenerationConfig.
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=VOCAB, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=2)
    )
    settings = [
        dict(do_sample=True, temperature=0.8, top_k=20, top_p=0.9, min_p=0.05, repetition_penalty=1.2),
        dict(do_sample=True, temperature=1.3, top_k=0, top_p=0.7, min_p=None, repetition_penalty=1.0),
        dict(do_sample=True, temperature=0.5, top_k=8, top_p=1.0, min_p=0.3, repetition_penalty=0.8),
        dict(do_sample=False, repetition_penalty=1.5),
    ]
    pipelines = []
    for s in settings:
        gc = GenerationConfig(**s)
        procs = model._get_logits_processor(generation_config=gc, input_ids_seq_length=len(seen),
                                            logits_processor=None, device="cpu")
        for logits in rows[:3]:
            ids = torch.tensor([seen], dtype=torch.long).clamp(max=VOCAB - 1)
            out = procs(ids, logits.clone().unsqueeze(0))[0]
            pipelines.append({
                "settings": {
                    "temperature": s.get("temperature", 1.0) if s["do_sample"] else 0.0,
                    "top_k": s.get("top_k", 0) or 0,
                    "top_p": s.get("top_p", 1.0),
                    "min_p": s.get("min_p") or 0.0,
                    "repetition_penalty": s["repetition_penalty"],
                },
                "order": [type(p).__name__ for p in procs],
                "input_ids": ids[0].tolist(),
                "logits": row(logits),
                "expected": row(out),
                "argmax": int(out.argmax()),
            })
    return {"vocab": VOCAB, "cases": cases, "pipelines": pipelines}


MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# HuggingFaceH4/zephyr-7b-beta's template, as transformers' chat-templating docs print it:
# blocks on lines of their own and no `-` markers, so trim_blocks and lstrip_blocks decide its
# newlines (the indented variant below checks lstrip_blocks).
ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""
ZEPHYR_INDENTED = ZEPHYR.replace("\n{% if", "\n    {% if").replace("\n{% elif", "\n    {% elif").replace(
    "\n{% endif", "\n    {% endif")

# transformers' own `tojson` (json.dumps, ensure_ascii=False): separators, indent, key order.
TOJSON = (
    "{{ messages | tojson }}\n{{ messages[0] | tojson(indent=2) }}\n"
    "{{ {'n': [1, 2.5, 1e20, none, true, false], 'q': 'say \"hi\"\\t€', 'e': [], 'o': {}} | tojson }}"
)


def chat_cases():
    smol = AutoTokenizer.from_pretrained(SMOLLM2, gguf_file=SMOLLM2_GGUF)
    llama3 = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "llama3"))
    qwen3 = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "qwen3"))
    llama2 = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "llama2"))
    tokenizers = {
        "smollm2": (smol, smol.chat_template),
        "llama3": (llama3, llama3.chat_template),
        "qwen3": (qwen3, qwen3.chat_template),
        "mistral": (llama2, MISTRAL_V01),
        "zephyr": (llama2, ZEPHYR),
        "zephyr-indented": (llama2, ZEPHYR_INDENTED),
        "tojson": (llama2, TOJSON),
    }
    templates = {
        name: {"template": tmpl, "bos_token": tok.bos_token, "eos_token": tok.eos_token}
        for name, (tok, tmpl) in tokenizers.items()
    }

    u = lambda c: {"role": "user", "content": c}
    a = lambda c: {"role": "assistant", "content": c}
    s = lambda c: {"role": "system", "content": c}
    conversations = [
        [u("Hello!")],
        [s("You are a pirate. Answer in one line."), u("What is 2+2?")],
        [u("Hi"), a("Hello! How can I help?"), u("Tell me a joke about tensors.")],
        [u("  Ça va? 日本語 🎉\n\n  "), a("  Très bien.  "), u("\tAnd you?\n")],
        [u("Solve 3x = 12."), a("<think>\nDivide by 3.\n</think>\n\nx = 4."), u("And 5x = 20?")],
        [u("Hi"), s("Be brief.")],
    ]
    cases = []
    for name, (tok, tmpl) in tokenizers.items():
        for conv in conversations:
            for gen in (True, False):
                for extra in ({}, {"enable_thinking": False}) if name == "qwen3" else ({},):
                    c = {"template": name, "messages": conv, "add_generation_prompt": gen, "vars": extra}
                    try:
                        c["expected"] = tok.apply_chat_template(
                            conv, chat_template=tmpl, tokenize=False, add_generation_prompt=gen, **extra
                        )
                    except jinja2.exceptions.TemplateError as e:
                        c["error"] = str(e)
                    cases.append(c)
    return {"templates": templates, "cases": cases}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    if not os.path.isfile(os.path.join(SMOLLM2, SMOLLM2_GGUF)):
        sys.exit("golden_generate: run scripts/fetch-smollm2.sh first")
    if not os.path.isfile(os.path.join(TOKENIZERS, "qwen3", "tokenizer_config.json")):
        sys.exit("golden_generate: run scripts/fetch-tokenizers.sh first")
    for name, data in (("processors.json", processor_cases()), ("chat_templates.json", chat_cases())):
        path = os.path.join(OUT, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"golden_generate: {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
