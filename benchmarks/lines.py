"""Write numbered 100-byte lines to stdout as fast as the kernel takes them.

    python3 benchmarks/lines.py COUNT [--times FILE]

The same bytes as ``tests/tools/numbered_lines.py COUNT`` (``%010d`` + a space + 88 ``x`` +
a newline per line), about 4x faster: that one formats every line (≈ 450 MB/s into a file
here), which would make the generator, not the log path, the bottleneck of
``benchmarks/logs.py``. This one formats a block of 10,000 lines once and, for each
later block, only overwrites the six leading digits that differ (six strided slice
assignments per MB), then writes the block with one ``write(2)`` loop.

``--times FILE``: at exit, write ``{"start", "end", "cpu"}`` as JSON: ``time.time()``
when ``main()`` began and after the last write, and this process's own CPU seconds
(user + system). The benchmark subtracts that CPU from a supervisor's process tree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator

WIDTH = 100
BLOCK_LINES = 10_000  # the low 4 digits of a line's number are its index in the block
PREFIX = 6  # the other 6 digits: the block's number


def block_template() -> bytearray:
    filler = b"x" * (WIDTH - 12)
    return bytearray(b"".join(b"%010d %s\n" % (i, filler) for i in range(BLOCK_LINES)))


def blocks(count: int) -> Iterator[memoryview]:
    """Lines 0 .. count-1 in blocks of up to 10,000 (one buffer, rewritten in place)."""
    if count >= BLOCK_LINES * 10**PREFIX:
        raise ValueError("count must stay below 10**10 lines")
    buf = block_template()
    view = memoryview(buf)
    digits = b"0" * PREFIX
    for block in range((count + BLOCK_LINES - 1) // BLOCK_LINES):
        new = b"%0*d" % (PREFIX, block)
        for d in range(PREFIX):
            if new[d] != digits[d]:
                buf[d::WIDTH] = new[d : d + 1] * BLOCK_LINES
        digits = new
        yield view[: min(BLOCK_LINES, count - block * BLOCK_LINES) * WIDTH]


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, help="lines to write")
    parser.add_argument("--times", help="write start/end/CPU as JSON here at exit")
    args = parser.parse_args()
    start = time.time()
    for block in blocks(args.count):
        write_all(1, block)
    end = time.time()
    if args.times:
        t = os.times()
        with open(args.times, "w") as fp:
            json.dump({"start": start, "end": end, "cpu": t.user + t.system}, fp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
