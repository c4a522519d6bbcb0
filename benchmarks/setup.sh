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
"${pip[@]}" install -e "$src"
# An editable install has no byte code, and this machine sets PYTHONDONTWRITEBYTECODE=1, so
# every `borealis` start would compile its modules from source while the peers, installed
# from wheels, start from .pyc files. Compile once, as a wheel install would.
"$here/.venv/bin/python" -m compileall -q "$src/executor"
# circus 0.19.0 (pyzmq, tornado) installs and runs on Python 3.11 as is.
"${pip[@]}" install "supervisor==4.3.0" "circus==0.19.0" "psutil>=5.9.8" "py-spy==0.4.3"

cd / && "$here/.venv/bin/python" - <<'PY'  # not from the checkout
import importlib.metadata as md
import sys

import executor

print("benchmarks/.venv: Python", sys.version.split()[0])
print("  borealis from", executor.__path__[0].rsplit("/", 1)[0])
for name in ("borealis", "supervisor", "circus", "pyzmq", "tornado", "psutil", "py-spy"):
    try:
        print(f"  {name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name} MISSING")
PY
