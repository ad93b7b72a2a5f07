#!/usr/bin/env python3
"""Writes tests/fixtures/wordpiece_cases.json: reference ids for the WordPiece tests.

The ids come from Hugging Face's `tokenizers` (pip install tokenizers) loading the model's
own tokenizer.json, which is what sentence-transformers runs. Padding is off; a case with
"max_len" is encoded with truncation to that many ids ([CLS] and [SEP] included).

Usage: scripts/gen-wordpiece-cases.py [path/to/tokenizer.json]
       (default: models/all-MiniLM-L6-v2/tokenizer.json, fetched by scripts/fetch-minilm.sh)
"""
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json")
OUT = os.path.join(ROOT, "tests", "fixtures", "wordpiece_cases.json")

LONG = " ".join(
    ["Rotary embeddings rotate query and key vectors by an angle proportional to position."]
    * 40)

CASES = [
    # (what the case exercises, text, max_len or None)
    ("accents", "Café naïve résumé", None),
    ("combining marks", "e\u0301 o\u0308 n\u0303 Ångström Kelvin\u212a", None),
    ("cjk", "中文字", None),
    ("cjk mixed with latin", "BERT处理中文和English混合", None),
    ("japanese and korean", "こんにちは、世界。カタカナ 안녕하세요 세계", None),
    ("other scripts", "Привет, мир! مرحبا بالعالم नमस्ते ภาษาไทย ΣΑΣ ᾗ İstanbul", None),
    ("punctuation", "don't—stop!!", None),
    ("ascii symbols", "$3.50 + 20% = ^_^ `code` ~tilde~ {braces} <tag> a|b \\ /path", None),
    ("abbreviations and numbers", "U.S.A. e-mail co-operate 1,000,000.00", None),
    ("word pieces", "unaffable tokenization hyperparameterization", None),
    ("unknown characters", "☃ ⊗ 𝐀 a\u0378b", None),
    ("emoji", "I love 🦀 and 😀! 🥲", None),
    ("whitespace", "  multiple   spaces\tand\ttabs\nand\r\nnewlines\u00a0nbsp\u3000ideo  ", None),
    ("control characters",
     "null\u0000byte bell\u0007 soft\u00adhyphen zero\u200bwidth \ufffdreplacement \ufeffbom "
     "vt\u000bff\u000c nel\u0085 pua\ue000", None),
    ("compatibility characters are not folded", "ﬁ Ⅻ ™ ½ ²", None),
    ("punctuation newer than the tables", "a\u2e42b a\u2e43b a\u08e2b", None),
    ("special tokens in the text", "Hello [MASK] world [SEP] [mask] a[CLS]b [UNK]", None),
    ("word of 100 characters", "a" * 100, None),
    ("word of 101 characters", "a" * 101, None),
    ("long unsplittable word", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, None),
    ("empty", "", None),
    ("only whitespace", " \t\n ", None),
    ("truncated", "Tokens become vectors, and attention is a scaled dot product.", 8),
    ("truncated to the specials", "Café naïve résumé", 2),
    ("truncated to one piece", "Café naïve résumé", 3),
    ("long text truncated at 256", LONG, 256),
    ("long text truncated at 512", LONG, 512),
]


def main():
    tok = Tokenizer.from_file(SRC)
    tok.no_padding()
    cases = []
    for what, text, max_len in CASES:
        if max_len is None:
            tok.no_truncation()
        else:
            tok.enable_truncation(max_length=max_len)
        enc = tok.encode(text)
        cases.append({"what": what, "text": text, "max_len": max_len,
                      "ids": enc.ids, "tokens": enc.tokens})
    doc = {
        "generator": "scripts/gen-wordpiece-cases.py",
        "tokenizers_version": tokenizers.__version__,
        "tokenizer": "sentence-transformers/all-MiniLM-L6-v2 tokenizer.json",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One case per line keeps the file short and its diffs readable.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False)
    lines = [json.dumps(c, ensure_ascii=False) for c in cases]
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(head[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
