"""Pipe to file: the coordinator's copy loop in isolation, ``splice(2)`` against read + write.

    benchmarks/.venv/bin/python benchmarks/pipe_to_file.py [--runs 8] [--lines 10737418]

An experiment behind ``docs/benchmarks.md`` section 4, not Borealis code. The generator
(``lines.py``, 1 GiB of 100-byte lines) writes into a pipe enlarged to 1 MiB, as a
coordinator's; this process moves the pipe into a file with the loop of
``executor/runner/logpump.py``: ``poll`` on the non-blocking read end, then, until it
would block,

* splice    ``os.splice(pipe, file, 64 MiB, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)`` (what the
            coordinator does far from a rotation)
* read      ``os.readv(pipe, [1 MiB buffer])`` then ``os.write(file, ...)`` (what it does
            near a cut, without the cut)

Per run: wall time from the generator's spawn until it is reaped and the pipe is empty,
the CPU of this loop (``time.process_time``) and of the generator (``wait4``). The order
alternates; before each run the page allocator is warmed as in ``logs.py``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import logs
from harness import fmt, median, table

PIPE_SIZE = 1 << 20
SPLICE_LEN = 64 << 20
READ_SIZE = 1 << 20
MODES = ["splice", "read"]


def one_run(directory: Path, mode: str, count: int) -> dict[str, float]:
    path = directory / "out"
    out = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    os.set_blocking(read_end, False)
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    poller = select.poll()
    poller.register(read_end, select.POLLIN)
    t0 = time.time()
    gen = subprocess.Popen(
        [sys.executable, str(logs.GENERATOR), str(count)], stdout=write_end, cwd=directory
    )
    os.close(write_end)
    cpu0 = time.process_time()
    calls = 0
    open_ = True
    while open_:
        poller.poll()
        while True:
            try:
                if mode == "splice":
                    moved = os.splice(
                        read_end, out, SPLICE_LEN, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
                    )
                else:
                    moved = os.readv(read_end, [buf])
                    logs.lines.write_all(out, view[:moved])
            except BlockingIOError:
                break
            calls += 1
            if moved == 0:
                open_ = False
                break
    cpu = time.process_time() - cpu0
    gen_cpu = logs.wait(gen)
    wall = time.time() - t0
    size = os.fstat(out).st_size
    os.close(out)
    os.close(read_end)
    path.unlink()
    if size != count * logs.lines.WIDTH:
        raise RuntimeError(f"{mode}: {size} bytes moved, expected {count * logs.lines.WIDTH}")
    return {"wall": wall, "cpu": cpu, "gen_cpu": gen_cpu, "calls": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="runs per mode (default 8)")
    parser.add_argument("--lines", type=int, default=10_737_418, help="lines (default 1 GiB)")
    args = parser.parse_args()
    size = args.lines * logs.lines.WIDTH
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="borealis-bench-pipe-") as tmp:
        directory = Path(tmp)
        for rep in range(args.runs):
            for mode in MODES if rep % 2 == 0 else MODES[::-1]:
                harness.wait_quiet()
                logs.pretouch(directory, 2 * size)
                results[mode].append(one_run(directory, mode, args.lines))
    print(f"# pipe_to_file: {args.lines:,} lines of 100 bytes through a 1 MiB pipe into a file")
    print(f"# {harness.machine()}; runs={args.runs} command: {' '.join(sys.argv)}\n")
    rows = []
    for mode in MODES:
        runs = results[mode]
        wall = median([r["wall"] for r in runs])
        cpu = median([r["cpu"] for r in runs])
        gen = median([r["gen_cpu"] for r in runs])
        rows.append(
            [
                mode,
                len(runs),
                fmt(wall),
                fmt(logs.rate(wall, size), 0),
                fmt(logs.per_gib(cpu, size), 3),
                fmt(logs.per_gib(gen, size), 3),
                fmt(None if cpu is None or gen is None else logs.per_gib(cpu + gen, size), 3),
                fmt(median([r["calls"] for r in runs]), 0),
                " ".join(f"{r['wall']:.2f}" for r in runs),
            ]
        )
    print("Medians (CPU in s per GiB; MB = 2^20 bytes):\n")
    print(
        table(
            ["mode", "runs", "wall s", "MB/s", "loop CPU", "generator CPU", "both",
             "calls", "walls per run"],
            rows,
        )
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
