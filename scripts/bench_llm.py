#!/usr/bin/env python3
"""Side-by-side speed of SmolLM2-135M-Instruct (issue 22 item 7): prefill of a 128-token prompt
and greedy decode of 64 tokens, on 1 and 2 threads, for

  transformers  eager attention, f32, the weights of the GGUF dequantized by
                from_pretrained(dir, gguf_file=...)
  llama.cpp     llama-cpp-python from PyPI (built from source by pip), the same GGUF (Q4_1,
                its own quantized kernels)
  ours          a command of this repository (default: the chat example's --bench mode,
                `cargo run --release --example chat -- --bench ...`) with its default
                weights: the GGUF's own types (Q4_1, one Q8_0 tensor) kept as stored, once
                the chat example has `--dtype` (issue 24); before that, the f32 weights it
                dequantizes at load, and the row says so
  ours-f32      the same command with `--dtype f32` (the stored weights dequantized at load):
                skipped, with a note, while the chat example has no `--dtype`
Both rows of ours are skipped, with a note, while examples/chat.rs does not exist.

Every engine runs in a subprocess of its own (one per thread count) and reports its own peak
resident memory, right after loading and at the end, read from /proc/self/status (VmHWM).
Not getrusage's or os.wait4's ru_maxrss: Linux carries the high-water mark of the address
space a process had before exec into it, and a child of this script starts as a copy of it
(≈ 730 MB once torch and the tokenizer are loaded), so every engine smaller than that would
read as ≈ 730 MB. (os.wait4's figure is kept as a fallback for a command that reports no
peak.)
The prompt is the same 128 ids for every engine (SmolLM2's tokenizer, from the GGUF, on a
fixed English text), fed as ids. Each measurement is the best of --repeats runs after one
warm-up; the KV cache is emptied between runs.

The contract of `--ours` (what the command must do): it is run as
    <ours> --model <gguf> --threads <n> --prompt-ids <id,id,...> -n <tokens>
and prints, on a line of its own,
    BENCH {"prefill_s": <seconds>, "decode_s": <seconds>, "decode_steps": <optional>,
           "load_rss_kb": <optional>, "peak_rss_kb": <optional>,
           "ids": [<optional: the generated ids>]}
where prefill_s is the time of the forward over the prompt (whose last logits give the first
token) and decode_s that of the decode_steps one-token steps after it (default n - 1, as here:
n tokens in all), the best of its runs if it repeats; load_rss_kb and peak_rss_kb are the
process's VmHWM after loading and at the end. Build it first (under the lock):
the script times what the command reports, not the compilation.

Usage (through the machine's build/bench lock):
    /work/lock.sh python3 scripts/bench_llm.py [--threads 1,2] [--engines transformers,llamacpp,ours]
        [--repeats 3] [--ours "cargo run --release --example chat -- --bench"]

The table puts each engine's prefill and decode next to llama.cpp's at the same thread count
(`x llama.cpp`), for the goals of issue 24 (decode >= 1.0x on 1 thread, >= 0.9x on 2, prefill
>= 2x, peak memory <= 1.2x).
"""
import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF_DIR = os.path.join(ROOT, "models", "smollm2-135m-instruct")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = (
    "The history of numerical linear algebra is a history of people trying to make computers "
    "multiply matrices faster than the year before. In the nineteen-seventies the Basic Linear "
    "Algebra Subprograms gave every library the same names for the same operations, so that a "
    "vendor could write one fast routine and every program would use it. Later, blocking for "
    "caches mattered more than counting floating point operations, and the libraries learned to "
    "copy small panels of each matrix into contiguous buffers that fit the level one and level two "
    "caches. Today a language model spends most of its time in exactly these products: a prompt is "
    "a matrix of token vectors multiplied by each weight matrix in turn, while generating one token "
    "is a matrix-vector product that must read every weight from memory once."
)


