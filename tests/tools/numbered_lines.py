"""Write numbered lines to stdout: the load for the log tests and benchmarks.

    python3 numbered_lines.py COUNT [--rate BYTES_PER_SECOND] [--width N] [--start N]

Each line is ``%010d `` followed by filler up to ``--width`` bytes with its
newline (default 100). Lines are written in large blocks, as fast as
possible, or paced to ``--rate``. Exits 0 after the last line.
"""

from __future__ import annotations

import argparse
import sys
import time

BLOCK_LINES = 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    filler = b"x" * max(0, args.width - 12)
    out = sys.stdout.buffer
    started = time.monotonic()
    written = 0
    end = args.start + args.count
    for first in range(args.start, end, BLOCK_LINES):
        block = b"".join(
            b"%010d %s\n" % (i, filler) for i in range(first, min(first + BLOCK_LINES, end))
        )
        out.write(block)
        written += len(block)
        if args.rate:
            ahead = written / args.rate - (time.monotonic() - started)
            if ahead > 0:
                out.flush()
                time.sleep(ahead)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
