#!/usr/bin/env bash
# Create benchmarks/.venv: the peers (supervisor, circus), psutil, py-spy and Borealis itself.
#
#   bash benchmarks/setup.sh                        # Borealis = this working tree (pip -e)
#   BOREALIS_REF=HEAD bash benchmarks/setup.sh      # Borealis = a clean export of one commit
#
# With BOREALIS_REF the commit is exported with `git archive` to
# benchmarks/.venv/src/borealis-<commit> and installed from there (still `pip install -e`),
# so that figures belong to one commit even while the working tree is being edited.
# The virtualenv is kept out of git (.gitignore lists benchmarks/.venv/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

"$python" -m venv "$here/.venv"
pip=("$here/.venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip

src="$repo"
if [ -n "${BOREALIS_REF:-}" ]; then
    commit="$(git -C "$repo" rev-parse --verify "${BOREALIS_REF}^{commit}")"
    src="$here/.venv/src/borealis-$commit"
    rm -rf "$here/.venv/src"/borealis-*  # earlier snapshots
    mkdir -p "$src"
    git -C "$repo" archive "$commit" | tar -x -C "$src"
    echo "$commit" >"$src/.borealis-commit"
fi
# Strict editable mode, as scripts/setup: `borealis.*` is a tree of links to the folders
# (contract/, executor/, ...) under $src/build/__editable__.borealis-*, put on sys.path by a .pth.
PYTHONWARNINGS="ignore:Editable installation" \
    "${pip[@]}" install --config-settings editable_mode=strict -e "$src"
# An editable install has no byte code, and this machine sets PYTHONDONTWRITEBYTECODE=1, so
# every `borealis` start would compile its modules from source while the peers, installed
# from wheels, start from .pyc files. Compile once, as a wheel install would: the link tree
# is what the interpreter imports (its __pycache__ directories sit next to the links), so that
# is what gets compiled, with PYTHONDONTWRITEBYTECODE unset (compileall writes anyway, but
# nothing here should depend on that).
links=("$src"/build/__editable__.borealis-*)
[ -d "${links[0]}" ] || { echo "setup.sh: no link tree under $src/build" >&2; exit 1; }
env -u PYTHONDONTWRITEBYTECODE "$here/.venv/bin/python" -m compileall -q "${links[@]}"
# circus 0.19.0 (pyzmq, tornado) installs and runs on Python 3.11 as is.
"${pip[@]}" install "supervisor==4.3.0" "circus==0.19.0" "psutil>=5.9.8" "py-spy==0.4.3"

cd / && "$here/.venv/bin/python" - <<'PY'  # not from the checkout
import importlib.metadata as md
import sys

from pathlib import Path

import borealis.cli.main  # what `borealis run` imports first
import borealis.executor.runner

print("benchmarks/.venv: Python", sys.version.split()[0])
src = Path(borealis.executor.__file__).resolve().parent.parent
print("  borealis from", src)
# every imported borealis module must load from byte code (see compileall above)
stale = [
    name
    for name, module in sorted(sys.modules.items())
    if name.startswith("borealis.")
    and getattr(module, "__file__", None)
    and not Path(module.__cached__).exists()
]
if stale:
    sys.exit(f"setup.sh: no byte code for {', '.join(stale)}")
for name in ("borealis", "supervisor", "circus", "pyzmq", "tornado", "psutil", "py-spy"):
    try:
        print(f"  {name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name} MISSING")
PY
