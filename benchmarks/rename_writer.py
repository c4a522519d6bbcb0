"""A plain rename-rotating writer: the control for ``imfile.py``, not Borealis code.

    python3 benchmarks/rename_writer.py FILE LOG_SIZE

Copies stdin to ``FILE`` and rotates by rename the way any logrotate-style writer does:
when the next write would take ``FILE`` past ``LOG_SIZE`` bytes, it is cut after the last
newline that fits (or the first one after, if none does; the rest starts the next file),
``FILE.N`` .. ``FILE.1`` are renamed one up, ``FILE`` becomes ``FILE.1`` and a new ``FILE``
is created. Every rotated file is kept.
No pipe tricks, no fsync: what a collector sees from the simplest correct writer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def rotate(base: Path, kept: int) -> None:
    for n in range(kept, 0, -1):
        os.rename(f"{base}.{n}", f"{base}.{n + 1}")
    os.rename(base, f"{base}.1")


def main() -> int:
    base, log_size = Path(sys.argv[1]), int(sys.argv[2])
    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    size, kept, pending = os.fstat(fd).st_size, 0, b""
    while chunk := os.read(0, 1 << 20):
        pending += chunk
        if size + len(pending) < log_size:
            os.write(fd, pending)
            size, pending = size + len(pending), b""
            continue
        room = max(0, log_size - size)
        cut = pending.rfind(b"\n", 0, room) + 1 or pending.find(b"\n", room) + 1
        if cut == 0:  # no newline yet: keep reading (lines here are 100 bytes)
            continue
        os.write(fd, pending[:cut])
        pending = pending[cut:]
        os.close(fd)
        rotate(base, kept)
        kept += 1
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        size = 0
    os.write(fd, pending)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
