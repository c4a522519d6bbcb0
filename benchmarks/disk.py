"""Disk usage: the CPU cost of keeping a sandbox's usage current, from inotify events vs by walking.

    benchmarks/.venv/bin/python benchmarks/disk.py [--runs 3] [--duration 60] [--files 100000]
    PYTHONPATH=benchmarks .venv/bin/python benchmarks/disk.py ...   # the working tree, as is

Set-up, once: a sandbox of ``--files`` files (0-8 KiB each) in ``--dirs`` directories
(``d00/d000`` .. , 100 files each by default). Each repetition then starts a **writer**
(``--writer``, a separate process, not measured) that every second appends a line to each of
``--appends`` files and creates ``--churn`` new files and deletes as many old ones, and three
**monitors**, each in its own process, all watching the same sandbox under the same writer:

* incremental   ``DiskMonitor(sandbox)``: watchdog/inotify, ``usage()`` every ``--interval`` s
* scan          ``DiskMonitor(sandbox, inotify=False)``: a full walk at every ``usage()``
* du            ``du -s sandbox`` as a subprocess every ``--interval`` s (its CPU is counted)

The monitors start one after another (each alone but for the writer), so **first value** (from
before ``start()`` until the first ``usage()`` returned: for incremental, watchdog adding its
watches and one walk; for du, its first run) is measured without the others. Once all have
their first value and ``--settle`` s have passed, they measure together for ``--duration`` s:
**CPU** is the user + system time of the monitor's process (all its threads, watchdog's
included, and for du the reaped ``du`` children, from ``getrusage``), and the walk-based
monitors are staggered so their walks do not coincide.
**RSS** is the process's VmRSS at the end; "of which monitor" subtracts VmRSS read just
before the monitor was created (interpreter and imports). The ratios walk / incremental are
what the goal is about (>= 20x cheaper). The page and dentry caches are warm (the sandbox was
just created), which favours the walks. Nothing asserts on a figure.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness
from harness import fmt, median, ratio, table

SYSTEMS = ["incremental", "scan", "du"]
MB = 1024 * 1024
CHURN_PREFIX = "churn-"


# -- the sandbox and the writer ---------------------------------------------------------------


def leaf_dirs(sandbox: Path, dirs: int) -> list[Path]:
    tops = max(1, dirs // 100)
    return [sandbox / f"d{i % tops:02d}" / f"d{i // tops:03d}" for i in range(dirs)]


def build_sandbox(sandbox: Path, files: int, dirs: int) -> None:
    rng = random.Random(1)
    blob = os.urandom(8192)
    leaves = leaf_dirs(sandbox, dirs)
    for leaf in leaves:
        leaf.mkdir(parents=True)
    for n in range(files):
        with open(leaves[n % dirs] / f"f{n:06d}", "wb") as fp:
            fp.write(blob[: rng.randrange(8192)])


def remove_churn(sandbox: Path, dirs: int) -> None:
    for leaf in leaf_dirs(sandbox, dirs):
        for entry in os.scandir(leaf):
            if entry.name.startswith(CHURN_PREFIX):
                os.unlink(entry.path)


def writer(sandbox: Path, dirs: int, appends: int, churn: int) -> None:
    """Every second: append a line to each of ``appends`` files, create and delete ``churn``."""
    rng = random.Random(os.getpid())
    leaves = leaf_dirs(sandbox, dirs)
    logs = [leaves[rng.randrange(dirs)] / f"{CHURN_PREFIX}log-{i}" for i in range(appends)]
    pool: collections.deque[Path] = collections.deque()
    line = b"x" * 99 + b"\n"
    serial = 0

    def create() -> None:
        nonlocal serial
        serial += 1
        path = leaves[rng.randrange(dirs)] / f"{CHURN_PREFIX}{serial}"
        path.write_bytes(line * rng.randrange(1, 40))
        pool.append(path)

    for _ in range(churn * 10):  # the steady-state pool, so deletions start at once
        create()
    tick = time.monotonic()
    while True:
        for log in logs:
            with open(log, "ab") as fp:
                fp.write(line)
        for _ in range(churn):
            create()
            pool.popleft().unlink()
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))


# -- one monitor (a child process) ------------------------------------------------------------


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/status") as fp:
        for text in fp:
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) * 1024
    return 0


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def child(system: str, sandbox: Path, interval: float, offset: float) -> None:
    """Start one monitor, report its first value, then measure one window when told to."""
    from borealis.executor.runner.diskusage import DiskMonitor

    def du() -> int:
        out = subprocess.run(["du", "-s", str(sandbox)], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[0])

    rss_base = rss_bytes()
    monitor = None
    started = time.monotonic()
    if system == "du":
        du()
    else:
        # scan_interval below the tick interval: a walk at every tick despite timer jitter.
        monitor = DiskMonitor(sandbox, inotify=system == "incremental", scan_interval=interval / 2)
        monitor.start()
        monitor.usage()
    first = time.monotonic() - started
    emit({"first": first})

    duration = float(sys.stdin.readline())
    begin = time.monotonic()
    cpu0 = cpu_seconds()
    walks0 = monitor.walks if monitor else 0
    calls = 0
    tick = begin + offset
    while tick < begin + duration:
        time.sleep(max(0.0, tick - time.monotonic()))
        if monitor is None:
            du()
        else:
            monitor.usage()
        calls += 1
        tick += interval
    time.sleep(max(0.0, begin + duration - time.monotonic()))
    cpu = cpu_seconds() - cpu0
    wall = time.monotonic() - begin
    result = {
        "first": first,
        "cpu": cpu,
        "cpu_per_interval": cpu * interval / wall,
        "calls": calls,
        "walks": (monitor.walks - walks0) if monitor else calls,
        "rss": rss_bytes() / MB,
        "rss_monitor": (rss_bytes() - rss_base) / MB,
        "du_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if monitor is not None:
        usage = monitor.usage()
        result.update(
            mode=usage.mode,
            entries=usage.entries,
            overflows=monitor.overflows,
            drift=monitor.drift_corrections,
        )
        monitor.close()
    emit(result)


# -- one repetition ---------------------------------------------------------------------------


def one_run(args: argparse.Namespace, sandbox: Path) -> dict[str, dict[str, Any]]:
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--sandbox", str(sandbox), "--dirs", str(args.dirs)]
    writer_proc = subprocess.Popen(
        [*me, "--writer", *common, "--appends", str(args.appends), "--churn", str(args.churn)]
    )
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        time.sleep(2.0)  # the writer is at its steady state
        for k, system in enumerate(SYSTEMS):
            offset = args.interval * k / len(SYSTEMS)
            proc = subprocess.Popen(
                [*me, "--child", system, *common, "--interval", str(args.interval),
                 "--offset", str(offset)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            procs[system] = proc
            assert proc.stdout is not None
            proc.stdout.readline()  # it has its first value: start the next one
        time.sleep(args.settle)
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.write(f"{args.duration}\n")
            proc.stdin.flush()
        results = {}
        for system, proc in procs.items():
            assert proc.stdout is not None
            results[system] = json.loads(proc.stdout.readline())
            proc.wait(timeout=60)
        return results
    finally:
        writer_proc.kill()
        writer_proc.wait()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        remove_churn(sandbox, args.dirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s (60)")
    parser.add_argument("--interval", type=float, default=10.0, help="usage() period, s (10)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before measuring, s (5)")
    parser.add_argument("--files", type=int, default=100_000, help="files (100000)")
    parser.add_argument("--dirs", type=int, default=1000, help="directories holding them (1000)")
    parser.add_argument("--appends", type=int, default=300, help="files appended to per s (300)")
    parser.add_argument("--churn", type=int, default=50, help="files created and deleted per s")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.sandbox, args.dirs, args.appends, args.churn)
        return 0
    if args.child:
        child(args.child, args.sandbox, args.interval, args.offset)
        return 0

    runs: list[dict[str, dict[str, Any]]] = []
    with harness.Workspace("disk", keep=args.keep) as ws:
        sandbox = ws.directory("sandbox")
        began = time.monotonic()
        build_sandbox(sandbox, args.files, args.dirs)
        built = time.monotonic() - began
        for rep in range(args.runs):
            busy = harness.wait_quiet()
            print(f"... run {rep + 1}/{args.runs}", file=sys.stderr, flush=True)
            try:
                result = one_run(args, sandbox)
            finally:
                ws.reset()
            for record in result.values():
                record["host_busy"] = busy
            runs.append(result)

    print(
        f"# disk: {args.files} files in {args.dirs} directories; writer: {args.appends} appends,"
        f" {args.churn} creates and {args.churn} deletes per second; usage() every"
        f" {args.interval:.0f} s, measured over {args.duration:.0f} s"
    )
    print(f"# {harness.machine()}")
    print(f"# runs={args.runs} settle={args.settle}s sandbox built in {built:.1f} s;"
          f" command: {' '.join(sys.argv)}\n")  # fmt: skip
    headers = [
        "system",
        "run",
        "first value s",
        "CPU s",
        f"CPU s / {args.interval:.0f} s",
        "calls",
        "walks",
        "RSS MB",
        "of which monitor MB",
        "host busy %",
    ]
    rows = []
    for system in SYSTEMS:
        for i, run in enumerate(runs):
            r = run[system]
            rows.append(
                [
                    system,
                    i + 1,
                    fmt(r["first"], 3),
                    fmt(r["cpu"], 3),
                    fmt(r["cpu_per_interval"], 4),
                    r["calls"],
                    r["walks"],
                    fmt(r["rss"], 1),
                    fmt(r["rss_monitor"], 1) if system != "du" else f"du: {r['du_maxrss']:.1f}",
                    f"{r['host_busy']:.0f}",
                ]
            )
    print("Per run (host busy % = CPU use by others just before the run; for du, the last")
    print("column is du's own peak RSS):\n")
    print(table(headers, rows))

    keys = ["first", "cpu_per_interval", "rss", "rss_monitor", "du_maxrss"]
    medians = {s: {k: median([run[s][k] for run in runs]) for k in keys} for s in SYSTEMS}
    print("\nMedians:\n")
    print(
        table(
            [
                "system",
                "first value s",
                f"CPU s / {args.interval:.0f} s",
                "RSS MB",
                "of which monitor MB",
            ],
            [
                [
                    s,
                    fmt(m["first"], 3),
                    fmt(m["cpu_per_interval"], 4),
                    fmt(m["rss"], 1),
                    fmt(m["rss_monitor"], 1) if s != "du" else f"du: {m['du_maxrss']:.1f}",
                ]
                for s, m in medians.items()
            ],
        )
    )
    inc = medians["incremental"]
    print("\nRatios of medians (goal: a walk costs >= 20x the incremental upkeep):\n")
    print(
        table(
            ["ratio", "CPU per interval", "first value"],
            [
                [
                    f"{s} / incremental",
                    ratio(medians[s]["cpu_per_interval"], inc["cpu_per_interval"]),
                    ratio(medians[s]["first"], inc["first"]),
                ]
                for s in ("scan", "du")
            ],
        )
    )
    checks = [
        f"run {i + 1}: mode={run['incremental'].get('mode')} overflows="
        f"{run['incremental'].get('overflows')} walks in window={run['incremental']['walks']}"
        for i, run in enumerate(runs)
    ]
    print("\nIncremental monitor: " + "; ".join(checks))
    if args.out:
        harness.save(args.out, args, runs, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
