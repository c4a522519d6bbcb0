"""Burn a share of one core for a while: the load for the resource accounting tests.

    python3 busy.py SHARE SECONDS [--allocate MB] [--daemonize]

SHARE 1.0 spins without pause; 0.5 spins whenever its CPU time is below half the wall time
since it began, and sleeps 10 ms otherwise; 0 only sleeps. ``--allocate MB`` first fills that
many MiB (touched, so resident). ``--daemonize`` does the work in a double-forked child in its
own session and returns at once. ``--threads N`` starts N idle threads first.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

PERIOD = 0.02


def burn(share: float, seconds: float) -> None:
    """Keep this process's CPU time at ``share`` of the wall time since the start."""
    start = time.monotonic()
    cpu0 = time.process_time()
    end = start + seconds
    while (now := time.monotonic()) < end:
        if share <= 0:
            time.sleep(min(1.0, end - now))
        elif time.process_time() - cpu0 >= share * (now - start):
            time.sleep(PERIOD * (1 - share))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("share", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--allocate", type=int, default=0, metavar="MB")
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="start N idle threads first")
    args = parser.parse_args()
    if args.daemonize:
        if os.fork() > 0:
            return 0
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    block = b"\x01" * (args.allocate << 20)
    stop = threading.Event()
    for _ in range(args.threads):
        threading.Thread(target=stop.wait, daemon=True).start()
    burn(args.share, args.seconds)
    return 0 if block or not args.allocate else 1


if __name__ == "__main__":
    sys.exit(main())
