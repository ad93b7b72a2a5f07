#!/usr/bin/env python3
"""llama.cpp's perplexity of a GGUF on a text, through llama-cpp-python, chunked as
`llama-perplexity` and `examples/perplexity.rs` chunk it: the text's tokens cut into chunks
of n_ctx (the rest dropped), each chunk evaluated alone (logits_all=True), and the negative
log-likelihood of the tokens of each chunk's second half (positions n_ctx/2 .. n_ctx-1
predicting the next) averaged over every chunk. The BOS token replaces each chunk's first
token only when the vocabulary adds one (SmolLM2's does not).

Usage: pip install llama-cpp-python numpy
       python3 scripts/perplexity_llamacpp.py [--model FILE.gguf] [--text FILE] [--ctx N]
                                              [--threads N]
"""
import argparse
import os
import time

import numpy as np
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(
        ROOT, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--text", default=os.path.join(ROOT, "data/perplexity/lighthouse.txt"))
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    llm = Llama(model_path=a.model, n_ctx=a.ctx, n_batch=a.ctx, n_ubatch=a.ctx,
                logits_all=True, n_threads=a.threads, verbose=False)
    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    n = a.ctx
    chunks = len(tokens) // n
    first = n // 2
    total, count = 0.0, 0
    t = time.time()
    for c in range(chunks):
        chunk = list(tokens[c * n:(c + 1) * n])
        if add_bos:
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[:n], dtype=np.float64)
        for j in range(first, n - 1):
            row = logits[j]
            m = row.max()
            total += m + np.log(np.exp(row - m).sum()) - row[chunk[j + 1]]
            count += 1
        print(f"[{c + 1}] {np.exp(total / count):.4f}", flush=True)
    print(f"perplexity {np.exp(total / count):.4f} over {chunks} chunks of {n} tokens "
          f"({count} scored, {len(tokens)} tokens in the text), {time.time() - t:.1f} s")


if __name__ == "__main__":
    main()