def cpu_name():
    """The model name of /proc/cpuinfo, with the family (a bare "AMD EPYC" names no
    generation), the widest vector extension and the number of logical CPUs."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = (s.strip() for s in line.split(":", 1))
                    fields.setdefault(k, v)
    except OSError:
        return "unknown CPU"
    flags = fields.get("flags", "").split()
    isa = "AVX-512F" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}; {isa}; {os.cpu_count()} logical CPUs)")


def chat_has_dtype(path):
    """Whether the chat example takes --dtype (issue 24: the stored weights' types)."""
    try:
        with open(path) as f:
            return 'Long("dtype")' in f.read()
    except OSError:
        return False


def maxrss_kb():
    """This process's peak resident memory in KiB: VmHWM, the high-water mark of its own
    address space (see the module docstring for why not ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def prompt_ids(n):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME)
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    if len(ids) < n:
        sys.exit(f"bench_llm: the text has {len(ids)} tokens, fewer than {n}")
    return ids[:n]


# ------------------------------------------------------------------------------------------
# Workers (run in a subprocess: `bench_llm.py --worker ENGINE`, a JSON job on stdin)
# ------------------------------------------------------------------------------------------


def worker_transformers(job):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(job["threads"])
    model = AutoModelForCausalLM.from_pretrained(
        GGUF_DIR, gguf_file=GGUF_NAME, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    load_rss = maxrss_kb()
    ids = torch.tensor([job["prompt"]], dtype=torch.long)

    def run(prompt, n):
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(prompt, use_cache=True)
            t1 = time.perf_counter()
            past = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
            gen = [nxt]
            for _ in range(n - 1):
                out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                nxt = int(out.logits[0, -1].argmax())
                gen.append(nxt)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, gen

    run(ids[:, :8], 3)  # warm-up
    best = None
    for _ in range(job["repeats"]):
        p, d, gen = run(ids, job["gen"])
        best = (min(best[0], p), min(best[1], d), gen) if best else (p, d, gen)
    return {"prefill_s": best[0], "decode_s": best[1], "decode_steps": job["gen"] - 1,
            "load_rss_kb": load_rss, "peak_rss_kb": maxrss_kb(), "ids": best[2]}


def worker_llamacpp(job):
    import numpy as np
    from llama_cpp import Llama

    n = job["threads"]
    llm = Llama(
        model_path=os.path.join(GGUF_DIR, GGUF_NAME),
        n_ctx=512,
        n_batch=512,
        n_threads=n,
        n_threads_batch=n,
        verbose=False,
    )
    load_rss = maxrss_kb()
    vocab = llm.n_vocab()

    def last_logits():
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))

    def run(prompt, steps):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        nxt = int(np.argmax(last_logits()))
        gen = [nxt]
        for _ in range(steps - 1):
            llm.eval([nxt])
            nxt = int(np.argmax(last_logits()))
            gen.append(nxt)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, gen

    run(job["prompt"][:8], 3)  # warm-up
    best = None
    for _ in range(job["repeats"]):
        p, d, gen = run(job["prompt"], job["gen"])
        best = (min(best[0], p), min(best[1], d), gen) if best else (p, d, gen)
    return {"prefill_s": best[0], "decode_s": best[1], "decode_steps": job["gen"] - 1,
            "load_rss_kb": load_rss, "peak_rss_kb": maxrss_kb(), "ids": best[2]}


def worker_main(engine):
    job = json.loads(sys.stdin.read())
    result = {"transformers": worker_transformers, "llamacpp": worker_llamacpp}[engine](job)
    print("BENCH " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------
# The driver
# ------------------------------------------------------------------------------------------


def run_child_wait4(argv, stdin_text, env):
    """Runs argv; returns (its BENCH JSON or None, its peak RSS in KiB from os.wait4, which
    counts the descendants it waited for, its exit code, the tail of its stderr)."""
    with tempfile.TemporaryFile(mode="w+") as errf:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errf, text=True, env=env)
        proc.stdin.write(stdin_text)
        proc.stdin.close()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        errf.seek(0)
        err = errf.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    bench = None
    for line in out.splitlines():
        if line.startswith("BENCH "):
            bench = json.loads(line[len("BENCH "):])
    return bench, usage.ru_maxrss, proc.returncode, err.strip().splitlines()[-5:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="transformers,llamacpp,ours,ours-f32")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ours", default="cargo run --release --example chat -- --bench",
                    help="the command that benchmarks this library (see the contract above)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker)

    gguf = os.path.join(GGUF_DIR, GGUF_NAME)
    if not os.path.isfile(gguf):
        sys.exit(f"bench_llm: {gguf} not found: run scripts/fetch-smollm2.sh")
    threads = [int(t) for t in args.threads.split(",")]
    engines = args.engines.split(",")
    prompt = prompt_ids(args.prompt_tokens)
    cpu = cpu_name()
    print(f"bench_llm: SmolLM2-135M-Instruct, prompt {len(prompt)} tokens, greedy decode "
          f"{args.gen_tokens} tokens, best of {args.repeats}; CPU: {cpu}", flush=True)

    rows = []
    for engine in engines:
        for n in threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n),
                       RAYON_NUM_THREADS=str(n))
            job = {"threads": n, "prompt": prompt, "gen": args.gen_tokens, "repeats": args.repeats}
            label = {"ours": "ours (stored)"}.get(engine, engine)
            if engine in ("transformers", "llamacpp"):
                argv = [sys.executable, os.path.abspath(__file__), "--worker", engine]
                stdin = json.dumps(job)
            elif engine in ("ours", "ours-f32"):
                chat = os.path.join(ROOT, "examples", "chat.rs")
                if "--example chat" in args.ours and not os.path.isfile(chat) and not \
                        os.path.isdir(os.path.join(ROOT, "examples", "chat")):
                    print(f"note: {engine}: skipped: examples/chat.rs does not exist yet (the "
                          "chat example's --bench mode is to provide these numbers); no figure "
                          "is printed for it", flush=True)
                    break
                dtype = chat_has_dtype(chat) if "--example chat" in args.ours else True
                extra = []
                if engine == "ours-f32":
                    if not dtype:
                        print("note: ours-f32: skipped: the chat example has no --dtype yet "
                              "(its default already runs f32 weights, the row `ours`)",
                              flush=True)
                        break
                    extra = ["--dtype", "f32"]
                elif not dtype:
                    label = "ours (f32)"
                argv = shlex.split(args.ours) + [
                    "--model", gguf, "--threads", str(n),
                    "--prompt-ids", ",".join(map(str, prompt)), "-n", str(args.gen_tokens)] + extra
                stdin = ""
            else:
                sys.exit(f"bench_llm: unknown engine {engine}")
            t0 = time.perf_counter()
            bench, peak, code, err = run_child_wait4(argv, stdin, env)
            wall = time.perf_counter() - t0
            if code != 0 or bench is None:
                print(f"error: {engine} ({n} threads) exited with {code}:\n  " + "\n  ".join(err))
                continue
            steps = bench.get("decode_steps", args.gen_tokens)
            row = {
                "engine": label, "threads": n,
                "prefill_tok_s": len(prompt) / bench["prefill_s"],
                "decode_tok_s": steps / bench["decode_s"],
                "load_rss_mb": bench.get("load_rss_kb", 0) / 1024,
                "peak_rss_mb": bench.get("peak_rss_kb", peak) / 1024,
                "wall_s": wall,
                "ids": bench.get("ids", []),
            }
            rows.append(row)
            print(f"  {label:<13} {n} thread(s): prefill {row['prefill_tok_s']:8.1f} tok/s, "
                  f"decode {row['decode_tok_s']:6.1f} tok/s, peak RSS {row['peak_rss_mb']:.0f} MB "
                  f"({wall:.0f} s)", flush=True)

    print()
    print(f"CPU: {cpu}")
    print(f"{'engine':<16}{'threads':>8}{'prefill tok/s':>15}{'x llama.cpp':>12}"
          f"{'decode tok/s':>14}{'ms/token':>10}{'x llama.cpp':>12}"
          f"{'RSS loaded MB':>15}{'RSS peak MB':>13}{'x llama.cpp':>12}")
    llama = {r["threads"]: r for r in rows if r["engine"] == "llamacpp"}

    def ratio(r, key):
        ref = llama.get(r["threads"])
        return f"{r[key] / ref[key]:.2f}" if ref and ref[key] else "-"

    for r in rows:
        print(f"{r['engine']:<16}{r['threads']:>8}{r['prefill_tok_s']:>15.1f}"
              f"{ratio(r, 'prefill_tok_s'):>12}{r['decode_tok_s']:>14.1f}"
              f"{1000 / r['decode_tok_s']:>10.2f}{ratio(r, 'decode_tok_s'):>12}"
              f"{r['load_rss_mb']:>15.0f}{r['peak_rss_mb']:>13.0f}{ratio(r, 'peak_rss_mb'):>12}")
    # Greedy continuations side by side: transformers runs the dequantized f32 weights,
    # llama.cpp the Q4_1 blocks, so they may part after a while.
    by = {}
    for r in rows:
        by.setdefault(r["engine"], r["ids"])
    names = [e for e in by if by[e]]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            same = next((k for k, (x, y) in enumerate(zip(by[a], by[b])) if x != y),
                        min(len(by[a]), len(by[b])))
            print(f"greedy ids: {a} and {b} agree on the first {same} of {args.gen_tokens}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "prompt_tokens": len(prompt), "gen_tokens": args.gen_tokens,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
